import { z } from 'zod'
import { DataError, type Location } from './errors.js'

/** Option letters medrl accepts, in order: up to ten options (MMLU-Pro, MedXpertQA). */
export const LETTERS = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J'] as const
export type Letter = (typeof LETTERS)[number]
export const MIN_OPTIONS = 2
export const MAX_OPTIONS = LETTERS.length

export function isLetter(s: unknown): s is Letter {
  return typeof s === 'string' && s.length === 1 && s >= 'A' && s <= 'J'
}

export function letterAt(i: number): Letter {
  const l = LETTERS[i]
  if (l === undefined) throw new RangeError(`no option letter for index ${i} (at most ${MAX_OPTIONS} options)`)
  return l
}

const optionsSchema = z.record(z.string(), z.string()).superRefine((opts, ctx) => {
  const keys = Object.keys(opts)
  if (keys.length < MIN_OPTIONS || keys.length > MAX_OPTIONS) {
    ctx.addIssue({ code: 'custom', message: `needs ${MIN_OPTIONS} to ${MAX_OPTIONS} options, got ${keys.length}` })
  }
  keys.forEach((k, i) => {
    if (k !== LETTERS[i]) {
      ctx.addIssue({ code: 'custom', path: [k], message: `option letters must run A, B, C… in order; found "${k}" at position ${i + 1}` })
    } else if (opts[k]!.trim() === '') {
      ctx.addIssue({ code: 'custom', path: [k], message: 'option text is empty' })
    }
  })
})

/** One multiple-choice question: the unit every part of medrl works on. Stored as JSONL, one a line. */
export const QARecordSchema = z
  .object({
    id: z.string().min(1, 'id is empty'),
    source: z.string().min(1, 'source is empty'),
    split: z.string().min(1, 'split is empty'),
    question: z.string().refine((s) => s.trim() !== '', 'question is empty'),
    context: z.string().optional(),
    options: optionsSchema,
    answer: z.string(),
    meta: z.record(z.string(), z.unknown()),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (!isLetter(r.answer)) {
      ctx.addIssue({ code: 'custom', path: ['answer'], message: `answer must be one letter A–J, got ${JSON.stringify(r.answer)}` })
    } else if (!(r.answer in r.options)) {
      const letters = Object.keys(r.options)
      ctx.addIssue({
        code: 'custom',
        path: ['answer'],
        message: `answer "${r.answer}" is not among the options ${letters[0] ?? ''}–${letters[letters.length - 1] ?? ''}`,
      })
    }
  })

export interface QARecord {
  id: string
  source: string
  split: string
  question: string
  context?: string
  /** Letter → option text, in letter order A, B, C… */
  options: Partial<Record<Letter, string>>
  answer: Letter
  meta: Record<string, unknown>
}

/**
 * Validates one record; throws a DataError naming the location and the first bad field.
 * Returns the record with its fields in canonical order.
 */
export function validateRecord(value: unknown, loc: Location): QARecord {
  const id = typeof value === 'object' && value !== null && typeof (value as { id?: unknown }).id === 'string' ? (value as { id: string }).id : undefined
  const at: Location = id !== undefined && loc.id === undefined ? { ...loc, id } : loc
  const parsed = QARecordSchema.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    const field = issue.path.length > 0 ? issue.path.join('.') : '(record)'
    throw new DataError(at, field, issue.message)
  }
  const r = parsed.data
  const out: QARecord = { id: r.id, source: r.source, split: r.split, question: r.question, options: r.options, answer: r.answer as Letter, meta: r.meta }
  if (r.context !== undefined) {
    const { meta, ...rest } = out
    return { ...rest, context: r.context, meta }
  }
  return out
}

/** The options as [letter, text] pairs in letter order. */
export function optionEntries(r: Pick<QARecord, 'options'>): [Letter, string][] {
  return Object.entries(r.options) as [Letter, string][]
}

/** Builds the options object from texts in order (A, B, C…). */
export function optionsFromList(texts: readonly string[]): Partial<Record<Letter, string>> {
  const o: Partial<Record<Letter, string>> = {}
  texts.forEach((t, i) => {
    o[letterAt(i)] = t
  })
  return o
}
