import type { SeqBatch } from '../actor.js'
import type { Rollout } from './rollout.js'

/** Right-padded rows of prompt + response, lengths rounded up to a multiple of `k` (fewer compiled shapes). */
export function padLength(n: number, k = 16): number {
  return Math.ceil(n / k) * k
}

/** The step's sequences: ids, next-token targets, attention and the response mask, all of width T. */
export interface StepSequences {
  seq: SeqBatch
  T: number
}

/** Prompt + response rows, right-padded to one width T, with the mask on response positions (RL rollouts, SFT targets). */
export function padPromptResponse(rows: readonly { prompt: readonly number[]; response: readonly number[] }[], padId: number): StepSequences {
  const T = padLength(Math.max(...rows.map((r) => r.prompt.length + r.response.length - 1)))
  const seq: SeqBatch = { ids: [], attention: [], targets: [], responseMask: [] }
  const fill = (xs: number[]) => [...xs, ...new Array<number>(T - xs.length).fill(padId)]
  for (const r of rows) {
    const full = [...r.prompt, ...r.response]
    const len = full.length - 1
    seq.ids.push(fill(full.slice(0, -1)))
    seq.targets.push(fill(full.slice(1)))
    seq.attention.push(Array.from({ length: T }, (_, t) => (t < len ? 1 : 0)))
    seq.responseMask.push(Array.from({ length: T }, (_, t) => (t >= r.prompt.length - 1 && t < len ? 1 : 0)))
  }
  return { seq, T }
}

export function toSequences(rows: readonly Rollout[], padId: number): StepSequences {
  return padPromptResponse(rows.map((r) => ({ prompt: r.prompt, response: r.out.tokenIds })), padId)
}

/** The rows `idx` of a batch. */
export function subBatch(seq: SeqBatch, idx: readonly number[]): SeqBatch {
  return { ids: idx.map((i) => seq.ids[i]!), attention: idx.map((i) => seq.attention[i]!), targets: idx.map((i) => seq.targets[i]!), responseMask: idx.map((i) => seq.responseMask[i]!) }
}

/** A flat [rows × T] array as one array per row. */
export function splitRows(flat: Float32Array, count: number, T: number): number[][] {
  return Array.from({ length: count }, (_, i) => Array.from(flat.subarray(i * T, (i + 1) * T)))
}

/** Row-index chunks of at most `size` (micro-batches). */
export function chunks(idx: readonly number[], size: number): number[][] {
  const out: number[][] = []
  for (let s = 0; s < idx.length; s += size) out.push(idx.slice(s, s + size))
  return out
}
