import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { importFile } from '../../src/data/import.js'
import { computeStats } from '../../src/data/stats.js'
import { writeVerlParquet } from '../../src/data/verl-parquet.js'
import { dataFile, runCli, tempDir } from '../helpers.js'

/** Width and height from a PNG's IHDR chunk, after checking the signature. */
function pngSize(buf: Buffer): { width: number; height: number } {
  assert.deepEqual([...buf.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10], 'PNG signature')
  assert.equal(buf.subarray(12, 16).toString('latin1'), 'IHDR')
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) }
}

describe('stats', () => {
  it('counts, option and answer distributions, lengths on real MedQA (5 options)', async () => {
    const r = (await importFile(dataFile('medqa/medqa_test.jsonl'))).records
    const s = computeStats(r)
    assert.equal(s.total.count, 1273)
    assert.deepEqual(s.total.options_per_question, { 5: 1273 })
    assert.equal(Object.values(s.total.answer_letters).reduce((a, b) => a + b, 0), 1273)
    const lens = r.map((x) => x.question.length).sort((a, b) => a - b)
    assert.equal(s.total.question_chars.min, lens[0])
    assert.equal(s.total.question_chars.max, lens[lens.length - 1])
    assert.ok(s.total.question_chars.median > 500, 'USMLE vignettes are long')
    assert.deepEqual(Object.keys(s.by_source), ['medqa'])
  })

  it('CLI: JSON output and a PNG chart with an SVG beside it', () => {
    const dir = tempDir()
    const r = runCli(['data', 'stats', dataFile('medqa/medqa_input.jsonl'), dataFile('pubmedqa/ori_pqal.json'), '--out', join(dir, 's.json'), '--chart', join(dir, 'c.png')])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /pubmedqa\s+1000\s+test:500 train:500\s+3:1000/)
    const s = JSON.parse(readFileSync(join(dir, 's.json'), 'utf8'))
    assert.equal(s.total.count, 2273)
    assert.equal(s.by_source.pubmedqa.with_context, 1000)
    const { width, height } = pngSize(readFileSync(join(dir, 'c.png')))
    assert.ok(width > 400 && height > 400, `${width}x${height}`)
    assert.match(readFileSync(join(dir, 'c.svg'), 'utf8'), /<svg[^>]*>[\s\S]*Questions by source and split/)
  })
})

describe('verl Parquet', () => {
  it('reads the real MedMCQA verl file: ground-truth text mapped to its letter', async () => {
    const r = await importFile(dataFile('medmcqa/medmcqa.parquet'))
    const first = r.records[0]!
    assert.equal(first.answer, 'B')
    assert.equal(first.options.B, 'Endometrium')
    assert.equal(first.split, 'train')
    assert.match(String((first.meta.verl as { prompt: string }).prompt), /<think>$/)
    // Three rows name an answer text that two identical options share: recorded, not guessed silently.
    const eq = r.records.filter((x) => x.meta.equivalent_answers !== undefined)
    assert.equal(eq.length, 3)
    assert.equal(r.files[0]!.notes.length, 3)
  })

  it('round trip: records → verl Parquet → records is lossless', async () => {
    const dir = tempDir()
    const src = [...(await importFile(dataFile('pubmedqa/ori_pqal.json'))).records.slice(0, 50), ...(await importFile(dataFile('mmlu_pro/health_result.json'))).records.slice(0, 50)]
    const path = join(dir, 'rt.parquet')
    writeVerlParquet(path, src)
    const back = (await importFile(path)).records
    assert.deepEqual(back, src)
  })

  it('CLI: import the real verl file, write Parquet, read it back with the same counts', () => {
    const dir = tempDir()
    const out = join(dir, 'm.parquet')
    const r = runCli(['data', 'import', dataFile('medmcqa/medmcqa.parquet'), '--out', out])
    assert.equal(r.code, 0, r.stderr)
    const back = runCli(['data', 'import', out, '--out', join(dir, 'm.jsonl')])
    assert.equal(back.code, 0, back.stderr)
    assert.match(back.stderr, /4412 records \(format verl, source medmcqa, split train\)/)
  })
})
