import { closeSync, existsSync, fsyncSync, openSync, readFileSync, truncateSync, writeSync } from 'node:fs'
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
      const text = readFileSync(path, 'utf8')
      let good = 0
      let start = 0
      while (start < text.length) {
        const end = text.indexOf('\n', start)
        if (end === -1) break // no newline: the last line was never finished
        const line = text.slice(start, end)
        if (line.trim() !== '') {
          try {
            this.rows.push(JSON.parse(line) as T)
          } catch {
            break // a corrupt line: keep what came before it
          }
        }
        start = end + 1
        good = Buffer.byteLength(text.slice(0, start))
      }
      if (good < Buffer.byteLength(text)) truncateSync(path, good)
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
