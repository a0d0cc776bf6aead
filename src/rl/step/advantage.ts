import { getAdvantage, type AdvantageOutput } from '../advantages.js'
import type { TrainConfig } from '../config.js'
import { getKlEstimator } from '../kl.js'
import type { SeqBatch } from '../actor.js'

export interface AdvantageStepInput {
  scores: number[]
  groups: number[]
  seq: SeqBatch
  /** Absent on-policy, where they come from the update (after the advantages, which then do not need them). */
  oldLogProbs?: number[][]
  refLogProbs?: number[][]
  values?: number[][]
}

/** The per-token KL between policy and reference on the response tokens (0 elsewhere), by the configured estimator. */
export function tokenKlOf(cfg: TrainConfig, mask: number[][], oldLogProbs: number[][], refLogProbs: number[][]): number[][] {
  const kl = getKlEstimator(cfg.kl.kl_estimator).host
  return mask.map((m, i) => m.map((on, t) => (on ? kl(oldLogProbs[i]![t]!, refLogProbs[i]![t]!) : 0)))
}

/**
 * Advantages (and returns) from the configured estimator. With a reference model, the per-token KL
 * between policy and reference is computed here: folded into the reward as −kl_coef·KL when
 * use_kl_in_reward (PPO's default), otherwise only reported (the loss then carries the KL term).
 */
export function computeAdvantages(cfg: TrainConfig, estimatorName: string, klInReward: boolean, x: AdvantageStepInput): AdvantageOutput & { tokenKl?: number[][] } {
  const mask = x.seq.responseMask
  const tokenKl = x.refLogProbs && x.oldLogProbs ? tokenKlOf(cfg, mask, x.oldLogProbs, x.refLogProbs) : undefined
  const adv = getAdvantage(estimatorName)({
    scores: x.scores,
    groups: x.groups,
    responseMask: mask,
    tokenRewards: klInReward && tokenKl ? tokenKl.map((row) => row.map((k) => -cfg.kl.kl_coef * k)) : undefined,
    values: x.values?.map((row, i) => row.map((v, t) => (mask[i]![t] ? v : 0))),
    gamma: cfg.advantage.gamma,
    lam: cfg.advantage.lam,
    scaleRewards: cfg.advantage.scale_rewards,
    whiten: cfg.advantage.whiten,
  })
  return { ...adv, tokenKl }
}
