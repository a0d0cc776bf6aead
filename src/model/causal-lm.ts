import { Graph, type Sym } from '../engine/graph.js'
import * as O from '../engine/ops/index.js'
import { maskToFloat } from '../engine/ops/util.js'
import { ProgramCache, type Program } from '../engine/session.js'
import { collectGradients, gradientNorm, gradientOutputs } from '../engine/grads.js'
import { Tensor, sizeOf, type FloatDType } from '../engine/tensor.js'
import { Rng } from '../util/rng.js'
import { parameterShapes, type ModelConfig } from './config.js'
import { declareDecoderInputs, declareParams, decoderForward, decoderHidden, lmHead, lmHeadLogProbs, lmHeadTokenLogProbs, LORA_SCALE, type LayerKV, type ParamSyms } from './llama.js'
import { loraShapes, mergeLora, type LoraSpec } from './lora.js'
import { attentionMask, ropeTables } from './rope.js'
import { drawNodes } from './draw-nodes.js'

/** Tokens drawn inside a decode step, per row: the softmax draw and the argmax, with their log-probabilities. */
export interface DrawnTokens {
  sampled?: BigInt64Array
  sampledLogprob?: Float32Array
  greedy?: BigInt64Array
  greedyLogprob?: Float32Array
}

/** A batch of padded token rows for teacher-forced passes: ids [B, T], with which positions are real. */
export interface TokenBatch {
  ids: number[][]
  /** 1 for real tokens, 0 for padding (default: all real). */
  attention?: number[][]
}

/**
 * The tokens a pass scores: targets[b][k] is predicted at column `start + k` of ids[b]. Without `start`,
 * targets cover every column. A window (an RL response, an SFT answer) runs the output layer, the
 * vocabulary-sized part of a pass, on its own columns alone.
 */
export interface ScoredTargets {
  targets: number[][]
  start?: number
}

/** A language-modelling batch: predict targets[b][k] from ids[b][..start+k]; lossMask [B, K] picks the ones scored. */
export interface LmBatch extends TokenBatch, ScoredTargets {
  lossMask: number[][]
  /** Also return the share of masked positions whose target is the argmax (supervised fine-tuning's token accuracy). */
  tokenAccuracy?: boolean
}

/** Initial weights as transformers' _init_weights draws them: N(0, std) matrices, unit norms, zero biases. */
export function randomWeights(c: ModelConfig, seed: number, std = 0.02): Record<string, Tensor> {
  const rng = new Rng(seed)
  const out: Record<string, Tensor> = {}
  for (const [name, shape] of Object.entries(parameterShapes(c))) {
    const data = new Float32Array(sizeOf(shape))
    if (name.endsWith('norm.weight')) data.fill(1)
    else if (!name.endsWith('.bias')) for (let i = 0; i < data.length; i++) data[i] = rng.normal() * std
    out[name] = new Tensor('float32', data, shape)
  }
  return out
}

/** Element counts of named shapes. */
export function sizesOf(shapes: Record<string, readonly number[]>): Record<string, number> {
  return Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, sizeOf(s)]))
}

function shapeKey(b: number, t: number, kind: string): string {
  return `${kind}:${b}x${t}`
}

/** The scored window of a batch: its first column and width, checked against the rows' width T. */
export function targetWindow(batch: TokenBatch & ScoredTargets): { start: number; length: number; key: string } {
  const t = batch.ids[0]?.length ?? 0
  const start = batch.start ?? 0
  const length = batch.targets[0]?.length ?? 0
  if (start < 0 || start + length > t) throw new Error(`targets of width ${length} from column ${start} do not fit rows of ${t} tokens`)
  return { start, length, key: start === 0 && length === t ? '' : `@${start}+${length}` }
}

/** The hidden states [B, T, H] of a window's columns ([B, K, H]); the whole when it covers every column. */
export function windowColumns(hidden: Sym, w: { start: number; length: number }): Sym {
  return w.start === 0 && w.length === hidden.shape[1] ? hidden : O.slice(hidden, 1, w.start, w.start + w.length)
}

/** A model's low-rank adapters: their spec and tensors (lora.ts). */
export interface Adapters {
  spec: LoraSpec
  weights: Record<string, Tensor>
}

/**
 * A Llama/Qwen2 causal language model on the engine. Programs are compiled per batch shape and cached;
 * a forward program keeps no activations for backward, a training program computes loss and every gradient
 * in one onnxruntime run.
 */
export class CausalLM {
  readonly config: ModelConfig
  weights: Record<string, Tensor>
  /**
   * Low-rank adapters: with them, every program adds them to the layers they adapt, training updates them alone
   * (the base weights are graph inputs, never differentiated), and a program may leave them off (the reference).
   */
  readonly adapters: Adapters | null
  private readonly programs = new ProgramCache()
  private readonly gradScratch = new Map<string, Float32Array>()

  constructor(config: ModelConfig, weights: Record<string, Tensor>, adapters?: Adapters) {
    const shapes = parameterShapes(config)
    for (const [name, shape] of Object.entries(shapes)) {
      const w = weights[name]
      if (!w) throw new Error(`missing weight ${name} [${shape.join(', ')}]`)
      if (w.shape.join(',') !== shape.join(',')) throw new Error(`weight ${name} has shape [${w.shape.join(', ')}], the config needs [${shape.join(', ')}]`)
    }
    const extra = Object.keys(weights).filter((n) => !(n in shapes))
    if (extra.length > 0) throw new Error(`unexpected weight(s) for this config: ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? '…' : ''}`)
    if (adapters) {
      for (const [name, shape] of Object.entries(loraShapes(adapters.spec))) {
        const a = adapters.weights[name]
        if (!a || a.shape.join(',') !== shape.join(',')) throw new Error(`adapter ${name}: expected [${shape.join(', ')}]${a ? `, got [${a.shape.join(', ')}]` : ', missing'}`)
      }
    }
    this.config = config
    this.weights = weights
    this.adapters = adapters ?? null
  }

  /** The shapes of what training updates: the adapters when there are any, else every weight. */
  trainableShapes(): Record<string, number[]> {
    return this.adapters ? loraShapes(this.adapters.spec) : parameterShapes(this.config)
  }

  /** Trainable tensors as float32 buffers (shared with the model's: updating one updates the other): the adapters when there are any. */
  buffers(): Record<string, Float32Array> {
    const out: Record<string, Float32Array> = {}
    for (const [k, t] of Object.entries(this.adapters ? this.adapters.weights : this.weights)) out[k] = t.data as Float32Array
    return out
  }

  /**
   * Declares the model's weights in a graph: trainable parameters (the adapters alone when there are any, the base
   * weights then plain inputs), or all inputs; `adapters: false` leaves the adapters out (the base model).
   */
  declareWeights(g: Graph, o: { trainable: boolean; adapters?: boolean }): ParamSyms {
    const withAdapters = this.adapters !== null && o.adapters !== false
    const p = declareParams(g, this.config, { trainable: o.trainable && !withAdapters })
    if (withAdapters) {
      for (const [name, shape] of Object.entries(loraShapes(this.adapters!.spec))) p[name] = o.trainable ? g.param(name, shape) : g.input(name, shape)
      p[LORA_SCALE] = g.input(LORA_SCALE, [])
    }
    return p
  }

  /** The feeds of declareWeights' inputs. */
  weightFeeds(adapters = true): Record<string, Tensor> {
    if (!this.adapters || !adapters) return this.weights
    return { ...this.weights, ...this.adapters.weights, [LORA_SCALE]: Tensor.f32([this.adapters.spec.scale], []) }
  }

  /** The weights with the adapters merged in (W + scale·B·A), or the weights themselves without adapters. */
  mergedWeights(): Record<string, Tensor> {
    return this.adapters ? mergeLora(this.weights, this.adapters.spec, this.adapters.weights) : this.weights
  }

  private program(key: string, build: () => { g: Graph; outputs: Record<string, Sym> }): Promise<Program> {
    return this.programs.get(key, build)
  }


  /** The decoder's data feeds (ids, rotary tables, mask) for a padded batch (positions count real tokens only). */
  dataFeeds(batch: TokenBatch, float: FloatDType = 'float32'): Record<string, Tensor> {
    const b = batch.ids.length
    const t = batch.ids[0]?.length ?? 0
    for (const row of batch.ids) if (row.length !== t) throw new Error('every row of a batch must have the same length (pad them)')
    const attn = batch.attention ?? batch.ids.map((r) => r.map(() => 1))
    const positions = attn.map((row) => {
      let p = 0
      return row.map((m) => (m ? p++ : 0))
    })
    const rope = ropeTables(this.config, positions, float)
    const mask = attentionMask(attn.map((r) => r.map((m) => m !== 0)), t, 0, float)
    return {
      ids: Tensor.i64(batch.ids.flat(), [b, t]),
      cos: new Tensor(float, rope.cos, rope.shape),
      sin: new Tensor(float, rope.sin, rope.shape),
      mask: new Tensor(float, mask.data, mask.shape),
    }
  }

  /** Logits [B, T, vocab] for every position (no gradients, no saved activations). */
  async logits(batch: TokenBatch): Promise<Tensor> {
    const b = batch.ids.length
    const t = batch.ids[0]?.length ?? 0
    const c = this.config
    const prog = await this.program(shapeKey(b, t, 'logits'), () => {
      const g = new Graph('float32')
      const p = this.declareWeights(g, { trainable: false })
      const inp = declareDecoderInputs(g, c, b, t)
      return { g, outputs: { logits: lmHead(c, p, decoderHidden(c, p, inp)) } }
    })
    return (await prog.run({ ...this.weightFeeds(), ...this.dataFeeds(batch) })).logits!
  }

  /**
   * log p(targets[b][t] | ids[b][..t]) for every position [B, T], without gradients: what reference-model
   * and old-policy passes need (the vocabulary-sized logits never leave onnxruntime). `adapters: false` scores
   * with the base weights alone (the reference policy of a LoRA run: no second copy of the model).
   */
  async tokenLogProbs(batch: TokenBatch & ScoredTargets, o: { adapters?: boolean } = {}): Promise<Tensor> {
    const b = batch.ids.length
    const t = batch.ids[0]?.length ?? 0
    const c = this.config
    const adapters = o.adapters !== false
    const w = targetWindow(batch)
    const prog = await this.program(shapeKey(b, t, `${adapters ? 'logprobs' : 'logprobs-base'}${w.key}`), () => {
      const g = new Graph('float32')
      const p = this.declareWeights(g, { trainable: false, adapters })
      const inp = declareDecoderInputs(g, c, b, t)
      const targets = g.input('targets', [b, w.length], 'int64')
      return { g, outputs: { logprobs: lmHeadTokenLogProbs(c, p, windowColumns(decoderHidden(c, p, inp), w), targets) } }
    })
    return (await prog.run({ ...this.weightFeeds(adapters), ...this.dataFeeds(batch), targets: Tensor.i64(batch.targets.flat(), [b, w.length]) })).logprobs!
  }

  /** Mean next-token cross-entropy over the masked positions, and its gradient for every weight. */
  async lossAndGrads(batch: LmBatch): Promise<{ loss: number; grads: Record<string, Float32Array>; gradNorm: number; flops: number; tokenAccuracy?: number }> {
    const b = batch.ids.length
    const t = batch.ids[0]?.length ?? 0
    const c = this.config
    const shapes = this.trainableShapes()
    const names = Object.keys(shapes)
    const withAcc = batch.tokenAccuracy === true
    const w = targetWindow(batch)
    const prog = await this.program(shapeKey(b, t, `${withAcc ? 'train-acc' : 'train'}${w.key}`), () => {
      const g = new Graph('float32')
      const p = this.declareWeights(g, { trainable: true })
      const inp = declareDecoderInputs(g, c, b, t)
      const targets = g.input('targets', [b, w.length], 'int64')
      const lossMask = g.input('loss_mask', [b, w.length])
      const { logProbs: lp, logSoftmax } = lmHeadLogProbs(c, p, windowColumns(decoderHidden(c, p, inp), w), targets)
      const loss = O.neg(O.maskedMean(lp, lossMask))
      const grads = g.gradients(
        loss,
        names.map((n) => p[n]!),
      )
      // Not differentiated: whether the target's log-prob is the row's maximum (ties count as right).
      const acc: Record<string, Sym> = withAcc ? { token_accuracy: O.maskedMean(maskToFloat(g, O.compare('GreaterOrEqual', lp, O.max(logSoftmax, [-1]))), lossMask) } : {}
      return { g, outputs: { loss, ...acc, ...gradientOutputs(g, names, grads) } }
    })
    const r = await prog.run({
      ...this.weightFeeds(),
      ...this.dataFeeds(batch),
      targets: Tensor.i64(batch.targets.flat(), [b, w.length]),
      loss_mask: Tensor.f32(batch.lossMask.flat(), [b, w.length]),
    })
    const grads = collectGradients(r, names, sizesOf(shapes), this.gradScratch)
    return { loss: r.loss!.at(0), grads, gradNorm: gradientNorm(r, grads), flops: prog.matmulFlops, ...(withAcc ? { tokenAccuracy: r.token_accuracy!.at(0) } : {}) }
  }

  /**
   * Prefill for generation: runs B prompts of T tokens (left-padded; `mask` and rotary tables as given)
   * and returns the last position's logits [B, V] and every layer's keys/values [B, Hkv, T, hd].
   */
  async prefill(feeds: { ids: Tensor; cos: Tensor; sin: Tensor; mask: Tensor }): Promise<{ logits: Tensor; kv: { k: Tensor; v: Tensor }[] }> {
    const [b, t] = feeds.ids.shape as [number, number]
    const c = this.config
    const prog = await this.program(shapeKey(b, t, 'prefill'), () => {
      const g = new Graph('float32')
      const p = this.declareWeights(g, { trainable: false })
      const inp = declareDecoderInputs(g, c, b, t)
      const { hidden, kv } = decoderForward(c, p, inp)
      const last = O.reshape(lmHead(c, p, O.slice(hidden, 1, t - 1, t)), [b, c.vocab_size])
      const outputs: Record<string, Sym> = { logits: last }
      kv.forEach((x, i) => {
        outputs[`k${i}`] = x.k
        outputs[`v${i}`] = x.v
      })
      return { g, outputs }
    })
    const r = await prog.run({ ...this.weightFeeds(), ...feeds })
    return { logits: r.logits!, kv: Array.from({ length: c.num_hidden_layers }, (_, i) => ({ k: r[`k${i}`]!, v: r[`v${i}`]! })) }
  }

  /**
   * One decoding step with a KV cache of capacity C: ids [B, 1] attend to the cache ([B, Hkv, C, hd] per
   * layer, masked where empty) and themselves (mask [B, 1, 1, C + 1]). Returns the new keys/values
   * [B, Hkv, 1, hd] to write into the cache, and what `out` asks for: the logits [B, V], tokens drawn in the
   * program from uniforms `u` [B, 1] (graph-draw.ts), the argmax tokens.
   */
  async decodeStep(
    feeds: { ids: Tensor; cos: Tensor; sin: Tensor; mask: Tensor; past: { k: Tensor; v: Tensor }[]; u?: Tensor },
    out: { logits?: boolean; greedy?: boolean } = { logits: true },
  ): Promise<{ logits?: Tensor; drawn: DrawnTokens; kv: { k: Tensor; v: Tensor }[] }> {
    const b = feeds.ids.shape[0]!
    const cap = feeds.past[0]!.k.shape[2]!
    const c = this.config
    const sample = feeds.u !== undefined
    const kind = `decode${out.logits ? '-logits' : ''}${sample ? '-sample' : ''}${out.greedy ? '-greedy' : ''}`
    const prog = await this.program(shapeKey(b, cap, kind), () => {
      const g = new Graph('float32')
      const p = this.declareWeights(g, { trainable: false })
      const inp = declareDecoderInputs(g, c, b, 1, cap)
      const past: LayerKV[] = Array.from({ length: c.num_hidden_layers }, (_, i) => ({
        k: g.input(`past_k${i}`, [b, c.num_key_value_heads, cap, c.head_dim]),
        v: g.input(`past_v${i}`, [b, c.num_key_value_heads, cap, c.head_dim]),
      }))
      const { hidden, kv } = decoderForward(c, p, inp, past)
      const logits = O.reshape(lmHead(c, p, hidden), [b, c.vocab_size])
      const d = drawNodes(logits, { ...(sample ? { u: g.input('u', [b, 1]) } : {}), greedy: out.greedy === true })
      const outputs: Record<string, Sym> = {}
      if (out.logits) outputs.logits = logits
      for (const [k, x] of Object.entries(d)) outputs[k] = x
      kv.forEach((x, i) => {
        outputs[`k${i}`] = x.k
        outputs[`v${i}`] = x.v
      })
      return { g, outputs }
    })
    const pastFeeds: Record<string, Tensor> = {}
    feeds.past.forEach((x, i) => {
      pastFeeds[`past_k${i}`] = x.k
      pastFeeds[`past_v${i}`] = x.v
    })
    const r = await prog.run({ ...this.weightFeeds(), ids: feeds.ids, cos: feeds.cos, sin: feeds.sin, mask: feeds.mask, ...pastFeeds, ...(sample ? { u: feeds.u! } : {}) })
    const kv = Array.from({ length: c.num_hidden_layers }, (_, i) => ({ k: r[`k${i}`]!, v: r[`v${i}`]! }))
    const drawn: DrawnTokens = {}
    if (r.sampled) Object.assign(drawn, { sampled: r.sampled.data as BigInt64Array, sampledLogprob: r.sampledLogprob!.data as Float32Array })
    if (r.greedy) Object.assign(drawn, { greedy: r.greedy.data as BigInt64Array, greedyLogprob: r.greedyLogprob!.data as Float32Array })
    return { ...(r.logits ? { logits: r.logits } : {}), drawn, kv }
  }

  /**
   * Frees every compiled program now (its onnxruntime session and the memory arena it grew); the next use
   * compiles again. An arena keeps its peak until its session goes, so a phase that ran a big program
   * would otherwise hold that memory through every later phase.
   */
  async releasePrograms(): Promise<void> {
    await this.programs.releaseAll()
  }

  /** Releases every compiled program (their onnxruntime sessions). */
  async dispose(): Promise<void> {
    await this.releasePrograms()
  }
}

/** What scores tokens without training: a model, or a view of one. */
export type TokenScorer = Pick<CausalLM, 'tokenLogProbs' | 'releasePrograms' | 'dispose'>

/**
 * A model with its adapters off, for scoring only: a LoRA run's reference policy is the same base weights
 * (no second copy). Its programs belong to the model, which releases and disposes of them.
 */
export function baseModelView(m: CausalLM): TokenScorer {
  return {
    tokenLogProbs: (batch, o) => m.tokenLogProbs(batch, { ...o, adapters: false }),
    releasePrograms: async () => {},
    dispose: async () => {},
  }
}
