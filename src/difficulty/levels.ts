import { askQuestions } from '../backends/answer.js'
import { backendIdentity, type Backend } from '../backends/types.js'
import type { QARecord } from '../data/record.js'
import type { ExtractMode } from '../reward/extract.js'
import { getTemplate } from '../reward/templates.js'
import { JsonlLog } from '../util/jsonl-log.js'
import { checkRunSettings } from '../util/run-settings.js'
import { hashString32 } from '../util/rng.js'
import { DEFAULT_MAX_NEW_TOKENS } from '../defaults.js'

/** What a difficulty pass stores per question in meta.difficulty. */
export interface DifficultyMeta {
  /** k + 1 − correct: L1 = all k samples right (easiest) … L(k+1) = none right (hardest). */
  level: number
  correct: number
  k: number
  temperature: number
  seed: number
  template: string
  model: string
}

export interface DifficultyOptions {
  k: number
  template: string
  chat?: boolean
  temperature?: number
  maxNewTokens?: number
  seed?: number
  batchSize?: number
  mode?: ExtractMode
  /** Where finished questions are logged (appended per batch; a rerun skips them, added questions are done). */
  out: string
  onProgress?: (done: number, total: number) => void
}

export function levelOf(correct: number, k: number): number {
  return k + 1 - correct
}

interface Done {
  id: string
  correct: number
  k: number
  outputs: (string | null)[]
}

/**
 * Samples each question k times with a reference model (a Backend) and counts right answers. Incremental
 * and resumable: results are appended to OUT per batch, and questions already there (same k) are not redone.
 * Returns the records with meta.difficulty set.
 */
export async function estimateDifficulty(backend: Backend, records: readonly QARecord[], o: DifficultyOptions): Promise<QARecord[]> {
  const template = getTemplate(o.template)
  const temperature = o.temperature ?? 1
  const seed = o.seed ?? 0
  const bs = o.batchSize ?? 16
  await backend.ready?.()
  checkRunSettings(`${o.out}.settings.json`, { model: backendIdentity(backend), backend: backend.kind, template: template.name, chat: o.chat === true, temperature, max_new_tokens: o.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS, seed, extraction: o.mode ?? 'lenient' }, 'difficulty estimation')
  const log = new JsonlLog<Done>(o.out)
  const done = new Map(log.rows.filter((r) => r.k === o.k).map((r) => [r.id, r]))
  const todo = records.filter((r) => !done.has(r.id))
  let finished = records.length - todo.length
  o.onProgress?.(finished, records.length)
  try {
    for (let s = 0; s < todo.length; s += bs) {
      const batch = todo.slice(s, s + bs)
      // The seed is the question's, not its position's: adding questions changes nothing already done.
      const answered = await askQuestions(backend, batch, { template, chat: o.chat, mode: o.mode ?? 'lenient', params: (r) => ({ maxNewTokens: o.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS, temperature, n: o.k, seed: seed ^ hashString32(r.id) }) })
      const rows: Done[] = batch.map((r, i) => ({ id: r.id, correct: answered[i]!.filter((a) => a.correct).length, k: o.k, outputs: answered[i]!.map((a) => a.letter) }))
      log.append(rows)
      for (const row of rows) done.set(row.id, row)
      finished += batch.length
      o.onProgress?.(finished, records.length)
    }
  } finally {
    log.close()
  }
  return records.map((r) => {
    const d = done.get(r.id)!
    const meta: DifficultyMeta = { level: levelOf(d.correct, o.k), correct: d.correct, k: o.k, temperature, seed, template: template.name, model: backend.model }
    return { ...r, meta: { ...r.meta, difficulty: meta } }
  })
}


/** Level histogram by source, and question length (characters) by level: the summary of a pass. */
export function difficultySummary(records: readonly QARecord[]): { by_source: Record<string, Record<string, number>>; length_by_level: Record<string, { n: number; mean_chars: number }> } {
  const bySource: Record<string, Record<string, number>> = {}
  const lens: Record<string, number[]> = {}
  for (const r of records) {
    const d = r.meta.difficulty as DifficultyMeta | undefined
    if (!d) continue
    const L = `L${d.level}`
    bySource[r.source] ??= {}
    bySource[r.source]![L] = (bySource[r.source]![L] ?? 0) + 1
    ;(lens[L] ??= []).push(r.question.length + (r.context?.length ?? 0))
  }
  const length_by_level = Object.fromEntries(
    Object.entries(lens)
      .sort()
      .map(([L, xs]) => [L, { n: xs.length, mean_chars: xs.reduce((a, b) => a + b, 0) / xs.length }]),
  )
  return { by_source: bySource, length_by_level }
}

