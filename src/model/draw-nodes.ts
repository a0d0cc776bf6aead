import type { Sym } from '../engine/graph.js'

/**
 * The nodes that draw the next token inside a decode program: the inverse CDF of the softmax with one uniform
 * per row, and the argmax. Which rows may be drawn here, and with what uniform, is generation's business
 * (src/generate/graph-draw.ts); the model's decode program only emits these nodes.
 */

export interface DrawOutputs {
  /** Token drawn from the softmax with the row's uniform u [B] (int64). */
  sampled?: Sym
  /** Its log-probability [B]. */
  sampledLogprob?: Sym
  /** The argmax [B] (int64). */
  greedy?: Sym
  /** Its log-probability under the model [B]. */
  greedyLogprob?: Sym
}

/** Emits the draw nodes for logits [B, V]: the sampled draw with uniforms u [B, 1] if given, the argmax if asked. */
export function drawNodes(logits: Sym, want: { u?: Sym; greedy?: boolean }): DrawOutputs {
  const g = logits.g
  const [b, v] = logits.shape as [number, number]
  const col = [b, 1]
  const f = logits.dtype
  const probs = g.node1('Softmax', [logits], [b, v], f, { axis: 1 })
  const logprob = (idx: Sym) => g.node1('Reshape', [g.node1('Log', [g.node1('GatherElements', [probs, idx], col, f, { axis: 1 })], col, f), g.ints([b])], [b], f)
  const flat = (x: Sym) => g.node1('Reshape', [x, g.ints([b])], [b], 'int64')
  const out: DrawOutputs = {}
  if (want.u) {
    const idx = inverseCdf(probs, want.u)
    out.sampled = flat(idx)
    out.sampledLogprob = logprob(idx)
  }
  if (want.greedy) {
    const idx = g.node1('ArgMax', [logits], col, 'int64', { axis: 1, keepdims: 1 })
    out.greedy = flat(idx)
    out.greedyLogprob = logprob(idx)
  }
  return out
}

const BLOCK = 256

/** The first index of each row of probs [B, V] whose running sum exceeds u · Σ, as [B, 1] int64. */
function inverseCdf(probs: Sym, u: Sym): Sym {
  const g = probs.g
  const [b, v] = probs.shape as [number, number]
  const f = probs.dtype
  const nb = Math.ceil(v / BLOCK)
  const col = [b, 1]
  const padded = nb * BLOCK > v ? g.node1('Pad', [probs, g.ints([0, 0, 0, nb * BLOCK - v])], [b, nb * BLOCK], f) : probs
  const blocks = g.node1('Reshape', [padded, g.ints([b, nb, BLOCK])], [b, nb, BLOCK], f)
  const blockSum = g.node1('ReduceSum', [blocks, g.ints([2])], [b, nb], f, { keepdims: 0 })
  const blockRun = g.node1('CumSum', [blockSum, g.constant([1], [], 'int64')], [b, nb], f)
  const threshold = g.node1('Mul', [u, g.node1('Slice', [blockRun, g.ints([nb - 1]), g.ints([nb]), g.ints([1])], col, f)], col, f)
  // How many entries of a running sum are at or below the threshold: the index of the first above it.
  const countBelow = (run: Sym, n: number) => {
    const below = g.node1('Cast', [g.node1('LessOrEqual', [run, threshold], run.shape, 'bool')], run.shape, 'int64', { to: 7 })
    return g.node1('Min', [g.node1('ReduceSum', [below, g.ints([1])], col, 'int64', { keepdims: 1 }), g.constant([n - 1], [], 'int64')], col, 'int64')
  }
  const blk = countBelow(blockRun, nb)
  const before = g.node1('Sub', [g.node1('GatherElements', [blockRun, blk], col, f, { axis: 1 }), g.node1('GatherElements', [blockSum, blk], col, f, { axis: 1 })], col, f)
  const pick = g.node1('Expand', [g.node1('Reshape', [blk, g.ints([b, 1, 1])], [b, 1, 1], 'int64'), g.ints([b, 1, BLOCK])], [b, 1, BLOCK], 'int64')
  const block = g.node1('Reshape', [g.node1('GatherElements', [blocks, pick], [b, 1, BLOCK], f, { axis: 1 }), g.ints([b, BLOCK])], [b, BLOCK], f)
  const inBlock = countBelow(g.node1('Add', [g.node1('CumSum', [block, g.constant([1], [], 'int64')], [b, BLOCK], f), before], [b, BLOCK], f), BLOCK)
  const id = g.node1('Add', [g.node1('Mul', [blk, g.constant([BLOCK], [], 'int64')], col, 'int64'), inBlock], col, 'int64')
  return g.node1('Min', [id, g.constant([v - 1], [], 'int64')], col, 'int64')
}
