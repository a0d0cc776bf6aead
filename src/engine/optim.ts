/**
 * Optimizers over host float32 buffers: AdamW (decoupled weight decay, as torch.optim.AdamW) and SGD with
 * momentum; gradient clipping by global norm, accumulation, learning-rate schedules, finiteness checks.
 * Optimizer state is plain typed arrays and numbers, so it saves and restores exactly.
 */

import { AdamWHelper, adamwKernel } from './adamw-kernel.js'
import { engineThreads } from './threads.js'

export type Buffers = Record<string, Float32Array>

/** Names that get no weight decay by default: norms and biases, as Hugging Face trainers do. */
export function defaultNoDecay(name: string): boolean {
  return /norm\.weight$|\.bias$/.test(name)
}

/** AdamW's hyper-parameters; the learning rate is not one of them: each step() is given the schedule's rate. */
export interface AdamWOptions {
  beta1?: number
  beta2?: number
  eps?: number
  weightDecay?: number
  noDecay?: (name: string) => boolean
  /** Threads for the update (default: the engine's); a second one is used from `parallelMinElements` on. */
  threads?: number
  /** Fewest parameter elements for which a second thread pays (default 4M: below, starting it costs more). */
  parallelMinElements?: number
  /** Most elements the second thread takes (default 32M: its copies of p and g cost 8 bytes each). */
  parallelMaxElements?: number
}

export interface OptimizerState {
  kind: string
  step: number
  buffers: Record<string, Float32Array>
  hyper: Record<string, number>
}

export interface Optimizer {
  /** Updates `params` in place from `grads` (each multiplied by `gradScale`, e.g. a clipping factor) at rate `lr`. */
  step(params: Buffers, grads: Buffers, lr: number, gradScale?: number): void
  readonly stepCount: number
  state(): OptimizerState
  loadState(s: OptimizerState): void
}

export class AdamW implements Optimizer {
  private readonly o: Required<AdamWOptions>
  private m: Buffers = {}
  private v: Buffers = {}
  private helper: AdamWHelper | null = null
  stepCount = 0
  /** Elements the second thread updated in the last step (0: one thread did all). */
  helperElements = 0

  constructor(opts: AdamWOptions = {}) {
    this.o = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, noDecay: defaultNoDecay, threads: engineThreads(), parallelMinElements: 1 << 22, parallelMaxElements: 1 << 25, ...opts }
  }

  step(params: Buffers, grads: Buffers, lr: number, gradScale = 1): void {
    this.stepCount++
    const { beta1: b1, beta2: b2, eps } = this.o
    const s = Float64Array.of(gradScale, b1, b2, 1 - b1, 1 - b2, lr / (1 - b1 ** this.stepCount), 1 / Math.sqrt(1 - b2 ** this.stepCount), eps)
    const decayOf = (name: string) => (this.o.noDecay(name) ? 1 : 1 - lr * this.o.weightDecay)
    for (const [name, p] of Object.entries(params)) {
      const g = grads[name]
      if (g && g.length !== p.length) throw new Error(`AdamW: gradient of ${name} has ${g.length} elements, the parameter ${p.length}`)
    }
    const helper = this.helperFor(params, grads)
    helper?.begin(params, grads, s, decayOf)
    this.helperElements = helper?.elements ?? 0
    for (const [name, p] of Object.entries(params)) {
      const g = grads[name]
      if (!g || helper?.names.has(name)) continue
      const m = (this.m[name] ??= new Float32Array(p.length))
      const v = (this.v[name] ??= new Float32Array(p.length))
      adamwKernel(p, g, m, v, s, decayOf(name))
    }
    helper?.finish(params)
  }

  /** The second thread, when this step is large enough and every parameter it takes has a gradient. */
  private helperFor(params: Buffers, grads: Buffers): AdamWHelper | null {
    const total = Object.values(params).reduce((n, p) => n + p.length, 0)
    if (this.o.threads < 2 || total < this.o.parallelMinElements) return null
    const plan = AdamWHelper.plan(params, this.o.parallelMaxElements)
    if (this.helper?.key !== plan.key) {
      void this.helper?.close()
      this.helper = plan.names.length ? AdamWHelper.start(params, plan.names, plan.key, { m: this.m, v: this.v }) : null
    }
    const h = this.helper
    return h && [...h.names].every((n) => grads[n]) ? h : null
  }

  state(): OptimizerState {
    const buffers: Record<string, Float32Array> = {}
    for (const [k, x] of Object.entries(this.m)) buffers[`m.${k}`] = x.slice()
    for (const [k, x] of Object.entries(this.v)) buffers[`v.${k}`] = x.slice()
    return { kind: 'adamw', step: this.stepCount, buffers, hyper: { beta1: this.o.beta1, beta2: this.o.beta2, eps: this.o.eps, weightDecay: this.o.weightDecay } }
  }

  loadState(s: OptimizerState): void {
    if (s.kind !== 'adamw') throw new Error(`cannot load ${s.kind} state into AdamW`)
    this.stepCount = s.step
    void this.helper?.close()
    this.helper = null
    this.m = {}
    this.v = {}
    for (const [k, x] of Object.entries(s.buffers)) {
      if (k.startsWith('m.')) this.m[k.slice(2)] = x.slice()
      else if (k.startsWith('v.')) this.v[k.slice(2)] = x.slice()
    }
  }
}

/** SGD's hyper-parameters; each step() is given the schedule's learning rate. */
export interface SGDOptions {
  momentum?: number
  weightDecay?: number
  nesterov?: boolean
}

/** SGD with optional momentum (torch semantics: buf = μ·buf + g; nesterov uses g + μ·buf) and L2 weight decay. */
export class SGD implements Optimizer {
  private readonly o: Required<SGDOptions>
  private buf: Buffers = {}
  stepCount = 0

  constructor(opts: SGDOptions = {}) {
    this.o = { momentum: 0, weightDecay: 0, nesterov: false, ...opts }
  }

  step(params: Buffers, grads: Buffers, lr: number, gradScale = 1): void {
    this.stepCount++
    const { momentum: mu, weightDecay: wd, nesterov } = this.o
    for (const [name, p] of Object.entries(params)) {
      const g = grads[name]
      if (!g) continue
      const b = mu !== 0 ? (this.buf[name] ??= new Float32Array(p.length)) : null
      for (let i = 0; i < p.length; i++) {
        let d = g[i]! * gradScale + wd * p[i]!
        if (b) {
          b[i] = this.stepCount === 1 ? d : mu * b[i]! + d
          d = nesterov ? d + mu * b[i]! : b[i]!
        }
        p[i] = p[i]! - lr * d
      }
    }
  }

  state(): OptimizerState {
    const buffers: Record<string, Float32Array> = {}
    for (const [k, x] of Object.entries(this.buf)) buffers[`momentum.${k}`] = x.slice()
    return { kind: 'sgd', step: this.stepCount, buffers, hyper: { momentum: this.o.momentum, weightDecay: this.o.weightDecay } }
  }

  loadState(s: OptimizerState): void {
    if (s.kind !== 'sgd') throw new Error(`cannot load ${s.kind} state into SGD`)
    this.stepCount = s.step
    this.buf = {}
    for (const [k, x] of Object.entries(s.buffers)) this.buf[k.slice('momentum.'.length)] = x.slice()
  }
}

/** The sum of squares of all gradients, accumulated in float64 onto `start`. */
export function sumOfSquares(grads: Record<string, Float32Array | Float64Array>, start = 0): number {
  let s = start
  for (const g of Object.values(grads)) for (let i = 0; i < g.length; i++) s += g[i]! * g[i]!
  return s
}

/** The global L2 norm of all gradients (accumulated in float64). */
export function globalNorm(grads: Buffers): number {
  return Math.sqrt(sumOfSquares(grads))
}

/** Scales gradients so their global norm is at most `maxNorm`; returns the norm before clipping. */
export function clipGradNorm(grads: Buffers, maxNorm: number, norm = globalNorm(grads)): number {
  const scale = Number.isFinite(norm) ? clipScale(norm, maxNorm) : 1
  if (scale !== 1) for (const g of Object.values(grads)) for (let i = 0; i < g.length; i++) g[i] = g[i]! * scale
  return norm
}

/**
 * Sums gradients over micro-batches (each scaled, e.g. by 1/accumulation steps) into buffers it keeps from
 * round to round: a long-lived accumulator touches no fresh memory after its first round, and the gradients
 * it is given (often a program's kept outputs) may be overwritten as soon as add() returns.
 */
export class GradAccumulator {
  private readonly sums: Buffers = {}
  private readonly inRound = new Set<string>()
  private firstNorm: number | undefined
  count = 0

  /** Adds gradients (times `scale`). `norm`, the norm of these gradients when the program gave it, spares takeWithNorm() a pass when they are the only ones. */
  add(grads: Buffers, scale = 1, norm?: number): void {
    if (this.count === 0) this.firstNorm = norm === undefined ? undefined : Math.abs(scale) * norm
    for (const [k, g] of Object.entries(grads)) {
      let s = this.sums[k]
      if (!this.inRound.has(k)) {
        if (!s || s.length !== g.length) s = this.sums[k] = new Float32Array(g.length)
        if (scale === 1) s.set(g)
        else for (let i = 0; i < g.length; i++) s[i] = scale * g[i]!
        this.inRound.add(k)
        continue
      }
      for (let i = 0; i < g.length; i++) s![i] = s![i]! + scale * g[i]!
    }
    this.count++
  }

  /** The round's sums (buffers reused by the next round: use them before adding again); a new round starts. */
  take(): Buffers {
    const out: Buffers = {}
    for (const k of this.inRound) out[k] = this.sums[k]!
    this.inRound.clear()
    this.count = 0
    this.firstNorm = undefined
    return out
  }

  /** The round's sums and their global norm: the given one for a single add, else a host pass. */
  takeWithNorm(): { grads: Buffers; gradNorm: number } {
    const single = this.count === 1 ? this.firstNorm : undefined
    const grads = this.take()
    return { grads, gradNorm: single ?? globalNorm(grads) }
  }
}

export interface ScheduleOptions {
  /** constant, constant_with_warmup, linear (warmup, then down to 0), cosine (warmup, then down to minLrRatio). */
  name: 'constant' | 'constant_with_warmup' | 'linear' | 'cosine'
  warmupSteps?: number
  totalSteps?: number
  minLrRatio?: number
}

/** The learning rate at a step (0-based), as a multiple of the base rate — transformers' schedule shapes. */
export function lrMultiplier(s: ScheduleOptions, step: number): number {
  const warm = s.warmupSteps ?? 0
  if (s.name === 'constant') return 1
  if (step < warm) return (step + 1) / warm
  if (s.name === 'constant_with_warmup') return 1
  const total = s.totalSteps ?? 0
  if (total <= warm) return 1
  const progress = Math.min(1, (step - warm) / (total - warm))
  if (s.name === 'linear') return Math.max(0, 1 - progress)
  const min = s.minLrRatio ?? 0
  return min + (1 - min) * 0.5 * (1 + Math.cos(Math.PI * progress))
}

/** A NaN or infinity in a loss or gradient: named, never passed on to the weights. */
export class NonFiniteError extends Error {
  constructor(
    readonly step: number,
    readonly tensor: string,
    readonly index: number,
    readonly value: number,
  ) {
    super(`non-finite value ${value} in ${tensor} at element ${index} (step ${step})`)
    this.name = 'NonFiniteError'
  }
}

/** Throws NonFiniteError for the first NaN/Inf found, naming the tensor. */
export function assertFinite(step: number, tensors: Record<string, ArrayLike<number>>): void {
  for (const [name, t] of Object.entries(tensors)) {
    for (let i = 0; i < t.length; i++) {
      const x = t[i]!
      if (x - x !== 0) throw new NonFiniteError(step, name, i, x)
    }
  }
}

export interface UpdateResult {
  /** Global gradient norm before clipping. */
  gradNorm: number
}

/** The factor that brings a gradient of norm `norm` within `maxNorm` (torch's clip_grad_norm_). */
export function clipScale(norm: number, maxNorm: number | undefined): number {
  return maxNorm !== undefined && maxNorm > 0 && norm > maxNorm ? maxNorm / (norm + 1e-6) : 1
}

/**
 * One guarded optimizer step: the loss and every gradient must be finite (else NonFiniteError names the
 * tensor and nothing is applied); gradients are clipped to `maxGradNorm` (if given) inside the update.
 * `gradNorm` may be passed when the graph computed it already (saves a pass over every gradient).
 */
export function guardedStep(opts: { step: number; loss: number; grads: Buffers; params: Buffers; optimizer: Optimizer; lr: number; maxGradNorm?: number; gradNorm?: number }): UpdateResult {
  assertFinite(opts.step, { loss: [opts.loss] })
  const gradNorm = opts.gradNorm ?? globalNorm(opts.grads)
  if (!Number.isFinite(gradNorm)) {
    // Only now look for the culprit, to name it.
    assertFinite(opts.step, opts.grads)
    throw new NonFiniteError(opts.step, 'gradient norm', -1, gradNorm)
  }
  opts.optimizer.step(opts.params, opts.grads, opts.lr, clipScale(gradNorm, opts.maxGradNorm))
  return { gradNorm }
}
