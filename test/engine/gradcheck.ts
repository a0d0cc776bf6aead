import { Graph, type Sym } from '../../src/engine/graph.js'
import * as O from '../../src/engine/ops/index.js'
import { Program } from '../../src/engine/session.js'
import { collectGradientsAs, gradientOutputs } from '../../src/engine/grads.js'
import { Tensor, sizeOf } from '../../src/engine/tensor.js'
import { Rng } from '../../src/util/rng.js'

export interface InputSpec {
  shape: number[]
  /** param: differentiated (float64); int: int64 ids in [0, max); bool: a random mask. */
  kind?: 'param' | 'int' | 'bool' | 'const'
  /** Value generator for params and consts (default: uniform in [-1, 1)). */
  gen?: (rng: Rng, i: number) => number
  max?: number
}

export interface GradCheckResult {
  maxAbsErr: number
  maxRelErr: number
  checked: number
}

/**
 * Central finite differences in float64: for loss = Σ f(x)·R (R fixed random), compares the graph's
 * gradients with (loss(x + h) − loss(x − h)) / 2h for every element of every param input.
 */
export async function gradCheck(inputs: InputSpec[], f: (xs: Sym[]) => Sym, seed = 0, h = 1e-6): Promise<GradCheckResult> {
  const rng = new Rng(seed)
  const g = new Graph('float64')
  const syms = inputs.map((s, i) => (s.kind === 'int' ? g.input(`x${i}`, s.shape, 'int64') : s.kind === 'bool' ? g.input(`x${i}`, s.shape, 'bool') : s.kind === 'const' ? g.input(`x${i}`, s.shape) : g.param(`x${i}`, s.shape)))
  const y = f(syms)
  const r = g.input('R', y.shape)
  const loss = O.sum(O.mul(y, r))
  const params = syms.filter((_, i) => (inputs[i]!.kind ?? 'param') === 'param')
  const grads = g.gradients(loss, params)
  const names = params.map((p) => p.name)
  const program = await Program.compile(g, { loss, ...gradientOutputs(g, names, grads) })
  const lossOnly = await Program.compile(g, { loss })
  const feeds: Record<string, Tensor> = {}
  inputs.forEach((s, i) => {
    const n = sizeOf(s.shape)
    if (s.kind === 'int') feeds[`x${i}`] = Tensor.i64(Array.from({ length: n }, () => rng.int(s.max ?? 2)), s.shape)
    else if (s.kind === 'bool') feeds[`x${i}`] = new Tensor('bool', Uint8Array.from({ length: n }, () => rng.int(2)), s.shape)
    else feeds[`x${i}`] = Tensor.f64(Array.from({ length: n }, (_, k) => (s.gen ? s.gen(rng, k) : rng.next() * 2 - 1)), s.shape)
  })
  feeds.R = Tensor.f64(Array.from({ length: sizeOf(y.shape) }, () => rng.next() * 2 - 1), y.shape)
  const analytic = collectGradientsAs(await program.run(feeds), names, Object.fromEntries(params.map((p) => [p.name, sizeOf(p.shape)])), 'float64')
  let maxAbsErr = 0
  let maxRelErr = 0
  let checked = 0
  for (let i = 0; i < inputs.length; i++) {
    if ((inputs[i]!.kind ?? 'param') !== 'param') continue
    const x = feeds[`x${i}`]!.data as Float64Array
    const ga = analytic[`x${i}`]! as Float64Array
    for (let k = 0; k < x.length; k++) {
      const orig = x[k]!
      x[k] = orig + h
      const up = (await lossOnly.run(feeds)).loss!.at(0)
      x[k] = orig - h
      const down = (await lossOnly.run(feeds)).loss!.at(0)
      x[k] = orig
      const num = (up - down) / (2 * h)
      const abs = Math.abs(num - ga[k]!)
      maxAbsErr = Math.max(maxAbsErr, abs)
      maxRelErr = Math.max(maxRelErr, abs / Math.max(1e-3, Math.abs(num), Math.abs(ga[k]!)))
      checked++
    }
  }
  await program.release()
  await lossOnly.release()
  return { maxAbsErr, maxRelErr, checked }
}

/** Positive values away from zero (for log, sqrt, division). */
export const positive = (rng: Rng) => 0.5 + rng.next() * 1.5
