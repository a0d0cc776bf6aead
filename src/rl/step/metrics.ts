import { mean } from '../../util/stats.js'
import type { SeqBatch } from '../actor.js'
import { rolloutMetrics } from '../rollout-metrics.js'
import { toScored, type Rollout } from './rollout.js'

/**
 * One step's metrics under verl's names: the rollout metrics every engine shares (from the scored
 * rollouts alone), then the update's (KL, entropy, clip fraction, losses, gradient norm, learning rate).
 */
export function stepMetrics(rows: readonly Rollout[], allGroups: readonly Rollout[][], seq: SeqBatch, tokenKl: number[][] | undefined, upd: Record<string, number[]>, lr: number): Record<string, number> {
  const data: Record<string, number> = {
    ...rolloutMetrics(rows.map(toScored), allGroups.map((g) => g.map(toScored))),
    'actor/kl': tokenKl ? mean(tokenKl.flatMap((row, i) => row.filter((_, t) => seq.responseMask[i]![t]))) : 0,
    'actor/ppo_kl': mean(upd.ppo_kl ?? []),
    'actor/entropy': mean(upd.entropy ?? []),
    'actor/clipfrac': mean(upd.pg_clipfrac ?? []),
    'actor/pg_loss': mean(upd.pg_loss ?? []),
    'actor/grad_norm': mean(upd.grad_norm_step ?? []),
    'actor/lr': lr,
  }
  if (upd.vf_loss) {
    data['critic/value_loss'] = mean(upd.vf_loss)
    data['critic/vf_clipfrac'] = mean(upd.vf_clipfrac ?? [])
  }
  return data
}
