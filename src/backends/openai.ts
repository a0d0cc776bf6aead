import { Rng } from '../util/rng.js'
import { BackendError, fitToContext, overlongCompletions, type Backend, type BackendCompletion, type BackendRequest, type GenerateOptions } from './types.js'
import { DEFAULT_GEN } from '../generate/generator.js'

export interface OpenAIBackendOptions {
  /**
   * Base URL including /v1 (e.g. http://127.0.0.1:8000/v1), or several separated by commas (one server per GPU or
   * node, all serving the same model): requests go to the least busy; default OPENAI_BASE_URL.
   */
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
  /**
   * What resumable outputs record as the model (default: the server and model name): servers medrl starts itself
   * name the weights they serve, so a resume on other ports is the same evaluation.
   */
  identity?: string
}

const RETRYABLE = new Set([408, 409, 429, 500, 502, 503, 504])

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/** One server of the backend, with what it is doing now. */
interface Endpoint {
  base: string
  inFlight: number
  /** Not tried again before this time (ms) after a failure; 0 when healthy. */
  downUntil: number
  failures: number
}

/**
 * Any OpenAI-compatible endpoint (vLLM, SGLang, llama.cpp server, Ollama, hosted APIs): /completions for
 * prompts, /chat/completions for messages. Each request resolves exactly once, in request order. With several
 * endpoints, each attempt goes to the healthy one with the fewest requests in flight; one that fails (refused
 * connection, 5xx, timeout) is left alone for a while and the request is retried on the others.
 */
export class OpenAIBackend implements Backend {
  readonly kind = 'openai'
  model: string
  private readonly endpoints: Endpoint[]
  private next = 0
  private readonly key: string | undefined
  private readonly o: Required<Omit<OpenAIBackendOptions, 'baseUrl' | 'apiKey' | 'model' | 'identity'>>
  private readonly fixedIdentity: string | undefined
  private readonly jitter = new Rng(0x5eed)
  /** Attempts sent, for reporting (retries included). */
  attempts = 0

  constructor(opts: OpenAIBackendOptions = {}) {
    const base = opts.baseUrl ?? process.env.OPENAI_BASE_URL
    if (!base) throw new Error('no endpoint: give --endpoint URL (…/v1) or set OPENAI_BASE_URL')
    const bases = base.split(',').map((b) => b.trim().replace(/\/+$/, '')).filter((b) => b !== '')
    if (bases.length === 0) throw new Error(`no endpoint in "${base}"`)
    for (const b of bases) if (!/^https?:\/\/[^/]/.test(b)) throw new Error(`--endpoint ${b}: not an http(s) URL`)
    if (new Set(bases).size !== bases.length) throw new Error(`--endpoint lists a server twice: ${base}`)
    this.endpoints = bases.map((b) => ({ base: b, inFlight: 0, downUntil: 0, failures: 0 }))
    this.key = opts.apiKey ?? process.env.OPENAI_API_KEY ?? process.env.MEDRL_API_KEY
    this.model = opts.model ?? ''
    this.o = { concurrency: opts.concurrency ?? 8, timeoutMs: opts.timeoutMs ?? 600_000, maxRetries: opts.maxRetries ?? 6, backoffMs: opts.backoffMs ?? 500 }
    this.fixedIdentity = opts.identity
  }

  /** Servers' base URLs, as given. */
  get bases(): string[] {
    return this.endpoints.map((e) => e.base)
  }

  /**
   * What resumable outputs record: the server and model; for several servers, the model alone, so a resume may
   * use another set of servers of the same model (one that died left out, say).
   */
  identity(): string {
    if (this.fixedIdentity !== undefined) return this.fixedIdentity
    return this.endpoints.length === 1 ? `${this.endpoints[0]!.base} ${this.model}` : `openai servers ${this.model}`
  }

  /** The healthy endpoint with the fewest requests in flight (ties in turn), else the one that comes back first. */
  private pick(avoid: Endpoint | null): Endpoint {
    const now = Date.now()
    const n = this.endpoints.length
    let best: Endpoint | null = null
    for (let k = 0; k < n; k++) {
      const e = this.endpoints[(this.next + k) % n]!
      if (e.downUntil > now || (e === avoid && n > 1)) continue
      if (!best || e.inFlight < best.inFlight) best = e
    }
    this.next = (this.next + 1) % n
    return best ?? [...this.endpoints].sort((a, b) => a.downUntil - b.downUntil).find((e) => e !== avoid || n === 1) ?? this.endpoints[0]!
  }

  /** `atRoot`: the path is under the server's root, not /v1 (vLLM's /tokenize). */
  private async call(path: string, body: unknown, method = 'POST', only?: Endpoint, atRoot = false): Promise<unknown> {
    let last: RetryableError | null = null
    let failed: Endpoint | null = null
    for (let attempt = 0; attempt <= this.o.maxRetries; attempt++) {
      const ep: Endpoint = only ?? this.pick(failed)
      // Another server takes the retry at once; the same one only after a backoff.
      if (attempt > 0 && (ep === failed || ep.downUntil > Date.now())) {
        const wait = last?.retryAfterMs ?? this.o.backoffMs * 2 ** (attempt - 1) * (0.5 + this.jitter.next())
        await sleep(Math.min(wait, 60_000))
      }
      const base = atRoot ? ep.base.replace(/\/v1$/, '') : ep.base
      const ctl = new AbortController()
      const timer = setTimeout(() => ctl.abort(), this.o.timeoutMs)
      this.attempts++
      ep.inFlight++
      try {
        const res = await fetch(`${base}${path}`, {
          method,
          signal: ctl.signal,
          headers: { 'content-type': 'application/json', ...(this.key ? { authorization: `Bearer ${this.key}` } : {}) },
          body: method === 'POST' ? JSON.stringify(body) : undefined,
        })
        const text = await res.text()
        if (res.ok) {
          try {
            const parsed = JSON.parse(text) as unknown
            ep.failures = 0
            ep.downUntil = 0
            return parsed
          } catch {
            last = new RetryableError(`${base}${path}: response is not JSON: ${text.slice(0, 200)}`, res.status)
            failed = ep
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
        if (!RETRYABLE.has(res.status)) throw new BackendError(`${base}${path}: HTTP ${res.status}: ${message}`, res.status, false)
        const ra = Number(res.headers.get('retry-after'))
        last = new RetryableError(`${base}${path}: HTTP ${res.status}: ${message}`, res.status, Number.isFinite(ra) && ra > 0 ? ra * 1000 : undefined)
      } catch (e) {
        if (e instanceof BackendError && !e.retryable) throw e
        if (e instanceof RetryableError) last = e
        else last = new RetryableError(`${base}${path}: ${ctl.signal.aborted ? `no answer within ${this.o.timeoutMs} ms` : (e as Error).message}`)
      } finally {
        clearTimeout(timer)
        ep.inFlight--
      }
      // A failed server is left alone for a while (longer after repeated failures); 429 only slows this request.
      failed = ep
      if (last.status !== 429 && this.endpoints.length > 1) {
        ep.failures++
        ep.downUntil = Date.now() + Math.min(this.o.backoffMs * 2 ** Math.min(ep.failures, 8), 30_000)
      }
    }
    throw new BackendError(`${last?.message ?? path} (gave up after ${this.o.maxRetries + 1} attempts)`, last?.status, false)
  }

  /** The model's context length when the server reports it (vLLM's and medrl's max_model_len). */
  contextLength: number | undefined
  /** Whether the server counts prompt tokens (POST /tokenize, as vLLM and medrl serve do); learnt at the first try. */
  private tokenizes: boolean | undefined

  /** The served models' ids (GET /models) of one server (default: any); remembers the chosen model's context length. */
  async models(endpoint?: Endpoint): Promise<string[]> {
    const r = (await this.call('/models', undefined, 'GET', endpoint)) as { data?: { id: string; max_model_len?: number }[] }
    const data = r.data ?? []
    const lens = data.filter((m) => m.id === (this.model || data[0]?.id) && typeof m.max_model_len === 'number').map((m) => m.max_model_len!)
    if (lens.length > 0) this.contextLength = Math.min(lens[0]!, this.contextLength ?? Infinity)
    return data.map((m) => m.id)
  }

  /** The prompt's token count by the server's own tokenizer, or undefined when it cannot tell. */
  private async promptTokens(r: BackendRequest): Promise<number | undefined> {
    if (this.tokenizes === false || this.contextLength === undefined) return undefined
    const body = r.messages !== undefined ? { model: this.model, messages: r.messages, add_generation_prompt: true } : { model: this.model, prompt: r.prompt }
    try {
      const t = (await this.call('/tokenize', body, 'POST', undefined, true)) as { count?: number }
      this.tokenizes = typeof t.count === 'number'
      return t.count
    } catch (e) {
      if (e instanceof BackendError && (e.status === 404 || e.status === 405)) {
        this.tokenizes = false
        return undefined
      }
      throw e
    }
  }

  /** The model to ask for (and its context length); with several servers, each that answers must serve it. */
  private async ensureModel(): Promise<void> {
    for (const ep of this.endpoints) {
      let ids: string[]
      try {
        ids = await this.models(ep)
      } catch (e) {
        if (this.endpoints.length > 1) continue // a server that is down now: its share goes to the others
        throw e
      }
      if (!this.model) {
        if (ids.length === 0) throw new BackendError(`${ep.base}/models lists no model; name one with --served-model-name`)
        this.model = ids[0]!
      } else if (!ids.includes(this.model)) throw new BackendError(`${ep.base} does not serve ${this.model} (it lists ${ids.join(', ') || 'nothing'}): every --endpoint must serve the same model`)
    }
    if (!this.model) throw new BackendError(`none of ${this.bases.join(', ')} answered GET /models`)
  }

  private body(r: BackendRequest): Record<string, unknown> {
    const p = r.params
    const b: Record<string, unknown> = { model: this.model, max_tokens: p.maxNewTokens ?? DEFAULT_GEN.maxNewTokens, n: p.n ?? 1 }
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

  private async one(request: BackendRequest): Promise<BackendCompletion[]> {
    let r = request
    const n = r.params.n ?? 1
    if (Array.isArray(r.prompt)) throw new BackendError('the openai backend takes text prompts, not token ids')
    // The embedded engine's policy for prompts near the end of the context (fitToContext), by the server's count.
    const count = await this.promptTokens(r)
    if (count !== undefined) {
      const fit = fitToContext(count, r.params.maxNewTokens ?? DEFAULT_GEN.maxNewTokens, this.contextLength!)
      if (fit.overlong) return overlongCompletions(n, count)
      r = { ...r, params: { ...r.params, maxNewTokens: fit.maxNewTokens } }
    }
    const chat = r.messages !== undefined
    const body = chat ? { ...this.body(r), messages: r.messages, logprobs: true } : { ...this.body(r), prompt: r.prompt, logprobs: 1 }
    let res: {
      choices?: { index?: number; text?: string; message?: { content?: string | null }; finish_reason?: string; logprobs?: { token_logprobs?: number[]; content?: { logprob: number }[] } | null }[]
      usage?: { prompt_tokens?: number; completion_tokens?: number }
    }
    try {
      res = (await this.call(chat ? '/chat/completions' : '/completions', body)) as typeof res
    } catch (e) {
      // A server that cannot count tokens for us still says when a prompt does not fit: the item is overlong, the run goes on.
      if (e instanceof BackendError && e.status === 400 && /context|max_model_len|maximum.*length/i.test(e.message)) return overlongCompletions(n, 0)
      throw e
    }
    const choices = [...(res.choices ?? [])].sort((a, b) => (a.index ?? 0) - (b.index ?? 0))
    if (choices.length !== n) throw new BackendError(`${this.bases.join(', ')}: asked for n=${n} completions, got ${choices.length}`)
    return choices.map((c) => {
      const lp = c.logprobs?.token_logprobs ?? c.logprobs?.content?.map((x) => x.logprob)
      const out: BackendCompletion = { text: (chat ? c.message?.content : c.text) ?? '', finishReason: c.finish_reason === 'length' ? 'length' : 'stop' }
      if (lp) out.logprobs = lp
      if (res.usage?.prompt_tokens !== undefined) out.promptTokens = res.usage.prompt_tokens
      return out
    })
  }

  private checked = false

  /** Finds the served model (and, with several servers, checks each serves it). */
  async ready(): Promise<void> {
    if (this.checked) return
    await this.ensureModel()
    this.checked = true
  }

  async generate(requests: readonly BackendRequest[], opts: GenerateOptions = {}): Promise<BackendCompletion[][]> {
    await this.ready()
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
