import type { Graph, OpDef, Sym } from '../graph.js'
import { broadcastShape, rawReshape, rawTranspose, unbroadcast } from './util.js'

/** Gemm on 2-D operands (optionally transposed): MLAS reads the transposes in place, no copies. */
export function rawGemm(g: Graph, a: Sym, b: Sym, transA = false, transB = false, bias?: Sym): Sym {
  const [m, k] = transA ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!]
  const [k2, n] = transB ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!]
  if (k !== k2) throw new Error(`gemm: inner dimensions differ ([${a.shape}]${transA ? 'ᵀ' : ''} × [${b.shape}]${transB ? 'ᵀ' : ''})`)
  g.matmulFlops += 2 * m * n * k
  const attrs: Record<string, number> = {}
  if (transA) attrs.transA = 1
  if (transB) attrs.transB = 1
  return g.node1('Gemm', bias ? [a, b, bias] : [a, b], [m, n], a.dtype, attrs)
}

function batchedShape(a: readonly number[], b: readonly number[]): number[] {
  if (a.length < 2 || b.length < 2) throw new Error(`matmul needs operands of rank ≥ 2, got [${a}] and [${b}]`)
  const [m, k] = a.slice(-2) as [number, number]
  const [k2, n] = b.slice(-2) as [number, number]
  if (k !== k2) throw new Error(`matmul: inner dimensions differ ([${a.join(', ')}] × [${b.join(', ')}])`)
  return [...broadcastShape(a.slice(0, -2), b.slice(0, -2)), m, n]
}

export function rawMatMul(g: Graph, a: Sym, b: Sym): Sym {
  const shape = batchedShape(a.shape, b.shape)
  const batch = shape.slice(0, -2).reduce((x, y) => x * y, 1)
  g.matmulFlops += 2 * batch * shape[shape.length - 2]! * shape[shape.length - 1]! * a.shape[a.rank - 1]!
  return g.node1('MatMul', [a, b], shape, a.dtype)
}

function swapLast(g: Graph, x: Sym): Sym {
  const perm = x.shape.map((_, i) => i)
  perm[x.rank - 1] = x.rank - 2
  perm[x.rank - 2] = x.rank - 1
  return rawTranspose(g, x, perm)
}

/** Batched matrix product with broadcast batch dimensions (A[…, M, K] · B[…, K, N]). */
export const MatMul: OpDef = {
  name: 'matmul',
  forward: (g, [a, b]) => [rawMatMul(g, a!, b!)],
  backward: (g, [a, b], _y, [dy]) => {
    const A = a!
    const B = b!
    const dC = dy!
    if (B.rank === 2) {
      // Fold A's batch dimensions into rows: two Gemms, no per-batch partial sums of dB.
      const k = A.shape[A.rank - 1]!
      const n = B.shape[1]!
      const a2 = rawReshape(g, A, [A.shape.slice(0, -1).reduce((x, y) => x * y, 1), k])
      const d2 = rawReshape(g, dC, [a2.shape[0]!, n])
      return [rawReshape(g, rawGemm(g, d2, B, false, true), A.shape), rawGemm(g, a2, d2, true, false)]
    }
    const dA = rawMatMul(g, dC, swapLast(g, B))
    const dB = rawMatMul(g, swapLast(g, A), dC)
    return [unbroadcast(g, dA, A.shape), unbroadcast(g, dB, B.shape)]
  },
}

/** y = x·Wᵀ (+ b), W stored [out, in] as in Hugging Face checkpoints; x may have any leading dimensions. */
export const Linear: OpDef = {
  name: 'linear',
  forward: (g, [x, w, b]) => {
    const inF = x!.shape[x!.rank - 1]!
    if (w!.shape[1] !== inF) throw new Error(`linear: input has ${inF} features, weight is [${w!.shape.join(', ')}]`)
    const rows = x!.shape.slice(0, -1).reduce((p, q) => p * q, 1)
    const y = rawGemm(g, rawReshape(g, x!, [rows, inF]), w!, false, true, b)
    return [rawReshape(g, y, [...x!.shape.slice(0, -1), w!.shape[0]!])]
  },
  backward: (g, [x, w, b], _y, [dy]) => {
    const inF = x!.shape[x!.rank - 1]!
    const out = w!.shape[0]!
    const rows = x!.shape.slice(0, -1).reduce((p, q) => p * q, 1)
    const d2 = rawReshape(g, dy!, [rows, out])
    const x2 = rawReshape(g, x!, [rows, inF])
    const dx = rawReshape(g, rawGemm(g, d2, w!), x!.shape)
    const dw = rawGemm(g, d2, x2, true, false)
    const db = b ? g.node1('ReduceSum', [d2, g.ints([0])], [out], dy!.dtype, { keepdims: 0 }) : null
    return b ? [dx, dw, db] : [dx, dw]
  },
}
