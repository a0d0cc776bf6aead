import type { Graph, Sym } from '../graph.js'

/** NumPy broadcasting of two shapes; throws naming both when they do not broadcast. */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length)
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1
    const y = b[b.length - n + i] ?? 1
    if (x !== y && x !== 1 && y !== 1) throw new Error(`shapes [${a.join(', ')}] and [${b.join(', ')}] do not broadcast`)
    out.push(Math.max(x, y))
  }
  return out
}

export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis
  if (a < 0 || a >= rank) throw new Error(`axis ${axis} out of range for rank ${rank}`)
  return a
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

/** Raw (untaped) elementwise binary node with broadcasting. */
export function raw2(g: Graph, op: string, a: Sym, b: Sym): Sym {
  return g.node1(op, [a, b], broadcastShape(a.shape, b.shape), a.dtype)
}

export function raw1(g: Graph, op: string, a: Sym, attrs?: Parameters<Graph['node1']>[4]): Sym {
  return g.node1(op, [a], a.shape, a.dtype, attrs)
}

export function rawReshape(g: Graph, x: Sym, shape: readonly number[]): Sym {
  if (sameShape(x.shape, shape)) return x
  return g.node1('Reshape', [x, g.ints(shape)], shape, x.dtype)
}

export function rawTranspose(g: Graph, x: Sym, perm: readonly number[]): Sym {
  return g.node1('Transpose', [x], perm.map((p) => x.shape[p]!), x.dtype, { perm: [...perm] })
}

/** Sums a broadcast gradient back down to `shape` (the shape of the input that was broadcast). */
export function unbroadcast(g: Graph, grad: Sym, shape: readonly number[]): Sym {
  if (sameShape(grad.shape, shape)) return grad
  const lead = grad.rank - shape.length
  const axes: number[] = []
  for (let i = 0; i < grad.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && grad.shape[i] !== 1)) axes.push(i)
  }
  const keep = grad.shape.map((d, i) => (axes.includes(i) ? 1 : d))
  const summed = axes.length > 0 ? g.node1('ReduceSum', [grad, g.ints(axes)], keep, grad.dtype, { keepdims: 1 }) : grad
  return rawReshape(g, summed, shape)
}

/** Broadcasts `x` to `shape` (for reductions' gradients). */
export function rawExpand(g: Graph, x: Sym, shape: readonly number[]): Sym {
  if (sameShape(x.shape, shape)) return x
  return g.node1('Expand', [x, g.ints(shape)], shape, x.dtype)
}

/** A boolean mask as the graph's float type (1 where true). */
export function maskToFloat(g: Graph, mask: Sym): Sym {
  return g.node1('Cast', [mask], mask.shape, g.float, { to: g.float === 'float64' ? 11 : 1 })
}
