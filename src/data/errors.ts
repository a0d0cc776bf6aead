/** Where a record came from: enough to find it again in the source file. */
export interface Location {
  file: string
  /** 1-based line for line-oriented files (JSONL, CSV). */
  line?: number
  /** 0-based position for JSON arrays and Parquet rows. */
  index?: number
  /** The object key for JSON files keyed by id (e.g. PubMedQA's PMIDs). */
  key?: string
  /** The record's own id, when known. */
  id?: string
}

export function formatLocation(loc: Location): string {
  let s = loc.file
  if (loc.line !== undefined) s += `:${loc.line}`
  const parts: string[] = []
  if (loc.index !== undefined) parts.push(`record #${loc.index}`)
  if (loc.key !== undefined) parts.push(`key "${loc.key}"`)
  if (loc.id !== undefined && loc.id !== loc.key) parts.push(`id "${loc.id}"`)
  if (parts.length > 0) s += `: ${parts.join(', ')}`
  return s
}

/** A bad input record: the message names the file, the line or record, and the field. */
export class DataError extends Error {
  readonly loc: Location
  readonly field: string
  readonly reason: string

  constructor(loc: Location, field: string, reason: string) {
    super(`${formatLocation(loc)}: field "${field}": ${reason}`)
    this.name = 'DataError'
    this.loc = loc
    this.field = field
    this.reason = reason
  }
}
