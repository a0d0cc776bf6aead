/**
 * The R1 format check: exactly one <think>…</think> followed by exactly one <answer>…</answer>, with only
 * white space around them (or, if allowed, a preamble before <think>). Linear: a few indexOf scans.
 */

export interface R1FormatOptions {
  /** Accept text before <think> (default false: Med-RLVR's strict format). */
  allowPreamble?: boolean
  /** What the prompt pre-filled at the start of the completion (e.g. "<think>"), checked as part of it. */
  prefix?: string
}

export type FormatFailure =
  | 'missing_think'
  | 'missing_answer'
  | 'repeated_tags'
  | 'wrong_order'
  | 'text_before_think'
  | 'text_between'
  | 'text_after_answer'
  | 'empty_answer'

export interface R1Parts {
  preamble: string
  think: string
  between: string
  answer: string
  after: string
}

export type R1FormatResult = { valid: true; parts: R1Parts } | { valid: false; reason: FormatFailure; parts?: R1Parts }

function countOf(hay: string, needle: string): number {
  let n = 0
  let p = hay.indexOf(needle)
  while (p !== -1) {
    n++
    p = hay.indexOf(needle, p + needle.length)
  }
  return n
}

/** Splits a completion into its R1 parts when each tag occurs once and in order; null otherwise. */
export function r1Parts(full: string): R1Parts | { reason: FormatFailure } {
  const lower = full.toLowerCase()
  const tags = ['<think>', '</think>', '<answer>', '</answer>'] as const
  const counts = tags.map((t) => countOf(lower, t))
  if (counts[0] === 0 || counts[1] === 0) return { reason: 'missing_think' }
  if (counts[2] === 0 || counts[3] === 0) return { reason: 'missing_answer' }
  if (counts.some((c) => c > 1)) return { reason: 'repeated_tags' }
  const [t0, t1, a0, a1] = tags.map((t) => lower.indexOf(t)) as [number, number, number, number]
  if (!(t0 < t1 && t1 < a0 && a0 < a1)) return { reason: 'wrong_order' }
  return {
    preamble: full.slice(0, t0),
    think: full.slice(t0 + 7, t1),
    between: full.slice(t1 + 8, a0),
    answer: full.slice(a0 + 8, a1),
    after: full.slice(a1 + 9),
  }
}

export function checkR1Format(completion: string, opts: R1FormatOptions = {}): R1FormatResult {
  const parts = r1Parts((opts.prefix ?? '') + (typeof completion === 'string' ? completion : ''))
  if ('reason' in parts) return { valid: false, reason: parts.reason }
  if (parts.preamble.trim() !== '' && !opts.allowPreamble) return { valid: false, reason: 'text_before_think', parts }
  if (parts.between.trim() !== '') return { valid: false, reason: 'text_between', parts }
  if (parts.after.trim() !== '') return { valid: false, reason: 'text_after_answer', parts }
  if (parts.answer.trim() === '') return { valid: false, reason: 'empty_answer', parts }
  return { valid: true, parts }
}
