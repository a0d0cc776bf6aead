import type { Graph, OpDef, Sym } from '../graph.js'
import type { DType } from '../tensor.js'
import * as E from './elementwise.js'
import * as L from './linalg.js'
import * as R from './reduce.js'
import * as S from './shape.js'
import * as N from './nn.js'

/** Every differentiable op by name (the gradient-check test walks this registry). */
export const OPS: Record<string, OpDef> = Object.fromEntries(
  [E.Add, E.Sub, E.Mul, E.Div, E.Minimum, E.Maximum, E.Neg, E.Exp, E.Log, E.Sqrt, E.Reciprocal, E.Sigmoid, E.Tanh, E.Rsqrt, E.Silu, E.PowScalar, E.Clamp, E.Where, L.MatMul, L.Linear, R.Sum, R.Mean, R.Max, S.Reshape, S.Transpose, S.BroadcastTo, S.Concat, S.Split, S.Slice, N.Softmax, N.LogSoftmax, N.Embedding, N.GatherLast, N.TokenLogProbs, N.LmHeadLogProbs, N.Rope].map((o) => [o.name, o]),
)

type Operand = Sym | number

function one(x: Sym, op: OpDef, inputs: Sym[], attrs = {}): Sym {
  return x.g.apply(op, inputs, attrs)[0]!
}

function sym(g: Graph, v: Operand): Sym {
  return typeof v === 'number' ? g.scalar(v) : v
}

function graphOf(...xs: Operand[]): Graph {
  const s = xs.find((x): x is Sym => typeof x !== 'number')
  if (!s) throw new Error('an op needs at least one tensor operand')
  return s.g
}

function bin(op: OpDef, a: Operand, b: Operand): Sym {
  const g = graphOf(a, b)
  const x = sym(g, a)
  return one(x, op, [x, sym(g, b)])
}

export const add = (a: Operand, b: Operand) => bin(E.Add, a, b)
export const sub = (a: Operand, b: Operand) => bin(E.Sub, a, b)
export const mul = (a: Operand, b: Operand) => bin(E.Mul, a, b)
export const div = (a: Operand, b: Operand) => bin(E.Div, a, b)
export const minimum = (a: Operand, b: Operand) => bin(E.Minimum, a, b)
export const maximum = (a: Operand, b: Operand) => bin(E.Maximum, a, b)
export const neg = (x: Sym) => one(x, E.Neg, [x])
export const exp = (x: Sym) => one(x, E.Exp, [x])
export const log = (x: Sym) => one(x, E.Log, [x])
export const sqrt = (x: Sym) => one(x, E.Sqrt, [x])
export const rsqrt = (x: Sym) => one(x, E.Rsqrt, [x])
export const reciprocal = (x: Sym) => one(x, E.Reciprocal, [x])
export const sigmoid = (x: Sym) => one(x, E.Sigmoid, [x])
export const tanh = (x: Sym) => one(x, E.Tanh, [x])
export const silu = (x: Sym) => one(x, E.Silu, [x])
export const pow = (x: Sym, p: number) => one(x, E.PowScalar, [x], { p })
export const square = (x: Sym) => mul(x, x)
export const clamp = (x: Sym, lo: number, hi: number) => one(x, E.Clamp, [x], { lo, hi })
export const where = (cond: Sym, a: Operand, b: Operand) => {
  const g = cond.g
  const x = sym(g, a)
  return one(x, E.Where, [cond, x, sym(g, b)])
}
export const stopGradient = (x: Sym) => one(x, E.StopGradient, [x])

export const matmul = (a: Sym, b: Sym) => one(a, L.MatMul, [a, b])
/** x·Wᵀ (+ b) with W [out, in], as in Hugging Face linear layers. */
export const linear = (x: Sym, w: Sym, b?: Sym) => one(x, L.Linear, b ? [x, w, b] : [x, w])

export const sum = (x: Sym, axes?: number[], keepdims = false) => one(x, R.Sum, [x], { axes, keepdims })
export const mean = (x: Sym, axes?: number[], keepdims = false) => one(x, R.Mean, [x], { axes, keepdims })
export const max = (x: Sym, axes?: number[], keepdims = false) => one(x, R.Max, [x], { axes, keepdims })

export const reshape = (x: Sym, shape: number[]) => one(x, S.Reshape, [x], { shape })
export const transpose = (x: Sym, perm: number[]) => one(x, S.Transpose, [x], { perm })
export const broadcastTo = (x: Sym, shape: number[]) => one(x, S.BroadcastTo, [x], { shape })
export const concat = (xs: Sym[], axis: number) => one(xs[0]!, S.Concat, xs, { axis })
export const slice = (x: Sym, axis: number, start: number, end: number) => one(x, S.Slice, [x], { axis, start, end })
export const split = (x: Sym, axis: number, sizes: number[]) => x.g.apply(S.Split, [x], { axis, sizes })

export const softmax = (x: Sym, axis = -1) => one(x, N.Softmax, [x], { axis })
export const logSoftmax = (x: Sym, axis = -1) => one(x, N.LogSoftmax, [x], { axis })
export const embedding = (table: Sym, ids: Sym) => one(table, N.Embedding, [table, ids])
export const gatherLast = (x: Sym, idx: Sym) => one(x, N.GatherLast, [x, idx])

// Non-differentiable helpers (comparisons, casts).
const ONNX_CAST: Record<DType, number> = { float32: 1, float64: 11, int64: 7, int32: 6, bool: 9 }
export const cast = (x: Sym, to: DType) => x.g.node1('Cast', [x], x.shape, to, { to: ONNX_CAST[to] })
export function compare(op: 'Less' | 'Greater' | 'Equal' | 'LessOrEqual' | 'GreaterOrEqual', a: Sym, b: Operand): Sym {
  const bb = typeof b === 'number' ? a.g.scalar(b, a.dtype) : b
  return a.g.node1(op, [a, bb], a.shape.length >= bb.shape.length ? a.shape : bb.shape, 'bool')
}

// Composite layers of Llama/Qwen2 decoders, written with the ops above so autodiff covers them.

/**
 * RMSNorm: x / sqrt(mean(x²) + eps) · w, over the last axis. Written as Pow → ReduceMean → Add → Sqrt →
 * Div → Mul, the pattern onnxruntime fuses into one SimplifiedLayerNormalization kernel in no-grad programs.
 * A graph with parameters squares by Mul instead (same values; onnxruntime's Pow takes twice as long, and
 * the fusion does not apply where the backward keeps the intermediates).
 */
export function rmsNorm(x: Sym, w: Sym, eps: number): Sym {
  const ms = mean(x.g.hasParams ? mul(x, x) : pow(x, 2), [-1], true)
  return mul(div(x, sqrt(add(ms, eps))), w)
}

/** Rotary position embedding, Hugging Face "rotate_half" layout: x·cos + rotate_half(x)·sin. */
export function rope(x: Sym, cos: Sym, sin: Sym): Sym {
  return one(x, N.Rope, [x, cos, sin])
}

/**
 * Scaled dot-product attention with an additive mask (0 to attend, a large negative number not to):
 * q [B, H, T, hd], k and v [B, Hkv, S, hd] with H a multiple of Hkv (grouped-query attention), mask
 * [B, 1, T, S]. The query heads of a group are stacked as rows, [B, Hkv, (H/Hkv)·T, hd], so each key/value
 * head serves its group in one matrix product (no broadcast batch axis, nothing repeated in memory); the
 * mask is added with the group as its own axis.
 */
export function attention(q: Sym, k: Sym, v: Sym, mask: Sym): Sym {
  const [b, h, t, hd] = q.shape as [number, number, number, number]
  const [, hkv, s] = k.shape as [number, number, number, number]
  if (h % hkv !== 0) throw new Error(`attention: ${h} query heads is not a multiple of ${hkv} key/value heads`)
  const g = h / hkv
  // The 1/√hd scale goes on the queries (T·hd values) rather than the scores (T·S).
  const qg = reshape(mul(q, 1 / Math.sqrt(hd)), [b, hkv, g * t, hd])
  const raw = reshape(matmul(qg, transpose(k, [0, 1, 3, 2])), [b, hkv, g, t, s])
  const probs = softmax(add(raw, reshape(mask, [b, 1, 1, t, s])), -1)
  return reshape(matmul(reshape(probs, [b, hkv, g * t, s]), v), [b, h, t, hd])
}

/**
 * attention() under a causal mask (query t never sees key s > t), the queries taken in `blocks` row blocks:
 * block i attends keys [0, end of block i) only. The keys dropped are masked for every query of the block,
 * their weights exp(−1e9 − max) exact zeros, so the result is the same while (blocks − 1)/(2·blocks) of the
 * score, softmax and weighted-sum work (and their backward) is skipped.
 */
export function causalAttention(q: Sym, k: Sym, v: Sym, mask: Sym, blocks: number): Sym {
  const t = q.shape[2]!
  if (blocks <= 1 || k.shape[2] !== t) return attention(q, k, v, mask)
  const ends = Array.from({ length: blocks }, (_, i) => Math.round(((i + 1) * t) / blocks))
  const sizes = ends.map((e, i) => e - (i === 0 ? 0 : ends[i - 1]!))
  const qs = split(q, 2, sizes)
  const outs = qs.map((qi, i) => {
    const [r0, r1] = [ends[i]! - sizes[i]!, ends[i]!]
    const keys = (x: Sym, axis: number) => (r1 === t ? x : slice(x, axis, 0, r1))
    return attention(qi, keys(k, 2), keys(v, 2), keys(slice(mask, 2, r0, r1), 3))
  })
  return concat(outs, 2)
}

/** Query blocks for causalAttention: blocks of about 64 rows (fastest on the 39M bench model at 256 tokens), at most 8. */
export function causalBlocks(t: number): number {
  return Math.max(1, Math.min(8, Math.floor(t / 64)))
}

/**
 * Attention of new tokens over a key/value cache and themselves, without copying the cache: scores
 * against the cache and against the new keys are joined only as scores, and the output sums both
 * parts. q [B, H, T, hd]; pastK/pastV [B, Hkv, P, hd]; k/v [B, Hkv, T, hd]; mask [B, 1, T, P + T].
 */
export function attentionWithCache(q: Sym, pastK: Sym, pastV: Sym, k: Sym, v: Sym, mask: Sym): Sym {
  const [b, h, t, hd] = q.shape as [number, number, number, number]
  const [, hkv, p] = pastK.shape as [number, number, number, number]
  const g = h / hkv
  const qg = reshape(mul(q, 1 / Math.sqrt(hd)), [b, hkv, g * t, hd])
  const scores = (keys: Sym, n: number) => reshape(matmul(qg, transpose(keys, [0, 1, 3, 2])), [b, hkv, g, t, n])
  const joined = add(concat([scores(pastK, p), scores(k, t)], -1), reshape(mask, [b, 1, 1, t, p + t]))
  const probs = softmax(joined, -1)
  const part = (from: number, to: number, values: Sym) => matmul(reshape(slice(probs, -1, from, to), [b, hkv, g * t, to - from]), values)
  return reshape(add(part(0, p, pastV), part(p, p + t, v)), [b, h, t, hd])
}

/** log p(target) per position from logits [..., V] and integer targets [...]. */
export function tokenLogProbs(logits: Sym, targets: Sym): Sym {
  return tokenLogProbsAndLogSoftmax(logits, targets).logProbs
}

/** log p(target) per position and the whole log-softmax [..., V] it was read from (for entropy, accuracy). */
export function tokenLogProbsAndLogSoftmax(logits: Sym, targets: Sym): { logProbs: Sym; logSoftmax: Sym } {
  const [logProbs, ls] = logits.g.apply(N.TokenLogProbs, [logits, targets])
  return { logProbs: logProbs!, logSoftmax: ls! }
}

/** The output layer's per-token log-probabilities (logits = x·Wᵀ) and its log-softmax, as one op (nn.ts). */
export function lmHeadLogProbs(x: Sym, w: Sym, targets: Sym): { logProbs: Sym; logSoftmax: Sym } {
  const [logProbs, ls] = x.g.apply(N.LmHeadLogProbs, [x, w, targets])
  return { logProbs: logProbs!, logSoftmax: ls! }
}

/** Entropy of the softmax distribution over the last axis. */
export function entropyFromLogits(logits: Sym): Sym {
  return entropyFromLogSoftmax(logSoftmax(logits, -1))
}

/** Entropy from a log-softmax over the last axis: −Σ p·log p. */
export function entropyFromLogSoftmax(lp: Sym): Sym {
  return neg(sum(mul(exp(lp), lp), [-1]))
}

/** Σ x·mask / max(Σ mask, 1): a masked mean over all elements. */
export function maskedMean(x: Sym, mask: Sym): Sym {
  return div(sum(mul(x, mask)), maximum(sum(mask), 1))
}
