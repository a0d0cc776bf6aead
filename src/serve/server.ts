import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { basename } from 'node:path'
import type { EmbeddedBackend } from '../backends/embedded.js'
import type { BackendCompletion, BackendRequest } from '../backends/types.js'
import type { GenEvent, GenParams } from '../generate/generator.js'
import type { ChatMessage } from '../model/chat-template.js'
import { Rng } from '../util/rng.js'
import { Batcher } from './batcher.js'
import { HttpError, readBody, send } from './http.js'
import { ChatRequest, CompletionRequest, describeIssue, errorBody } from './schema.js'

export interface ServeOptions {
  /** The model id clients name (default: the model directory's name). */
  servedModelName?: string
  /** Largest request body accepted. */
  maxBodyBytes?: number
  /** max_tokens when a chat request gives none. */
  defaultMaxTokens?: number
  /** Rows generated together at most. */
  maxBatchRows?: number
  /** Seeds for requests that give none come from this. */
  seed?: number
  /** When set, every /v1 request must carry `Authorization: Bearer KEY` (vLLM's --api-key). */
  apiKey?: string
  /** Most tokens one request may ask for (prompts × n × max_tokens): more is a 400 that says the cap. */
  maxRequestTokens?: number
}

/** Most tokens one request may ask for by default: 64 prompts × n 4 × 1,024 tokens. */
export const DEFAULT_MAX_REQUEST_TOKENS = 262_144


function contentText(c: ChatRequest['messages'][number]['content']): string {
  if (c === null) return ''
  return typeof c === 'string' ? c : c.map((p) => p.text).join('')
}

/**
 * The OpenAI-compatible server over the embedded engine: /v1/models, /v1/completions,
 * /v1/chat/completions (streaming with server-sent events, n, seed, stop, logprobs, max_tokens,
 * temperature, top_p; top_k, min_p, repetition_penalty as vLLM accepts them). Concurrent requests are
 * batched together. Bad requests get 400 with an OpenAI-style error body; the server never crashes on input.
 */
export class OpenAIServer {
  readonly server: Server
  readonly batcher: Batcher
  readonly modelName: string
  private readonly o: Required<Omit<ServeOptions, 'servedModelName' | 'apiKey'>>
  private readonly apiKey: string | undefined
  private readonly seeds: Rng
  private counter = 0

  constructor(
    readonly backend: EmbeddedBackend,
    opts: ServeOptions = {},
  ) {
    this.modelName = opts.servedModelName ?? basename(backend.model.replace(/\/+$/, ''))
    this.o = { maxBodyBytes: opts.maxBodyBytes ?? 1 << 20, defaultMaxTokens: opts.defaultMaxTokens ?? 256, maxBatchRows: opts.maxBatchRows ?? 64, seed: opts.seed ?? 0, maxRequestTokens: opts.maxRequestTokens ?? DEFAULT_MAX_REQUEST_TOKENS }
    this.apiKey = opts.apiKey
    this.seeds = new Rng(this.o.seed)
    this.batcher = new Batcher(backend, this.o.maxBatchRows)
    this.server = createServer((req, res) => {
      this.route(req, res).catch((e: unknown) => {
        if (e instanceof HttpError) send(res, e.status, errorBody(e.message, e.type, e.param))
        else send(res, 500, errorBody(`internal error: ${(e as Error).message}`, 'server_error'))
      })
    })
    this.server.on('clientError', (_e, socket) => socket.destroy())
  }

  listen(port: number, host = '127.0.0.1'): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(port, host, () => resolve(this.server.address() as AddressInfo))
    })
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve())
      this.server.closeAllConnections?.()
    })
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x')
    const path = url.pathname.replace(/\/+$/, '')
    const routes: Record<string, { method: string; run: () => Promise<void> }> = {
      // max_model_len as vLLM reports it, so clients can fit prompts to the context.
      '/v1/models': { method: 'GET', run: async () => send(res, 200, { object: 'list', data: [{ id: this.modelName, object: 'model', created: 0, owned_by: 'medrl', max_model_len: this.backend.contextLength }] }) },
      '/tokenize': { method: 'POST', run: async () => this.tokenize(await this.json(req), res) },
      '/v1/completions': { method: 'POST', run: async () => this.completions(await this.json(req), res, this.abortOnClose(res)) },
      '/v1/chat/completions': { method: 'POST', run: async () => this.chat(await this.json(req), res, this.abortOnClose(res)) },
      '/health': { method: 'GET', run: async () => send(res, 200, { status: 'ok', batches: this.batcher.batches, served: this.batcher.served }) },
    }
    if (this.apiKey !== undefined && (path.startsWith('/v1/') || path === '/tokenize') && req.headers.authorization !== `Bearer ${this.apiKey}`) {
      throw new HttpError(401, 'missing or wrong API key (send Authorization: Bearer KEY)', null, 'authentication_error')
    }
    const r = routes[path]
    if (!r) throw new HttpError(404, `no route ${req.method} ${url.pathname}`, null, 'not_found_error')
    if (req.method !== r.method) throw new HttpError(405, `${url.pathname} takes ${r.method}`)
    await r.run()
  }

  /** A signal that fires when the client goes away before its response is complete: its rows stop generating. */
  private abortOnClose(res: ServerResponse): AbortSignal {
    const ctl = new AbortController()
    res.once('close', () => {
      if (!res.writableFinished) ctl.abort()
    })
    return ctl.signal
  }

  /**
   * vLLM's POST /tokenize: a prompt (or chat messages with the generation prompt) → {count, max_model_len, tokens};
   * add_special_tokens (default true, as vLLM's) says whether a text prompt gets the tokenizer's BOS.
   */
  private async tokenize(raw: unknown, res: ServerResponse): Promise<void> {
    const b = (raw ?? {}) as { model?: string; prompt?: unknown; messages?: unknown; add_special_tokens?: unknown }
    this.checkModel(b.model)
    if (b.add_special_tokens !== undefined && typeof b.add_special_tokens !== 'boolean') throw new HttpError(400, 'add_special_tokens must be true or false', 'add_special_tokens')
    let r: BackendRequest
    if (typeof b.prompt === 'string' || (Array.isArray(b.prompt) && b.prompt.every((t) => Number.isInteger(t)))) r = { prompt: b.prompt as string | number[], params: {}, addSpecialTokens: b.add_special_tokens !== false }
    else if (Array.isArray(b.messages)) r = { messages: (b.messages as { role: string; content: unknown }[]).map((m) => ({ role: m.role as ChatMessage['role'], content: typeof m.content === 'string' || Array.isArray(m.content) ? contentText(m.content as never) : '' })), params: {} }
    else throw new HttpError(400, 'give prompt (a string or token ids) or messages', 'prompt')
    let tokens: number[]
    try {
      tokens = this.backend.promptIds(r)
    } catch (e) {
      throw new HttpError(400, (e as Error).message, 'prompt')
    }
    send(res, 200, { count: tokens.length, max_model_len: this.backend.contextLength, tokens })
  }

  /** Refuses a request that would queue more work than one request may (prompts × n × max_tokens). */
  private checkWork(prompts: number, params: { n?: number; maxNewTokens?: number }): void {
    const work = prompts * (params.n ?? 1) * (params.maxNewTokens ?? 16)
    if (work > this.o.maxRequestTokens) {
      throw new HttpError(400, `this request asks for up to ${work} tokens (${prompts} prompts × n ${params.n ?? 1} × max_tokens ${params.maxNewTokens}); one request may ask for ${this.o.maxRequestTokens} (medrl serve --max-request-tokens)`, 'max_tokens')
    }
  }

  private async json(req: IncomingMessage): Promise<unknown> {
    const text = await readBody(req, this.o.maxBodyBytes)
    try {
      return JSON.parse(text)
    } catch (e) {
      throw new HttpError(400, `the body is not valid JSON: ${(e as Error).message}`)
    }
  }

  private checkModel(model: string | undefined): void {
    if (model !== undefined && model !== this.modelName) throw new HttpError(404, `model "${model}" is not served here (this server serves "${this.modelName}")`, 'model', 'not_found_error')
  }

  private params(b: CompletionRequest | ChatRequest, maxTokens: number): Partial<GenParams> {
    if (b.presence_penalty || b.frequency_penalty) throw new HttpError(400, 'presence_penalty and frequency_penalty are not supported (use repetition_penalty)', b.presence_penalty ? 'presence_penalty' : 'frequency_penalty')
    return {
      maxNewTokens: maxTokens,
      temperature: b.temperature ?? 1,
      topP: b.top_p ?? 1,
      topK: b.top_k && b.top_k > 0 ? b.top_k : 0,
      minP: b.min_p ?? 0,
      repetitionPenalty: b.repetition_penalty ?? 1,
      n: b.n ?? 1,
      seed: b.seed ?? this.seeds.nextU32(),
      stop: b.stop === undefined || b.stop === null ? [] : typeof b.stop === 'string' ? [b.stop] : b.stop,
      stopTokenIds: [],
    }
  }

  /** Tokenizes up front, so a bad prompt fails its own request (400), never the batch it would join. */
  private prepare(r: BackendRequest, param: string): BackendRequest {
    let ids: number[]
    try {
      ids = this.backend.promptIds(r)
    } catch (e) {
      throw new HttpError(400, (e as Error).message, param)
    }
    const c = this.backend.loaded.config
    if (ids.length === 0) throw new HttpError(400, 'the prompt is empty', param)
    const bad = ids.find((t) => t >= c.vocab_size)
    if (bad !== undefined) throw new HttpError(400, `token id ${bad} is outside the vocabulary (${c.vocab_size})`, param)
    const max = r.params.maxNewTokens ?? 16
    if (ids.length + max > c.max_position_embeddings) throw new HttpError(400, `prompt (${ids.length} tokens) + max_tokens (${max}) exceeds the model's context of ${c.max_position_embeddings}`, 'max_tokens')
    return { prompt: ids, params: r.params }
  }

  private tokenText(id: number): string {
    return this.backend.loaded.tokenizer?.decode([id]) ?? String(id)
  }

  private startSse(res: ServerResponse): (data: unknown) => void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
    return (data) => {
      if (!res.writableEnded && !res.destroyed) res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`)
    }
  }

  private usage(out: BackendCompletion[][]): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
    const prompt = out.reduce((a, s) => a + (s[0]?.promptTokens ?? 0), 0)
    const completion = out.flat().reduce((a, c) => a + (c.completionTokens ?? 0), 0)
    return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion }
  }

  private async completions(raw: unknown, res: ServerResponse, signal: AbortSignal): Promise<void> {
    const parsed = CompletionRequest.safeParse(raw)
    if (!parsed.success) throw new HttpError(400, describeIssue(parsed.error).message, describeIssue(parsed.error).param)
    const b = parsed.data
    this.checkModel(b.model)
    if (b.echo) throw new HttpError(400, 'echo is not supported', 'echo')
    if (b.best_of && b.best_of !== (b.n ?? 1)) throw new HttpError(400, 'best_of other than n is not supported', 'best_of')
    const prompts: (string | number[])[] = typeof b.prompt === 'string' ? [b.prompt] : typeof b.prompt[0] === 'number' ? [b.prompt as number[]] : (b.prompt as (string | number[])[])
    const params = this.params(b, b.max_tokens ?? 16)
    this.checkWork(prompts.length, params)
    const reqs = prompts.map((p, i) => ({ ...this.prepare({ prompt: p, params }, prompts.length > 1 ? `prompt.${i}` : 'prompt'), signal }))
    const n = params.n!
    const id = `cmpl-${++this.counter}`
    const created = Math.floor(Date.now() / 1000)
    const logprobsOf = (ids: number[], lps: number[]) => ({ tokens: ids.map((t) => this.tokenText(t)), token_logprobs: lps, top_logprobs: null, text_offset: [] as number[] })
    if (b.stream) {
      const emit = this.startSse(res)
      const out = await this.batcher.submit(reqs, (p, e: GenEvent) => {
        emit({ id, object: 'text_completion', created, model: this.modelName, choices: [{ index: p * n + e.sample, text: e.delta, logprobs: null, finish_reason: e.finishReason }] })
      })
      if (b.stream_options?.include_usage) emit({ id, object: 'text_completion', created, model: this.modelName, choices: [], usage: this.usage(out) })
      emit('[DONE]')
      res.end()
      return
    }
    const out = await this.batcher.submit(reqs)
    send(res, 200, {
      id,
      object: 'text_completion',
      created,
      model: this.modelName,
      choices: out.flatMap((samples, p) =>
        samples.map((c, k) => ({ index: p * n + k, text: c.text, logprobs: b.logprobs !== undefined && b.logprobs !== null ? logprobsOf(c.tokenIds ?? [], c.modelLogprobs ?? []) : null, finish_reason: c.finishReason })),
      ),
      usage: this.usage(out),
    })
  }

  private async chat(raw: unknown, res: ServerResponse, signal: AbortSignal): Promise<void> {
    const parsed = ChatRequest.safeParse(raw)
    if (!parsed.success) throw new HttpError(400, describeIssue(parsed.error).message, describeIssue(parsed.error).param)
    const b = parsed.data
    this.checkModel(b.model)
    const messages: ChatMessage[] = b.messages.map((m) => ({ role: m.role === 'developer' ? 'system' : m.role, content: contentText(m.content) }))
    const params = this.params(b, b.max_completion_tokens ?? b.max_tokens ?? this.o.defaultMaxTokens)
    this.checkWork(1, params)
    const req = { ...this.prepare({ messages, params }, 'messages'), signal }
    const id = `chatcmpl-${++this.counter}`
    const created = Math.floor(Date.now() / 1000)
    if (b.stream) {
      const emit = this.startSse(res)
      const started = new Set<number>()
      const out = await this.batcher.submit([req], (_p, e: GenEvent) => {
        const chunk = (delta: Record<string, string>, finish: string | null) => ({ id, object: 'chat.completion.chunk', created, model: this.modelName, choices: [{ index: e.sample, delta, logprobs: null, finish_reason: finish }] })
        if (!started.has(e.sample)) {
          started.add(e.sample)
          emit(chunk({ role: 'assistant', content: '' }, null))
        }
        if (e.delta !== '') emit(chunk({ content: e.delta }, null))
        if (e.finishReason) emit(chunk({}, e.finishReason))
      })
      if (b.stream_options?.include_usage) emit({ id, object: 'chat.completion.chunk', created, model: this.modelName, choices: [], usage: this.usage(out) })
      emit('[DONE]')
      res.end()
      return
    }
    const out = await this.batcher.submit([req])
    send(res, 200, {
      id,
      object: 'chat.completion',
      created,
      model: this.modelName,
      choices: out[0]!.map((c, k) => ({
        index: k,
        message: { role: 'assistant', content: c.text },
        logprobs: b.logprobs ? { content: (c.tokenIds ?? []).map((t, i) => ({ token: this.tokenText(t), logprob: c.modelLogprobs?.[i] ?? 0, bytes: [...Buffer.from(this.tokenText(t))], top_logprobs: [] })) } : null,
        finish_reason: c.finishReason,
      })),
      usage: this.usage(out),
    })
  }
}
