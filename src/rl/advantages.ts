/**
 * Advantage estimators (verl's core_algos pattern): small pure functions in a registry; the trainer only
 * sequences them. Inputs are per-sequence scores, group ids and per-token tensors as plain arrays.
 */

import { Registry } from '../util/registry.js'
import { mean } from '../util/stats.js'

export interface AdvantageInput {
  /** Outcome score of each sequence (its reward). */
  scores: number[]
  /** Group (prompt) of each sequence: GRPO normalises within groups. */
  groups: number[]
  /** Response mask per sequence: 1 for each response token (row lengths may differ). */
  responseMask: number[][]
  /** Per-token rewards beyond the score (e.g. −kl_coef·KL folded into the reward), same shape as the mask. */
  tokenRewards?: number[][]
  /** Value estimates per response token (GAE). */
  values?: number[][]
  gamma?: number
  lam?: number
  /** GRPO: 'group' divides by each group's std, 'batch' by the batch std, 'none' not at all (Dr. GRPO). */
  scaleRewards?: 'group' | 'batch' | 'none'
  /** Whiten the advantages over every response token of the batch (PPO). */
  whiten?: boolean
  eps?: number
}

export interface AdvantageOutput {
  /** Per-token advantages, same shape as the mask (0 outside it). */
  advantages: number[][]
  /** Per-token returns (value targets), GAE only. */
  returns?: number[][]
}

export type AdvantageEstimator = (x: AdvantageInput) => AdvantageOutput

const registry = new Registry<AdvantageEstimator>('an advantage estimator', 'advantage estimator')

export function registerAdvantage(name: string, f: AdvantageEstimator): void {
  registry.register(name, f)
}

export function getAdvantage(name: string): AdvantageEstimator {
  return registry.get(name)
}

/** Sample standard deviation (torch.std: n − 1 in the denominator; 0 for one element). */
export function std(xs: readonly number[]): number {
  if (xs.length < 2) return 0
  const m = xs.reduce((a, b) => a + b, 0) / xs.length
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1))
}

function byGroup(groups: readonly number[]): Map<number, number[]> {
  const m = new Map<number, number[]>()
  groups.forEach((g, i) => {
    const l = m.get(g) ?? []
    l.push(i)
    m.set(g, l)
  })
  return m
}

function broadcast(seqAdv: readonly number[], mask: readonly number[][]): number[][] {
  return mask.map((row, i) => row.map((m) => (m ? seqAdv[i]! : 0)))
}

/**
 * GRPO: each sequence's score minus its group's mean, divided by the group's std (+ eps) unless
 * scale_rewards says otherwise; every response token of the sequence gets that advantage. A group whose
 * rewards are all equal gets 0 everywhere.
 */
export const grpo: AdvantageEstimator = (x) => {
  const eps = x.eps ?? 1e-6
  const scale = x.scaleRewards ?? 'group'
  const batchStd = std(x.scores)
  const adv = new Array<number>(x.scores.length).fill(0)
  for (const idx of byGroup(x.groups).values()) {
    const s = idx.map((i) => x.scores[i]!)
    const m = idx.length > 1 ? mean(s) : 0
    const sd = idx.length > 1 ? std(s) : 1
    const div = scale === 'group' ? sd + eps : scale === 'batch' ? batchStd + eps : 1
    idx.forEach((i) => (adv[i] = (x.scores[i]! - m) / div))
  }
  return { advantages: broadcast(adv, x.responseMask) }
}

/** RLOO: each score minus the mean of the other scores of its group. */
export const rloo: AdvantageEstimator = (x) => {
  const adv = new Array<number>(x.scores.length).fill(0)
  for (const idx of byGroup(x.groups).values()) {
    const total = idx.reduce((a, i) => a + x.scores[i]!, 0)
    const n = idx.length
    idx.forEach((i) => (adv[i] = n > 1 ? (x.scores[i]! * n - total) / (n - 1) : 0))
  }
  return { advantages: broadcast(adv, x.responseMask) }
}

/**
 * GAE over each sequence's response tokens: the score is the reward of its last response token (plus
 * any per-token rewards), δ_t = r_t + γ·V_{t+1} − V_t, A_t = δ_t + γλ·A_{t+1}; returns = A + V. With
 * `whiten`, advantages are shifted and scaled to mean 0 and std 1 over the batch's response tokens.
 */
export const gae: AdvantageEstimator = (x) => {
  const gamma = x.gamma ?? 1
  const lam = x.lam ?? 1
  if (!x.values) throw new Error('gae needs values')
  const advantages: number[][] = []
  const returns: number[][] = []
  x.responseMask.forEach((mask, i) => {
    const pos = mask.flatMap((m, t) => (m ? [t] : []))
    const r = mask.map((_, t) => x.tokenRewards?.[i]?.[t] ?? 0)
    if (pos.length > 0) r[pos[pos.length - 1]!] = r[pos[pos.length - 1]!]! + x.scores[i]!
    const v = x.values![i]!
    const a = new Array<number>(mask.length).fill(0)
    let next = 0
    let nextV = 0
    for (let k = pos.length - 1; k >= 0; k--) {
      const t = pos[k]!
      const delta = r[t]! + gamma * nextV - v[t]!
      next = delta + gamma * lam * next
      a[t] = next
      nextV = v[t]!
    }
    advantages.push(a)
    returns.push(a.map((ai, t) => (mask[t] ? ai + v[t]! : 0)))
  })
  if (x.whiten ?? true) {
    const all = advantages.flatMap((row, i) => row.filter((_, t) => x.responseMask[i]![t]))
    const m = mean(all)
    const sd = Math.sqrt(all.reduce((s, a) => s + (a - m) ** 2, 0) / Math.max(1, all.length - 1))
    for (const [i, row] of advantages.entries()) for (let t = 0; t < row.length; t++) if (x.responseMask[i]![t]) row[t] = (row[t]! - m) / (sd + (x.eps ?? 1e-8))
  }
  return { advantages, returns }
}

registerAdvantage('grpo', grpo)
registerAdvantage('rloo', rloo)
registerAdvantage('gae', gae)
