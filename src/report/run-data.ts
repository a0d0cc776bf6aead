import { existsSync, readFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { fileLines } from '../util/lines.js'
import { parseQuestionLengths, type QuestionLengths } from '../data/stats.js'

export interface StepRow {
  step: number
  data: Record<string, number>
}

export interface RunData {
  name: string
  dir: string
  exists: boolean
  metrics: StepRow[]
  /** Lines that could not be read (a half-written last line, a corrupt one): shown, never fatal. */
  badLines: { line: number; text: string }[]
  samples: Record<string, unknown>[]
  dataLengths: QuestionLengths | null
}

/** A JSONL file read tolerantly: the values that parse, and the lines that do not (a half-written last one, say). */
export function readJsonl(path: string): { rows: unknown[]; bad: { line: number; text: string }[] } {
  if (!existsSync(path)) return { rows: [], bad: [] }
  const rows: unknown[] = []
  const bad: { line: number; text: string }[] = []
  for (const l of fileLines(path)) {
    const text = l.bytes.toString('utf8')
    if (text.trim() === '') continue
    try {
      rows.push(JSON.parse(text))
    } catch {
      bad.push({ line: l.line, text: text.slice(0, 120) })
    }
  }
  return { rows, bad }
}

/** Everything a report or the dashboard shows of a run directory, read tolerantly. */
export function readRun(dir: string): RunData {
  const m = readJsonl(join(dir, 'metrics.jsonl'))
  const metrics = (m.rows as StepRow[]).filter((r) => typeof r?.step === 'number' && r.data && typeof r.data === 'object')
  const s = readJsonl(join(dir, 'samples.jsonl'))
  const lengthsPath = join(dir, 'data_lengths.json')
  let dataLengths: QuestionLengths | null = null
  if (existsSync(lengthsPath)) {
    try {
      dataLengths = parseQuestionLengths(JSON.parse(readFileSync(lengthsPath, 'utf8')))
    } catch {
      dataLengths = null
    }
  }
  return { name: basename(dir.replace(/\/+$/, '')), dir, exists: existsSync(dir), metrics, badLines: m.bad, samples: s.rows as Record<string, unknown>[], dataLengths }
}
