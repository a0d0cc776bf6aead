import { Rng } from '../util/rng.js'
import { LOGITS_PROCESSORS, LogitsRow, activeProcessors, DEFAULT_SAMPLING, type SamplingParams } from './logits-processors.js'

/**
 * Sampling one token from a row of logits: the logits processors (logits-processors.ts) make the
 * distribution, a seeded generator draws from it.
 */

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

/** Divides positive logits by the penalty and multiplies negative ones, for every token already seen (the repetition_penalty processor). */
export function applyRepetitionPenalty(logits: Float64Array, seen: Iterable<number>, penalty: number): void {
  const row = new LogitsRow(logits)
  LOGITS_PROCESSORS.find((p) => p.name === 'repetition_penalty')!.apply(row, { ...DEFAULT_SAMPLING, repetitionPenalty: penalty }, [...seen])
}

export interface Distribution {
  /** Candidate token ids and their probabilities (summing to 1). */
  ids: Int32Array
  probs: Float64Array
}

/**
 * The sampling distribution: the active logits processors in their fixed order (logits-processors.ts),
 * then a softmax over the surviving candidates. With temperature 0 it is a point mass on the argmax of the
 * (penalised) logits.
 */
export function samplingDistribution(logits: Float64Array, p: SamplingParams, seen: readonly number[] = []): Distribution {
  const row = new LogitsRow(new Float64Array(logits))
  const greedy = p.temperature <= 0
  for (const proc of activeProcessors(p, logits.length)) {
    if (greedy && proc.name !== 'repetition_penalty') continue
    proc.apply(row, p, seen)
  }
  if (greedy) return { ids: Int32Array.of(argmax(row.logits)), probs: Float64Array.of(1) }
  const ids = row.kept ? Int32Array.from(row.kept) : Int32Array.from(row.logits.keys())
  const { logZ } = row.logNormaliser()
  return { ids, probs: Float64Array.from(ids, (id) => Math.exp(row.logits[id]! - logZ)) }
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
 * Samples one token from a row of raw logits. When no processor is active (temperature 1, no penalty, no
 * truncation: the usual RL setting) the distribution is the plain softmax, drawn in one exp pass without
 * building it; this is only a shortcut, and gives the same token as the general path (a test checks).
 */
export function sampleRow(logits: Float32Array, p: SamplingParams, rng: Rng, seen: readonly number[]): Drawn {
  const v = logits.length
  let m = -Infinity
  for (let i = 0; i < v; i++) if (logits[i]! > m) m = logits[i]!
  if (p.temperature > 0 && activeProcessors(p, v).length === 0) {
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
  const d = drawToken(samplingDistribution(new Float64Array(logits), p, seen), rng)
  return { id: d.id, logprob: d.logprob, modelLogprob: logits[d.id]! - lse }
}
