import type { TopLevelSpec } from 'vega-lite'
import { optionEntries, type QARecord } from './record.js'

export interface Distribution {
  n: number
  min: number
  p10: number
  median: number
  mean: number
  p90: number
  max: number
}

export interface GroupStats {
  count: number
  splits: Record<string, number>
  options_per_question: Record<string, number>
  answer_letters: Record<string, number>
  question_chars: Distribution
  /** Question length in tokens, when a tokenizer was given. */
  question_tokens?: Distribution
  with_context: number
}

export interface DataStats {
  total: GroupStats
  by_source: Record<string, GroupStats>
}

/** Quantile by linear interpolation between order statistics (numpy's default). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN
  const pos = (sorted.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo)
}

export function distribution(values: readonly number[]): Distribution {
  const s = [...values].sort((a, b) => a - b)
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1)
  return { n: s.length, min: s[0] ?? NaN, p10: quantile(s, 0.1), median: quantile(s, 0.5), mean, p90: quantile(s, 0.9), max: s[s.length - 1] ?? NaN }
}

function bump(o: Record<string, number>, k: string): void {
  o[k] = (o[k] ?? 0) + 1
}

/** The full text a model reads for a question: context (if any) and stem. */
export function questionText(r: QARecord): string {
  return r.context !== undefined ? `${r.context}\n${r.question}` : r.question
}

function groupStats(records: readonly QARecord[], countTokens?: (s: string) => number): GroupStats {
  const g: GroupStats = { count: records.length, splits: {}, options_per_question: {}, answer_letters: {}, question_chars: distribution([]), with_context: 0 }
  for (const r of records) {
    bump(g.splits, r.split)
    bump(g.options_per_question, String(optionEntries(r).length))
    bump(g.answer_letters, r.answer)
    if (r.context !== undefined) g.with_context++
  }
  g.splits = Object.fromEntries(Object.entries(g.splits).sort((a, b) => a[0].localeCompare(b[0])))
  g.answer_letters = Object.fromEntries(Object.entries(g.answer_letters).sort((a, b) => a[0].localeCompare(b[0])))
  g.question_chars = distribution(records.map((r) => questionText(r).length))
  if (countTokens) g.question_tokens = distribution(records.map((r) => countTokens(questionText(r))))
  return g
}

/** Counts by source and split, options per question, answer letters and question lengths, overall and per source. */
export function computeStats(records: readonly QARecord[], countTokens?: (s: string) => number): DataStats {
  const bySource = new Map<string, QARecord[]>()
  for (const r of records) {
    const list = bySource.get(r.source) ?? []
    list.push(r)
    bySource.set(r.source, list)
  }
  const by_source: Record<string, GroupStats> = {}
  for (const [s, list] of [...bySource.entries()].sort((a, b) => a[0].localeCompare(b[0]))) by_source[s] = groupStats(list, countTokens)
  return { total: groupStats(records, countTokens), by_source }
}

/** A three-panel chart: records by source and split, answer letters by source, question length by source. */
export function statsChartSpec(records: readonly QARecord[], stats: DataStats): TopLevelSpec {
  const counts = Object.entries(stats.by_source).flatMap(([source, g]) => Object.entries(g.splits).map(([split, n]) => ({ source, split, n })))
  const letters = Object.entries(stats.by_source).flatMap(([source, g]) => Object.entries(g.answer_letters).map(([letter, n]) => ({ source, letter, share: n / g.count })))
  const lengths = records.map((r) => ({ source: r.source, chars: questionText(r).length }))
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `${stats.total.count} questions`,
    vconcat: [
      {
        title: 'Questions by source and split',
        data: { values: counts },
        mark: 'bar',
        width: 480,
        encoding: { y: { field: 'source', type: 'nominal', title: null }, x: { field: 'n', type: 'quantitative', title: 'questions' }, color: { field: 'split', type: 'nominal' } },
      },
      {
        title: 'Answer letter share by source',
        data: { values: letters },
        mark: 'rect',
        width: 480,
        encoding: {
          x: { field: 'letter', type: 'ordinal', title: 'answer' },
          y: { field: 'source', type: 'nominal', title: null },
          color: { field: 'share', type: 'quantitative', scale: { scheme: 'blues' } },
        },
      },
      {
        title: 'Question length (characters) by source',
        data: { values: lengths },
        mark: { type: 'boxplot', extent: 'min-max' },
        width: 480,
        encoding: { y: { field: 'source', type: 'nominal', title: null }, x: { field: 'chars', type: 'quantitative', scale: { type: 'log' }, title: 'characters (log scale)' } },
      },
    ],
  }
}

/**
 * Question lengths by source (AlphaMed Figure 2, right): characters always, and tokens of the policy's
 * tokenizer when one is given (what the policy reads; the figure is drawn in tokens when they are there).
 */
export interface QuestionLengths {
  chars: Record<string, number[]>
  tokens?: Record<string, number[]>
}

export function dataLengths(records: readonly QARecord[], countTokens?: (text: string) => number): QuestionLengths {
  const chars: Record<string, number[]> = {}
  const tokens: Record<string, number[]> = {}
  for (const r of records) {
    const text = r.context ? `${r.context}\n${r.question}` : r.question
    ;(chars[r.source] ??= []).push(r.question.length + (r.context?.length ?? 0))
    if (countTokens) (tokens[r.source] ??= []).push(countTokens(text))
  }
  return countTokens ? { chars, tokens } : { chars }
}

/** data_lengths.json as written now ({chars, tokens}) or before ({source: [chars]}). */
export function parseQuestionLengths(raw: unknown): QuestionLengths | null {
  if (!raw || typeof raw !== 'object') return null
  const o = raw as Record<string, unknown>
  if (o.chars && typeof o.chars === 'object') return { chars: o.chars as Record<string, number[]>, ...(o.tokens && typeof o.tokens === 'object' ? { tokens: o.tokens as Record<string, number[]> } : {}) }
  return { chars: o as Record<string, number[]> }
}
