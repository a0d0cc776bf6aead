import type { Sym } from '../engine/graph.js'
import * as O from '../engine/ops/index.js'
import { Registry } from '../util/registry.js'

/**
 * Policy losses, KL estimators and loss aggregation as graph builders (they run inside the training
 * graph, so autodiff gives their gradients). verl's names and formulas.
 */

export type LossAggMode = 'token-mean' | 'seq-mean-token-mean' | 'seq-mean-token-sum' | 'seq-mean-token-sum-norm'

/**
 * Token losses [B, T] and a mask [B, T] to one number:
 * token-mean Σ l·m / Σ m; seq-mean-token-mean mean over sequences of their token mean; seq-mean-token-sum
 * mean over sequences of their token sum; seq-mean-token-sum-norm Σ l·m / `norm` (a constant: the maximum
 * response length, as Dr. GRPO and verl use).
 */
export function aggLoss(loss: Sym, mask: Sym, mode: LossAggMode, norm = 1): Sym {
  const lm = O.mul(loss, mask)
  switch (mode) {
    case 'token-mean':
      return O.div(O.sum(lm), O.maximum(O.sum(mask), 1))
    case 'seq-mean-token-mean': {
      const perSeq = O.div(O.sum(lm, [-1]), O.maximum(O.sum(mask, [-1]), 1))
      return O.mean(perSeq)
    }
    case 'seq-mean-token-sum':
      return O.mean(O.sum(lm, [-1]))
    case 'seq-mean-token-sum-norm':
      return O.div(O.sum(lm), norm)
  }
}

export interface PolicyLossInput {
  logProbs: Sym
  oldLogProbs: Sym
  advantages: Sym
  responseMask: Sym
  clipRatioLow: number
  clipRatioHigh: number
  clipRatioC: number
  aggMode: LossAggMode
  aggNorm: number
}

export interface PolicyLossOutput {
  loss: Sym
  /** Share of response tokens whose ratio was clipped. */
  clipfrac: Sym
  /** Mean of old_log_prob − log_prob (the approximate KL between old and new policy). */
  ppoKl: Sym
}

export type PolicyLoss = (x: PolicyLossInput) => PolicyLossOutput

const registry = new Registry<PolicyLoss>('a policy loss', 'policy loss')

export function registerPolicyLoss(name: string, f: PolicyLoss): void {
  registry.register(name, f)
}

export function getPolicyLoss(name: string): PolicyLoss {
  return registry.get(name)
}

/**
 * PPO's clipped surrogate with dual clip (verl "vanilla"): ratio = exp(logp − old);
 * l = max(−A·ratio, −A·clip(ratio, 1 − low, 1 + high)); for A < 0 also min(l, −A·c).
 */
export const vanilla: PolicyLoss = (x) => {
  const negKl = O.sub(x.logProbs, x.oldLogProbs)
  const ratio = O.exp(negKl)
  const l1 = O.mul(O.neg(x.advantages), ratio)
  const l2 = O.mul(O.neg(x.advantages), O.clamp(ratio, 1 - x.clipRatioLow, 1 + x.clipRatioHigh))
  const clipped = O.maximum(l1, l2)
  const l3 = O.mul(O.neg(x.advantages), x.clipRatioC)
  const dual = O.minimum(clipped, l3)
  const losses = O.where(O.compare('Less', x.advantages, 0), dual, clipped)
  const clippedMask = O.cast(O.compare('Greater', l2, l1), x.logProbs.dtype)
  return {
    loss: aggLoss(losses, x.responseMask, x.aggMode, x.aggNorm),
    clipfrac: O.maskedMean(clippedMask, x.responseMask),
    ppoKl: O.maskedMean(O.neg(negKl), x.responseMask),
  }
}

/** REINFORCE with the given advantages (no ratio, no clipping): −A·log π. */
export const reinforce: PolicyLoss = (x) => ({
  loss: aggLoss(O.mul(O.neg(x.advantages), x.logProbs), x.responseMask, x.aggMode, x.aggNorm),
  clipfrac: O.mul(O.sum(x.responseMask), 0),
  ppoKl: O.maskedMean(O.sub(x.oldLogProbs, x.logProbs), x.responseMask),
})

registerPolicyLoss('vanilla', vanilla)
registerPolicyLoss('reinforce', reinforce)

/** PPO's clipped value loss: ½·agg(max((v − R)², (clip(v, v_old ± c) − R)²)), and the share clipped. */
export function valueLoss(values: Sym, oldValues: Sym, returns: Sym, mask: Sym, clipRange: number, mode: LossAggMode, norm: number): { loss: Sym; clipfrac: Sym } {
  const clippedV = O.add(oldValues, O.clamp(O.sub(values, oldValues), -clipRange, clipRange))
  const l1 = O.square(O.sub(values, returns))
  const l2 = O.square(O.sub(clippedV, returns))
  return { loss: O.mul(aggLoss(O.maximum(l1, l2), mask, mode, norm), 0.5), clipfrac: O.maskedMean(O.cast(O.compare('Greater', l2, l1), values.dtype), mask) }
}
