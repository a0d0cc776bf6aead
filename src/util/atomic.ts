import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs'
import { dirname, basename, join } from 'node:path'

/** A temporary path beside `path`, so the final rename stays on one filesystem (and so is atomic). */
function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Date.now().toString(36)}`)
}

/** Writes the whole file to a temporary path, then renames it over `path`: readers see old or new, never half. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const w = new AtomicWriter(path)
  try {
    w.write(data)
    w.commit()
  } catch (e) {
    w.abort()
    throw e
  }
}

/** Streams many chunks into a temporary file and only makes it visible at `commit()`. */
export class AtomicWriter {
  readonly path: string
  private readonly temp: string
  private fd: number | null

  constructor(path: string) {
    this.path = path
    mkdirSync(dirname(path) || '.', { recursive: true })
    this.temp = tempPathFor(path)
    this.fd = openSync(this.temp, 'w')
  }

  write(data: string | Uint8Array): void {
    if (this.fd === null) throw new Error(`write after close: ${this.path}`)
    if (typeof data === 'string') writeSync(this.fd, data)
    else {
      let off = 0
      while (off < data.length) off += writeSync(this.fd, data, off)
    }
  }

  commit(): void {
    if (this.fd === null) throw new Error(`commit after close: ${this.path}`)
    fsyncSync(this.fd)
    closeSync(this.fd)
    this.fd = null
    renameSync(this.temp, this.path)
  }

  abort(): void {
    if (this.fd !== null) closeSync(this.fd)
    this.fd = null
    rmSync(this.temp, { force: true })
  }
}
