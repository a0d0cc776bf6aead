import type { Graph, Sym } from './graph.js'
import * as O from './ops/index.js'
import { sumOfSquares } from './optim.js'
import { sizeOf, type Tensor } from './tensor.js'

/**
 * onnxruntime-node copies every output into a new ArrayBuffer. One above glibc's largest mmap threshold
 * (32 MB) is fresh memory each run, and its first touch costs more than the copy (4 KB page faults at
 * ~13 µs each on a 2-core VM: a 39M model's 65 MB embedding gradient took 0.2 s a micro-batch, a 0.5B
 * model's 545 MB ~2 s). Gradients are therefore output in pieces of at most this many bytes, which the
 * allocator serves from memory it keeps, and joined on the host into a buffer the caller keeps.
 */
const OUTPUT_PIECE_BYTES = 16 << 20

/** The rows per piece of a gradient output, or null when it goes out whole. */
function pieceRows(shape: readonly number[], bytesPerValue: number): number | null {
  const bytes = sizeOf(shape) * bytesPerValue
  if (bytes <= OUTPUT_PIECE_BYTES || shape.length < 2) return null
  return Math.max(1, Math.floor((OUTPUT_PIECE_BYTES / bytes) * shape[0]!))
}

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
      const d = grads[i]!
      const per = pieceRows(d.shape, d.dtype === 'float64' ? 8 : 4)
      if (per === null) out[`grad:${n}`] = d
      else {
        const sizes = Array.from({ length: Math.ceil(d.shape[0]! / per) }, (_, k) => Math.min(per, d.shape[0]! - k * per))
        O.split(d, 0, sizes).forEach((piece, k) => (out[`grad:${n}#${k}`] = piece))
      }
      if (!rows.length) squares.push(g.node1('ReduceSumSquare', [d], [], d.dtype, { keepdims: 0 }))
    }
    rows.forEach((r, k) => {
      out[`rows:${n}:${k}:ids`] = r.ids
      out[`rows:${n}:${k}:updates`] = r.updates
    })
  })
  if (squares.length) out['grad_sq:dense'] = squares.length === 1 ? squares[0]! : g.node1('Sum', squares, [], squares[0]!.dtype)
  return out
}

function hasDense(result: Record<string, Tensor>, n: string): boolean {
  return result[`grad:${n}`] !== undefined || result[`grad:${n}#0`] !== undefined
}

/**
 * The global L2 norm of the gradients collected from a run of gradientOutputs' program: the graph's sum of
 * squares for the gradients whole in it, a host pass (float64) over the rest.
 */
export function gradientNorm(result: Record<string, Tensor>, grads: Record<string, Float32Array | Float64Array>): number {
  const rest = Object.fromEntries(Object.entries(grads).filter(([n]) => !hasDense(result, n) || result[`rows:${n}:0:ids`]))
  return Math.sqrt(sumOfSquares(rest, result['grad_sq:dense']?.at(0) ?? 0))
}

/**
 * The full gradient of each named input from a run's outputs: dense part plus row contributions, added in
 * place into the dense part (a buffer the program keeps) or, for a gradient made of rows alone, into a
 * zeroed buffer of `scratch` kept by the caller (so a step touches no fresh memory either way).
 */
export function collectGradients(result: Record<string, Tensor>, names: readonly string[], sizes: Record<string, number>, scratch?: Map<string, Float32Array>): Record<string, Float32Array> {
  return collectGradientsAs(result, names, sizes, 'float32', scratch) as Record<string, Float32Array>
}

/** As collectGradients, for float32 or float64 graphs. */
export function collectGradientsAs(result: Record<string, Tensor>, names: readonly string[], sizes: Record<string, number>, float: 'float32' | 'float64', scratch?: Map<string, Float32Array | Float64Array>): Record<string, Float32Array | Float64Array> {
  const out: Record<string, Float32Array | Float64Array> = {}
  const zeros = (n: string) => {
    const kept = scratch?.get(n)
    if (kept && kept.length === sizes[n]) return kept.fill(0)
    const fresh = float === 'float64' ? new Float64Array(sizes[n]!) : new Float32Array(sizes[n]!)
    scratch?.set(n, fresh)
    return fresh
  }
  for (const n of names) {
    const dense = result[`grad:${n}`]
    const g = dense ? (dense.data as Float32Array | Float64Array) : zeros(n)
    // A gradient output in pieces, joined in order (each piece a block of rows).
    for (let k = 0, at = 0; result[`grad:${n}#${k}`]; k++) {
      const piece = result[`grad:${n}#${k}`]!.data as Float32Array | Float64Array
      g.set(piece, at)
      at += piece.length
    }
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
