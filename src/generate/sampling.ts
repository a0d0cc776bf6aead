import { Rng } from '../util/rng.js'

/**
 * Logits processing and sampling for one row of logits, in transformers' order: repetition penalty, then
 * temperature, top-k, top-p, min-p. Every function is O(V) except the truncations, which pop a heap only
 * as far as they keep tokens.
 */

export interface SamplingParams {
  /** 0 means greedy. */
  temperature: number
  /** 1 keeps everything. */
  topP: number
  /** 0 keeps everything. */
  topK: number
  /** 0 keeps everything; else drop tokens below minP × the top probability. */
  minP: number
  /** 1 means none; >1 discourages tokens already in the prompt or completion (transformers' rule). */
  repetitionPenalty: number
}

export const DEFAULT_SAMPLING: SamplingParams = { temperature: 1, topP: 1, topK: 0, minP: 0, repetitionPenalty: 1 }

/** log Σ exp(x) of a row, stable. */
export function logSumExp(row: ArrayLike<number>): number {
  let m = -Infinity
  for (let i = 0; i < row.length; i++) if (row[i]! > m) m = row[i]!
  if (m === -Infinity) return -Infinity
  let s = 0
  for (let i = 0; i < row.length; i++) s += Math.exp(row[i]! - m)
  return m + Math.log(s)
}

export function argmax(row: ArrayLike<number>): number {
  let best = 0
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i
  return best
}

/** Divides positive logits by the penalty and multiplies negative ones, for every token already seen. */
export function applyRepetitionPenalty(logits: Float64Array, seen: Iterable<number>, penalty: number): void {
  if (penalty === 1) return
  for (const id of new Set(seen)) {
    const x = logits[id]!
    logits[id] = x > 0 ? x / penalty : x * penalty
  }
}

/** Max-heap of token indices ordered by value, built in O(V). */
class IndexHeap {
  private readonly idx: Int32Array
  private n: number
  constructor(private readonly val: Float64Array) {
    this.n = val.length
    this.idx = new Int32Array(this.n)
    for (let i = 0; i < this.n; i++) this.idx[i] = i
    for (let i = (this.n >> 1) - 1; i >= 0; i--) this.down(i)
  }
  private less(a: number, b: number): boolean {
    const va = this.val[this.idx[a]!]!
    const vb = this.val[this.idx[b]!]!
    return va < vb || (va === vb && this.idx[a]! > this.idx[b]!)
  }
  private down(i: number): void {
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < this.n && this.less(m, l)) m = l
      if (r < this.n && this.less(m, r)) m = r
      if (m === i) return
      const t = this.idx[i]!
      this.idx[i] = this.idx[m]!
      this.idx[m] = t
      i = m
    }
  }
  get size(): number {
    return this.n
  }
  pop(): number {
    const top = this.idx[0]!
    this.n--
    this.idx[0] = this.idx[this.n]!
    this.down(0)
    return top
  }
}

export interface Distribution {
  /** Candidate token ids and their probabilities (summing to 1). */
  ids: Int32Array
  probs: Float64Array
}

/**
 * The sampling distribution after temperature and truncation (top-k, top-p, min-p), from logits already
 * penalised. With temperature 0 it is a point mass on the argmax.
 */
export function samplingDistribution(logits: Float64Array, p: SamplingParams): Distribution {
  const v = logits.length
  if (p.temperature <= 0) return { ids: Int32Array.of(argmax(logits)), probs: Float64Array.of(1) }
  const probs = new Float64Array(v)
  let m = -Infinity
  for (let i = 0; i < v; i++) if (logits[i]! > m) m = logits[i]!
  let z = 0
  for (let i = 0; i < v; i++) z += probs[i] = Math.exp((logits[i]! - m) / p.temperature)
  for (let i = 0; i < v; i++) probs[i] = probs[i]! / z
  const truncate = (p.topK > 0 && p.topK < v) || p.topP < 1 || p.minP > 0
  if (!truncate) {
    const ids = new Int32Array(v)
    for (let i = 0; i < v; i++) ids[i] = i
    return { ids, probs }
  }
  const heap = new IndexHeap(probs)
  const limit = p.topK > 0 ? Math.min(p.topK, v) : v
  const kept: number[] = []
  let cum = 0
  let top = 0
  while (heap.size > 0 && kept.length < limit) {
    const id = heap.pop()
    const q = probs[id]!
    if (kept.length === 0) top = q
    else if (p.minP > 0 && q < p.minP * top) break
    kept.push(id)
    cum += q
    if (cum >= p.topP) break
  }
  const ids = Int32Array.from(kept)
  const out = new Float64Array(kept.length)
  kept.forEach((id, k) => (out[k] = probs[id]! / cum))
  return { ids, probs: out }
}

/** Draws a token from a distribution with the given generator; returns its id and its log-probability. */
export function drawToken(d: Distribution, rng: Rng): { id: number; logprob: number } {
  if (d.ids.length === 1) return { id: d.ids[0]!, logprob: 0 }
  let u = rng.next()
  for (let k = 0; k < d.ids.length; k++) {
    u -= d.probs[k]!
    if (u < 0) return { id: d.ids[k]!, logprob: Math.log(d.probs[k]!) }
  }
  const last = d.ids.length - 1
  return { id: d.ids[last]!, logprob: Math.log(d.probs[last]!) }
}

export interface Drawn {
  id: number
  /** Log-probability under the sampling distribution. */
  logprob: number
  /** Log-probability under the unmodified model (temperature 1, no truncation). */
  modelLogprob: number
}

/**
 * Samples one token from a row of raw logits. The common RL setting (temperature 1, no truncation, no
 * penalty) takes one exp pass over the vocabulary; other settings build the processed distribution.
 */
export function sampleRow(logits: Float32Array, p: SamplingParams, rng: Rng, seen: readonly number[]): Drawn {
  const v = logits.length
  let m = -Infinity
  for (let i = 0; i < v; i++) if (logits[i]! > m) m = logits[i]!
  const plain = p.temperature === 1 && p.repetitionPenalty === 1 && !(p.topK > 0 && p.topK < v) && p.topP >= 1 && p.minP <= 0
  if (plain) {
    const e = new Float64Array(v)
    let z = 0
    for (let i = 0; i < v; i++) z += e[i] = Math.exp(logits[i]! - m)
    let u = rng.next() * z
    let id = v - 1
    for (let i = 0; i < v; i++) {
      u -= e[i]!
      if (u < 0) {
        id = i
        break
      }
    }
    const lp = logits[id]! - m - Math.log(z)
    return { id, logprob: lp, modelLogprob: lp }
  }
  let z = 0
  for (let i = 0; i < v; i++) z += Math.exp(logits[i]! - m)
  const lse = m + Math.log(z)
  const x = new Float64Array(logits)
  applyRepetitionPenalty(x, seen, p.repetitionPenalty)
  const d = drawToken(samplingDistribution(x, p), rng)
  return { id: d.id, logprob: d.logprob, modelLogprob: logits[d.id]! - lse }
}
