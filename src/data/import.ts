import { DataError, formatLocation } from './errors.js'
import { readRawFile } from './files.js'
import { validateRecord, type QARecord } from './record.js'
import { detectLoader, getLoader } from './loaders/registry.js'
import { sourceFromPath, splitFromPath, usualSplit, fileStem } from './loaders/naming.js'
import type { ImportOptions, LoaderContext } from './loaders/types.js'

export interface SkippedRecord {
  location: string
  field: string
  reason: string
  message: string
}

/** What happened to one input file. */
export interface FileReport {
  file: string
  format: string
  source: string
  split: string
  rows: number
  imported: number
  filtered: number
  filteredReasons: Record<string, number>
  skipped: SkippedRecord[]
  notes: string[]
}

export interface ImportResult {
  records: QARecord[]
  files: FileReport[]
}

/**
 * Reads one file in any known layout into validated records. Without `skipInvalid` the first bad record
 * throws a DataError; with it, every bad record is reported in `skipped` and the rest are kept.
 */
export async function importFile(path: string, opts: ImportOptions = {}): Promise<ImportResult> {
  const file = await readRawFile(path)
  const loader = opts.format !== undefined ? getLoader(opts.format) : detectLoader(file)
  const source = opts.source ?? sourceFromPath(path) ?? loader.defaultSource ?? fileStem(path).toLowerCase()
  const split = opts.split ?? splitFromPath(path) ?? loader.defaultSplit ?? usualSplit(source)
  const ctx: LoaderContext = { file, opts, source, split, notes: [] }
  await loader.prepare?.(ctx)
  const report: FileReport = { file: path, format: loader.name, source, split, rows: file.rows.length, imported: 0, filtered: 0, filteredReasons: {}, skipped: [], notes: ctx.notes }
  const records: QARecord[] = []
  const seen = new Map<string, string>()
  const fail = (e: DataError): void => {
    if (!opts.skipInvalid) throw e
    report.skipped.push({ location: formatLocation(e.loc), field: e.field, reason: e.reason, message: e.message })
  }
  for (const row of file.rows) {
    if (row.error) {
      fail(row.error)
      continue
    }
    try {
      const out = loader.convert(row.value, row.loc, ctx)
      if ('filtered' in out) {
        report.filtered++
        report.filteredReasons[out.filtered] = (report.filteredReasons[out.filtered] ?? 0) + 1
        continue
      }
      const draft = loader.name === 'medrl' ? out : { ...out, source: opts.source ?? out.source ?? source, split: opts.split ?? out.split ?? split }
      const record = validateRecord(draft, { ...row.loc, id: out.id })
      const where = formatLocation(row.loc)
      const prev = seen.get(record.id)
      if (prev !== undefined) throw new DataError({ ...row.loc, id: record.id }, 'id', `duplicate id (first seen at ${prev})`)
      seen.set(record.id, where)
      records.push(record)
      report.imported++
    } catch (e) {
      if (e instanceof DataError) fail(withRowId(e, row.value))
      else throw e
    }
  }
  // Rows can carry their own source and split (verl's data_source, PQA-L's test/train): report what was written.
  if (records.length > 0) {
    report.source = [...new Set(records.map((r) => r.source))].sort().join(',')
    report.split = [...new Set(records.map((r) => r.split))].sort().join(',')
  }
  return { records, files: [report] }
}

/** Adds the row's own id to an error's location when the loader did not know it yet. */
function withRowId(e: DataError, value: unknown): DataError {
  const id = typeof value === 'object' && value !== null ? (value as { id?: unknown }).id : undefined
  if (e.loc.id !== undefined || (typeof id !== 'string' && typeof id !== 'number')) return e
  return new DataError({ ...e.loc, id: String(id) }, e.field, e.reason)
}

/** Imports several files into one list (ids are unique within each file; see `checkUniqueIds` across files). */
export async function importFiles(paths: readonly string[], opts: ImportOptions = {}): Promise<ImportResult> {
  const all: ImportResult = { records: [], files: [] }
  for (const p of paths) {
    const r = await importFile(p, opts)
    all.records.push(...r.records)
    all.files.push(...r.files)
  }
  return all
}

/**
 * Throws when two records share an id (e.g. the same benchmark imported from two files), since every later
 * stage keys results by id. Deduplicating first removes copies of the same question.
 */
export function checkUniqueIds(records: readonly QARecord[]): void {
  const seen = new Map<string, QARecord>()
  for (const r of records) {
    const prev = seen.get(r.id)
    if (prev !== undefined) {
      throw new DataError({ file: `${r.source}/${r.split}`, id: r.id }, 'id', `two records share this id (also in ${prev.source}/${prev.split}); use --dedupe if they are the same question, or import the files separately`)
    }
    seen.set(r.id, r)
  }
}
