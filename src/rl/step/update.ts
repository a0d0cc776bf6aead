import { guardedStep, type AdamW } from '../../engine/optim.js'
import { Rng, hashString32 } from '../../util/rng.js'
import type { Actor, SeqBatch } from '../actor.js'
import type { TrainConfig } from '../config.js'
import { chunks, subBatch } from './sequences.js'

export interface UpdateBatch {
  seq: SeqBatch
  /** Absent on-policy: the update's own log-probs, detached, are the old ones (see onPolicyUpdate). */
  oldLogProbs?: number[][]
  advantages: number[][]
  refLogProbs?: number[][]
  returns?: number[][]
  values?: number[][]
}

/**
 * Whether the update is exactly on-policy: one pass (ppo_epochs 1) in one mini-batch, so the policy that
 * sampled the rollouts is the one every micro-batch's gradient is taken at, and old_log_probs equal the update's
 * own log-probs (TRL skips their pass then). Not with a value head (its values come from that pass) nor with
 * the KL folded into the reward (the advantages need old_log_probs before the update).
 */
export function onPolicyUpdate(cfg: TrainConfig, rollouts: number, hasValueHead: boolean, klInReward: boolean): boolean {
  const mini = cfg.actor.mini_batch_size
  return cfg.actor.recompute_old_log_probs && cfg.actor.ppo_epochs === 1 && (mini === 0 || mini >= rollouts) && !hasValueHead && !klInReward
}

/**
 * The policy (and value) update: ppo_epochs passes over the batch in a seeded order, one optimizer step
 * per mini-batch, gradients accumulated over its micro-batches (each weighted by its share). Returns the
 * per-micro-batch loss metrics and each optimizer step's gradient norm, and on-policy (no old_log_probs
 * given) the old_log_probs the update found.
 */
export async function updateActor(actor: Actor, optimizer: AdamW, cfg: TrainConfig, step: number, lr: number, b: UpdateBatch): Promise<{ metrics: Record<string, number[]>; oldLogProbs?: number[][] }> {
  const metrics: Record<string, number[]> = {}
  const R = b.seq.targets[0]?.length ?? 0
  const found: number[][] = []
  const rowsIdx = [...b.seq.ids.keys()]
  const pick = (x: number[][], idx: number[]) => idx.map((i) => x[i]!)
  for (let epoch = 0; epoch < cfg.actor.ppo_epochs; epoch++) {
    const order = new Rng(hashString32(`${cfg.seed}:update:${step}:${epoch}`)).shuffle(rowsIdx)
    for (const mini of chunks(order, cfg.actor.mini_batch_size > 0 ? cfg.actor.mini_batch_size : order.length)) {
      const acc = actor.accumulator
      let loss = 0
      for (const idx of chunks(mini, cfg.actor.micro_batch_size)) {
        const r = await actor.lossAndGrads({
          ...subBatch(b.seq, idx),
          oldLogProbs: b.oldLogProbs && pick(b.oldLogProbs, idx),
          advantages: pick(b.advantages, idx),
          refLogProbs: b.refLogProbs && pick(b.refLogProbs, idx),
          returns: b.returns && pick(b.returns, idx),
          oldValues: b.values && pick(b.values, idx),
          lossScale: idx.length / mini.length,
        })
        acc.add(r.grads, 1, r.gradNorm)
        if (r.logProbs) idx.forEach((row, k) => (found[row] = Array.from(r.logProbs!.subarray(k * R, (k + 1) * R))))
        loss += r.loss
        for (const [k, v] of Object.entries(r.metrics)) (metrics[k] ??= []).push(v)
      }
      const { grads, gradNorm } = acc.takeWithNorm()
      const norm = guardedStep({ step, loss, grads, gradNorm, params: actor.buffers(), optimizer, lr, maxGradNorm: cfg.actor.max_grad_norm })
      ;(metrics.grad_norm_step ??= []).push(norm.gradNorm)
    }
  }
  return b.oldLogProbs ? { metrics } : { metrics, oldLogProbs: found }
}
