import type { TokenScorer } from '../../model/causal-lm.js'
import type { Actor } from '../actor.js'
import type { Rollout } from './rollout.js'
import { chunks, splitRows, subBatch, type StepSequences } from './sequences.js'

/** The policy's log-probs of the response tokens (old_log_probs) and its values, recomputed by a forward pass in micro-batches. */
export async function actorLogProbs(actor: Actor, { seq }: StepSequences, micro: number): Promise<{ oldLogProbs: number[][]; values?: number[][] }> {
  const oldLogProbs: number[][] = []
  let values: number[][] | undefined
  const R = seq.targets[0]!.length
  for (const idx of chunks([...seq.ids.keys()], micro)) {
    const r = await actor.score(subBatch(seq, idx))
    oldLogProbs.push(...splitRows(r.logProbs, idx.length, R))
    if (r.values) (values ??= []).push(...splitRows(r.values, idx.length, R))
  }
  return { oldLogProbs, values }
}

/** old_log_probs as the sampler reported them (no recomputation), over the response window [rows, R]. */
export function samplerLogProbs(rows: readonly Rollout[], R: number): number[][] {
  return rows.map((r) => Array.from({ length: R }, (_, k) => (k < r.out.tokenIds.length ? r.out.modelLogprobs[k]! : 0)))
}

/** The reference model's log-probs (ref_log_prob), for the KL term. */
export async function referenceLogProbs(ref: TokenScorer, { seq }: StepSequences, micro: number): Promise<number[][]> {
  const out: number[][] = []
  const R = seq.targets[0]!.length
  for (const idx of chunks([...seq.ids.keys()], micro)) {
    const b = subBatch(seq, idx)
    const lp = await ref.tokenLogProbs({ ids: b.ids, attention: b.attention, targets: b.targets, start: b.start })
    out.push(...splitRows(lp.data as Float32Array, idx.length, R))
  }
  return out
}
