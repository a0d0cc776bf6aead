import { activeProcessors, type SamplingParams } from './logits-processors.js'
import type { Rng } from '../util/rng.js'

/**
 * Drawing the next token inside the decode program, so a decode step hands back B tokens instead of
 * B × vocabulary logits to scan in JavaScript. It covers the two draws most rows make — the plain softmax
 * at temperature 1 (RL rollouts) and greedy without a repetition penalty (evaluation) — by the same rule as
 * sampleRow on the host: the first token whose running probability sum exceeds u · Σ (inverse CDF, one
 * uniform per draw from the row's own generator), ties to the lowest id. The search goes by blocks of the
 * vocabulary (block sums, then one block's running sum), so only one pass touches every token. It runs in float32 on
 * onnxruntime's vectorised softmax, so a token can differ from the host's float64 draw only when u falls
 * within float32 rounding of a boundary. Rows with any other processor are drawn on the host.
 */

export type GraphDraw = 'sample' | 'greedy'

/** How a row's next token can be drawn in the graph, or null when it needs the host's logits processors. */
export function graphDraw(p: SamplingParams, vocab: number): GraphDraw | null {
  const active = activeProcessors(p, vocab)
  if (p.temperature <= 0) return active.some((x) => x.name === 'repetition_penalty') ? null : 'greedy'
  return active.length === 0 ? 'sample' : null
}

/** The row's next uniform for an in-program draw, as float32 below 1 (one draw of the generator, as on the host). */
export function drawUniform(rng: Rng): number {
  return Math.min(Math.fround(rng.next()), 1 - 2 ** -24)
}
