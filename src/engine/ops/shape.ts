import type { OpDef } from '../graph.js'
import { sizeOf } from '../tensor.js'
import { normAxis, rawReshape, rawTranspose, sameShape, rawExpand, unbroadcast } from './util.js'

export const Reshape: OpDef = {
  name: 'reshape',
  forward: (g, [x], { shape }) => {
    const s = shape as number[]
    const known = s.filter((d) => d !== -1).reduce((p, q) => p * q, 1)
    const full = s.map((d) => (d === -1 ? sizeOf(x!.shape) / known : d))
    if (sizeOf(full) !== sizeOf(x!.shape)) throw new Error(`reshape: [${x!.shape.join(', ')}] cannot become [${s.join(', ')}]`)
    return [rawReshape(g, x!, full)]
  },
  backward: (g, [x], _y, [dy]) => [rawReshape(g, dy!, x!.shape)],
}

export const Transpose: OpDef = {
  name: 'transpose',
  forward: (g, [x], { perm }) => [rawTranspose(g, x!, perm as number[])],
  backward: (g, _x, _y, [dy], { perm }) => {
    const p = perm as number[]
    const inv = p.map((_, i) => p.indexOf(i))
    return [rawTranspose(g, dy!, inv)]
  },
}

/** Broadcast to a larger shape (e.g. repeating key/value heads for grouped-query attention). */
export const BroadcastTo: OpDef = {
  name: 'broadcast_to',
  forward: (g, [x], { shape }) => [rawExpand(g, x!, shape as number[])],
  backward: (g, [x], _y, [dy]) => [unbroadcast(g, dy!, x!.shape)],
}

export const Concat: OpDef = {
  name: 'concat',
  forward: (g, xs, { axis }) => {
    const a = normAxis(axis as number, xs[0]!.rank)
    const shape = [...xs[0]!.shape]
    shape[a] = xs.reduce((s, x) => s + x.shape[a]!, 0)
    return [g.node1('Concat', xs, shape, xs[0]!.dtype, { axis: a })]
  },
  backward: (g, xs, _y, [dy], { axis }) => {
    const a = normAxis(axis as number, xs[0]!.rank)
    const sizes = xs.map((x) => x.shape[a]!)
    return g.node(
      'Split',
      [dy!, g.ints(sizes)],
      xs.map((x) => ({ shape: x.shape, dtype: x.dtype })),
      { axis: a },
    )
  },
}

/** x cut along one axis into consecutive parts of the given sizes; the backward joins the parts' gradients (no padding). */
export const Split: OpDef = {
  name: 'split',
  forward: (g, [x], { axis, sizes }) => {
    const a = normAxis(axis as number, x!.rank)
    const parts = sizes as number[]
    if (parts.reduce((p, q) => p + q, 0) !== x!.shape[a]) throw new Error(`split: sizes ${parts.join('+')} do not add up to ${x!.shape[a]}`)
    return g.node('Split', [x!, g.ints(parts)], parts.map((n) => ({ shape: x!.shape.map((d, i) => (i === a ? n : d)), dtype: x!.dtype })), { axis: a })
  },
  backward: (g, [x], ys, dys, { axis }) => {
    const a = normAxis(axis as number, x!.rank)
    const parts = ys.map((y, i) => dys[i] ?? g.zeros(y.shape, y.dtype))
    return [g.node1('Concat', parts, x!.shape, x!.dtype, { axis: a })]
  },
}

/** x[start:end] along one axis (step 1). */
export const Slice: OpDef = {
  name: 'slice',
  forward: (g, [x], { axis, start, end }) => {
    const a = normAxis(axis as number, x!.rank)
    const s = start as number
    const e = Math.min(end as number, x!.shape[a]!)
    const shape = [...x!.shape]
    shape[a] = e - s
    if (sameShape(shape, x!.shape)) return [x!]
    return [g.node1('Slice', [x!, g.ints([s]), g.ints([e]), g.ints([a])], shape, x!.dtype)]
  },
  backward: (g, [x], [y], [dy], { axis, start }) => {
    const a = normAxis(axis as number, x!.rank)
    if (y === x) return [dy!]
    const pads = new Array<number>(2 * x!.rank).fill(0)
    pads[a] = start as number
    pads[x!.rank + a] = x!.shape[a]! - (start as number) - y!.shape[a]!
    return [g.node1('Pad', [dy!, g.ints(pads)], x!.shape, dy!.dtype)]
  },
}
