import { questionKey } from './normalize.js'
import type { QARecord } from './record.js'

export interface DuplicateGroup {
  /** The id kept (the first occurrence). */
  kept: string
  /** The ids dropped as copies of it. */
  dropped: string[]
  /** Whether the copies all give the same answer text (a conflict means the sources disagree). */
  answersAgree: boolean
}

export interface DedupeResult {
  records: QARecord[]
  groups: DuplicateGroup[]
  removed: number
}

function answerText(r: QARecord): string {
  return (r.options[r.answer] ?? '').replace(/\s+/g, ' ').trim().toLowerCase()
}

/**
 * Drops copies of a question (same folded stem, context and option set; option order ignored) and keeps
 * the first. Every dropped id is reported with the id it duplicates.
 */
export function dedupeRecords(records: readonly QARecord[]): DedupeResult {
  const first = new Map<string, { record: QARecord; group?: DuplicateGroup }>()
  const kept: QARecord[] = []
  const groups: DuplicateGroup[] = []
  for (const r of records) {
    const key = questionKey(r)
    const hit = first.get(key)
    if (hit === undefined) {
      first.set(key, { record: r })
      kept.push(r)
      continue
    }
    if (hit.group === undefined) {
      hit.group = { kept: hit.record.id, dropped: [], answersAgree: true }
      groups.push(hit.group)
    }
    hit.group.dropped.push(r.id)
    if (answerText(r) !== answerText(hit.record)) hit.group.answersAgree = false
  }
  return { records: kept, groups, removed: records.length - kept.length }
}
