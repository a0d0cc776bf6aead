import { closeSync, openSync, readSync } from 'node:fs'

/** One line of a file: its 1-based number, its bytes (without the newline), and where it starts. */
export interface FileLine {
  line: number
  bytes: Buffer
  /** Byte offset of the line's start. */
  offset: number
  /** Whether a newline ended it (the last line of a file being written may not have one yet). */
  terminated: boolean
}

/**
 * The lines of a file, read in chunks: memory holds one chunk and one line, whatever the file's size (a whole
 * JSONL file read as one string cannot pass 512 MB in Node).
 */
export function* fileLines(path: string, chunkBytes = 1 << 20): Generator<FileLine> {
  const fd = openSync(path, 'r')
  try {
    const chunk = Buffer.alloc(chunkBytes)
    let pending: Buffer[] = []
    let pendingStart = 0
    let pos = 0
    let line = 0
    for (;;) {
      const n = readSync(fd, chunk, 0, chunkBytes, pos)
      if (n === 0) break
      let from = 0
      for (let i = chunk.indexOf(10, 0); i !== -1 && i < n; i = chunk.indexOf(10, i + 1)) {
        const piece = chunk.subarray(from, i)
        const bytes = pending.length > 0 ? Buffer.concat([...pending, piece]) : Buffer.from(piece)
        yield { line: ++line, bytes, offset: pending.length > 0 ? pendingStart : pos + from, terminated: true }
        pending = []
        from = i + 1
      }
      if (from < n) {
        if (pending.length === 0) pendingStart = pos + from
        pending.push(Buffer.from(chunk.subarray(from, n)))
      }
      pos += n
    }
    if (pending.length > 0) yield { line: ++line, bytes: Buffer.concat(pending), offset: pendingStart, terminated: false }
  } finally {
    closeSync(fd)
  }
}
