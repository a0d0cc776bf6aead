import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { importFile } from '../../src/data/import.js'
import { readRecords } from '../../src/data/jsonl.js'
import { validateRecord } from '../../src/data/record.js'
import { REAL_FILES, dataFile, runCli, tempDir } from '../helpers.js'

describe('every real data file imports with its documented count (library)', () => {
  for (const f of REAL_FILES) {
    it(f.file, async () => {
      const r = await importFile(dataFile(f.file))
      assert.equal(r.records.length, f.count)
      assert.equal(r.files[0]!.format, f.format)
      assert.equal(r.files[0]!.skipped.length, 0)
      assert.ok(r.records.every((x) => x.source === f.source), `source ${f.source}`)
      assert.equal(new Set(r.records.map((x) => x.id)).size, f.count, 'ids unique')
      // Every record passes the schema again after a JSON round trip.
      for (const rec of r.records) validateRecord(JSON.parse(JSON.stringify(rec)), { file: f.file })
    })
  }
})

describe('every real data file imports with its documented count (CLI)', () => {
  const dir = tempDir()
  for (const f of REAL_FILES) {
    it(f.file, () => {
      const out = join(dir, f.file.replace(/\W/g, '_') + '.jsonl')
      const r = runCli(['data', 'import', dataFile(f.file), '--out', out])
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stderr, new RegExp(`${f.count} records \\(format ${f.format}`))
      const lines = readFileSync(out, 'utf8').trimEnd().split('\n')
      assert.equal(lines.length, f.count)
      assert.equal(readRecords(out).length, f.count)
    })
  }
})

describe('layout details on the real files', () => {
  it('MedXpertQA-eval options parsed from the text equal the HuatuoGPT-o1 copies (MedQA and MedMCQA)', async () => {
    for (const [a, b] of [
      ['medqa/medqa_input.jsonl', 'medqa/MedQA_USLME_test.json'],
      ['medmcqa/medmcqa_input.jsonl', 'medmcqa/MedMCQA_validation.json'],
    ] as const) {
      const ra = (await importFile(dataFile(a))).records
      const rb = (await importFile(dataFile(b))).records
      assert.equal(ra.length, rb.length)
      ra.forEach((r, i) => assert.deepEqual(r.options, rb[i]!.options, `${a} record ${i}`))
      const answerDiffs = ra.filter((r, i) => r.answer !== rb[i]!.answer).map((r) => r.id)
      // The two publishers disagree on exactly one MedMCQA label (glomerular capillaries: A vs D).
      assert.deepEqual(answerDiffs, a.startsWith('medmcqa') ? ['b944ada9-d776-4c2a-9180-3ae5f393f72d'] : [])
    }
  })

  it('parses options that cite other letters ("Both (A) & (C)") as text', async () => {
    const r = (await importFile(dataFile('medmcqa/medmcqa_input.jsonl'))).records.find((x) => x.id === 'e3bdd685-6159-4e8e-b379-1f3151942411')!
    assert.deepEqual(r.options, { A: 'Commissure of Ganser', B: 'Commissure of Gudden', C: 'Corpus callosum', D: 'Both (A) & (C)' })
    assert.equal(r.answer, 'C')
    assert.equal(r.question, 'The largest commissure of the brain:')
    assert.equal(r.meta.subject, 'Anatomy')
  })

  it('MedQA original: 5 options, step recorded in meta', async () => {
    const r = (await importFile(dataFile('medqa/medqa_test.jsonl'))).records
    assert.ok(r.every((x) => Object.keys(x.options).join('') === 'ABCDE'))
    assert.equal(r[0]!.answer, 'C')
    assert.equal(r[0]!.options.C, 'Tell the attending that he cannot fail to disclose this mistake')
    assert.equal(r.filter((x) => x.meta.meta_info === 'step1').length, 679)
  })

  it('PubMedQA PQA-L: abstract as context, yes/no/maybe as A/B/C, official 500/500 split', async () => {
    const r = (await importFile(dataFile('pubmedqa/ori_pqal.json'))).records
    assert.equal(r.filter((x) => x.split === 'test').length, 500)
    assert.equal(r.filter((x) => x.split === 'train').length, 500)
    const truth = JSON.parse(readFileSync(dataFile('pubmedqa/test_ground_truth.json'), 'utf8')) as Record<string, string>
    for (const x of r.filter((y) => y.split === 'test')) assert.equal(x.options[x.answer], truth[x.id])
    const first = r.find((x) => x.id === '21645374')!
    assert.deepEqual(first.options, { A: 'yes', B: 'no', C: 'maybe' })
    assert.match(first.question, /^Do mitochondria play a role in remodelling lace plant leaves/)
    assert.match(first.context ?? '', /^BACKGROUND: Programmed cell death \(PCD\)/)
    const counts = { A: 0, B: 0, C: 0 } as Record<string, number>
    for (const x of r) counts[x.answer]!++
    assert.deepEqual(counts, { A: 552, B: 338, C: 110 })
  })

  it('PubMedQA test split file and MedSSS chat layout give the same 500 questions and answers', async () => {
    const split = (await importFile(dataFile('pubmedqa/test_ground_truth.json'))).records
    const chat = (await importFile(dataFile('pubmedqa/pubmedqa.json'))).records
    const byQuestion = new Map(split.map((x) => [x.question.trim(), x.answer]))
    let matched = 0
    for (const c of chat) {
      const a = byQuestion.get(c.question.trim())
      if (a !== undefined) {
        matched++
        assert.equal(c.answer, a, c.id)
      }
    }
    assert.ok(matched >= 490, `matched ${matched} of 500 questions by text`)
    assert.deepEqual(chat[0]!.options, { A: 'yes', B: 'no', C: 'maybe' })
    assert.equal(chat[0]!.question, 'Is anorectal endosonography valuable in dyschesia?')
  })

  it('MMLU-Pro: category filter gives MMLU-ProM counts and reports what it left out', async () => {
    const bio = await importFile(dataFile('mmlu_pro/biology_result.json'), { categories: ['health'] })
    assert.equal(bio.records.length, 0)
    assert.equal(bio.files[0]!.filtered, 717)
    const health = await importFile(dataFile('mmlu_pro/health_result.json'), { categories: ['health', 'biology'] })
    assert.equal(health.records.length, 818)
    const r = health.records[0]!
    assert.equal(r.meta.category, 'health')
    assert.ok(Object.keys(r.options).length <= 10)
  })

  it('GPQA: options shuffled by seed, permutation recorded, the answer follows the correct text', async () => {
    const csv = dataFile('gpqa/gpqa_diamond.csv')
    const a = (await importFile(csv, { seed: 1 })).records
    const b = (await importFile(csv, { seed: 1 })).records
    const c = (await importFile(csv, { seed: 2 })).records
    assert.deepEqual(a, b)
    assert.notDeepEqual(
      a.map((x) => x.answer),
      c.map((x) => x.answer),
    )
    const letters = new Set(a.map((x) => x.answer))
    assert.equal(letters.size, 4, 'answers spread over A–D')
    const first = a.find((x) => x.question.startsWith('Two quantum states with energies E1 and E2'))!
    assert.equal(first.options[first.answer], '10^-4 eV')
    const perm = first.meta.permutation as string[]
    assert.equal(perm[['A', 'B', 'C', 'D'].indexOf(first.answer)], 'Correct Answer')
    const bio = await importFile(csv, { domains: ['Biology'] })
    assert.equal(bio.records.length, 19)
    assert.equal(bio.files[0]!.filtered, 179)
  })

  it('MedXpertQA: both layouts agree on the shared questions', async () => {
    const full = new Map((await importFile(dataFile('medxpertqa/MedXpertQA_test.jsonl'))).records.map((x) => [x.id, x]))
    const sampled = (await importFile(dataFile('medxpertqa/medxpertqa_sampled_text_input.jsonl'))).records
    let shared = 0
    for (const s of sampled) {
      assert.ok(!s.question.includes('Answer Choices:'), 'stem only')
      assert.equal(Object.keys(s.options).length, 10)
      const f = full.get(s.id)
      if (f === undefined) continue
      shared++
      assert.equal(s.answer, f.answer, s.id)
      assert.deepEqual(Object.values(s.options).map((t) => t.toLowerCase()), Object.values(f.options).map((t) => t.toLowerCase()), s.id)
    }
    assert.ok(shared > 0, 'some sampled ids are in the Text-1001.. file')
  })

  it('MMLU medical (no ids in the file): positional ids and subjects', async () => {
    const r = (await importFile(dataFile('mmlu_medical/mmlu_medical_input.jsonl'))).records
    assert.equal(r[0]!.id, 'mmlu_medical_input-0')
    assert.equal(r[0]!.meta.subject, 'anatomy')
    assert.equal(r[2]!.options.A, 'Bladder')
  })

  it('MedMCQA original layout (fixture): cop counts from 1; 0-based exports are refused with a hint', async () => {
    const f = join(import.meta.dirname, '..', 'fixtures', 'data', 'medmcqa_train_original.jsonl')
    const r = await importFile(f, { split: 'train' })
    assert.equal(r.files[0]!.format, 'medmcqa')
    assert.equal(r.records.length, 6)
    assert.equal(r.records[0]!.answer, 'A')
    assert.equal(r.records[0]!.meta.subject, 'Physiology')
    const zero = await importFile(f, { split: 'train', copBase: 0 }).catch((e: Error) => e)
    assert.ok(zero instanceof Error)
    assert.match(zero.message, /medmcqa_train_original\.jsonl:\d+: id "[^"]+": field "cop"/)
  })
})
