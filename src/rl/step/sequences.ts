import type { SeqBatch } from '../actor.js'
import type { Rollout } from './rollout.js'

/**
 * A width rounded up to one of eight shapes per octave (multiples of 16 below 256, of 32 below 512, of 64
 * below 1,024, …): at most 12.5% padding, while the lengths of step after step fall on shapes already
 * compiled (a new shape costs a compile and the first touch of its memory, seconds on a 39M model).
 */
export function padLength(n: number): number {
  const step = Math.max(16, 2 ** Math.floor(Math.log2(Math.max(1, n))) / 8)
  return Math.max(step, Math.ceil(n / step) * step)
}

/** The step's sequences, all rows of one width T = P + R − 1: prompts left-padded to P, responses right-padded to R. */
export interface StepSequences {
  seq: SeqBatch
  T: number
}

/**
 * Prompt + response rows in verl's layout: each prompt left-padded to the width P, each response right-padded
 * to R, so every row's response starts at column P and is predicted from column P − 1 on: the per-token
 * quantities (targets, mask, log-probs, advantages) are [rows, R] over that window (RL rollouts, SFT targets).
 */
export function padPromptResponse(rows: readonly { prompt: readonly number[]; response: readonly number[] }[], padId: number): StepSequences {
  if (rows.some((r) => r.prompt.length === 0)) throw new Error('a row has an empty prompt: the first response token needs one before it')
  const P = padLength(Math.max(...rows.map((r) => r.prompt.length)))
  const R = padLength(Math.max(1, ...rows.map((r) => r.response.length)))
  const T = P + R - 1
  const seq: SeqBatch = { ids: [], attention: [], targets: [], responseMask: [], start: P - 1 }
  for (const r of rows) {
    const lead = P - r.prompt.length
    const ids = new Array<number>(T).fill(padId)
    r.prompt.forEach((x, i) => (ids[lead + i] = x))
    // The last response token is only a target, never an input.
    r.response.forEach((x, i) => {
      if (P + i < T) ids[P + i] = x
    })
    seq.ids.push(ids)
    seq.attention.push(Array.from({ length: T }, (_, t) => (t >= lead && t < P + r.response.length - 1 ? 1 : 0)))
    seq.targets.push(Array.from({ length: R }, (_, k) => (k < r.response.length ? r.response[k]! : padId)))
    seq.responseMask.push(Array.from({ length: R }, (_, k) => (k < r.response.length ? 1 : 0)))
  }
  return { seq, T }
}

export function toSequences(rows: readonly Rollout[], padId: number): StepSequences {
  return padPromptResponse(rows.map((r) => ({ prompt: r.prompt, response: r.out.tokenIds })), padId)
}

/** The rows `idx` of a batch. */
export function subBatch(seq: SeqBatch, idx: readonly number[]): SeqBatch {
  return { ids: idx.map((i) => seq.ids[i]!), attention: idx.map((i) => seq.attention[i]!), targets: idx.map((i) => seq.targets[i]!), responseMask: idx.map((i) => seq.responseMask[i]!), start: seq.start }
}

/** A flat [rows × width] array as one array per row. */
export function splitRows(flat: Float32Array, count: number, width: number): number[][] {
  return Array.from({ length: count }, (_, i) => Array.from(flat.subarray(i * width, (i + 1) * width)))
}

/** Row-index chunks of at most `size` (micro-batches). */
export function chunks(idx: readonly number[], size: number): number[][] {
  const out: number[][] = []
  for (let s = 0; s < idx.length; s += size) out.push(idx.slice(s, s + size))
  return out
}
