import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { importFile } from '../../src/data/import.js'
import { dedupeRecords } from '../../src/data/dedupe.js'
import { findContamination } from '../../src/data/decontaminate.js'
import type { QARecord } from '../../src/data/record.js'
import { dataFile, runCli, tempDir } from '../helpers.js'

describe('deduplication', () => {
  it("finds GPQA-Med's five copies of each of its 78 questions", async () => {
    const r = (await importFile(dataFile('gpqa/GPQA_Medical_test.json'))).records
    const d = dedupeRecords(r)
    assert.equal(d.records.length, 78)
    assert.equal(d.removed, 312)
    assert.equal(d.groups.length, 78)
    assert.ok(d.groups.every((g) => g.dropped.length === 4 && g.answersAgree))
  })

  it('ignores option order, case and punctuation; keeps the first; flags disagreeing answers', () => {
    const base: QARecord = { id: 'a', source: 's', split: 'test', question: 'What is X?', options: { A: 'one', B: 'two' }, answer: 'A', meta: {} }
    const reordered: QARecord = { ...base, id: 'b', question: 'what is x', options: { A: 'Two', B: 'One.' }, answer: 'B' }
    const conflicting: QARecord = { ...base, id: 'c', answer: 'B' }
    const other: QARecord = { ...base, id: 'd', question: 'What is Y?' }
    const d = dedupeRecords([base, reordered, conflicting, other])
    assert.deepEqual(d.records.map((r) => r.id), ['a', 'd'])
    assert.deepEqual(d.groups, [{ kept: 'a', dropped: ['b', 'c'], answersAgree: false }])
  })

  it('CLI: medrl data dedupe writes the unique records and a report', () => {
    const dir = tempDir()
    const r = runCli(['data', 'dedupe', dataFile('gpqa/GPQA_Medical_test.json'), '--out', join(dir, 'u.jsonl'), '--report', join(dir, 'd.json')])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /removed 312 duplicate\(s\) in 78 group\(s\)/)
    assert.equal(readFileSync(join(dir, 'u.jsonl'), 'utf8').trimEnd().split('\n').length, 78)
    assert.equal(JSON.parse(readFileSync(join(dir, 'd.json'), 'utf8')).groups.length, 78)
  })
})

describe('decontamination', () => {
  it('finds every PubMedQA train question inside the 1,000-question HuatuoGPT test file (abstract + question)', async () => {
    const pqal = (await importFile(dataFile('pubmedqa/ori_pqal.json'))).records
    const train = pqal.filter((r) => r.split === 'train')
    const test = pqal.filter((r) => r.split === 'test')
    const huatuo1000 = (await importFile(dataFile('pubmedqa/PubMedQA_test.json'))).records
    const r = findContamination(train, huatuo1000)
    assert.equal(r.hits.length, 500)
    assert.equal(r.clean.length, 0)
    // The HuatuoGPT copy drops PQA-L's section labels (OBJECTIVE:, METHODS:…), so n-grams across them differ.
    assert.ok(r.hits.every((h) => h.kind === 'ngram' && h.overlap > 0.25))
    const sorted = r.hits.map((h) => h.overlap).sort((a, b) => a - b)
    assert.ok(sorted[250]! > 0.7, `median overlap ${sorted[250]}`)
    // Against the official 500-question test split, the train part is clean.
    const official = findContamination(train, test)
    assert.equal(official.hits.length, 0)
    assert.equal(official.clean.length, 500)
  })

  it('exact matches across layouts (MedQA 5-option original vs the 4-option eval input)', async () => {
    const five = (await importFile(dataFile('medqa/medqa_test.jsonl'))).records
    const four = (await importFile(dataFile('medqa/medqa_input.jsonl'))).records
    const r = findContamination(five.slice(0, 200), four)
    assert.equal(r.hits.length, 200)
    assert.ok(r.hits.filter((h) => h.kind === 'exact').length >= 190)
  })

  it('unrelated sets do not overlap (MedQA vs MedMCQA, 13-grams)', async () => {
    const medqa = (await importFile(dataFile('medqa/medqa_input.jsonl'))).records
    const medmcqa = (await importFile(dataFile('medmcqa/medmcqa_input.jsonl'))).records
    const r = findContamination(medmcqa, medqa)
    assert.ok(r.hits.length <= 5, `${r.hits.length} hits`)
  })

  it('CLI: reports the overlap and drops flagged questions on request', () => {
    const dir = tempDir()
    const report = join(dir, 'hits.jsonl')
    const out = join(dir, 'clean.jsonl')
    const r = runCli(['data', 'decontaminate', '--train', dataFile('pubmedqa/ori_pqal.json'), '--eval', dataFile('pubmedqa/PubMedQA_test.json'), '--report', report, '--drop', '--out', out])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /1000 of 1000 training questions overlap the 1000 evaluation questions/)
    assert.equal(readFileSync(report, 'utf8').trimEnd().split('\n').length, 1000)
    assert.equal(readFileSync(out, 'utf8'), '')
    const refuse = runCli(['data', 'decontaminate', '--train', dataFile('pubmedqa/ori_pqal.json'), '--eval', dataFile('pubmedqa/PubMedQA_test.json'), '--out', out])
    assert.equal(refuse.code, 1)
    assert.match(refuse.stderr, /add --drop/)
  })
})
