import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import type { Backend, BackendRequest } from '../../src/backends/types.js'
import { importFile } from '../../src/data/import.js'
import type { QARecord } from '../../src/data/record.js'
import { estimateDifficulty, difficultySummary, type DifficultyMeta } from '../../src/difficulty/levels.js'
import { balancedSubset, cumulativeSubsets } from '../../src/difficulty/subsets.js'
import { writeRecords } from '../../src/data/jsonl.js'
import { dataFile, runCli, tempDir } from '../helpers.js'

/**
 * A scripted reference model: for question i (in the order given), it answers right `script(i)` of its k
 * samples, reading the right letter off the prompt's record.
 */
function scriptedBackend(records: QARecord[], script: (i: number) => number, fail?: { after: number }): Backend & { calls: number; items: number } {
  const byQuestion = new Map(records.map((r, i) => [r.question.trim(), { r, i }]))
  const b = {
    kind: 'scripted',
    model: 'scripted',
    calls: 0,
    items: 0,
    async generate(reqs: readonly BackendRequest[]) {
      b.calls++
      if (fail && b.calls > fail.after) throw new Error('killed')
      b.items += reqs.length
      return reqs.map((req) => {
        const text = String(req.prompt)
        const hit = [...byQuestion.entries()].find(([q]) => text.includes(q))
        if (!hit) throw new Error('unknown prompt')
        const { r, i } = hit[1]
        const wrong = Object.keys(r.options).find((l) => l !== r.answer)!
        return Array.from({ length: req.params.n ?? 1 }, (_, s) => ({ text: `The answer is (${s < script(i) ? r.answer : wrong}).`, finishReason: 'stop' as const }))
      })
    },
    async close() {},
  }
  return b
}

async function medqa(n: number): Promise<QARecord[]> {
  return (await importFile(dataFile('medqa/medqa_input.jsonl'))).records.slice(0, n)
}

describe('difficulty levels', () => {
  it('level = k + 1 − right answers, with counts and the rule stored in meta', async () => {
    const recs = await medqa(12)
    const script = (i: number) => i % 6 // 0..5 right of 5
    const out = await estimateDifficulty(scriptedBackend(recs, script), recs, { k: 5, template: 'boxed', out: join(tempDir(), 'p.jsonl'), batchSize: 5 })
    out.forEach((r, i) => {
      const d = r.meta.difficulty as DifficultyMeta
      assert.equal(d.correct, script(i))
      assert.equal(d.level, 6 - script(i))
      assert.equal(d.k, 5)
    })
    assert.equal((out.find((r) => (r.meta.difficulty as DifficultyMeta).correct === 5)!.meta.difficulty as DifficultyMeta).level, 1, 'all right: L1, the easiest')
    const s = difficultySummary(out)
    assert.deepEqual(s.by_source.medqa, { L1: 2, L2: 2, L3: 2, L4: 2, L5: 2, L6: 2 })
  })

  it('resumes after an interruption and is incremental: finished questions are never redone', async () => {
    const recs = await medqa(10)
    const log = join(tempDir(), 'p.jsonl')
    const first = scriptedBackend(recs, (i) => i % 4, { after: 2 })
    await assert.rejects(estimateDifficulty(first, recs, { k: 3, template: 'boxed', out: log, batchSize: 3 }), /killed/)
    const second = scriptedBackend(recs, (i) => i % 4)
    const out = await estimateDifficulty(second, recs, { k: 3, template: 'boxed', out: log, batchSize: 3 })
    assert.equal(second.items, 4, '6 of 10 were done before the interruption')
    assert.deepEqual(out.map((r) => (r.meta.difficulty as DifficultyMeta).level), recs.map((_, i) => 4 - (i % 4)))
    const more = await medqa(13)
    const third = scriptedBackend(more, (i) => i % 4)
    await estimateDifficulty(third, more, { k: 3, template: 'boxed', out: log, batchSize: 3 })
    assert.equal(third.items, 3, 'only the added questions')
    const other = { ...scriptedBackend(more, (i) => i % 4), model: 'another-model' }
    await assert.rejects(estimateDifficulty(other, more, { k: 3, template: 'boxed', out: log, batchSize: 3 }), (e: Error) => e.message.includes(`${log}.settings.json`) && /model: "scripted" then, "another-model" now/.test(e.message))
    await assert.rejects(estimateDifficulty(scriptedBackend(more, (i) => i % 4), more, { k: 3, template: 'boxed', out: log, batchSize: 3, temperature: 0.7 }), /temperature: 1 then, 0\.7 now/)
  })
})

function leveled(n: number, levels: number[], sources: string[]): QARecord[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `q${i}`,
    source: sources[Math.floor(i / levels.length) % sources.length]!,
    split: 'train',
    question: `question ${i}`,
    options: { A: 'a', B: 'b' },
    answer: 'A',
    meta: { difficulty: { level: levels[i % levels.length]!, correct: 0, k: 5 } },
  }))
}

describe('balanced subsets', () => {
  it('exact for a seed: per level, split across sources by weight; another seed draws others', () => {
    const recs = leveled(600, [1, 2, 3, 4, 5, 6], ['medqa', 'medmcqa'])
    const a = balancedSubset(recs, { perLevel: 20, levels: [1, 2, 3, 4, 5, 6], seed: 1 })
    assert.deepEqual(
      a.records.map((r) => r.id),
      balancedSubset(recs, { perLevel: 20, levels: [1, 2, 3, 4, 5, 6], seed: 1 }).records.map((r) => r.id),
    )
    assert.notDeepEqual(a.records.map((r) => r.id), balancedSubset(recs, { perLevel: 20, levels: [1, 2, 3, 4, 5, 6], seed: 2 }).records.map((r) => r.id))
    assert.equal(a.records.length, 120)
    assert.deepEqual(a.report.counts.L3, { medmcqa: 10, medqa: 10 })
    const w = balancedSubset(recs, { perLevel: 30, levels: [2], sources: ['medqa', 'medmcqa'], weights: { medqa: 2, medmcqa: 1 }, seed: 0 })
    assert.deepEqual(w.report.counts.L2, { medqa: 20, medmcqa: 10 })
    assert.deepEqual(a.report.short, [])
  })

  it('mix: split divides a level among sources; add gives each source its own quota (the union grows); pool draws from the level whatever the source', () => {
    const recs = leveled(600, [1, 2, 3, 4, 5, 6], ['medqa', 'medmcqa'])
    const opts = { perLevel: 10, levels: [1, 2], sources: ['medqa', 'medmcqa'], seed: 3 }
    const split = balancedSubset(recs, opts)
    const add = balancedSubset(recs, { ...opts, mix: 'add' })
    const one = balancedSubset(recs, { ...opts, sources: ['medqa'], mix: 'add' })
    assert.equal(split.records.length, 20)
    assert.deepEqual(add.report.counts.L1, { medqa: 10, medmcqa: 10 })
    assert.equal(add.records.length, 40)
    // Adding a source keeps what the first source gave: the union is the one-source subset plus more.
    const ids = new Set(add.records.map((r) => r.id))
    assert.ok(one.records.every((r) => ids.has(r.id)))
    const pool = balancedSubset(leveled(600, [1, 2, 3, 4, 5, 6], ['medqa', 'medmcqa', 'pubmedqa']), { perLevel: 12, levels: [4], seed: 0, mix: 'pool' })
    assert.equal(pool.records.length, 12)
    assert.ok(pool.records.every((r) => (r.meta.difficulty as { level: number }).level === 4))
    assert.equal(Object.values(pool.report.counts.L4!).reduce((a, b) => a + b, 0), 12)
  })

  it('a short level is reported, not silently filled', () => {
    const recs = leveled(60, [1, 1, 1, 2, 3, 6], ['medqa'])
    const s = balancedSubset(recs, { perLevel: 15, levels: [1, 2, 6], seed: 0 })
    assert.deepEqual(s.report.short, [
      { level: 2, source: null, wanted: 15, available: 10 },
      { level: 6, source: null, wanted: 15, available: 10 },
    ])
    assert.equal(s.records.length, 35)
  })

  it('cumulative subsets L1..Ln', () => {
    const recs = leveled(600, [1, 2, 3, 4, 5, 6], ['medqa'])
    const c = cumulativeSubsets(recs, { perLevel: 10, seed: 0, maxLevel: 6 })
    assert.deepEqual(c.map((x) => x.records.length), [10, 20, 30, 40, 50, 60])
  })

  it('CLI: medrl data subset writes the subset and its manifest (source files with hashes, seed, counts)', () => {
    const dir = tempDir()
    const levels = join(dir, 'levels.jsonl')
    writeRecords(levels, leveled(120, [1, 2, 3, 4, 5, 6], ['medqa', 'pubmedqa']))
    const out = join(dir, 'subset.jsonl')
    const r = runCli(['data', 'subset', levels, '--per-level', '4', '--levels', '1-6', '--seed', '3', '--cumulative', '--out', out])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(readFileSync(out, 'utf8').trimEnd().split('\n').length, 24)
    const m = JSON.parse(readFileSync(join(dir, 'subset.manifest.json'), 'utf8'))
    assert.equal(m.seed, 3)
    assert.equal(m.sources[0].file, levels)
    assert.match(m.sources[0].sha256, /^[0-9a-f]{64}$/)
    assert.equal(m.total, 24)
    for (let n = 1; n <= 6; n++) assert.ok(existsSync(join(dir, `subset-L${n}.jsonl`)))
    const bad = runCli(['data', 'subset', dataFile('medqa/medqa_input.jsonl'), '--per-level', '4', '--out', out])
    assert.match(bad.stderr, /have no meta\.difficulty: run medrl difficulty first/)
  })
})
