import { AtomicWriter } from '../util/atomic.js'
import { readJsonlRows } from './files.js'
import { validateRecord, type QARecord } from './record.js'

/** Writes records as JSONL, one a line, atomically (a temporary file renamed into place). */
export function writeRecords(path: string, records: Iterable<QARecord>): number {
  return writeJsonl(path, records)
}

/** Writes any values as JSONL atomically; returns the number of lines. */
export function writeJsonl(path: string, values: Iterable<unknown>): number {
  const w = new AtomicWriter(path)
  let n = 0
  try {
    let buf = ''
    for (const v of values) {
      buf += `${JSON.stringify(v)}\n`
      n++
      if (buf.length > 1 << 20) {
        w.write(buf)
        buf = ''
      }
    }
    w.write(buf)
    w.commit()
  } catch (e) {
    w.abort()
    throw e
  }
  return n
}

/** Reads medrl JSONL records, validating each; the first bad line throws an error naming the file, line and field. */
export function readRecords(path: string): QARecord[] {
  return readJsonlRows(path).map((row) => {
    if (row.error) throw row.error
    return validateRecord(row.value, row.loc)
  })
}
