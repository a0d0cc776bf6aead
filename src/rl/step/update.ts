import { GradAccumulator, guardedStep, type AdamW } from '../../engine/optim.js'
import { Rng, hashString32 } from '../../util/rng.js'
import type { Actor, SeqBatch } from '../actor.js'
import type { TrainConfig } from '../config.js'
import { chunks, subBatch } from './sequences.js'

export interface UpdateBatch {
  seq: SeqBatch
  oldLogProbs: number[][]
  advantages: number[][]
  refLogProbs?: number[][]
  returns?: number[][]
  values?: number[][]
}

/**
 * The policy (and value) update: ppo_epochs passes over the batch in a seeded order, one optimizer step
 * per mini-batch, gradients accumulated over its micro-batches (each weighted by its share). Returns the
 * per-micro-batch loss metrics and each optimizer step's gradient norm.
 */
export async function updateActor(actor: Actor, optimizer: AdamW, cfg: TrainConfig, step: number, lr: number, b: UpdateBatch): Promise<Record<string, number[]>> {
  const metrics: Record<string, number[]> = {}
  const rowsIdx = [...b.seq.ids.keys()]
  const pick = (x: number[][], idx: number[]) => idx.map((i) => x[i]!)
  for (let epoch = 0; epoch < cfg.actor.ppo_epochs; epoch++) {
    const order = new Rng(hashString32(`${cfg.seed}:update:${step}:${epoch}`)).shuffle(rowsIdx)
    for (const mini of chunks(order, cfg.actor.mini_batch_size > 0 ? cfg.actor.mini_batch_size : order.length)) {
      const acc = new GradAccumulator()
      let loss = 0
      for (const idx of chunks(mini, cfg.actor.micro_batch_size)) {
        const r = await actor.lossAndGrads({
          ...subBatch(b.seq, idx),
          oldLogProbs: pick(b.oldLogProbs, idx),
          advantages: pick(b.advantages, idx),
          refLogProbs: b.refLogProbs && pick(b.refLogProbs, idx),
          returns: b.returns && pick(b.returns, idx),
          oldValues: b.values && pick(b.values, idx),
          lossScale: idx.length / mini.length,
        })
        acc.add(r.grads, 1, r.gradNorm)
        loss += r.loss
        for (const [k, v] of Object.entries(r.metrics)) (metrics[k] ??= []).push(v)
      }
      const { grads, gradNorm } = acc.takeWithNorm()
      const norm = guardedStep({ step, loss, grads, gradNorm, params: actor.buffers(), optimizer, lr, maxGradNorm: cfg.actor.max_grad_norm })
      ;(metrics.grad_norm_step ??= []).push(norm.gradNorm)
    }
  }
  return metrics
}
