import { optionEntries, type QARecord } from './record.js'

/**
 * Text folded for comparison: Unicode-normalised, lower case, punctuation dropped, white space collapsed.
 * Two questions that differ only in such details count as the same question.
 */
export function normalizeText(s: string): string {
  return s
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim()
}

/** Words of the folded text. */
export function words(s: string): string[] {
  const n = normalizeText(s)
  return n === '' ? [] : n.split(' ')
}

/** The identity of a question for deduplication: its folded stem and the set of its folded options (order ignored). */
export function questionKey(r: Pick<QARecord, 'question' | 'options' | 'context'>): string {
  const opts = optionEntries(r)
    .map(([, t]) => normalizeText(t))
    .sort()
  return `${normalizeText(r.context ?? '')}\u0001${normalizeText(r.question)}\u0001${opts.join('\u0002')}`
}
