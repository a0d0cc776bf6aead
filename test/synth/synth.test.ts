import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { readRecords } from '../../src/data/jsonl.js'
import { validateRecord } from '../../src/data/record.js'
import { deriveAnswer, makeQuestions } from '../../src/synth/questions.js'
import { makeCorpus, makeWorld } from '../../src/synth/world.js'
import { runCli, tempDir } from '../helpers.js'

describe('the fictional clinical world (medrl synth)', () => {
  it('is deterministic for a seed, and another seed gives another world', () => {
    assert.deepEqual(makeWorld(3), makeWorld(3))
    assert.deepEqual(makeCorpus(makeWorld(3), 3), makeCorpus(makeWorld(3), 3))
    assert.deepEqual(makeQuestions(makeWorld(3), 3), makeQuestions(makeWorld(3), 3))
    assert.notDeepEqual(makeWorld(3).diseases, makeWorld(4).diseases)
  })

  it('diseases overlap in findings on purpose, but no two share all three; names and drugs are unique', () => {
    const w = makeWorld(0)
    const keys = w.diseases.map((d) => [...d.findings].sort().join('|'))
    assert.equal(new Set(keys).size, w.diseases.length)
    assert.equal(new Set(w.diseases.map((d) => d.name)).size, w.diseases.length)
    assert.equal(new Set(w.diseases.map((d) => d.treatment)).size, w.diseases.length)
    const overlapping = w.diseases.filter((d) => w.diseases.some((e) => e !== d && e.findings.some((f) => d.findings.includes(f))))
    assert.ok(overlapping.length >= w.diseases.length * 0.8, 'most diseases share a finding with another')
  })

  it('the corpus states facts in varied wordings and holds no questions', () => {
    const c = makeCorpus(makeWorld(0), 0)
    assert.ok(c.every((s) => !s.includes('?') && !/answer/i.test(s)))
    assert.ok(c.some((s) => / most likely has /.test(s)) && c.some((s) => /first-line treatment of/.test(s)) && c.some((s) => /is treated first with/.test(s)))
  })

  it('questions are valid records whose answers an independent checker derives from the knowledge base', () => {
    for (const seed of [0, 1, 2]) {
      const w = makeWorld(seed)
      const q = makeQuestions(w, seed)
      for (const r of [...q.train, ...q.test]) {
        validateRecord(r, { file: 'synth' })
        assert.equal(deriveAnswer(w, r), r.answer, `${r.id}: ${r.question}`)
      }
    }
  })

  it('train and held-out test never share a question, and held-out diseases appear in no training vignette', () => {
    const q = makeQuestions(makeWorld(0), 0)
    const trainQ = new Set(q.train.map((r) => r.question))
    assert.ok(q.test.every((r) => !trainQ.has(r.question)))
    const heldOut = new Set(q.test.map((r) => r.meta.disease))
    assert.ok(q.train.filter((r) => r.meta.kind === 'two-hop').every((r) => !heldOut.has(r.meta.disease)))
    assert.ok(q.test.every((r) => r.meta.kind === 'two-hop' && r.meta.intermediate === r.meta.disease))
    assert.ok(q.train.filter((r) => r.meta.kind === 'one-hop').every((r) => r.meta.intermediate === undefined), 'recall questions name their disease: no intermediate')
    assert.deepEqual([...new Set(q.train.map((r) => r.source))].sort(), ['synth-recall', 'synth-short', 'synth-vignette'])
    const long = q.train.filter((r) => r.source === 'synth-vignette').map((r) => r.question.length)
    const short = q.train.filter((r) => r.source === 'synth-short').map((r) => r.question.length)
    assert.ok(Math.min(...long) > Math.max(...short), 'informative vignettes are longer than the bare ones')
  })

  it('CLI writes world, corpus, train and test', () => {
    const out = tempDir()
    const r = runCli(['synth', '--seed', '5', '--out', out])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(readRecords(join(out, 'train.jsonl')).length, 144)
    assert.equal(readRecords(join(out, 'test.jsonl')).length, 48)
    assert.equal(JSON.parse(readFileSync(join(out, 'world.json'), 'utf8')).diseases.length, 24)
    assert.ok(readFileSync(join(out, 'corpus.txt'), 'utf8').split('\n').length > 1000)
  })
})
