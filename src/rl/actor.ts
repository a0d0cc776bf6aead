import { Graph, type Sym } from '../engine/graph.js'
import * as O from '../engine/ops/index.js'
import { ProgramCache, type Program } from '../engine/session.js'
import { Tensor } from '../engine/tensor.js'
import { sizesOf, targetWindow, windowColumns, type CausalLM } from '../model/causal-lm.js'
import { GradAccumulator } from '../engine/optim.js'
import { collectGradients, gradientNorm, gradientOutputs } from '../engine/grads.js'
import { declareDecoderInputs, decoderHidden, lmHeadLogProbs } from '../model/llama.js'
import { getKlEstimator } from './kl.js'
import { aggLoss, getPolicyLoss, valueLoss, type LossAggMode } from './losses.js'

/**
 * Rows of left-padded prompt + right-padded response tokens (ids, attention [B, T]) and their response
 * window: targets[b][k] is predicted at column start + k (targets, mask and every per-token RL quantity are
 * [B, R]), so the output layer runs on the response columns alone.
 */
export interface SeqBatch {
  ids: number[][]
  attention: number[][]
  targets: number[][]
  /** 1 where targets[b][k] is a response token (0: padding). */
  responseMask: number[][]
  start: number
}

export interface UpdateInputs extends SeqBatch {
  /** The sampling policy's log-probs; absent on-policy (one epoch, one mini-batch): the update's own, detached. */
  oldLogProbs?: number[][]
  advantages: number[][]
  refLogProbs?: number[][]
  returns?: number[][]
  oldValues?: number[][]
  /** Multiplies the loss (micro-batch share of a mini-batch, for gradient accumulation). */
  lossScale: number
}

export interface LossOptions {
  policyLoss: string
  clipRatioLow: number
  clipRatioHigh: number
  clipRatioC: number
  aggMode: LossAggMode
  aggNorm: number
  entropyCoeff: number
  /** KL(π‖π_ref) as a loss term with this weight (0: none). */
  klLossCoef: number
  klEstimator: string
  /** PPO: a value head on the policy, trained with this weight. */
  vfCoef: number | null
  cliprangeValue: number
}

export const VALUE_HEAD = ['value_head.weight', 'value_head.bias'] as const

/**
 * The policy as RL trains it: the causal LM (optionally with a value head on its last hidden state) and
 * two programs per batch shape: a no-grad pass for log-probs (and values), and the update pass computing
 * the whole loss — policy loss, entropy bonus, KL term, value loss — and every gradient in one run.
 */
export class Actor {
  readonly model: CausalLM
  valueHead: Record<string, Tensor> | null
  private readonly opts: LossOptions
  private readonly programs = new ProgramCache()
  private readonly gradScratch = new Map<string, Float32Array>()
  /** The update's gradient sums, kept from step to step (no fresh memory per step). */
  readonly accumulator = new GradAccumulator()

  constructor(model: CausalLM, opts: LossOptions, valueHead?: Record<string, Tensor>) {
    this.model = model
    this.opts = opts
    const h = model.config.hidden_size
    this.valueHead = opts.vfCoef !== null ? (valueHead ?? { 'value_head.weight': Tensor.zeros([1, h]), 'value_head.bias': Tensor.zeros([1]) }) : null
  }

  /** Every trainable buffer (policy and value head) by name. */
  buffers(): Record<string, Float32Array> {
    const out = this.model.buffers()
    if (this.valueHead) for (const [k, t] of Object.entries(this.valueHead)) out[k] = t.data as Float32Array
    return out
  }

  private weights(): Record<string, Tensor> {
    return this.valueHead ? { ...this.model.weightFeeds(), ...this.valueHead } : this.model.weightFeeds()
  }

  private program(key: string, build: () => { g: Graph; outputs: Record<string, Sym> }): Promise<Program> {
    return this.programs.get(key, build)
  }


  /** The policy (and value head) on the response window's columns [b, k]. */
  private base(g: Graph, b: number, t: number, w: { start: number; length: number }, trainable: boolean) {
    const c = this.model.config
    const p = this.model.declareWeights(g, { trainable })
    const inp = declareDecoderInputs(g, c, b, t)
    const hidden = windowColumns(decoderHidden(c, p, inp), w)
    const k = w.length
    const targets = g.input('targets', [b, k], 'int64')
    const { logProbs, logSoftmax } = lmHeadLogProbs(c, p, hidden, targets)
    let values: Sym | null = null
    const vh: Sym[] = []
    if (this.valueHead) {
      const wv = trainable ? g.param('value_head.weight', [1, c.hidden_size]) : g.input('value_head.weight', [1, c.hidden_size])
      const bias = trainable ? g.param('value_head.bias', [1]) : g.input('value_head.bias', [1])
      vh.push(wv, bias)
      values = O.reshape(O.linear(hidden, wv, bias), [b, k])
    }
    return { p, logSoftmax, logProbs, values, vh }
  }

  private feeds(batch: SeqBatch): Record<string, Tensor> {
    return {
      ...this.weights(),
      ...this.model.dataFeeds({ ids: batch.ids, attention: batch.attention }),
      targets: Tensor.i64(batch.targets.flat(), [batch.ids.length, batch.targets[0]!.length]),
    }
  }

  /** log π(targets) per response position [B·R] (and values, with a value head), without gradients. */
  async score(batch: SeqBatch): Promise<{ logProbs: Float32Array; values: Float32Array | null }> {
    if (!this.valueHead) return { logProbs: (await this.model.tokenLogProbs(batch)).data as Float32Array, values: null }
    const b = batch.ids.length
    const t = batch.ids[0]!.length
    const w = targetWindow(batch)
    const prog = await this.program(`score:${b}x${t}${w.key}`, () => {
      const g = new Graph('float32')
      const { logProbs, values } = this.base(g, b, t, w, false)
      const outputs: Record<string, Sym> = { logprobs: logProbs }
      if (values) outputs.values = values
      return { g, outputs }
    })
    const r = await prog.run(this.feeds(batch))
    return { logProbs: r.logprobs!.data as Float32Array, values: (r.values?.data as Float32Array) ?? null }
  }

  /**
   * The loss of one micro-batch, its gradient for every trainable buffer, and the update metrics. Without
   * old_log_probs (on-policy) the program takes its own log-probs, detached, as the old ones, and returns them.
   */
  async lossAndGrads(x: UpdateInputs): Promise<{ loss: number; grads: Record<string, Float32Array>; gradNorm: number; metrics: Record<string, number>; logProbs?: Float32Array }> {
    const b = x.ids.length
    const t = x.ids[0]!.length
    const w = targetWindow(x)
    const k = w.length
    const o = this.opts
    const withRef = o.klLossCoef > 0
    const onPolicy = x.oldLogProbs === undefined
    const trainable = this.model.trainableShapes()
    const names = [...Object.keys(trainable), ...(this.valueHead ? VALUE_HEAD : [])]
    const prog = await this.program(`update${onPolicy ? '-on-policy' : ''}:${b}x${t}${w.key}`, () => {
      const g = new Graph('float32')
      const { p, logSoftmax, logProbs, values, vh } = this.base(g, b, t, w, true)
      const f = (name: string) => g.input(name, [b, k])
      const mask = f('response_mask')
      const oldLogProbs = onPolicy ? O.stopGradient(logProbs) : f('old_log_probs')
      const pl = getPolicyLoss(o.policyLoss)({
        logProbs,
        oldLogProbs,
        advantages: f('advantages'),
        responseMask: mask,
        clipRatioLow: o.clipRatioLow,
        clipRatioHigh: o.clipRatioHigh,
        clipRatioC: o.clipRatioC,
        aggMode: o.aggMode,
        aggNorm: o.aggNorm,
      })
      // With no entropy bonus the entropy is a metric only: no gradient through the vocabulary-sized terms.
      const entropy = aggLoss(O.entropyFromLogSoftmax(o.entropyCoeff !== 0 ? logSoftmax : O.stopGradient(logSoftmax)), mask, 'token-mean')
      let loss = O.sub(pl.loss, O.mul(entropy, o.entropyCoeff))
      const outputs: Record<string, Sym> = { pg_loss: pl.loss, pg_clipfrac: pl.clipfrac, ppo_kl: pl.ppoKl, entropy, ...(onPolicy ? { log_probs: oldLogProbs } : {}) }
      if (withRef) {
        const kl = aggLoss(getKlEstimator(o.klEstimator).graph(logProbs, f('ref_log_probs')), mask, o.aggMode, o.aggNorm)
        loss = O.add(loss, O.mul(kl, o.klLossCoef))
        outputs.kl_loss = kl
      }
      if (values && o.vfCoef !== null) {
        const v = valueLoss(values, f('old_values'), f('returns'), mask, o.cliprangeValue, o.aggMode, o.aggNorm)
        loss = O.add(loss, O.mul(v.loss, o.vfCoef))
        outputs.vf_loss = v.loss
        outputs.vf_clipfrac = v.clipfrac
      }
      loss = O.mul(loss, g.input('loss_scale', []))
      const wrt = [...Object.keys(trainable).map((n) => p[n]!), ...vh]
      const grads = g.gradients(loss, wrt)
      outputs.loss = loss
      return { g, outputs: { ...outputs, ...gradientOutputs(g, names, grads) } }
    })
    const bt = (rows: number[][]) => Tensor.f32(rows.flat(), [b, k])
    const feeds: Record<string, Tensor> = {
      ...this.feeds(x),
      response_mask: bt(x.responseMask),
      ...(onPolicy ? {} : { old_log_probs: bt(x.oldLogProbs!) }),
      advantages: bt(x.advantages),
      loss_scale: Tensor.f32([x.lossScale], []),
    }
    if (withRef) feeds.ref_log_probs = bt(x.refLogProbs!)
    if (this.valueHead) {
      feeds.old_values = bt(x.oldValues!)
      feeds.returns = bt(x.returns!)
    }
    const r = await prog.run(feeds)
    const sizes = sizesOf({ ...trainable, ...(this.valueHead ? { 'value_head.weight': [1, this.model.config.hidden_size], 'value_head.bias': [1] } : {}) })
    const grads = collectGradients(r, names, sizes, this.gradScratch)
    const metrics: Record<string, number> = {}
    for (const k of ['pg_loss', 'pg_clipfrac', 'ppo_kl', 'entropy', 'kl_loss', 'vf_loss', 'vf_clipfrac']) if (r[k]) metrics[k] = r[k]!.at(0)
    return { loss: r.loss!.at(0), grads, gradNorm: gradientNorm(r, grads), metrics, ...(onPolicy ? { logProbs: r.log_probs!.data as Float32Array } : {}) }
  }

  /** Frees the compiled programs of the actor and its model (see CausalLM.releasePrograms). */
  async releasePrograms(): Promise<void> {
    await this.programs.releaseAll()
    await this.model.releasePrograms()
  }

  async dispose(): Promise<void> {
    await this.programs.releaseAll()
    await this.model.dispose()
  }
}
