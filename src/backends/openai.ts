import { Rng } from '../util/rng.js'
import { BackendError, type Backend, type BackendCompletion, type BackendRequest, type GenerateOptions } from './types.js'

export interface OpenAIBackendOptions {
  /** Base URL including /v1 (e.g. http://127.0.0.1:8000/v1); default OPENAI_BASE_URL. */
  baseUrl?: string
  /** Default OPENAI_API_KEY (or MEDRL_API_KEY). */
  apiKey?: string
  /** Model name sent with each request (default: the first of GET /models). */
  model?: string
  /** Requests in flight at once. */
  concurrency?: number
  /** Per-attempt timeout. */
  timeoutMs?: number
  /** Attempts after the first, for 408/409/429/5xx, timeouts and connection errors. */
  maxRetries?: number
  /** Base backoff; doubled per attempt, with jitter, or the server's Retry-After. */
  backoffMs?: number
}

const RETRYABLE = new Set([408, 409, 429, 500, 502, 503, 504])

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/**
 * Any OpenAI-compatible endpoint (vLLM, SGLang, llama.cpp server, Ollama, hosted APIs): /completions for
 * prompts, /chat/completions for messages. Each request resolves exactly once, in request order.
 */
export class OpenAIBackend implements Backend {
  readonly kind = 'openai'
  model: string
  private readonly base: string
  private readonly key: string | undefined
  private readonly o: Required<Omit<OpenAIBackendOptions, 'baseUrl' | 'apiKey' | 'model'>>
  private readonly jitter = new Rng(0x5eed)
  /** Attempts sent, for reporting (retries included). */
  attempts = 0

  constructor(opts: OpenAIBackendOptions = {}) {
    const base = opts.baseUrl ?? process.env.OPENAI_BASE_URL
    if (!base) throw new Error('no endpoint: give --endpoint URL (…/v1) or set OPENAI_BASE_URL')
    this.base = base.replace(/\/+$/, '')
    this.key = opts.apiKey ?? process.env.OPENAI_API_KEY ?? process.env.MEDRL_API_KEY
    this.model = opts.model ?? ''
    this.o = { concurrency: opts.concurrency ?? 8, timeoutMs: opts.timeoutMs ?? 600_000, maxRetries: opts.maxRetries ?? 6, backoffMs: opts.backoffMs ?? 500 }
  }

  identity(): string {
    return `${this.base} ${this.model}`
  }

  private async call(path: string, body: unknown, method = 'POST'): Promise<unknown> {
    let last: RetryableError | null = null
    for (let attempt = 0; attempt <= this.o.maxRetries; attempt++) {
      if (attempt > 0) {
        const wait = last?.retryAfterMs ?? this.o.backoffMs * 2 ** (attempt - 1) * (0.5 + this.jitter.next())
        await sleep(Math.min(wait, 60_000))
      }
      const ctl = new AbortController()
      const timer = setTimeout(() => ctl.abort(), this.o.timeoutMs)
      this.attempts++
      try {
        const res = await fetch(`${this.base}${path}`, {
          method,
          signal: ctl.signal,
          headers: { 'content-type': 'application/json', ...(this.key ? { authorization: `Bearer ${this.key}` } : {}) },
          body: method === 'POST' ? JSON.stringify(body) : undefined,
        })
        const text = await res.text()
        if (res.ok) {
          try {
            return JSON.parse(text)
          } catch {
            last = new RetryableError(`${path}: response is not JSON: ${text.slice(0, 200)}`, res.status)
            continue
          }
        }
        let message = text.slice(0, 500)
        try {
          const j = JSON.parse(text) as { error?: { message?: string } | string; message?: string }
          message = (typeof j.error === 'string' ? j.error : j.error?.message) ?? j.message ?? message
        } catch {
          // not JSON: keep the text
        }
        if (!RETRYABLE.has(res.status)) throw new BackendError(`${this.base}${path}: HTTP ${res.status}: ${message}`, res.status, false)
        const ra = Number(res.headers.get('retry-after'))
        last = new RetryableError(`${this.base}${path}: HTTP ${res.status}: ${message}`, res.status, Number.isFinite(ra) && ra > 0 ? ra * 1000 : undefined)
      } catch (e) {
        if (e instanceof BackendError && !e.retryable) throw e
        if (e instanceof RetryableError) last = e
        else last = new RetryableError(`${this.base}${path}: ${ctl.signal.aborted ? `no answer within ${this.o.timeoutMs} ms` : (e as Error).message}`)
      } finally {
        clearTimeout(timer)
      }
    }
    throw new BackendError(`${last?.message ?? path} (gave up after ${this.o.maxRetries + 1} attempts)`, last?.status, false)
  }

  /** The served models' ids (GET /models). */
  async models(): Promise<string[]> {
    const r = (await this.call('/models', undefined, 'GET')) as { data?: { id: string }[] }
    return (r.data ?? []).map((m) => m.id)
  }

  private async ensureModel(): Promise<void> {
    if (this.model) return
    const ids = await this.models()
    if (ids.length === 0) throw new BackendError(`${this.base}/models lists no model; name one with --served-model`)
    this.model = ids[0]!
  }

  private body(r: BackendRequest): Record<string, unknown> {
    const p = r.params
    const b: Record<string, unknown> = { model: this.model, max_tokens: p.maxNewTokens ?? 256, n: p.n ?? 1 }
    if (p.temperature !== undefined) b.temperature = p.temperature
    if (p.topP !== undefined && p.topP !== 1) b.top_p = p.topP
    if (p.seed !== undefined) b.seed = p.seed
    if (p.stop && p.stop.length > 0) b.stop = p.stop
    // Not in OpenAI's API, understood by vLLM, SGLang and llama.cpp: sent only when set.
    if (p.topK) b.top_k = p.topK
    if (p.minP) b.min_p = p.minP
    if (p.repetitionPenalty !== undefined && p.repetitionPenalty !== 1) b.repetition_penalty = p.repetitionPenalty
    return b
  }

  private async one(r: BackendRequest): Promise<BackendCompletion[]> {
    const n = r.params.n ?? 1
    if (Array.isArray(r.prompt)) throw new BackendError('the openai backend takes text prompts, not token ids')
    const chat = r.messages !== undefined
    const body = chat ? { ...this.body(r), messages: r.messages, logprobs: true } : { ...this.body(r), prompt: r.prompt, logprobs: 1 }
    const res = (await this.call(chat ? '/chat/completions' : '/completions', body)) as {
      choices?: { index?: number; text?: string; message?: { content?: string | null }; finish_reason?: string; logprobs?: { token_logprobs?: number[]; content?: { logprob: number }[] } | null }[]
      usage?: { prompt_tokens?: number; completion_tokens?: number }
    }
    const choices = [...(res.choices ?? [])].sort((a, b) => (a.index ?? 0) - (b.index ?? 0))
    if (choices.length !== n) throw new BackendError(`${this.base}: asked for n=${n} completions, got ${choices.length}`)
    return choices.map((c) => {
      const lp = c.logprobs?.token_logprobs ?? c.logprobs?.content?.map((x) => x.logprob)
      const out: BackendCompletion = { text: (chat ? c.message?.content : c.text) ?? '', finishReason: c.finish_reason === 'length' ? 'length' : 'stop' }
      if (lp) out.logprobs = lp
      if (res.usage?.prompt_tokens !== undefined) out.promptTokens = res.usage.prompt_tokens
      return out
    })
  }

  async generate(requests: readonly BackendRequest[], opts: GenerateOptions = {}): Promise<BackendCompletion[][]> {
    await this.ensureModel()
    const out = new Array<BackendCompletion[]>(requests.length)
    let next = 0
    let done = 0
    const worker = async () => {
      while (next < requests.length) {
        const i = next++
        out[i] = await this.one(requests[i]!)
        opts.onProgress?.(++done)
      }
    }
    await Promise.all(Array.from({ length: Math.min(this.o.concurrency, requests.length) }, worker))
    return out
  }

  async close(): Promise<void> {}
}

class RetryableError extends BackendError {
  constructor(
    message: string,
    status?: number,
    readonly retryAfterMs?: number,
  ) {
    super(message, status, true)
  }
}
