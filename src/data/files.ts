import { closeSync, openSync, readFileSync } from 'node:fs'
import { extname } from 'node:path'
import { parse as parseCsv } from 'csv-parse/sync'
import { parquetMetadata, parquetReadObjects } from 'hyparquet'
import { DataError, type Location } from './errors.js'
import { fileLines, type FileLine } from '../util/lines.js'

export type FileKind = 'jsonl' | 'json' | 'csv' | 'parquet'

/** One raw row of a source file with where it came from, or the reason it could not be parsed. */
export type RawRow = { loc: Location; value: unknown; error?: undefined } | { loc: Location; value?: undefined; error: DataError }

export interface RawFile {
  path: string
  kind: FileKind
  /** A JSON file whose top level is an object (keyed rows) rather than an array. */
  keyed: boolean
  rows: RawRow[]
}

export function fileKindOf(path: string): FileKind {
  const ext = extname(path).toLowerCase()
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl'
  if (ext === '.json') return 'json'
  if (ext === '.csv') return 'csv'
  if (ext === '.parquet') return 'parquet'
  throw new DataError({ file: path }, '(file)', `unknown file type "${ext}": expected .jsonl, .json, .csv or .parquet`)
}

/** Reads any supported file into raw rows. Broken rows become error rows; the file as a whole must open. */
export async function readRawFile(path: string): Promise<RawFile> {
  const kind = fileKindOf(path)
  switch (kind) {
    case 'jsonl':
      return { path, kind, keyed: false, rows: readJsonlRows(path) }
    case 'json':
      return readJsonRows(path)
    case 'csv':
      return { path, kind, keyed: false, rows: readCsvRows(path) }
    case 'parquet':
      return { path, kind, keyed: false, rows: await readParquetRows(path) }
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * The text of a UTF-8 file. Bytes that are no UTF-8 character are an error naming the file and line, never
 * silently replaced (a replaced character would change a question or an option without a word).
 */
export function decodeUtf8(buf: Uint8Array, path: string): string {
  try {
    return strictUtf8.decode(buf)
  } catch {
    let line = 1
    let start = 0
    for (let i = 0; i <= buf.length; i++) {
      if (i === buf.length || buf[i] === 0x0a) {
        try {
          strictUtf8.decode(buf.subarray(start, i))
        } catch {
          break
        }
        line++
        start = i + 1
      }
    }
    throw new DataError({ file: path, line }, '(file)', 'not valid UTF-8 (bytes that are no character): re-encode the file as UTF-8')
  }
}

function readText(path: string): string {
  let buf: Buffer
  try {
    buf = readFileSync(path)
  } catch (e) {
    throw new DataError({ file: path }, '(file)', `cannot read: ${(e as Error).message}`)
  }
  return decodeUtf8(buf, path)
}

/** JSON Lines: one value a line; blank lines are skipped; a broken line is an error row naming its line. Read line by line. */
export function readJsonlRows(path: string): RawRow[] {
  const rows: RawRow[] = []
  try {
    closeSync(openSync(path, 'r'))
  } catch (e) {
    throw new DataError({ file: path }, '(file)', `cannot read: ${(e as Error).message}`)
  }
  for (const l of fileLines(path)) {
    const raw = decodeLine(l, path).replace(/\r$/, '')
    if (raw.trim() === '') continue
    const loc: Location = { file: path, line: l.line }
    try {
      rows.push({ loc, value: JSON.parse(raw) })
    } catch (e) {
      rows.push({ loc, error: new DataError(loc, '(json)', `not valid JSON: ${(e as Error).message.split('\n')[0]}`) })
    }
  }
  return rows
}

/** A line's text; bytes that are no UTF-8 character are an error naming the file and line. */
export function decodeLine(l: FileLine, path: string): string {
  try {
    return strictUtf8.decode(l.bytes)
  } catch {
    throw new DataError({ file: path, line: l.line }, '(file)', 'not valid UTF-8 (bytes that are no character): re-encode the file as UTF-8')
  }
}

/** Line and column of a character offset, for pointing into a broken JSON file. */
function lineColumnAt(text: string, pos: number): { line: number; column: number } {
  let line = 1
  let lineStart = 0
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++
      lineStart = i + 1
    }
  }
  return { line, column: pos - lineStart + 1 }
}

function readJsonRows(path: string): RawFile {
  const text = readText(path)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0] ?? ''
    const m = /position (\d+)/.exec(msg)
    const loc: Location = { file: path }
    if (m) {
      const { line, column } = lineColumnAt(text, Number(m[1]))
      throw new DataError({ ...loc, line }, '(json)', `not valid JSON at column ${column}: ${msg}`)
    }
    throw new DataError(loc, '(json)', `not valid JSON: ${msg}`)
  }
  if (Array.isArray(value)) {
    return { path, kind: 'json', keyed: false, rows: value.map((v, index) => ({ loc: { file: path, index }, value: v })) }
  }
  if (typeof value === 'object' && value !== null) {
    return {
      path,
      kind: 'json',
      keyed: true,
      rows: Object.entries(value).map(([key, v], index) => ({ loc: { file: path, index, key }, value: v })),
    }
  }
  throw new DataError({ file: path }, '(json)', 'top level must be an array of records or an object keyed by id')
}

/** CSV with a header row; each row's location is the line it starts on (fields may span lines). */
function readCsvRows(path: string): RawRow[] {
  const text = readText(path)
  let parsed: { record: Record<string, string>; info: { lines: number } }[]
  try {
    parsed = parseCsv(text, { columns: true, info: true, skip_empty_lines: true, bom: true, relax_column_count: false })
  } catch (e) {
    const err = e as Error & { lines?: number }
    throw new DataError({ file: path, line: err.lines }, '(csv)', err.message)
  }
  const rows: RawRow[] = []
  let prevEnd = 1 // the header line
  for (const { record, info } of parsed) {
    rows.push({ loc: { file: path, line: prevEnd + 1 }, value: record })
    prevEnd = info.lines
  }
  return rows
}

/** Parquet rows as plain objects (INT64 becomes a number where it fits exactly). */
async function readParquetRows(path: string): Promise<RawRow[]> {
  const buf = readFileSync(path)
  const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer
  let objects: Record<string, unknown>[]
  try {
    parquetMetadata(file)
    objects = (await parquetReadObjects({ file })) as Record<string, unknown>[]
  } catch (e) {
    throw new DataError({ file: path }, '(parquet)', `not a readable Parquet file: ${(e as Error).message}`)
  }
  return objects.map((v, index) => ({ loc: { file: path, index }, value: unBigInt(v) }))
}

function unBigInt(v: unknown): unknown {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()
  if (Array.isArray(v)) return v.map(unBigInt)
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array) && !(v instanceof Date)) {
    const o: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) o[k] = unBigInt(x)
    return o
  }
  return v
}
