import type { Graph, Sym } from './graph.js'
import { sumOfSquares } from './optim.js'
import type { Tensor } from './tensor.js'

/**
 * Graph outputs for the gradients of named inputs: the dense part (`grad:NAME`, left out when it is all
 * zeros) and each row contribution (`rows:NAME:k:ids`, `rows:NAME:k:updates`) to add on the host; and
 * `grad_sq:dense`, the summed squares of every gradient that is whole in the graph (dense, no row parts),
 * so the global norm costs the host a pass over the others only.
 */
export function gradientOutputs(g: Graph, names: readonly string[], grads: readonly Sym[]): Record<string, Sym> {
  const out: Record<string, Sym> = {}
  const squares: Sym[] = []
  names.forEach((n, i) => {
    const sym = g.inputs.get(n)?.sym
    const key = sym?.name ?? n
    const rows = g.rowGrads.get(key) ?? []
    if (!g.noDenseGrad.has(key)) {
      out[`grad:${n}`] = grads[i]!
      if (!rows.length) squares.push(g.node1('ReduceSumSquare', [grads[i]!], [], grads[i]!.dtype, { keepdims: 0 }))
    }
    rows.forEach((r, k) => {
      out[`rows:${n}:${k}:ids`] = r.ids
      out[`rows:${n}:${k}:updates`] = r.updates
    })
  })
  if (squares.length) out['grad_sq:dense'] = squares.length === 1 ? squares[0]! : g.node1('Sum', squares, [], squares[0]!.dtype)
  return out
}

/**
 * The global L2 norm of the gradients collected from a run of gradientOutputs' program: the graph's sum of
 * squares for the gradients whole in it, a host pass (float64) over the rest.
 */
export function gradientNorm(result: Record<string, Tensor>, grads: Record<string, Float32Array | Float64Array>): number {
  const rest = Object.fromEntries(Object.entries(grads).filter(([n]) => !result[`grad:${n}`] || result[`rows:${n}:0:ids`]))
  return Math.sqrt(sumOfSquares(rest, result['grad_sq:dense']?.at(0) ?? 0))
}

/** The full gradient of each named input from a run's outputs: dense part plus row contributions. */
export function collectGradients(result: Record<string, Tensor>, names: readonly string[], sizes: Record<string, number>): Record<string, Float32Array> {
  return collectGradientsAs(result, names, sizes, 'float32') as Record<string, Float32Array>
}

/** As collectGradients, for float32 or float64 graphs. */
export function collectGradientsAs(result: Record<string, Tensor>, names: readonly string[], sizes: Record<string, number>, float: 'float32' | 'float64'): Record<string, Float32Array | Float64Array> {
  const out: Record<string, Float32Array | Float64Array> = {}
  for (const n of names) {
    const dense = result[`grad:${n}`]
    const g = dense ? (dense.data as Float32Array | Float64Array) : float === 'float64' ? new Float64Array(sizes[n]!) : new Float32Array(sizes[n]!)
    for (let k = 0; ; k++) {
      const ids = result[`rows:${n}:${k}:ids`]
      if (!ids) break
      const upd = result[`rows:${n}:${k}:updates`]!.data as Float32Array | Float64Array
      const id = ids.data as BigInt64Array
      const d = upd.length / id.length
      for (let i = 0; i < id.length; i++) {
        const row = Number(id[i]!) * d
        const src = i * d
        for (let j = 0; j < d; j++) g[row + j] = g[row + j]! + upd[src + j]!
      }
    }
    out[n] = g
  }
  return out
}
