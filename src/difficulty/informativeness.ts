import type { TopLevelSpec } from 'vega-lite'
import { optionEntries, type QARecord } from '../data/record.js'
import { distribution, questionText, type Distribution } from '../data/stats.js'
import type { DifficultyMeta } from './levels.js'

export interface SourceInformativeness {
  count: number
  question_tokens?: Distribution
  question_chars: Distribution
  options: Distribution
  level_share: Record<string, number>
}

/** Per-source statistics AlphaMed ties to informativeness: length in tokens, options, share of each level. */
export function informativeness(records: readonly QARecord[], countTokens?: (s: string) => number): Record<string, SourceInformativeness> {
  const out: Record<string, SourceInformativeness> = {}
  for (const src of [...new Set(records.map((r) => r.source))].sort()) {
    const rs = records.filter((r) => r.source === src)
    const levels: Record<string, number> = {}
    for (const r of rs) {
      const d = r.meta.difficulty as DifficultyMeta | undefined
      if (d) levels[`L${d.level}`] = (levels[`L${d.level}`] ?? 0) + 1 / rs.length
    }
    const s: SourceInformativeness = {
      count: rs.length,
      question_chars: distribution(rs.map((r) => questionText(r).length)),
      options: distribution(rs.map((r) => optionEntries(r).length)),
      level_share: Object.fromEntries(Object.entries(levels).sort()),
    }
    if (countTokens) s.question_tokens = distribution(rs.map((r) => countTokens(questionText(r))))
    out[src] = s
  }
  return out
}

/** Level shares by source (stacked bars) and question length by level. */
export function informativenessChart(records: readonly QARecord[], info: Record<string, SourceInformativeness>): TopLevelSpec {
  const shares = Object.entries(info).flatMap(([source, s]) => Object.entries(s.level_share).map(([level, share]) => ({ source, level, share })))
  const lengths = records.filter((r) => r.meta.difficulty).map((r) => ({ source: r.source, level: `L${(r.meta.difficulty as DifficultyMeta).level}`, chars: questionText(r).length }))
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    hconcat: [
      {
        title: 'Difficulty levels by source',
        data: { values: shares },
        mark: 'bar',
        width: 320,
        encoding: { y: { field: 'source', type: 'nominal', title: null }, x: { field: 'share', type: 'quantitative', stack: 'normalize', title: 'share of questions' }, color: { field: 'level', type: 'ordinal', scale: { scheme: 'redyellowgreen', reverse: true } } },
      },
      {
        title: 'Question length by level',
        data: { values: lengths },
        mark: { type: 'boxplot', extent: 'min-max' },
        width: 320,
        encoding: { x: { field: 'level', type: 'ordinal' }, y: { field: 'chars', type: 'quantitative', scale: { type: 'log' }, title: 'characters' }, color: { field: 'source', type: 'nominal' } },
      },
    ],
  }
}
