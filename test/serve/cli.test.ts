import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ROOT, dataFile, runCli, tempDir } from '../helpers.js'
import { makeTinyModel } from '../model-helpers.js'

describe('medrl serve (the real command)', () => {
  it('starts on a free port, answers, and stops on SIGTERM', async () => {
    const dir = makeTinyModel({ seed: 2 })
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'medrl.js'), 'serve', '--model', dir, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] })
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = ''
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString()
          const m = /^(http:\/\/127\.0\.0\.1:\d+\/v1)$/m.exec(out)
          if (m) resolve(m[1]!)
        })
        child.once('exit', (code) => reject(new Error(`serve exited with ${code}`)))
      })
      const r = await fetch(`${url}/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'Hello', max_tokens: 3 }) })
      assert.equal(r.status, 200)
      const j = (await r.json()) as { choices: { text: string }[] }
      assert.equal(j.choices.length, 1)
    } finally {
      child.kill('SIGTERM')
    }
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    assert.equal(code, 0)
  })
})

describe('medrl generate', () => {
  it('writes n completions per question and resumes after an interruption without redoing finished items', () => {
    const model = makeTinyModel({ seed: 4 })
    const out = join(tempDir(), 'completions.jsonl')
    const args = ['generate', '--model', model, '--data', dataFile('medqa/medqa_input.jsonl'), '--template', 'r1', '-n', '2', '--max-new-tokens', '6', '--batch-size', '1', '--out', out]
    const first = runCli([...args, '--limit', '4'])
    assert.equal(first.code, 0, first.stderr)
    const lines1 = readFileSync(out, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l))
    assert.equal(lines1.length, 8)
    assert.deepEqual(Object.keys(lines1[0]), ['id', 'sample', 'output', 'finish_reason', 'completion_tokens'])
    // A crash mid-write leaves half a line: it is cut off and redone.
    appendFileSync(out, '{"id": "test-00004", "sam')
    const second = runCli([...args, '--limit', '7'])
    assert.equal(second.code, 0, second.stderr)
    assert.match(second.stderr, /resuming: 4 of 7 questions already done/)
    const lines2 = readFileSync(out, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l))
    assert.equal(lines2.length, 14)
    assert.deepEqual(lines2.slice(0, 8), lines1, 'finished items untouched')
    assert.deepEqual([...new Set(lines2.map((l) => l.id))], ['test-00000', 'test-00001', 'test-00002', 'test-00003', 'test-00004', 'test-00005', 'test-00006'])
    // The same run from scratch gives the same completions (seeded per question; batches of one, so float
    // sums never differ with the batch's shape).
    const fresh = join(tempDir(), 'c.jsonl')
    assert.equal(runCli([...args.slice(0, -1), fresh, '--limit', '7']).code, 0)
    assert.deepEqual(readFileSync(fresh, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l)), lines2)
    // Cut after sample 0 of the last question (its sample-1 line half-written): that question is redone whole.
    const cut = join(tempDir(), 'cut.jsonl')
    writeFileSync(cut, `${lines2.slice(0, 13).map((l) => JSON.stringify(l)).join('\n')}\n{"id": "test-00006", "sample": 1, "out`)
    const third = runCli([...args.slice(0, -1), cut, '--limit', '7'])
    assert.equal(third.code, 0, third.stderr)
    assert.match(third.stderr, /redoing 1 question\(s\) whose samples were cut off at the end/)
    assert.deepEqual(readFileSync(cut, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l)), lines2)
    // Fewer samples for every question is another -n: refused.
    const more = runCli([...args.slice(0, -1), fresh, '--limit', '7', '-n', '3'])
    assert.equal(more.code, 1)
    assert.match(more.stderr, /was -n changed\?/)
  })
})
