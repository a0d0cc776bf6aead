import assert from 'node:assert/strict'
import { closeSync, openSync, rmSync, statSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileLines } from '../../src/util/lines.js'
import { runCli, tempDir } from '../helpers.js'

/** A JSONL file of `records` real-layout records with a 100 KB context each, written in pieces. */
function writeLarge(path: string, records: number): void {
  const fd = openSync(path, 'w')
  const context = 'The abstract repeats its findings for length. '.repeat(2200) // ~101 KB
  for (let i = 0; i < records; i++) {
    const r = { id: `big-${i}`, source: 'synthetic', split: 'train', question: `Question ${i}: which option is right?`, context, options: { A: 'yes', B: 'no', C: 'maybe' }, answer: 'ABC'[i % 3], meta: {} }
    writeSync(fd, `${JSON.stringify(r)}\n`)
  }
  closeSync(fd)
}

describe('JSONL larger than 512 MB', () => {
  it('is read line by line: a 600 MB file streams with flat memory, and imports', () => {
    const dir = tempDir('medrl-big-')
    const big = join(dir, 'big.jsonl')
    writeLarge(big, 6000)
    const size = statSync(big).size
    assert.ok(size > 600e6, `${size} bytes`)
    const before = process.memoryUsage().rss
    let lines = 0
    let peak = before
    for (const l of fileLines(big)) {
      lines++
      if (lines % 500 === 0) peak = Math.max(peak, process.memoryUsage().rss)
      assert.ok(l.terminated)
    }
    assert.equal(lines, 6000)
    const growth = peak - before
    assert.ok(growth < 150e6, `memory grew by ${(growth / 1e6).toFixed(0)} MB reading ${(size / 1e6).toFixed(0)} MB`)
    // The whole pipeline entry: importing it works (read whole, it would exceed Node's largest string).
    const r = runCli(['data', 'import', big, '--out', join(dir, 'out.jsonl')])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /6000 records/)
    rmSync(dir, { recursive: true, force: true })
  })
})
