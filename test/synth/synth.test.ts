import assert from 'node:assert/strict'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { readRecords } from '../../src/data/jsonl.js'
import { validateRecord } from '../../src/data/record.js'
import { deriveAnswer, makeQuestions } from '../../src/synth/questions.js'
import { FINDINGS, makeCorpus, makeWorld } from '../../src/synth/world.js'
import { atlasTask, readWarmup, warmupQuestions } from '../../src/synth/warmup.js'
import { formatWarmupTexts } from '../../src/synth/pretrain.js'
import { getReward } from '../../src/reward/rewards.js'
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

  it('the corpus states facts in varied wordings, a paragraph per disease, and holds no questions', () => {
    const w = makeWorld(0)
    const c = makeCorpus(w, 0)
    assert.equal(c.length, 8 * w.diseases.length)
    assert.ok(c.every((s) => !s.includes('?') && !/answer/i.test(s)))
    // A paragraph keeps to one disease (as a textbook does): it names one disease and only that one's drug.
    for (const p of c) {
      const named = w.diseases.filter((d) => p.includes(d.name))
      assert.equal(named.length, 1, p)
      assert.ok(w.diseases.every((d) => d === named[0] || !p.includes(d.treatment)), p)
    }
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
    assert.equal(readWarmup(join(out, 'warmup.jsonl')).length, 9000)
    assert.equal(readFileSync(join(out, 'corpus.txt'), 'utf8').trim().split('\n').length, 8 * 24)
  })
})

describe('the format warm-up (atlas reading and clinical side questions)', () => {
  it('is deterministic; each answer is the option its stated fact names, and the question states that fact', () => {
    assert.deepEqual(atlasTask(50, 7), atlasTask(50, 7))
    const qs = atlasTask(500, 1)
    for (const r of qs) {
      validateRecord(r, { file: 'atlas' })
      assert.ok(r.question.includes(r.meta.fact), r.id)
      const named = Object.entries(r.options).filter(([, t]) => r.meta.fact.includes(` ${t}.`))
      assert.deepEqual(named.map(([l]) => l), [r.answer], r.id)
    }
    // Answers spread over the letters (no letter prior to learn instead of the lookup).
    const counts = ['A', 'B', 'C', 'D'].map((l) => qs.filter((r) => r.answer === l).length)
    assert.ok(Math.min(...counts) > 90, String(counts))
  })

  it('never shows a finding or a treatment: atlas questions, and clinical side questions on organs and mechanisms only', () => {
    const w = makeWorld(0)
    const qs = warmupQuestions(w, 900, 0)
    assert.deepEqual(warmupQuestions(w, 900, 0), qs)
    const texts = formatWarmupTexts(qs, 'r1').join('\n')
    for (const seed of [0, 1, 2]) for (const d of makeWorld(seed).diseases) assert.ok(!texts.includes(d.treatment), d.treatment)
    const withoutNames = makeWorld(0).diseases.reduce((t, d) => t.replaceAll(d.name, ''), texts)
    for (const f of FINDINGS) assert.ok(!withoutNames.includes(` ${f}`), f)
    const side = qs.filter((r) => r.source === 'side')
    assert.ok(side.length === 450 && qs.length - side.length === 450)
    for (const r of side) {
      validateRecord(r, { file: 'warmup' })
      const d = w.diseases.find((x) => r.question.includes(x.name))!
      assert.ok(r.options[r.answer] === d.organ || r.options[r.answer] === d.mechanism, r.id)
      assert.ok(r.meta.fact.includes(r.options[r.answer]!) && r.meta.fact.startsWith(d.name), r.id)
    }
  })

  it('r1 texts: the instruction once, then exchanges ending in <think>fact</think><answer>option text</answer>, which the reward reads as the right letter', () => {
    const qs = atlasTask(3, 4)
    const [text] = formatWarmupTexts(qs, 'r1')
    assert.equal(text!.split('A conversation between User and Assistant').length, 2)
    for (const r of qs) {
      const answer = `<think>${r.meta.fact}</think><answer>${r.options[r.answer]}</answer>`
      assert.ok(text!.includes(`\nAssistant: ${answer}`), r.id)
      assert.equal(getReward('format_correct')(answer, r, { format: 'r1', completionPrefix: '' }).reward, 1, r.id)
    }
    assert.equal(text!.split('\nAssistant: <think>').length, 4)
  })
})

describe('medrl pretrain', () => {
  it('pretrains a small Llama on the corpus and warm-up that medrl synth wrote, in the Hugging Face layout', () => {
    const data = tempDir()
    assert.equal(runCli(['synth', '--seed', '1', '--warmup-questions', '60', '--out', data]).code, 0)
    const out = join(data, 'base')
    const r = runCli(['pretrain', '--corpus', join(data, 'corpus.txt'), '--warmup', join(data, 'warmup.jsonl'), '--out', out, '--steps', '4', '--hidden', '32', '--layers', '1', '--intermediate', '64', '--bpe-vocab', '300', '--seq-len', '64'])
    assert.equal(r.code, 0, r.stderr)
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'pretrain.json']) assert.ok(existsSync(join(out, f)), f)
    const p = JSON.parse(readFileSync(join(out, 'pretrain.json'), 'utf8'))
    assert.equal(p.config.steps, 4)
    assert.equal(p.warmup_texts, 20)
    assert.ok(p.loss_last < p.loss_first)
  })

  it('refuses a warm-up question without the fact its answer rests on, naming the line and field', () => {
    const data = tempDir()
    const q = atlasTask(2, 0)
    writeFileSync(join(data, 'w.jsonl'), `${JSON.stringify(q[0])}\n${JSON.stringify({ ...q[1], meta: {} })}\n`)
    writeFileSync(join(data, 'c.txt'), 'Some text.\n')
    const r = runCli(['pretrain', '--corpus', join(data, 'c.txt'), '--warmup', join(data, 'w.jsonl'), '--out', join(data, 'm'), '--steps', '1'])
    assert.notEqual(r.code, 0)
    assert.match(r.stderr, /w\.jsonl:2: .*field "meta\.fact": missing/)
  })
})
