import type { OpDef } from '../graph.js'
import { normAxis, raw1, raw2, rawReshape } from './util.js'

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
