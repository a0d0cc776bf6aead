import { DataError } from '../data/errors.js'
import { readJsonlRows } from '../data/files.js'
import type { Letter, QARecord } from '../data/record.js'
import type { ExtractMode } from './extract.js'
import type { RewardFn, RewardResult } from './rewards.js'
import { classifyStage, stageCounts, type RewardView, type Stage } from './stages.js'
import type { PromptTemplate } from './templates.js'

export interface Prediction {
  id: string
  output: string
}

export interface ScoredItem {
  id: string
  extracted: Letter | null
  correct: boolean
  format_valid: boolean
  reward: number
  stage: Stage | null
  details: Record<string, unknown>
}

export interface ScoreSummary {
  n: number
  accuracy: number
  format_rate: number
  invalid_rate: number
  reward_mean: number
  stages: Record<Stage, number> | null
}

/** Reads `{"id": …, "output": "…"}` lines; a bad line is an error naming the file, line and field. */
export function readPredictions(path: string): Prediction[] {
  return readJsonlRows(path).map((row) => {
    if (row.error) throw row.error
    const v = row.value as Record<string, unknown>
    if (typeof v !== 'object' || v === null) throw new DataError(row.loc, '(record)', 'expected an object')
    const id = v.id
    if (typeof id !== 'string' && typeof id !== 'number') throw new DataError(row.loc, 'id', id === undefined ? 'missing' : 'expected a string')
    if (typeof v.output !== 'string') throw new DataError({ ...row.loc, id: String(id) }, 'output', v.output === undefined ? 'missing' : 'expected a string')
    return { id: String(id), output: v.output }
  })
}

export interface ScoreOptions {
  template: PromptTemplate
  reward: RewardFn
  mode: ExtractMode
}

/** What the reward made of a completion, for the stage rules (unknown for a reward that does not say whether it checks the format). */
export function rewardView(reward: RewardFn, r: RewardResult): RewardView | undefined {
  return reward.checksFormat === undefined ? undefined : { checksFormat: reward.checksFormat, paid: r.correct && r.reward > 0 }
}

/** One output scored against its record: what `medrl score`, the reward service and verl ingest all compute. */
export function scoreOutput(output: string, record: QARecord, opts: ScoreOptions): Omit<ScoredItem, 'id'> {
  const ctx = { format: opts.template.answerFormat, completionPrefix: opts.template.completionPrefix, extract: { mode: opts.mode } }
  const r = opts.reward(output, record, ctx)
  const stage = opts.template.answerFormat === 'r1' ? classifyStage(output, record, { prefix: opts.template.completionPrefix, reward: rewardView(opts.reward, r) }) : null
  return { extracted: r.extracted, correct: r.correct, format_valid: r.formatValid, reward: r.reward, stage, details: r.details }
}

/** Scores predictions against their records: extraction, correctness, format, reward and (R1) reasoning stage. */
export function scorePredictions(records: readonly QARecord[], predictions: readonly Prediction[], opts: ScoreOptions, source = 'predictions'): { items: ScoredItem[]; summary: ScoreSummary } {
  const byId = new Map(records.map((r) => [r.id, r]))
  const items = predictions.map((p, i) => {
    const record = byId.get(p.id)
    if (record === undefined) throw new DataError({ file: source, index: i, id: p.id }, 'id', 'no record with this id in the data')
    return { id: p.id, ...scoreOutput(p.output, record, opts) }
  })
  const n = items.length
  const share = (f: (x: ScoredItem) => boolean) => (n === 0 ? 0 : items.filter(f).length / n)
  const summary: ScoreSummary = {
    n,
    accuracy: share((x) => x.correct),
    format_rate: share((x) => x.format_valid),
    invalid_rate: share((x) => x.extracted === null),
    reward_mean: n === 0 ? 0 : items.reduce((a, x) => a + x.reward, 0) / n,
    stages: opts.template.answerFormat === 'r1' ? stageCounts(items.map((x) => x.stage!)) : null,
  }
  return { items, summary }
}
