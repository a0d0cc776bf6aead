import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import * as O from '../../src/engine/ops/index.js'
import { OPS } from '../../src/engine/ops/index.js'
import { gradCheck, positive, type InputSpec } from './gradcheck.js'
import { Graph, type Sym } from '../../src/engine/graph.js'
import { Program } from '../../src/engine/session.js'
import { Tensor } from '../../src/engine/tensor.js'
import { attentionMask } from '../../src/model/rope.js'

const P = (...shape: number[]): InputSpec => ({ shape })
const Pos = (...shape: number[]): InputSpec => ({ shape, gen: positive })

/** One case per registered op (and more for broadcasting and batched forms). */
const CASES: { op: string; name?: string; inputs: InputSpec[]; f: (x: Sym[]) => Sym }[] = [
  { op: 'add', inputs: [P(2, 3), P(3)], f: ([a, b]) => O.add(a!, b!) },
  { op: 'sub', inputs: [P(2, 1, 3), P(4, 1)], f: ([a, b]) => O.sub(a!, b!) },
  { op: 'mul', inputs: [P(2, 3), P(2, 1)], f: ([a, b]) => O.mul(a!, b!) },
  { op: 'div', inputs: [P(2, 3), Pos(3)], f: ([a, b]) => O.div(a!, b!) },
  { op: 'minimum', inputs: [P(3, 4), P(4)], f: ([a, b]) => O.minimum(a!, b!) },
  { op: 'maximum', inputs: [P(3, 4), P(3, 4)], f: ([a, b]) => O.maximum(a!, b!) },
  { op: 'neg', inputs: [P(5)], f: ([a]) => O.neg(a!) },
  { op: 'exp', inputs: [P(2, 3)], f: ([a]) => O.exp(a!) },
  { op: 'log', inputs: [Pos(2, 3)], f: ([a]) => O.log(a!) },
  { op: 'sqrt', inputs: [Pos(6)], f: ([a]) => O.sqrt(a!) },
  { op: 'reciprocal', inputs: [Pos(6)], f: ([a]) => O.reciprocal(a!) },
  { op: 'sigmoid', inputs: [P(2, 4)], f: ([a]) => O.sigmoid(a!) },
  { op: 'tanh', inputs: [P(2, 4)], f: ([a]) => O.tanh(a!) },
  { op: 'rsqrt', inputs: [Pos(2, 4)], f: ([a]) => O.rsqrt(a!) },
  { op: 'silu', inputs: [{ shape: [3, 4], gen: (r) => r.next() * 6 - 3 }], f: ([a]) => O.silu(a!) },
  { op: 'pow_scalar', inputs: [Pos(5)], f: ([a]) => O.pow(a!, 2.5) },
  { op: 'pow_scalar', name: 'pow_scalar x²', inputs: [P(2, 3)], f: ([a]) => O.pow(a!, 2) },
  { op: 'pow_scalar', name: 'pow_scalar x³', inputs: [P(2, 3)], f: ([a]) => O.pow(a!, 3) },
  // Values kept away from the clip points, where the derivative jumps.
  { op: 'clamp', inputs: [{ shape: [12], gen: (r, i) => [-0.9, -0.5, -0.1, 0.1, 0.5, 0.9][i % 6]! + r.next() * 0.05 }], f: ([a]) => O.clamp(a!, -0.3, 0.7) },
  { op: 'where', inputs: [{ shape: [2, 3], kind: 'bool' }, P(2, 3), P(3)], f: ([c, a, b]) => O.where(c!, a!, b!) },
  { op: 'matmul', name: 'matmul 2-D', inputs: [P(3, 4), P(4, 2)], f: ([a, b]) => O.matmul(a!, b!) },
  { op: 'matmul', name: 'matmul batched × 2-D', inputs: [P(2, 3, 4), P(4, 2)], f: ([a, b]) => O.matmul(a!, b!) },
  { op: 'matmul', name: 'matmul batched × batched, broadcast', inputs: [P(2, 2, 3, 4), P(2, 1, 4, 3)], f: ([a, b]) => O.matmul(a!, b!) },
  { op: 'linear', name: 'linear with bias', inputs: [P(2, 3, 4), P(5, 4), P(5)], f: ([x, w, b]) => O.linear(x!, w!, b!) },
  { op: 'linear', name: 'linear without bias', inputs: [P(3, 4), P(2, 4)], f: ([x, w]) => O.linear(x!, w!) },
  { op: 'sum', inputs: [P(2, 3, 4)], f: ([a]) => O.sum(a!, [0, 2]) },
  { op: 'mean', inputs: [P(2, 3, 4)], f: ([a]) => O.mean(a!, [-1], true) },
  { op: 'max', inputs: [P(3, 5)], f: ([a]) => O.max(a!, [1]) },
  { op: 'reshape', inputs: [P(2, 6)], f: ([a]) => O.reshape(a!, [3, -1]) },
  { op: 'transpose', inputs: [P(2, 3, 4)], f: ([a]) => O.transpose(a!, [2, 0, 1]) },
  { op: 'broadcast_to', inputs: [P(2, 1, 3)], f: ([a]) => O.broadcastTo(a!, [2, 4, 3]) },
  { op: 'concat', inputs: [P(2, 3), P(2, 2)], f: ([a, b]) => O.concat([a!, b!], 1) },
  { op: 'slice', inputs: [P(3, 6)], f: ([a]) => O.slice(a!, 1, 2, 5) },
  { op: 'softmax', inputs: [P(3, 5)], f: ([a]) => O.softmax(a!) },
  { op: 'log_softmax', inputs: [P(3, 5)], f: ([a]) => O.logSoftmax(a!) },
  { op: 'embedding', inputs: [P(5, 3), { shape: [2, 4], kind: 'int', max: 5 }], f: ([t, ids]) => O.embedding(t!, ids!) },
  { op: 'gather_last', inputs: [P(2, 3, 6), { shape: [2, 3], kind: 'int', max: 6 }], f: ([x, i]) => O.gatherLast(x!, i!) },
  { op: 'lm_head_log_probs', inputs: [P(2, 3, 4), P(6, 4), { shape: [2, 3], kind: 'int', max: 6 }], f: ([x, w, i]) => O.lmHeadLogProbs(x!, w!, i!).logProbs },
  { op: 'lm_head_log_probs', name: 'lm_head_log_probs with its log-softmax used too (the general rule)', inputs: [P(2, 3, 4), P(6, 4), { shape: [2, 3], kind: 'int', max: 6 }], f: ([x, w, i]) => { const r = O.lmHeadLogProbs(x!, w!, i!); return O.add(r.logProbs, O.entropyFromLogSoftmax(r.logSoftmax)) } },
  { op: 'token_log_probs', inputs: [P(2, 3, 6), { shape: [2, 3], kind: 'int', max: 6 }], f: ([x, i]) => O.tokenLogProbs(x!, i!) },
  { op: 'split', inputs: [P(2, 5, 3)], f: ([x]) => { const [a, b, c] = O.split(x!, 1, [2, 1, 2]); return O.concat([O.mul(c!, c!), O.mul(a!, 2), O.exp(b!)], 1) } },
  { op: 'split', name: 'split with a part unused', inputs: [P(4, 3)], f: ([x]) => O.exp(O.split(x!, 0, [1, 3])[1]!) },
  { op: 'rope', inputs: [P(2, 3, 4, 6), { shape: [2, 1, 4, 6], kind: 'const' }, { shape: [2, 1, 4, 6], kind: 'const' }], f: ([x, c, s]) => O.rope(x!, c!, s!) },
  { op: 'token_log_probs', name: 'token_log_probs with its log-softmax used too', inputs: [P(2, 3, 6), { shape: [2, 3], kind: 'int', max: 6 }], f: ([x, i]) => { const r = O.tokenLogProbsAndLogSoftmax(x!, i!); return O.add(O.mul(r.logProbs, 2), O.entropyFromLogSoftmax(r.logSoftmax)) } },
]

describe('gradient check: every op (central differences, float64)', () => {
  it('covers every registered differentiable op', () => {
    const covered = new Set(CASES.map((c) => c.op))
    const missing = Object.keys(OPS).filter((n) => n !== 'stop_gradient' && !covered.has(n))
    assert.deepEqual(missing, [])
  })
  for (const c of CASES) {
    it(c.name ?? c.op, async () => {
      const r = await gradCheck(c.inputs, c.f)
      assert.ok(r.checked > 0)
      assert.ok(r.maxRelErr < 1e-6, `max relative error ${r.maxRelErr} (abs ${r.maxAbsErr}) over ${r.checked} elements`)
    })
  }
  it('stop_gradient passes values and blocks gradients', async () => {
    const g = new Graph('float64')
    const a = g.param('a', [3])
    const loss = O.sum(O.add(O.mul(O.stopGradient(a), 5), O.mul(a, a)))
    const [da] = g.gradients(loss, [a])
    const p = await Program.compile(g, { loss, da: da! })
    const r = await p.run({ a: Tensor.f64([1, 2, 3], [3]) })
    assert.deepEqual([...r.loss!.data], [5 * 6 + 14])
    assert.deepEqual([...r.da!.data], [2, 4, 6], 'only d(a²)/da; the stopped branch adds nothing')
  })
})

describe('gradient check: composite layers', () => {
  it('RMSNorm', async () => {
    const r = await gradCheck([P(2, 3, 8), Pos(8)], ([x, w]) => O.rmsNorm(x!, w!, 1e-6))
    assert.ok(r.maxRelErr < 1e-6, String(r.maxRelErr))
  })
  it('rotary embedding', async () => {
    const r = await gradCheck([P(1, 2, 3, 4), { shape: [3, 4], kind: 'const' }, { shape: [3, 4], kind: 'const' }], ([x, c, s]) => O.rope(x!, c!, s!))
    assert.ok(r.maxRelErr < 1e-6, String(r.maxRelErr))
  })
  it('rotary embedding through the signed-permutation product equals slicing, negating and joining, bit for bit', async () => {
    const g = new Graph('float32')
    const x = g.input('x', [2, 3, 5, 8])
    const cos = g.input('cos', [2, 1, 5, 8])
    const sin = g.input('sin', [2, 1, 5, 8])
    const halves = O.concat([O.neg(O.slice(x, -1, 4, 8)), O.slice(x, -1, 0, 4)], -1)
    const p = await Program.compile(g, { fast: O.rope(x, cos, sin), plain: O.add(O.mul(x, cos), O.mul(halves, sin)) })
    const rnd = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + s) * 43758.5453 % 3)
    const r = await p.run({ x: new Tensor('float32', rnd(240, 1), [2, 3, 5, 8]), cos: new Tensor('float32', rnd(80, 2), [2, 1, 5, 8]), sin: new Tensor('float32', rnd(80, 3), [2, 1, 5, 8]) })
    assert.deepEqual([...r.fast!.data], [...r.plain!.data])
  })
  it('causal grouped-query attention with a padding mask', async () => {
    // mask: causal, and the last key of batch row 1 is padding (no query row is fully masked: a fully
    // masked row's softmax over −1e9 + x is flat to float64 precision, which finite differences cannot see).
    const maskGen = (_r: unknown, i: number) => {
      const [b, t, s] = [Math.floor(i / 9), Math.floor(i / 3) % 3, i % 3]
      return s > t || (b === 1 && s === 2) ? -1e9 : 0
    }
    const r = await gradCheck([P(2, 4, 3, 2), P(2, 2, 3, 2), P(2, 2, 3, 2), { shape: [2, 1, 3, 3], kind: 'const', gen: maskGen }], ([q, k, v, m]) => O.attention(q!, k!, v!, m!))
    assert.ok(r.maxRelErr < 1e-6, String(r.maxRelErr))
  })
  it('causal attention in query blocks: the same values as one block for every real query, and exact gradients', async () => {
    const [b, h, hkv, t, hd] = [2, 4, 2, 7, 3]
    // Row 0 left-padded by 2, row 1 right-padded by 1 (the batches prefill and teacher forcing build).
    const valid = [Array.from({ length: t }, (_, j) => j >= 2), Array.from({ length: t }, (_, j) => j < t - 1)]
    const mask = attentionMask(valid, t, 0, 'float32')
    const g = new Graph('float32')
    const [q, k, v] = [g.input('q', [b, h, t, hd]), g.input('k', [b, hkv, t, hd]), g.input('v', [b, hkv, t, hd])]
    const m = g.input('m', mask.shape)
    const outs: Record<string, Sym> = { one: O.attention(q, k, v, m) }
    for (const n of [2, 3, 7]) outs[`b${n}`] = O.causalAttention(q, k, v, m, n)
    const p = await Program.compile(g, outs)
    const rnd = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => ((Math.sin(i * 12.9898 + s) * 43758.5453) % 1) * 2)
    const r = await p.run({ q: new Tensor('float32', rnd(b * h * t * hd, 1), [b, h, t, hd]), k: new Tensor('float32', rnd(b * hkv * t * hd, 2), [b, hkv, t, hd]), v: new Tensor('float32', rnd(b * hkv * t * hd, 3), [b, hkv, t, hd]), m: new Tensor('float32', mask.data, mask.shape) })
    const realRows = (x: Tensor) => [...x.data].filter((_, i) => valid[Math.floor(i / (h * t * hd))]![Math.floor(i / hd) % t])
    for (const n of [2, 3, 7]) assert.deepEqual(realRows(r[`b${n}`]!), realRows(r.one!), `${n} blocks`)
    const causal = (_r: unknown, i: number) => ((i % 4) > Math.floor(i / 4) % 4 ? -1e9 : 0)
    const gc = await gradCheck([P(1, 4, 4, 2), P(1, 2, 4, 2), P(1, 2, 4, 2), { shape: [1, 1, 4, 4], kind: 'const', gen: causal }], ([a, c, d, e]) => O.causalAttention(a!, c!, d!, e!, 3))
    assert.ok(gc.maxRelErr < 1e-6, String(gc.maxRelErr))
  })
  it('token log-probs and entropy', async () => {
    const r = await gradCheck([P(2, 3, 5), { shape: [2, 3], kind: 'int', max: 5 }], ([x, t]) => O.add(O.tokenLogProbs(x!, t!), O.entropyFromLogits(x!)))
    assert.ok(r.maxRelErr < 1e-6, String(r.maxRelErr))
  })
})

describe('embedding gradients with many repeated ids (large, multi-threaded)', () => {
  it('equal the exact row sums (onnxruntime’s ScatterND add loses updates here; medrl adds rows on the host)', async () => {
    const { collectGradients, gradientOutputs } = await import('../../src/engine/grads.js')
    const v = 305
    const d = 64
    const n = 128 * 40
    const g = new Graph('float32')
    const table = g.param('t', [v, d])
    const ids = g.input('ids', [n], 'int64')
    const w = g.input('w', [n, d])
    const loss = O.sum(O.mul(O.embedding(table, ids), w))
    const grads = g.gradients(loss, [table])
    const p = await Program.compile(g, { loss, ...gradientOutputs(g, ['t'], grads) })
    const idv = Array.from({ length: n }, (_, i) => (i * 7919) % 40)
    const wv = Float32Array.from({ length: n * d }, (_, i) => Math.sin(i))
    const ref = new Float64Array(v * d)
    idv.forEach((id, k) => {
      for (let j = 0; j < d; j++) ref[id * d + j] = ref[id * d + j]! + wv[k * d + j]!
    })
    for (let run = 0; run < 3; run++) {
      const got = collectGradients(await p.run({ t: Tensor.f32(new Float32Array(v * d), [v, d]), ids: Tensor.i64(idv, [n]), w: Tensor.f32(wv, [n, d]) }), ['t'], { t: v * d }).t!
      let maxDiff = 0
      for (let i = 0; i < got.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i]! - ref[i]!))
      assert.ok(maxDiff < 1e-3, `run ${run}: max difference ${maxDiff}`)
    }
    await p.release()
  })

  it('a computed table (not a graph input) gets its row gradient densely in the graph, also exact', async () => {
    const r = await gradCheck([P(5, 3), { shape: [2, 4], kind: 'int', max: 5 }], ([t, ids]) => O.embedding(O.mul(t!, 2), ids!))
    assert.ok(r.maxRelErr < 1e-6, String(r.maxRelErr))
  })
})
