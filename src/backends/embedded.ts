import { DEFAULT_GEN, Generator, type GenEvent, type GenParams, type GenRequest } from '../generate/generator.js'
import { loadModel, type LoadedModel } from '../model/files.js'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { modelFingerprint } from '../model/fingerprint.js'
import { fitToContext, overlongCompletions, type Backend, type BackendCompletion, type BackendRequest, type GenerateOptions } from './types.js'

/** The embedded engine as a Backend: text through the model's tokenizer, chat through its chat template. */
export class EmbeddedBackend implements Backend {
  readonly kind = 'embedded'
  readonly model: string
  readonly loaded: LoadedModel
  readonly generator: Generator

  constructor(loaded: LoadedModel, opts: { maxBatch?: number; onTokens?: (n: number) => void } = {}) {
    this.loaded = loaded
    this.model = loaded.dir
    this.generator = new Generator(loaded.model, loaded.tokenizer, { eosIds: eosIdsOf(loaded), maxBatch: opts.maxBatch, onTokens: opts.onTokens })
  }

  /** A fingerprint of the directory's config and weights (the in-memory model's own name when it has none). */
  identity(): string {
    return existsSync(join(this.loaded.dir, 'config.json')) ? modelFingerprint(this.loaded.dir) : this.model
  }

  static fromDir(dir: string, opts: { maxBatch?: number } = {}): EmbeddedBackend {
    return new EmbeddedBackend(loadModel(dir), opts)
  }

  /** Token ids of a request's prompt (chat messages rendered with the model's template). */
  promptIds(r: BackendRequest): number[] {
    const tok = this.loaded.tokenizer
    if (Array.isArray(r.prompt)) return r.prompt
    if (!tok) throw new Error(`${this.model}: no tokenizer.json, so text prompts cannot be used (give token ids)`)
    if (r.messages) {
      if (!tok.chat) throw new Error(`${this.model}: the tokenizer has no chat_template; send a plain prompt`)
      return tok.encode(tok.chat.render(r.messages, { addGenerationPrompt: true }), { addSpecialTokens: false })
    }
    if (typeof r.prompt !== 'string') throw new Error('a request needs a prompt or messages')
    return tok.encode(r.prompt, { addSpecialTokens: r.addSpecialTokens ?? true })
  }

  toGenRequests(requests: readonly BackendRequest[]): GenRequest[] {
    return requests.map((r) => ({ prompt: this.promptIds(r), params: { ...DEFAULT_GEN, ...r.params } as GenParams, ...(r.signal ? { signal: r.signal } : {}) }))
  }

  /** The model's context length (max_position_embeddings). */
  get contextLength(): number {
    return this.loaded.config.max_position_embeddings
  }

  async generate(requests: readonly BackendRequest[], opts: GenerateOptions = {}): Promise<BackendCompletion[][]> {
    return this.generateWithEvents(requests, opts)
  }

  /** As generate, with a per-token event stream (for the server's streaming responses). */
  async generateWithEvents(requests: readonly BackendRequest[], opts: GenerateOptions = {}, onEvent?: (e: GenEvent) => void): Promise<BackendCompletion[][]> {
    // Prompts that fill the context are not run; the others generate at most what fits (fitToContext).
    const gen = this.toGenRequests(requests)
    const fits = gen.map((g) => fitToContext(g.prompt.length, g.params.maxNewTokens, this.contextLength))
    const run = gen.flatMap((g, i) => {
      const f = fits[i]!
      return f.overlong ? [] : [{ g: { ...g, params: { ...g.params, maxNewTokens: f.maxNewTokens } }, i }]
    })
    const out = await this.generator.generate(
      run.map((x) => x.g),
      onEvent && ((e) => onEvent({ ...e, request: run[e.request]!.i })),
    )
    opts.onProgress?.(requests.length)
    const done = new Map(run.map((x, k) => [x.i, out[k]!]))
    return gen.map((g, i) =>
      done.has(i)
        ? done.get(i)!.map((o) => ({ text: o.text, finishReason: o.finishReason, tokenIds: o.tokenIds, logprobs: o.logprobs, modelLogprobs: o.modelLogprobs, promptTokens: o.promptTokens, completionTokens: o.tokenIds.length }))
        : overlongCompletions(g.params.n, g.prompt.length),
    )
  }

  async close(): Promise<void> {
    await this.loaded.model.dispose()
  }
}

/** EOS ids: config.json's, generation_config.json's, and the tokenizer's eos and ChatML end token. */
function eosIdsOf(m: LoadedModel): number[] {
  const ids = new Set(m.config.eos_token_id)
  const tok = m.tokenizer
  if (tok) {
    if (tok.eosId !== null) ids.add(tok.eosId)
    const imEnd = tok.tokenToId('<|im_end|>')
    if (imEnd !== undefined) ids.add(imEnd)
    const eot = tok.tokenToId('<|eot_id|>')
    if (eot !== undefined) ids.add(eot)
  }
  return [...ids]
}
