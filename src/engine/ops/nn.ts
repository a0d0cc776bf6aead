import type { Graph, OpDef, Sym } from '../graph.js'
import { rawGemm, rawMatMul } from './linalg.js'
import { normAxis, raw1, raw2, rawReshape, rawTranspose } from './util.js'

/** Softmax over an axis; dx = y·(dy − Σ dy·y). */
export const Softmax: OpDef = {
  name: 'softmax',
  forward: (g, [x], { axis }) => [g.node1('Softmax', [x!], x!.shape, x!.dtype, { axis: normAxis((axis as number) ?? -1, x!.rank) })],
  backward: (g, [x], [y], [dy], { axis }) => {
    const a = normAxis((axis as number) ?? -1, x!.rank)
    const s = g.node1('ReduceSum', [raw2(g, 'Mul', dy!, y!), g.ints([a])], x!.shape.map((d, i) => (i === a ? 1 : d)), x!.dtype, { keepdims: 1 })
    return [raw2(g, 'Mul', y!, raw2(g, 'Sub', dy!, s))]
  },
}

/** Log-softmax over an axis (numerically stable in onnxruntime); dx = dy − softmax·Σ dy. */
export const LogSoftmax: OpDef = {
  name: 'log_softmax',
  forward: (g, [x], { axis }) => [g.node1('LogSoftmax', [x!], x!.shape, x!.dtype, { axis: normAxis((axis as number) ?? -1, x!.rank) })],
  backward: (g, [x], [y], [dy], { axis }) => {
    const a = normAxis((axis as number) ?? -1, x!.rank)
    const s = g.node1('ReduceSum', [dy!, g.ints([a])], x!.shape.map((d, i) => (i === a ? 1 : d)), x!.dtype, { keepdims: 1 })
    return [raw2(g, 'Sub', dy!, raw2(g, 'Mul', raw1(g, 'Exp', y!), s))]
  },
}

/** Rows of a table at integer ids (embedding lookup): table[V, D], ids[…] → […, D]. */
export const Embedding: OpDef = {
  name: 'embedding',
  forward: (g, [table, ids]) => [g.node1('Gather', [table!, ids!], [...ids!.shape, table!.shape[1]!], table!.dtype, { axis: 0 })],
  // ids may repeat, so the rows are added up: on the host for graph inputs (exact), else one-hot in the graph.
  backward: (_g, [, ids], _y, [dy]) => [{ rows: { ids: ids!, updates: dy! } }, null],
}

/** x[…, idx[…]] along the last axis: per-token log-probabilities at the target ids. */
export const GatherLast: OpDef = {
  name: 'gather_last',
  forward: (g, [x, idx]) => {
    const i = rawReshape(g, idx!, [...idx!.shape, 1])
    const picked = g.node1('GatherElements', [x!, i], [...idx!.shape, 1], x!.dtype, { axis: x!.rank - 1 })
    return [rawReshape(g, picked, idx!.shape)]
  },
  backward: (g, [x, idx], _y, [dy]) => {
    const i = rawReshape(g, idx!, [...idx!.shape, 1])
    const upd = rawReshape(g, dy!, [...idx!.shape, 1])
    return [g.node1('ScatterElements', [g.zeros(x!.shape, x!.dtype), i, upd], x!.shape, x!.dtype, { axis: x!.rank - 1 }), null]
  },
}

/**
 * Per-token log-probabilities with the log-softmax they come from: logits […, V], ids […] → (lp […],
 * log-softmax […, V]). One op so the backward is one pass shape: dx = scatter-add(dls − softmax·(g + Σ dls),
 * ids, g) with g = d lp, instead of a dense one-hot scatter into zeros followed by log-softmax's own rule
 * (that chain made the vocabulary-sized part of a 39M model's train step a quarter of its time).
 */
export const TokenLogProbs: OpDef = {
  name: 'token_log_probs',
  forward: (g, [x, idx]) => {
    const ls = g.node1('LogSoftmax', [x!], x!.shape, x!.dtype, { axis: x!.rank - 1 })
    const i = rawReshape(g, idx!, [...idx!.shape, 1])
    const picked = g.node1('GatherElements', [ls, i], [...idx!.shape, 1], x!.dtype, { axis: x!.rank - 1 })
    return [rawReshape(g, picked, idx!.shape), ls]
  },
  backward: (g, [x, idx], [, ls], [dlp, dls]) => {
    const a = x!.rank - 1
    const col = [...idx!.shape, 1]
    const up = dlp ? rawReshape(g, dlp, col) : null
    const sums = dls ? g.node1('ReduceSum', [dls, g.ints([a])], col, x!.dtype, { keepdims: 1 }) : null
    const total = up && sums ? raw2(g, 'Add', up, sums) : (up ?? sums)!
    let dx = raw2(g, 'Mul', raw1(g, 'Exp', ls!), raw1(g, 'Neg', total))
    if (dls) dx = raw2(g, 'Add', dls, dx)
    if (up) dx = g.node1('ScatterElements', [dx, rawReshape(g, idx!, col), up], x!.shape, x!.dtype, { axis: a, reduction: 'add' })
    return [dx, null]
  },
}

/**
 * The output layer's weight gradient aᵀ·b [V, H] for a vocabulary-wide a [rows, V] and b [rows, H], formed
 * as (bᵀ·a)ᵀ: MLAS runs the product with the vocabulary as its columns ~25% faster than with the
 * vocabulary as the rows of a transposed operand (39M bench model: 398 → 295 ms, plus 16 ms for the
 * transpose). Written as MatMul of a Transpose so onnxruntime's Gemm/Transpose fusion does not fold it back.
 */
function vocabWeightGrad(g: Graph, a: Sym, b: Sym): Sym {
  return rawTranspose(g, rawMatMul(g, rawTranspose(g, b, [1, 0]), a), [1, 0])
}

/**
 * The output layer and per-token log-probabilities as one op: x […, H], W [V, H] (logits = x·Wᵀ), ids […]
 * → (lp […], log-softmax […, V]). Its backward never scales the vocabulary-sized tensor by the per-token
 * gradient g: d logits = −g·(softmax − onehot), so it forms Q = softmax − onehot in place (a scatter-add of
 * −1 at the ids) and moves −g onto the hidden-sized side: dx = (Q·W)·(−g), dW = Qᵀ·(x·(−g)). When the
 * log-softmax output itself gets a gradient (an entropy bonus), it falls back to TokenLogProbs' rule.
 */
export const LmHeadLogProbs: OpDef = {
  name: 'lm_head_log_probs',
  forward: (g, [x, w, idx]) => {
    const h = x!.shape[x!.rank - 1]!
    const v = w!.shape[0]!
    if (w!.shape[1] !== h) throw new Error(`lm_head_log_probs: hidden states have ${h} features, the weight is [${w!.shape.join(', ')}]`)
    const rows = x!.shape.slice(0, -1).reduce((p, q) => p * q, 1)
    const logits = rawGemm(g, rawReshape(g, x!, [rows, h]), w!, false, true)
    const ls = g.node1('LogSoftmax', [logits], [rows, v], x!.dtype, { axis: 1 })
    const picked = g.node1('GatherElements', [ls, rawReshape(g, idx!, [rows, 1])], [rows, 1], x!.dtype, { axis: 1 })
    return [rawReshape(g, picked, idx!.shape), rawReshape(g, ls, [...x!.shape.slice(0, -1), v])]
  },
  backward: (g, [x, w, idx], [, ls], [dlp, dls]) => {
    const h = x!.shape[x!.rank - 1]!
    const v = w!.shape[0]!
    const rows = x!.shape.slice(0, -1).reduce((p, q) => p * q, 1)
    const x2 = rawReshape(g, x!, [rows, h])
    const ls2 = rawReshape(g, ls!, [rows, v])
    if (dls) {
      const flat = rawReshape(g, idx!, [rows])
      const grads = [dlp ? rawReshape(g, dlp, [rows]) : null, dls ? rawReshape(g, dls, [rows, v]) : null]
      const [dlogits] = TokenLogProbs.backward!(g, [ls2, flat], [flat, ls2], grads, {}) as [Sym]
      return [rawReshape(g, rawGemm(g, dlogits, w!), x!.shape), vocabWeightGrad(g, dlogits, x2), null]
    }
    const ids = rawReshape(g, idx!, [rows, 1])
    const q = g.node1('ScatterElements', [raw1(g, 'Exp', ls2), ids, g.node1('Expand', [g.scalar(-1), g.ints([rows, 1])], [rows, 1], x!.dtype)], [rows, v], x!.dtype, { axis: 1, reduction: 'add' })
    // Backward runs only when some output has a gradient: without one for the log-softmax, lp has one.
    const negG = raw1(g, 'Neg', rawReshape(g, dlp!, [rows, 1]))
    const dx = raw2(g, 'Mul', rawGemm(g, q, w!), negG)
    const dw = vocabWeightGrad(g, q, raw2(g, 'Mul', x2, negG))
    return [rawReshape(g, dx, x!.shape), dw, null]
  },
}

/**
 * rotate_half as a product with a constant signed permutation R [d, d] (x·R = [−x₂, x₁]): every output is
 * one input times ±1 plus exact zeros, so the values are those of slicing, negating and joining (up to the
 * sign of a zero), from one small matrix product instead of three copies and their three backward rules.
 */
function rotateHalfMatrix(g: Graph, d: number, transposed: boolean): Sym {
  const r = new Array<number>(d * d).fill(0)
  const h = d / 2
  for (let j = 0; j < h; j++) {
    // column j of x·R is −x[j + h]; column j + h is x[j]
    const [a, b] = transposed ? [j, j + h] : [j + h, j]
    r[a * d + b] = -1
    r[b * d + a] = 1
  }
  return g.constant(r, [d, d], g.float, transposed ? 'rotate_half_t' : 'rotate_half')
}

/**
 * Rotary position embedding, Hugging Face "rotate_half" layout: x·cos + rotate_half(x)·sin, with x
 * [..., T, d] and the tables broadcast to it. The tables are data (positions), not learned: no gradient.
 * The products with R are not model FLOPs and are left out of the graph's count.
 */
export const Rope: OpDef = {
  name: 'rope',
  forward: (g, [x, cos, sin]) => {
    const d = x!.shape[x!.rank - 1]!
    if (d % 2 !== 0) throw new Error(`rope: head size ${d} is odd`)
    const rotated = g.node1('MatMul', [x!, rotateHalfMatrix(g, d, false)], x!.shape, x!.dtype)
    return [raw2(g, 'Add', raw2(g, 'Mul', x!, cos!), raw2(g, 'Mul', rotated, sin!))]
  },
  backward: (g, [x, cos, sin], _y, [dy]) => {
    const d = x!.shape[x!.rank - 1]!
    const back = g.node1('MatMul', [raw2(g, 'Mul', dy!, sin!), rotateHalfMatrix(g, d, true)], x!.shape, x!.dtype)
    return [raw2(g, 'Add', raw2(g, 'Mul', dy!, cos!), back), null, null]
  },
}
