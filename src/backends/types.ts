import type { ChatMessage } from '../model/chat-template.js'
import type { FinishReason, GenParams } from '../generate/generator.js'

/** One generation request: a prompt (text, or token ids on the embedded engine) or chat messages. */
export interface BackendRequest {
  prompt?: string | number[]
  messages?: ChatMessage[]
  params: Partial<GenParams>
  /** Aborting it stops the request's generation (the embedded engine drops its rows at the next token). */
  signal?: AbortSignal
}

export interface BackendCompletion {
  text: string
  finishReason: FinishReason
  tokenIds?: number[]
  /** Log-probabilities of the generated tokens under the sampling distribution, when the backend gives them. */
  logprobs?: number[]
  /** Under the unmodified model (embedded engine only): RL's old_log_probs. */
  modelLogprobs?: number[]
  promptTokens?: number
  completionTokens?: number
}

export interface GenerateOptions {
  /** Called as completions finish: how many requests are done. */
  onProgress?: (doneRequests: number) => void
}

/** What evaluation, difficulty estimation and RL rollouts call: the embedded engine or an HTTP endpoint. */
export interface Backend {
  readonly kind: string
  /** The model's name (directory or served id). */
  readonly model: string
  /** What names the model's weights for resumable outputs (e.g. a fingerprint of the files); defaults to `model`. */
  identity?(): string
  /** Learns what identity() needs (e.g. the served model's name); called before identity(). */
  ready?(): Promise<void>
  /** n completions per request, in request order. */
  generate(requests: readonly BackendRequest[], opts?: GenerateOptions): Promise<BackendCompletion[][]>
  close(): Promise<void>
}

/** The model identity a resumable output records: the backend's own, else its model name. */
export function backendIdentity(b: Backend): string {
  return b.identity?.() ?? b.model
}

export class BackendError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly retryable = false,
  ) {
    super(message)
    this.name = 'BackendError'
  }
}
