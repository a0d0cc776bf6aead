import { closeSync, existsSync, fsyncSync, openSync, statSync, truncateSync, writeSync } from 'node:fs'
import { fileLines } from './lines.js'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'

/**
 * An append-only JSONL log for long runs that must resume: every batch of lines is appended and synced;
 * on reopening, a half-written last line (a crash mid-write) is cut off, so nothing after it is lost.
 */
export class JsonlLog<T> {
  readonly path: string
  readonly rows: T[]
  private fd: number

  constructor(path: string) {
    this.path = path
    mkdirSync(dirname(path) || '.', { recursive: true })
    this.rows = []
    if (existsSync(path)) {
      // Read line by line (any size); keep lines up to the first unfinished or corrupt one, cut the rest.
      let good = 0
      for (const l of fileLines(path)) {
        if (!l.terminated) break // no newline: the last line was never finished
        const line = l.bytes.toString('utf8')
        if (line.trim() !== '') {
          try {
            this.rows.push(JSON.parse(line) as T)
          } catch {
            break // a corrupt line: keep what came before it
          }
        }
        good = l.offset + l.bytes.length + 1
      }
      if (good < statSync(path).size) truncateSync(path, good)
    }
    this.fd = openSync(path, 'a')
  }

  append(rows: readonly T[]): void {
    if (rows.length === 0) return
    writeSync(this.fd, rows.map((r) => `${JSON.stringify(r)}\n`).join(''))
    fsyncSync(this.fd)
    this.rows.push(...rows)
  }

  close(): void {
    closeSync(this.fd)
  }
}
