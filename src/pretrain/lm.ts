import { AdamW, guardedStep, lrMultiplier } from '../engine/optim.js'
import type { CausalLM } from '../model/causal-lm.js'
import { Rng } from '../util/rng.js'

export interface PretrainOptions {
  steps: number
  lr: number
  batchSize?: number
  /** Longest sequence in tokens (longer texts are cut). */
  maxLen?: number
  seed?: number
  warmupSteps?: number
  weightDecay?: number
  onStep?: (step: number, loss: number) => void
}

/**
 * Next-token pretraining on token sequences: batches drawn with a seeded generator, right-padded to a
 * multiple of 16, loss on every real next token, AdamW with cosine decay. Returns the loss of each step.
 */
export async function pretrain(model: CausalLM, sequences: readonly number[][], o: PretrainOptions): Promise<number[]> {
  const rng = new Rng(o.seed ?? 0)
  const bs = o.batchSize ?? 16
  const maxLen = o.maxLen ?? 256
  const pad = model.config.pad_token_id ?? 0
  const opt = new AdamW({ weightDecay: o.weightDecay ?? 0 })
  const losses: number[] = []
  for (let step = 0; step < o.steps; step++) {
    const rows = Array.from({ length: bs }, () => sequences[rng.int(sequences.length)]!.slice(0, maxLen + 1))
    const len = Math.ceil(Math.max(...rows.map((r) => r.length - 1)) / 16) * 16
    const ids = rows.map((r) => [...r.slice(0, -1), ...new Array<number>(len - (r.length - 1)).fill(pad)])
    const targets = rows.map((r) => [...r.slice(1), ...new Array<number>(len - (r.length - 1)).fill(pad)])
    const real = rows.map((r) => Array.from({ length: len }, (_, t) => (t < r.length - 1 ? 1 : 0)))
    const { loss, grads, gradNorm } = await model.lossAndGrads({ ids, targets, lossMask: real, attention: real })
    const lr = o.lr * lrMultiplier({ name: 'cosine', warmupSteps: o.warmupSteps ?? Math.min(20, o.steps / 10), totalSteps: o.steps, minLrRatio: 0.1 }, step)
    guardedStep({ step, loss, grads, gradNorm, params: model.buffers(), optimizer: opt, lr, maxGradNorm: 1 })
    losses.push(loss)
    o.onStep?.(step, loss)
  }
  return losses
}
