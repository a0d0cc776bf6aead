import type { OpDef } from '../graph.js'
import { maskToFloat, normAxis, raw2, rawExpand, rawReshape } from './util.js'

function keptShape(shape: readonly number[], axes: number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d))
}

function outShape(shape: readonly number[], axes: number[], keep: boolean): number[] {
  return keep ? keptShape(shape, axes) : shape.filter((_, i) => !axes.includes(i))
}

function axesOf(rank: number, axes: unknown): number[] {
  const list = axes === undefined ? [...Array(rank).keys()] : (axes as number[])
  return [...new Set(list.map((a) => normAxis(a, rank)))].sort((a, b) => a - b)
}

/** Sum over axes (all by default). */
export const Sum: OpDef = {
  name: 'sum',
  forward: (g, [x], { axes, keepdims }) => {
    const ax = axesOf(x!.rank, axes)
    return [g.node1('ReduceSum', [x!, g.ints(ax)], outShape(x!.shape, ax, keepdims === true), x!.dtype, { keepdims: keepdims === true ? 1 : 0 })]
  },
  backward: (g, [x], _y, [dy], { axes }) => {
    const ax = axesOf(x!.rank, axes)
    return [rawExpand(g, rawReshape(g, dy!, keptShape(x!.shape, ax)), x!.shape)]
  },
}

/** Mean over axes (all by default). */
export const Mean: OpDef = {
  name: 'mean',
  forward: (g, [x], { axes, keepdims }) => {
    const ax = axesOf(x!.rank, axes)
    return [g.node1('ReduceMean', [x!], outShape(x!.shape, ax, keepdims === true), x!.dtype, { axes: ax, keepdims: keepdims === true ? 1 : 0 })]
  },
  backward: (g, [x], _y, [dy], { axes }) => {
    const ax = axesOf(x!.rank, axes)
    const count = ax.reduce((p, a) => p * x!.shape[a]!, 1)
    return [rawExpand(g, rawReshape(g, raw2(g, 'Div', dy!, g.scalar(count)), keptShape(x!.shape, ax)), x!.shape)]
  },
}

/** Max over axes; the gradient is shared equally among tied maxima. */
export const Max: OpDef = {
  name: 'max',
  forward: (g, [x], { axes, keepdims }) => {
    const ax = axesOf(x!.rank, axes)
    return [g.node1('ReduceMax', [x!], outShape(x!.shape, ax, keepdims === true), x!.dtype, { axes: ax, keepdims: keepdims === true ? 1 : 0 })]
  },
  backward: (g, [x], [y], [dy], { axes }) => {
    const ax = axesOf(x!.rank, axes)
    const kept = keptShape(x!.shape, ax)
    const hit = maskToFloat(g, g.node1('Equal', [x!, rawReshape(g, y!, kept)], x!.shape, 'bool'))
    const count = g.node1('ReduceSum', [hit, g.ints(ax)], kept, hit.dtype, { keepdims: 1 })
    return [raw2(g, 'Mul', hit, raw2(g, 'Div', rawReshape(g, dy!, kept), count))]
  },
}
