import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { readRecords } from '../../src/data/jsonl.js'
import { validateRecord } from '../../src/data/record.js'
import { loadModel } from '../../src/model/files.js'
import { getTemplate } from '../../src/reward/templates.js'
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

  it('warm-up questions are one-hop (recall of a drug, diagnosis from findings), answered by a reasoning that never composes the two', () => {
    const w = makeWorld(0)
    const q = makeQuestions(w, 0, 6, 400, 0)
    assert.equal(q.warmup.length, 400)
    const byName = new Map(w.diseases.map((d) => [d.name, d]))
    const trainQ = new Set([...q.train, ...q.test].map((r) => r.question))
    for (const r of q.warmup) {
      validateRecord(r, { file: 'warmup' })
      assert.equal(deriveAnswer(w, r), r.answer, `${r.id}: ${r.question}`)
      const d = byName.get(String(r.meta.disease))!
      const rationale = String(r.meta.rationale)
      assert.ok(rationale.includes(r.options[r.answer]!), `${r.id}: the rationale names the answer`)
      const facts = new Set([
        `${d.name} affects the ${d.organ}.`,
        `${d.name} is a ${d.mechanism} disorder.`,
        `The first-line treatment of ${d.name} is ${d.treatment}.`,
        ...[0, 1, 2].flatMap((a) => [0, 1, 2].filter((b) => b !== a).map((b) => `${d.name} presents with ${d.findings[a]}, ${d.findings[b]} and ${d.findings[3 - a - b]}.`)),
      ])
      const sentences = rationale.split(/(?<=\.) /)
      assert.ok(sentences.length <= 2, rationale)
      if (r.meta.kind === 'one-hop') {
        assert.ok(rationale.endsWith(`The first-line treatment of ${d.name} is ${d.treatment}.`))
        if (sentences.length === 2) assert.ok(facts.has(sentences[0]!) && !sentences[0]!.includes(d.treatment), `an aside: ${rationale}`)
      } else {
        assert.equal(r.meta.kind, 'diagnosis')
        const m = /^A patient with (.+) most likely has (.+?)\./.exec(rationale)
        assert.ok(m && m[2] === d.name && r.question.toLowerCase().includes(m[1]!) && d.findings.every((f) => m[1]!.includes(f)), rationale)
        if (sentences.length === 2) assert.ok(facts.has(sentences[1]!), `an aside: ${rationale}`)
        assert.ok(Object.values(r.options).every((o) => byName.has(o)) && !/treatment/i.test(r.question), 'a diagnosis asks for a disease, never a drug')
      }
    }
    assert.ok(q.warmup.every((r) => !trainQ.has(r.question) || r.meta.kind === 'one-hop'), 'only recall wordings are shared with the training questions')
    assert.deepEqual(new Set(q.warmup.map((r) => r.meta.kind)), new Set(['one-hop', 'diagnosis']))
    assert.ok(new Set(q.warmup.map((r) => r.question)).size > 100, 'varied wordings')
  })

  it('a terse share of the warm-up answers "The answer is X." over the same questions', () => {
    const w = makeWorld(0)
    const full = makeQuestions(w, 0, 6, 1000, 0)
    const terse = makeQuestions(w, 0, 6, 1000, 0.6)
    assert.deepEqual(terse.train, full.train)
    assert.deepEqual(terse.test, full.test)
    let n = 0
    terse.warmup.forEach((r, i) => {
      const f = full.warmup[i]!
      assert.deepEqual({ ...r, meta: { ...r.meta, rationale: null } }, { ...f, meta: { ...f.meta, rationale: null } }, 'the same question, options and answer')
      if (r.meta.rationale === f.meta.rationale) return
      assert.equal(r.meta.rationale, `The answer is ${r.options[r.answer]}.`)
      n++
    })
    assert.ok(n > 540 && n < 660, `about 60% terse: ${n}`)
    for (const kind of ['one-hop', 'diagnosis']) {
      const ofKind = terse.warmup.filter((r) => r.meta.kind === kind)
      const share = ofKind.filter((r) => String(r.meta.rationale).startsWith('The answer is')).length / ofKind.length
      assert.ok(share > 0.5 && share < 0.7, `${kind}: ${share}`)
    }
  })

  it('CLI writes world, corpus, train and test', () => {
    const out = tempDir()
    const r = runCli(['synth', '--seed', '5', '--out', out])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(readRecords(join(out, 'train.jsonl')).length, 144)
    assert.equal(readRecords(join(out, 'test.jsonl')).length, 48)
    assert.equal(readRecords(join(out, 'warmup.jsonl')).length, 6000)
    assert.equal(JSON.parse(readFileSync(join(out, 'world.json'), 'utf8')).diseases.length, 24)
    assert.ok(readFileSync(join(out, 'corpus.txt'), 'utf8').split('\n').length > 1000)
  })

  it('medrl pretrain trains a base on the corpus and the warm-up questions, in the Hugging Face layout; a bad warm-up line is named', async () => {
    const data = tempDir()
    assert.equal(runCli(['synth', '--seed', '1', '--warmup-questions', '50', '--out', data]).code, 0)
    const out = join(tempDir(), 'base')
    const args = ['pretrain', '--corpus', join(data, 'corpus.txt'), '--warmup', join(data, 'warmup.jsonl'), '--out', out, '--hidden', '32', '--layers', '1', '--heads', '2', '--kv-heads', '1', '--intermediate', '64', '--steps', '4', '--batch-size', '2', '--seq-len', '32', '--template', 'r1-text']
    const r = runCli(args)
    assert.equal(r.code, 0, r.stderr)
    const m = loadModel(out)
    assert.equal(m.config.hidden_size, 32)
    assert.equal(JSON.parse(readFileSync(join(out, 'pretrain.json'), 'utf8')).config.template, 'r1-text')
    // The tokenizer was trained on the warm-up too: its instruction wording is in the vocabulary.
    const before = m.tokenizer!.encode(getTemplate('r1-text').instruction).length
    assert.ok(before < getTemplate('r1-text').instruction.length / 2, `${before} tokens`)
    writeFileSync(join(data, 'bad.jsonl'), `${readFileSync(join(data, 'warmup.jsonl'), 'utf8').split('\n')[0]}\n{"id": "x", "question": "q"}\n`)
    const bad = runCli(args.map((a) => (a.endsWith('warmup.jsonl') ? join(data, 'bad.jsonl') : a)))
    assert.notEqual(bad.code, 0)
    assert.match(bad.stderr, /bad\.jsonl:2/)
  })
})
