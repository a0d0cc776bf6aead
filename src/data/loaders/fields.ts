import { DataError, type Location } from '../errors.js'

/** Field readers for loaders: each throws a DataError naming the field when the value is not what the layout promises. */

export function asObject(v: unknown, loc: Location, field = '(record)'): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new DataError(loc, field, `expected an object, got ${describe(v)}`)
  return v as Record<string, unknown>
}

export function str(o: Record<string, unknown>, field: string, loc: Location): string {
  const v = o[field]
  if (typeof v !== 'string') throw new DataError(loc, field, v === undefined ? 'missing' : `expected a string, got ${describe(v)}`)
  return v
}

export function optStr(o: Record<string, unknown>, field: string, loc: Location): string | undefined {
  const v = o[field]
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'string') throw new DataError(loc, field, `expected a string, got ${describe(v)}`)
  return v
}

export function nonEmpty(s: string, field: string, loc: Location): string {
  if (s.trim() === '') throw new DataError(loc, field, 'is empty')
  return s
}

export function num(o: Record<string, unknown>, field: string, loc: Location): number {
  const v = o[field]
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new DataError(loc, field, v === undefined ? 'missing' : `expected a number, got ${describe(v)}`)
  return v
}

export function arr(o: Record<string, unknown>, field: string, loc: Location): unknown[] {
  const v = o[field]
  if (!Array.isArray(v)) throw new DataError(loc, field, v === undefined ? 'missing' : `expected a list, got ${describe(v)}`)
  return v
}

export function obj(o: Record<string, unknown>, field: string, loc: Location): Record<string, unknown> {
  const v = o[field]
  if (v === undefined) throw new DataError(loc, field, 'missing')
  return asObject(v, loc, field)
}

/** A list of option texts, each a non-empty string. */
export function stringList(o: Record<string, unknown>, field: string, loc: Location): string[] {
  return arr(o, field, loc).map((v, i) => {
    if (typeof v !== 'string') throw new DataError(loc, `${field}[${i}]`, `expected a string, got ${describe(v)}`)
    return v
  })
}

/** An options object {A: text, B: text…} with string values; letter checks happen in record validation. */
export function optionsObject(o: Record<string, unknown>, field: string, loc: Location): Record<string, string> {
  const src = obj(o, field, loc)
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(src)) {
    if (v === null || v === undefined) continue // Parquet structs carry absent letters as null
    if (typeof v !== 'string') throw new DataError(loc, `${field}.${k}`, `expected a string, got ${describe(v)}`)
    out[k.trim().toUpperCase()] = v.trim()
  }
  return out
}

/** The answer letter from a string or a one-element list (["B"]); several letters are refused, never guessed. */
export function answerLetter(v: unknown, field: string, loc: Location): string {
  if (Array.isArray(v)) {
    if (v.length !== 1) throw new DataError(loc, field, `expected exactly one answer letter, got ${v.length}: ${JSON.stringify(v)}`)
    v = v[0]
  }
  if (typeof v !== 'string') throw new DataError(loc, field, v === undefined ? 'missing' : `expected an answer letter, got ${describe(v)}`)
  const s = v.trim().toUpperCase()
  if (s === '') throw new DataError(loc, field, 'answer is empty')
  return s
}

export function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'a list'
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`
}

export function hasKeys(v: unknown, ...keys: string[]): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && keys.every((k) => k in (v as object))
}

/** Same text after case and white-space folding, for cross-checks between two fields of one record. */
export function sameText(a: string, b: string): boolean {
  const f = (s: string) => s.replace(/\s+/g, ' ').trim().toLowerCase()
  return f(a) === f(b)
}

/** The answer text, when a layout gives one, must be the text of the option the letter names. */
export function checkAnswerText(o: Record<string, unknown>, options: Record<string, string>, letter: string, loc: Location): void {
  const text = optStr(o, 'answer', loc)
  if (text !== undefined && options[letter] !== undefined && !sameText(text, options[letter])) {
    throw new DataError(loc, 'answer', `answer text ${JSON.stringify(text)} is not option ${letter} (${JSON.stringify(options[letter])})`)
  }
}
