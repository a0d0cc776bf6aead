import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AdamW, GradAccumulator, NonFiniteError, SGD, clipGradNorm, guardedStep, lrMultiplier } from '../../src/engine/optim.js'

/** torch.optim.AdamW's update written out in float64, one element at a time. */
function adamwReference(p0: number, grads: number[], lr: number, wd: number, b1 = 0.9, b2 = 0.999, eps = 1e-8): number {
  let p = p0
  let m = 0
  let v = 0
  grads.forEach((g, k) => {
    const t = k + 1
    p *= 1 - lr * wd
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    const denom = Math.sqrt(v) / Math.sqrt(1 - b2 ** t) + eps
    p -= (lr / (1 - b1 ** t)) * (m / denom)
  })
  return p
}

describe('optimizers', () => {
  it('AdamW matches the torch formula (decoupled weight decay), norms and biases not decayed', () => {
    const gs = [0.5, -0.25, 1.5, 0.1]
    const params = { 'layer.weight': Float32Array.from([1, -2]), 'model.norm.weight': Float32Array.from([1, 1]) }
    const opt = new AdamW({ weightDecay: 0.1 })
    for (const g of gs) opt.step(params, { 'layer.weight': Float32Array.from([g, 2 * g]), 'model.norm.weight': Float32Array.from([g, g]) }, 0.01)
    assert.ok(Math.abs(params['layer.weight'][0]! - adamwReference(1, gs, 0.01, 0.1)) < 1e-6)
    assert.ok(Math.abs(params['layer.weight'][1]! - adamwReference(-2, gs.map((g) => 2 * g), 0.01, 0.1)) < 1e-6)
    assert.ok(Math.abs(params['model.norm.weight'][0]! - adamwReference(1, gs, 0.01, 0)) < 1e-6)
    assert.equal(opt.stepCount, 4)
  })

  it('AdamW on two threads gives bit-identical parameters and state to one thread, across a save and restore', () => {
    const sizes: Record<string, number> = { 'embed.weight': 5000, 'l0.weight': 3000, 'l1.weight': 2000, 'model.norm.weight': 64 }
    const init = () => Object.fromEntries(Object.entries(sizes).map(([n, k]) => [n, Float32Array.from({ length: k }, (_, i) => Math.sin(i + k))]))
    const grads = (step: number, skip?: string) =>
      Object.fromEntries(Object.entries(sizes).filter(([n]) => n !== skip).map(([n, k]) => [n, Float32Array.from({ length: k }, (_, i) => Math.cos(i * 0.37 + step) * (1 + step))]))
    const run = (threads: number) => {
      const p = init()
      let opt = new AdamW({ weightDecay: 0.1, threads, parallelMinElements: 1000 })
      for (let k = 0; k < 3; k++) opt.step(p, grads(k), 0.01, 0.5)
      const shared = opt.helperElements
      // A step without the largest parameter's gradient: the helper's share is done on one thread.
      opt.step(p, grads(3, 'embed.weight'), 0.01)
      const saved = opt.state()
      opt = new AdamW({ weightDecay: 0.1, threads, parallelMinElements: 1000 })
      opt.loadState(saved)
      for (let k = 4; k < 6; k++) opt.step(p, grads(k), 0.01)
      return { p, state: opt.state(), shared }
    }
    const one = run(1)
    const two = run(2)
    assert.equal(one.shared, 0)
    assert.equal(two.shared, 5000) // the largest parameter, about half of all elements
    for (const n of Object.keys(sizes)) assert.deepEqual(two.p[n], one.p[n], n)
    assert.deepEqual(Object.keys(two.state.buffers).sort(), Object.keys(one.state.buffers).sort())
    for (const [k, b] of Object.entries(one.state.buffers)) assert.deepEqual(two.state.buffers[k], b, k)
    assert.notDeepEqual(one.p['embed.weight'], init()['embed.weight'])
  })

  it('SGD with momentum and Nesterov, hand-computed', () => {
    const p = { w: Float32Array.from([1]) }
    const sgd = new SGD({ momentum: 0.9 })
    sgd.step(p, { w: Float32Array.from([1]) }, 0.1) // buf 1 → w 0.9
    sgd.step(p, { w: Float32Array.from([1]) }, 0.1) // buf 1.9 → w 0.71
    assert.ok(Math.abs(p.w[0]! - 0.71) < 1e-6)
    const q = { w: Float32Array.from([1]) }
    const nes = new SGD({ momentum: 0.9, nesterov: true })
    nes.step(q, { w: Float32Array.from([1]) }, 0.1) // d = 1 + 0.9·1 → 0.81
    assert.ok(Math.abs(q.w[0]! - 0.81) < 1e-6)
  })

  it('optimizer state saves and restores exactly (bitwise)', () => {
    const grads = (k: number) => ({ a: Float32Array.from([Math.sin(k), Math.cos(k)]), b: Float32Array.from([k / 7]) })
    const run = (opt: AdamW | SGD, p: Record<string, Float32Array>, from: number, n: number) => {
      for (let k = from; k < from + n; k++) opt.step(p, grads(k), 0.01)
    }
    for (const make of [() => new AdamW(), () => new SGD({ momentum: 0.9 })]) {
      const p = { a: Float32Array.from([0.3, -0.7]), b: Float32Array.from([2]) }
      const opt = make()
      run(opt, p, 0, 3)
      const saved = { state: opt.state(), p: { a: p.a.slice(), b: p.b.slice() } }
      run(opt, p, 3, 4)
      const fresh = make()
      fresh.loadState(saved.state)
      const q = saved.p
      run(fresh, q, 3, 4)
      assert.deepEqual([...q.a, ...q.b], [...p.a, ...p.b])
      assert.equal(fresh.stepCount, opt.stepCount)
    }
  })

  it('clipping by global norm, and gradient accumulation', () => {
    const g = { a: Float32Array.from([3]), b: Float32Array.from([4]) }
    assert.equal(clipGradNorm(g, 1), 5)
    assert.ok(Math.abs(g.a[0]! - 0.6) < 1e-6 && Math.abs(g.b[0]! - 0.8) < 1e-6)
    const acc = new GradAccumulator()
    acc.add({ a: Float32Array.from([1, 2]) }, 0.5)
    acc.add({ a: Float32Array.from([3, 4]) }, 0.5)
    assert.equal(acc.count, 2)
    assert.deepEqual([...acc.take().a!], [2, 3])
    assert.equal(acc.count, 0)
    // The norm given with a single add (scaled as its gradients) is taken as is; after two, the sums' own.
    acc.add({ a: Float32Array.from([3, 4]) }, 0.5, 99)
    assert.equal(acc.takeWithNorm().gradNorm, 49.5)
    acc.add({ a: Float32Array.from([3, 4]) }, 1, 99)
    acc.add({ a: Float32Array.from([3, 4]) }, 1, 99)
    const both = acc.takeWithNorm()
    assert.deepEqual([...both.grads.a!], [6, 8])
    assert.equal(both.gradNorm, 10)
  })

  it('learning-rate schedules', () => {
    assert.equal(lrMultiplier({ name: 'constant' }, 5), 1)
    assert.equal(lrMultiplier({ name: 'constant_with_warmup', warmupSteps: 4 }, 1), 0.5)
    assert.equal(lrMultiplier({ name: 'linear', warmupSteps: 2, totalSteps: 12 }, 7), 0.5)
    assert.equal(lrMultiplier({ name: 'linear', warmupSteps: 2, totalSteps: 12 }, 12), 0)
    assert.ok(Math.abs(lrMultiplier({ name: 'cosine', warmupSteps: 0, totalSteps: 10, minLrRatio: 0.1 }, 5) - 0.55) < 1e-12)
    assert.equal(lrMultiplier({ name: 'cosine', totalSteps: 10, minLrRatio: 0.1 }, 10), 0.1)
  })

  it('a NaN or infinity in the loss or a gradient is reported with step and tensor, and nothing is applied', () => {
    const params = { w: Float32Array.from([1, 2]), v: Float32Array.from([3]) }
    const opt = new AdamW()
    const err = (() => {
      try {
        guardedStep({ step: 17, loss: 1.2, grads: { w: Float32Array.from([0.1, 0.2]), v: Float32Array.from([Infinity]) }, params, optimizer: opt, lr: 0.1 })
      } catch (e) {
        return e
      }
      return null
    })()
    assert.ok(err instanceof NonFiniteError)
    assert.equal(err.step, 17)
    assert.equal(err.tensor, 'v')
    assert.match(err.message, /non-finite value Infinity in v at element 0 \(step 17\)/)
    assert.deepEqual([...params.w, ...params.v], [1, 2, 3])
    assert.throws(() => guardedStep({ step: 3, loss: NaN, grads: {}, params, optimizer: opt, lr: 0.1 }), /non-finite value NaN in loss .*step 3/)
    assert.equal(opt.stepCount, 0)
  })
})
