import { Tensor } from '../engine/tensor.js'
import type { CausalLM } from '../model/causal-lm.js'
import { ropeTables } from '../model/rope.js'
import type { TextTokenizer } from '../model/tokenizer.js'
import { Rng, hashString32 } from '../util/rng.js'
import { DEFAULT_SAMPLING, type SamplingParams } from './logits-processors.js'
import { sampleRow } from './sampling.js'
import { drawUniform, graphDraw } from './graph-draw.js'

/** Per-request generation settings (OpenAI's names in the server map onto these). */
export interface GenParams extends SamplingParams {
  maxNewTokens: number
  /** Completions per prompt; they share the prompt's prefill. */
  n: number
  /** Seed of this request: sample k draws from Rng(seed, k), so results do not depend on batching. */
  seed: number
  /** Stop strings: the text ends before the first one found. */
  stop: string[]
  /** Extra token ids that end a completion (the model's EOS ids always do). */
  stopTokenIds: number[]
}

export const DEFAULT_GEN: GenParams = { ...DEFAULT_SAMPLING, maxNewTokens: 256, n: 1, seed: 0, stop: [], stopTokenIds: [] }

export interface GenRequest {
  /** Prompt token ids. */
  prompt: number[]
  params: GenParams
  /** Aborted: the request's rows stop at the next token (its client has gone); their finish reason is "abort". */
  signal?: AbortSignal
}

/** `overlong`: the prompt left no room in the model's context, so nothing was generated (see backends' fitToContext). */
export type FinishReason = 'stop' | 'length' | 'abort' | 'overlong'

/**
 * One completion. Two kinds of log-probabilities, one per generated token:
 * - `logprobs`: under the distribution the token was drawn from (after repetition penalty, temperature,
 *   top-k/top-p/min-p; 0 for greedy decoding, a point mass);
 * - `modelLogprobs`: under the unmodified model (temperature 1, no truncation) — what RL needs as the
 *   behaviour policy's `old_log_probs`, and what a full forward pass over the same tokens gives.
 */
export interface GenOutput {
  tokenIds: number[]
  text: string
  logprobs: number[]
  modelLogprobs: number[]
  finishReason: FinishReason
  promptTokens: number
}

/** A streamed piece of a completion; `delta` never splits a character or a possible stop string. */
export interface GenEvent {
  request: number
  sample: number
  delta: string
  tokenId: number
  finishReason: FinishReason | null
}

interface Row {
  request: number
  sample: number
  /** Index of the prompt's row in the prefill batch. */
  prompt: number
  promptLen: number
  params: GenParams
  rng: Rng
  tokens: number[]
  logprobs: number[]
  modelLogprobs: number[]
  seen: number[]
  finish: FinishReason | null
  /** Number of tokens that belong to the text (a final EOS or stop token does not). */
  textTokens: number
  text: string
  emitted: number
}

function nextPow2(n: number): number {
  let p = 1
  while (p < n) p *= 2
  return p
}

/** Longest suffix of `text` that is a proper prefix of some stop string (held back while streaming). */
function pendingStopPrefix(text: string, stops: readonly string[]): number {
  let best = 0
  for (const s of stops) {
    for (let k = Math.min(s.length - 1, text.length); k > best; k--) {
      if (text.endsWith(s.slice(0, k))) {
        best = k
        break
      }
    }
  }
  return best
}

export interface GeneratorOptions {
  /** Token ids that end every completion (default: config.json's eos_token_id). */
  eosIds?: number[]
  /** Rows decoded together at most; more requests run in waves. */
  maxBatch?: number
  /** KV-cache capacity is rounded up to a multiple of this (fewer compiled programs). */
  capacityStep?: number
  /** Called with the number of tokens generated so far (all rows). */
  onTokens?: (n: number) => void
  /** Prompt tokens prefilled together at most (prompts are chunked to stay under it). */
  prefillTokens?: number
  /** Draw every token on the host from the logits, even where the program could (the same tokens; for comparison). */
  drawOnHost?: boolean
}

/**
 * Batched generation on the embedded engine with a KV cache: one prefill per distinct prompt (left-padded
 * batch), its cache copied to the prompt's `n` rows, then decoding in lockstep. Rows that finish are
 * compacted away (the batch shrinks to the next power of two), so they stop costing compute.
 */
export class Generator {
  private readonly model: CausalLM
  private readonly tokenizer: TextTokenizer | null
  private readonly opts: Required<Omit<GeneratorOptions, 'onTokens'>> & Pick<GeneratorOptions, 'onTokens'>
  private generated = 0
  /** Tokens generated so far, all rows. */
  get tokensGenerated(): number {
    return this.generated
  }
  /** Cumulative timings, for benchmarks and progress reports. */
  readonly stats = { prefillMs: 0, prefillTokens: 0, decodeMs: 0, decodeSteps: 0, decodeRowSteps: 0, samplingMs: 0 }

  constructor(model: CausalLM, tokenizer: TextTokenizer | null, opts: GeneratorOptions = {}) {
    this.model = model
    this.tokenizer = tokenizer
    this.opts = { eosIds: opts.eosIds ?? model.config.eos_token_id, maxBatch: opts.maxBatch ?? 64, capacityStep: opts.capacityStep ?? 64, prefillTokens: opts.prefillTokens ?? 8192, drawOnHost: opts.drawOnHost ?? false, onTokens: opts.onTokens }
  }

  async generate(requests: readonly GenRequest[], onEvent?: (e: GenEvent) => void): Promise<GenOutput[][]> {
    const out: GenOutput[][] = requests.map((r) => new Array<GenOutput>(r.params.n))
    // Waves of requests whose rows fit the batch.
    let start = 0
    while (start < requests.length) {
      let end = start
      let rows = 0
      while (end < requests.length && (end === start || rows + requests[end]!.params.n <= this.opts.maxBatch)) rows += requests[end++]!.params.n
      if (requests.slice(start, end).every((r) => r.signal?.aborted)) {
        for (let i = start; i < end; i++) out[i] = Array.from({ length: requests[i]!.params.n }, () => ({ tokenIds: [], text: '', logprobs: [], modelLogprobs: [], finishReason: 'abort' as const, promptTokens: requests[i]!.prompt.length }))
      } else await this.wave(requests, start, end, out, onEvent)
      start = end
    }
    return out
  }

  private decodeText(r: Row): string {
    if (!this.tokenizer || r.textTokens === 0) return ''
    return this.tokenizer.decode(r.tokens.slice(0, r.textTokens))
  }

  /** Appends a sampled token to a row and decides whether the row is done. */
  private accept(r: Row, id: number, logprob: number, modelLogprob: number, onEvent?: (e: GenEvent) => void): void {
    r.tokens.push(id)
    r.logprobs.push(logprob)
    r.modelLogprobs.push(modelLogprob)
    r.seen.push(id)
    this.generated++
    const isEnd = this.opts.eosIds.includes(id) || r.params.stopTokenIds.includes(id)
    if (!isEnd) r.textTokens = r.tokens.length
    const before = r.text.length
    if (this.tokenizer && (r.params.stop.length > 0 || onEvent)) r.text = this.decodeText(r)
    if (isEnd) r.finish = 'stop'
    else if (r.params.stop.length > 0) {
      const from = Math.max(0, before - Math.max(...r.params.stop.map((s) => s.length)))
      let cut = -1
      for (const s of r.params.stop) {
        const i = r.text.indexOf(s, from)
        if (i !== -1 && (cut === -1 || i < cut)) cut = i
      }
      if (cut !== -1) {
        r.text = r.text.slice(0, cut)
        r.finish = 'stop'
      }
    }
    if (r.finish === null && r.tokens.length >= r.params.maxNewTokens) r.finish = 'length'
    if (onEvent) {
      let safe = r.text.length
      if (r.finish === null) {
        safe -= pendingStopPrefix(r.text, r.params.stop)
        while (safe > 0 && r.text.charCodeAt(safe - 1) === 0xfffd) safe--
      }
      const delta = safe > r.emitted ? r.text.slice(r.emitted, safe) : ''
      r.emitted = Math.max(r.emitted, safe)
      onEvent({ request: r.request, sample: r.sample, delta, tokenId: id, finishReason: r.finish })
    }
  }

  private sample(r: Row, logits: Float32Array, onEvent?: (e: GenEvent) => void): void {
    const d = sampleRow(logits, r.params, r.rng, r.seen)
    this.accept(r, d.id, d.logprob, d.modelLogprob, onEvent)
  }

  private async wave(requests: readonly GenRequest[], start: number, end: number, out: GenOutput[][], onEvent?: (e: GenEvent) => void): Promise<void> {
    const c = this.model.config
    const reqs = requests.slice(start, end)
    const vocab = c.vocab_size
    for (const [k, r] of reqs.entries()) {
      if (r.prompt.length === 0) throw new Error(`request ${start + k}: the prompt is empty`)
      const bad = r.prompt.find((t) => !(t >= 0 && t < vocab))
      if (bad !== undefined) throw new Error(`request ${start + k}: token id ${bad} is outside the vocabulary (${vocab})`)
    }
    // Prefill every prompt once, left-padded to the longest rounded up to a multiple of 32 (fewer
    // distinct shapes, so fewer compiled programs).
    const t = Math.ceil(Math.max(...reqs.map((r) => r.prompt.length)) / 32) * 32
    const bp = reqs.length
    const ids = reqs.map((r) => [...new Array<number>(t - r.prompt.length).fill(0), ...r.prompt])
    const valid = reqs.map((r) => ids[0]!.map((_, j) => j >= t - r.prompt.length))
    const positions = reqs.map((r) => ids[0]!.map((_, j) => Math.max(0, j - (t - r.prompt.length))))
    const rope = ropeTables(c, positions)
    const pmask = new Float32Array(bp * t * t)
    for (let b = 0; b < bp; b++) for (let q = 0; q < t; q++) for (let s = 0; s < t; s++) pmask[(b * t + q) * t + s] = s <= q && valid[b]![s] ? 0 : -1e9
    const tPre = performance.now()
    // Prefill in chunks of about `prefillTokens` tokens: attention scores grow with B·T², and long prompts
    // in a large batch would otherwise need gigabytes at once.
    const chunk = Math.max(1, Math.floor(this.opts.prefillTokens / t))
    const logitsRows: Float32Array[] = []
    const kvRows: { k: Float32Array; v: Float32Array }[][] = [] // [prompt][layer]
    for (let s0 = 0; s0 < bp; s0 += chunk) {
      const cb = Math.min(chunk, bp - s0)
      const part = await this.model.prefill({
        ids: Tensor.i64(ids.slice(s0, s0 + cb).flat(), [cb, t]),
        cos: new Tensor('float32', rope.cos.subarray(s0 * t * c.head_dim, (s0 + cb) * t * c.head_dim), [cb, 1, t, c.head_dim]),
        sin: new Tensor('float32', rope.sin.subarray(s0 * t * c.head_dim, (s0 + cb) * t * c.head_dim), [cb, 1, t, c.head_dim]),
        mask: new Tensor('float32', pmask.subarray(s0 * t * t, (s0 + cb) * t * t), [cb, 1, t, t]),
      })
      const per = c.num_key_value_heads * t * c.head_dim
      for (let i = 0; i < cb; i++) {
        logitsRows.push((part.logits.data as Float32Array).slice(i * vocab, (i + 1) * vocab))
        kvRows.push(part.kv.map((x) => ({ k: (x.k.data as Float32Array).slice(i * per, (i + 1) * per), v: (x.v.data as Float32Array).slice(i * per, (i + 1) * per) })))
      }
    }
    this.stats.prefillMs += performance.now() - tPre
    this.stats.prefillTokens += bp * t
    // Rows: n per prompt, each with its own generator.
    const rows: Row[] = []
    reqs.forEach((r, p) => {
      for (let s = 0; s < r.params.n; s++) {
        rows.push({
          request: start + p,
          sample: s,
          prompt: p,
          promptLen: r.prompt.length,
          params: r.params,
          rng: new Rng(hashString32(`${r.params.seed}:${s}`)),
          tokens: [],
          logprobs: [],
          modelLogprobs: [],
          seen: [...r.prompt],
          finish: null,
          textTokens: 0,
          text: '',
          emitted: 0,
        })
      }
    })
    for (const r of rows) this.sample(r, logitsRows[r.prompt]!, onEvent)
    this.opts.onTokens?.(this.generated)
    const maxNew = Math.max(...reqs.map((r) => r.params.maxNewTokens))
    const step = this.opts.capacityStep
    const cap = Math.max(step, Math.ceil((t + maxNew - 1) / step) * step)
    const hkv = c.num_key_value_heads
    const hd = c.head_dim
    const slot = cap * hd
    // The batch: slot b of the cache holds row slots[b] (null: finished or padding, masked like padding).
    const live = rows.filter((r) => r.finish === null)
    let bsz = nextPow2(Math.max(1, live.length))
    let slots: (Row | null)[] = Array.from({ length: bsz }, (_, b) => live[b] ?? null)
    const newCache = (b: number) => Array.from({ length: c.num_hidden_layers }, () => ({ k: new Float32Array(b * hkv * slot), v: new Float32Array(b * hkv * slot) }))
    let cache = newCache(bsz)
    slots.forEach((r, b) => {
      if (!r) return
      for (let l = 0; l < c.num_hidden_layers; l++) {
        for (const kind of ['k', 'v'] as const) {
          const src = kvRows[r.prompt]![l]![kind]
          for (let h = 0; h < hkv; h++) cache[l]![kind].set(src.subarray(h * t * hd, (h * t + t) * hd), (b * hkv + h) * slot)
        }
      }
    })
    for (let j = 0; slots.some((r) => r !== null); j++) {
      // Feed each row's newest token (generated token j) at slot t + j.
      const feedIds = new Array<number>(bsz).fill(0)
      const pos: number[][] = []
      const mask = new Float32Array(bsz * (cap + 1)).fill(-1e9)
      for (let b = 0; b < bsz; b++) {
        const r = slots[b]
        mask[b * (cap + 1) + cap] = 0
        if (!r) {
          pos.push([0])
          continue
        }
        feedIds[b] = r.tokens[j]!
        pos.push([r.promptLen + j])
        const v = valid[r.prompt]!
        for (let s = 0; s < t; s++) if (v[s]) mask[b * (cap + 1) + s] = 0
        for (let s = t; s < t + j; s++) mask[b * (cap + 1) + s] = 0
      }
      const rt = ropeTables(c, pos)
      // Rows whose draw the program can make get it there (one uniform in, one token out; rows drawn the
      // same way whatever else shares the batch); only rows with other processors need the logits.
      const draws = slots.map((r) => (r ? (this.opts.drawOnHost ? null : graphDraw(r.params, vocab)) : 'none'))
      const tDec = performance.now()
      const u = draws.includes('sample') ? new Tensor('float32', Float32Array.from(slots, (r, b) => (draws[b] === 'sample' ? drawUniform(r!.rng) : 0)), [bsz, 1]) : undefined
      const res = await this.model.decodeStep(
        {
          ...(u ? { u } : {}),
          ids: Tensor.i64(feedIds, [bsz, 1]),
          cos: new Tensor('float32', rt.cos, rt.shape),
          sin: new Tensor('float32', rt.sin, rt.shape),
          mask: new Tensor('float32', mask, [bsz, 1, 1, cap + 1]),
          past: cache.map((x) => ({ k: new Tensor('float32', x.k, [bsz, hkv, cap, hd]), v: new Tensor('float32', x.v, [bsz, hkv, cap, hd]) })),
        },
        { logits: draws.includes(null), greedy: draws.includes('greedy') },
      )
      for (let l = 0; l < c.num_hidden_layers; l++) {
        for (const kind of ['k', 'v'] as const) {
          const src = res.kv[l]![kind].data as Float32Array
          for (let b = 0; b < bsz; b++) {
            if (!slots[b]) continue
            for (let h = 0; h < hkv; h++) cache[l]![kind].set(src.subarray((b * hkv + h) * hd, (b * hkv + h + 1) * hd), (b * hkv + h) * slot + (t + j) * hd)
          }
        }
      }
      this.stats.decodeMs += performance.now() - tDec
      this.stats.decodeSteps++
      this.stats.decodeRowSteps += slots.filter((r) => r !== null).length
      const tSample = performance.now()
      const drawn = res.drawn
      slots.forEach((r, b) => {
        if (!r) return
        if (draws[b] === 'sample') this.accept(r, Number(drawn.sampled![b]), drawn.sampledLogprob![b]!, drawn.sampledLogprob![b]!, onEvent)
        else if (draws[b] === 'greedy') this.accept(r, Number(drawn.greedy![b]), 0, drawn.greedyLogprob![b]!, onEvent)
        else this.sample(r, res.logits!.data.subarray(b * vocab, (b + 1) * vocab) as Float32Array, onEvent)
      })
      this.stats.samplingMs += performance.now() - tSample
      this.opts.onTokens?.(this.generated)
      // Rows of aborted requests stop here, like finished ones.
      for (const r of slots) if (r && r.finish === null && requests[r.request]!.signal?.aborted) r.finish = 'abort'
      slots = slots.map((r) => (r && r.finish === null ? r : null))
      const still = slots.filter((r): r is Row => r !== null)
      if (still.length > 0 && still.length <= bsz / 2) {
        // Compact: copy the live rows' caches into a smaller batch.
        const nb = nextPow2(still.length)
        const next = newCache(nb)
        still.forEach((r, nbIdx) => {
          const old = slots.indexOf(r)
          for (let l = 0; l < c.num_hidden_layers; l++) {
            for (const kind of ['k', 'v'] as const) next[l]![kind].set(cache[l]![kind].subarray(old * hkv * slot, (old + 1) * hkv * slot), nbIdx * hkv * slot)
          }
        })
        cache = next
        bsz = nb
        slots = Array.from({ length: nb }, (_, b) => still[b] ?? null)
      }
    }
    for (const r of rows) {
      const text = this.tokenizer && r.params.stop.length === 0 && !onEvent ? this.decodeText(r) : r.text
      out[r.request]![r.sample] = { tokenIds: r.tokens, text, logprobs: r.logprobs, modelLogprobs: r.modelLogprobs, finishReason: r.finish ?? 'length', promptTokens: r.promptLen }
    }
  }
}
