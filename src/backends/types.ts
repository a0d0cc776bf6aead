import type { ChatMessage } from '../model/chat-template.js'
import type { FinishReason, GenParams } from '../generate/generator.js'

/** One generation request: a prompt (text, or token ids on the embedded engine) or chat messages. */
export interface BackendRequest {
  prompt?: string | number[]
  messages?: ChatMessage[]
  params: Partial<GenParams>
  /** Aborting it stops the request's generation (the embedded engine drops its rows at the next token). */
  signal?: AbortSignal
  /** A text prompt is encoded with the tokenizer's special tokens (BOS) unless this is false (vLLM's add_special_tokens). */
  addSpecialTokens?: boolean
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

/**
 * One policy for prompts near the end of the model's context, the same on every backend (so an evaluation gives
 * the same predictions in-process and through a server): a prompt that leaves no room to generate is not run
 * (its completion is empty, finish reason `overlong`); otherwise max new tokens are capped to what fits.
 */
export function fitToContext(promptTokens: number, maxNewTokens: number, contextLength: number): { overlong: true } | { overlong: false; maxNewTokens: number } {
  if (promptTokens >= contextLength) return { overlong: true }
  return { overlong: false, maxNewTokens: Math.min(maxNewTokens, contextLength - promptTokens) }
}

/** The completions of a request that was not run because its prompt fills the context. */
export function overlongCompletions(n: number, promptTokens: number): BackendCompletion[] {
  return Array.from({ length: n }, () => ({ text: '', finishReason: 'overlong' as const, promptTokens, completionTokens: 0 }))
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
