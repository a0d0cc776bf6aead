import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { EmbeddedBackend } from '../../src/backends/embedded.js'
import { OpenAIBackend } from '../../src/backends/openai.js'
import type { Backend } from '../../src/backends/types.js'
import type { QARecord } from '../../src/data/record.js'
import { bootstrapMean, pairedBootstrap } from '../../src/eval/bootstrap.js'
import { runEval, scoreBenchmark, type PredictionRow } from '../../src/eval/runner.js'
import { SUITES, loadSuite, resolveSuites } from '../../src/eval/suites.js'
import { loadReferences, resultTable } from '../../src/eval/tables.js'
import { OpenAIServer } from '../../src/serve/server.js'
import { runCli, tempDir } from '../helpers.js'
import { makeTinyModel } from '../model-helpers.js'

describe('bootstrap statistics', () => {
  it('matches the closed form for a proportion: std √(p(1−p)/n), 95% interval ≈ ±1.96 std', () => {
    const n = 400
    const values = Array.from({ length: n }, (_, i) => (i % 10 < 3 ? 1 : 0)) // p = 0.3
    const r = bootstrapMean(values, 1000, 1)
    const closed = Math.sqrt((0.3 * 0.7) / n)
    assert.equal(r.mean, 0.3)
    assert.ok(Math.abs(r.std - closed) / closed < 0.1, `${r.std} vs ${closed}`)
    assert.ok(Math.abs(r.ci95[0] - (0.3 - 1.96 * closed)) < 0.01 && Math.abs(r.ci95[1] - (0.3 + 1.96 * closed)) < 0.01, JSON.stringify(r.ci95))
    assert.deepEqual(bootstrapMean(values, 1000, 1), r, 'seeded')
  })

  it('paired bootstrap of a difference', () => {
    const a = Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? 1 : 0))
    const b = a.map((x, i) => (i % 4 === 1 ? 1 : x)) // 50 more right
    const d = pairedBootstrap(a, b, 1000, 0)
    assert.equal(d.mean, 0.25)
    assert.ok(d.ci95[0] > 0.15 && d.ci95[1] < 0.35)
    assert.throws(() => pairedBootstrap([1], [1, 0]), /same items/)
  })
})

describe('scoring', () => {
  const recs: QARecord[] = ['a', 'b', 'c', 'd'].map((id, i) => ({ id, source: 's', split: 'test', question: 'q', options: { A: 'x', B: 'y' }, answer: 'A', meta: { subject: i < 2 ? 'anatomy' : 'surgery' } }))
  const row = (id: string, sample: number, extracted: 'A' | 'B' | null): PredictionRow => ({ benchmark: 's', id, sample, batch: 0, output: '', extracted, correct: extracted === 'A', finish_reason: 'stop' })

  it('accuracy, invalid rate and subjects, hand-computed', () => {
    const r = scoreBenchmark(SUITES.medqa!, recs, [row('a', 0, 'A'), row('b', 0, 'B'), row('c', 0, null), row('d', 0, 'A')], 1, 200, 0)
    assert.equal(r.n, 4)
    assert.equal(r.accuracy, 0.5)
    assert.equal(r.invalid_rate, 0.25)
    assert.deepEqual(r.subjects, { anatomy: { n: 2, accuracy: 0.5 }, surgery: { n: 2, accuracy: 0.5 } })
  })

  it('pass@k and maj@k with several samples', () => {
    const rows = [row('a', 0, 'A'), row('a', 1, 'B'), row('a', 2, 'A'), row('b', 0, 'B'), row('b', 1, 'B'), row('b', 2, 'A'), row('c', 0, null), row('c', 1, null), row('c', 2, 'B'), row('d', 0, 'A'), row('d', 1, 'A'), row('d', 2, 'A')]
    const r = scoreBenchmark(SUITES.medqa!, recs, rows, 3, 200, 0)
    assert.equal(r.accuracy, (2 / 3 + 1 / 3 + 0 + 1) / 4)
    assert.equal(r.pass_at_k, 3 / 4)
    assert.equal(r.maj_at_k, 2 / 4)
  })
})

describe('suites over the real files', () => {
  it('standard splits and counts', async () => {
    const counts: Record<string, number> = { medqa: 1273, medmcqa: 4183, pubmedqa: 500, 'pubmedqa-1000': 1000, 'mmlu-prom': 1535, 'mmlu-pro-health': 818, 'gpqa-med': 390, medxpert: 1449, 'mmlu-medical': 1089 }
    for (const [name, n] of Object.entries(counts)) assert.equal((await loadSuite(SUITES[name]!)).length, n, name)
    const own = resolveSuites(['mine=medqa/medqa_test.jsonl'])
    assert.equal((await loadSuite(own[0]!)).length, 1273)
    assert.throws(() => resolveSuites(['nope']), /unknown benchmark "nope"/)
  })
})

let embedded: EmbeddedBackend
let server: OpenAIServer
let url: string
before(async () => {
  embedded = EmbeddedBackend.fromDir(makeTinyModel({ seed: 11, std: 0.4, maxPositions: 2048 }))
  server = new OpenAIServer(embedded, { servedModelName: 'tiny' })
  url = `http://127.0.0.1:${(await server.listen(0)).port}/v1`
})
after(async () => {
  await server.close()
  await embedded.close()
})

const evalOpts = (out: string) => ({ suites: resolveSuites(['medqa', 'pubmedqa']), template: 'direct', limit: 6, maxNewTokens: 6, batchSize: 1, out })

describe('eval end to end', () => {
  it('the embedded backend and medrl serve (openai backend) give identical per-item results, greedy', async () => {
    const a = tempDir()
    const b = tempDir()
    await runEval(embedded, evalOpts(a))
    await runEval(new OpenAIBackend({ baseUrl: url, concurrency: 1 }), evalOpts(b))
    const strip = (d: string) => readFileSync(join(d, 'predictions.jsonl'), 'utf8')
    assert.equal(strip(a), strip(b))
    const res = JSON.parse(readFileSync(join(a, 'results.json'), 'utf8'))
    assert.deepEqual(Object.keys(res.benchmarks), ['medqa', 'pubmedqa'])
    for (const k of ['accuracy', 'std', 'ci95', 'n', 'invalid_rate']) assert.ok(k in res.benchmarks.medqa, k)
    const lines = strip(a).trimEnd().split('\n').map((l) => JSON.parse(l))
    assert.equal(lines.length, 12)
    for (const k of ['benchmark', 'id', 'output', 'extracted', 'correct']) assert.ok(k in lines[0], k)
  })

  it('prompts near the end of the context: one policy in-process and through a server (overlong items counted, max tokens capped), identical predictions', async () => {
    // A context of 320 tokens: some real PubMedQA prompts (abstract as context) do not fit, MedQA ones do, some only with fewer new tokens.
    const small = EmbeddedBackend.fromDir(makeTinyModel({ seed: 11, std: 0.4, maxPositions: 320 }))
    const srv = new OpenAIServer(small, { servedModelName: 'tiny-320' })
    const base = `http://127.0.0.1:${(await srv.listen(0)).port}/v1`
    try {
      const models = (await (await fetch(`${base}/models`)).json()) as { data: { max_model_len: number }[] }
      assert.equal(models.data[0]!.max_model_len, 320, 'the context length is reported as vLLM does')
      const opts = (out: string) => ({ suites: resolveSuites(['medqa', 'pubmedqa']), template: 'direct', limit: 12, maxNewTokens: 40, batchSize: 4, out })
      const a = tempDir()
      const b = tempDir()
      const ra = await runEval(small, opts(a))
      const rb = await runEval(new OpenAIBackend({ baseUrl: base, concurrency: 2 }), opts(b))
      const read = (d: string) => readFileSync(join(d, 'predictions.jsonl'), 'utf8')
      assert.equal(read(a), read(b), 'same predictions, long items included')
      assert.equal(ra.status, 'complete')
      assert.ok(ra.benchmarks.pubmedqa!.overlong! > 0, `some PubMedQA prompts do not fit: ${ra.benchmarks.pubmedqa!.overlong}`)
      assert.equal(ra.benchmarks.pubmedqa!.overlong, rb.benchmarks.pubmedqa!.overlong)
      const rows = read(a).trim().split('\n').map((l) => JSON.parse(l) as { overlong?: boolean; output: string; correct: boolean; finish_reason: string })
      for (const r of rows.filter((x) => x.overlong)) assert.deepEqual([r.output, r.correct, r.finish_reason], ['', false, 'overlong'])
      // The server itself still refuses a request that does not fit, as vLLM does.
      const refused = await fetch(`${base}/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'word '.repeat(400), max_tokens: 8 }) })
      assert.equal(refused.status, 400)
    } finally {
      await srv.close()
      await small.close()
    }
  })

  it('an interrupted eval resumes without redoing finished items, with the same result', async () => {
    const full = tempDir()
    const r1 = await runEval(embedded, { ...evalOpts(full), batchSize: 2 })
    const cut = tempDir()
    let calls = 0
    const failing: Backend = {
      kind: 'embedded',
      model: embedded.model,
      generate: async (reqs, o) => {
        if (++calls === 4) throw new Error('interrupted')
        return embedded.generate(reqs, o)
      },
      close: async () => {},
    }
    await assert.rejects(runEval(failing, { ...evalOpts(cut), batchSize: 2 }), /interrupted/)
    let generated = 0
    const counting: Backend = { ...failing, generate: async (reqs, o) => ((generated += reqs.length), embedded.generate(reqs, o)) }
    const r2 = await runEval(counting, { ...evalOpts(cut), batchSize: 2 })
    assert.equal(generated, 12 - 6, 'only the 3 batches not finished before the interruption')
    assert.deepEqual(r2.benchmarks, r1.benchmarks)
    assert.equal(readFileSync(join(cut, 'predictions.jsonl'), 'utf8'), readFileSync(join(full, 'predictions.jsonl'), 'utf8'))
  })

  it('a rerun with a narrower selection only adds predictions; a killed eval is marked unfinished, and compare and table say so', async () => {
    const dir = tempDir()
    await runEval(embedded, { ...evalOpts(dir), batchSize: 2 })
    const before = readFileSync(join(dir, 'predictions.jsonl'), 'utf8').trim().split('\n')
    const narrow = await runEval(embedded, { ...evalOpts(dir), suites: [evalOpts(dir).suites[0]!], limit: 3, batchSize: 2 })
    const after = readFileSync(join(dir, 'predictions.jsonl'), 'utf8').trim().split('\n')
    assert.equal(after.length, before.length, 'nothing deleted')
    assert.deepEqual([...after].sort(), [...before].sort(), 'greedy: the redone items are the same lines')
    const name0 = evalOpts(dir).suites[0]!.name
    assert.equal(narrow.benchmarks[name0]!.n, 3)
    assert.equal(narrow.benchmarks[name0]!.total, 1273, 'the benchmark has more items than --limit chose')
    assert.deepEqual(Object.keys(narrow.benchmarks).sort(), evalOpts(dir).suites.map((x) => x.name).sort(), "the other benchmark's results kept")
    assert.equal(narrow.status, 'complete')
    // Killed in the middle of the second benchmark: results.json says so, compare leaves it out, table marks it.
    const killed = tempDir()
    let calls = 0
    const dying: Backend = { kind: 'embedded', model: embedded.model, generate: async (reqs, o) => (++calls === 5 ? Promise.reject(new Error('killed')) : embedded.generate(reqs, o)), close: async () => {} }
    await assert.rejects(runEval(dying, { ...evalOpts(killed), batchSize: 2 }), /killed/)
    const res = JSON.parse(readFileSync(join(killed, 'results.json'), 'utf8'))
    assert.equal(res.status, 'running')
    assert.deepEqual(Object.keys(res.benchmarks), [name0])
    const cmp = runCli(['compare', dir, killed, '--json'])
    assert.equal(cmp.code, 0, cmp.stderr)
    assert.deepEqual(JSON.parse(cmp.stdout).map((x: { benchmark: string }) => x.benchmark), [name0])
    assert.match(cmp.stderr, new RegExp(`left out, not finished in both evaluations \\(a killed run\\?\\): ${evalOpts(dir).suites[1]!.name}`))
    const table = runCli(['table', killed, '--no-references'])
    assert.match(table.stdout, /incomplete: 1 of 2 benchmarks finished/)
  })

  it('an output made with other weights or settings is not resumed: the error names the file and what differs', async () => {
    const dir = makeTinyModel({ seed: 21, std: 0.4, maxPositions: 2048 })
    const out = tempDir()
    const first = EmbeddedBackend.fromDir(dir)
    await runEval(first, evalOpts(out))
    await first.close()
    const same = EmbeddedBackend.fromDir(dir)
    let generated = 0
    const counting: Backend = { kind: same.kind, model: same.model, identity: () => same.identity(), generate: async (reqs, o) => ((generated += reqs.length), same.generate(reqs, o)), close: async () => {} }
    await runEval(counting, evalOpts(out))
    assert.equal(generated, 0, 'the same model and settings: everything is resumed')
    await assert.rejects(runEval(same, { ...evalOpts(out), maxNewTokens: 7 }), /settings\.json: .*max_new_tokens: 6 then, 7 now/)
    await same.close()
    makeTinyModel({ seed: 22, std: 0.4, maxPositions: 2048, dir }) // retrained in place: same path, new weights
    const retrained = EmbeddedBackend.fromDir(dir)
    await assert.rejects(runEval(retrained, evalOpts(out)), (e: Error) => e.message.startsWith(join(out, 'settings.json')) && /earlier evaluation with other settings \(model: /.test(e.message))
    await retrained.close()
  })

  it('CLI: eval, compare, table (with the published references beside ours)', () => {
    const dir = makeTinyModel({ seed: 12, std: 0.4, maxPositions: 2048 })
    const a = tempDir()
    const r = runCli(['eval', '--model', dir, '--benchmarks', 'gpqa-med,mmlu-prom', '--template', 'direct', '--limit', '8', '--max-new-tokens', '4', '--out', a])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /gpqa-med\s+8\s+/)
    const b = tempDir()
    assert.equal(runCli(['eval', '--model', dir, '--benchmarks', 'gpqa-med,mmlu-prom', '--template', 'direct', '--limit', '8', '--max-new-tokens', '4', '--samples', '3', '--out', b]).code, 0)
    const resB = JSON.parse(readFileSync(join(b, 'results.json'), 'utf8'))
    assert.ok('pass_at_k' in resB.benchmarks['gpqa-med'] && 'maj_at_k' in resB.benchmarks['gpqa-med'])
    const cmp = runCli(['compare', a, b, '--json'])
    assert.equal(cmp.code, 0, cmp.stderr)
    const rows = JSON.parse(cmp.stdout)
    assert.deepEqual(rows.map((x: { benchmark: string; n: number }) => [x.benchmark, x.n]), [['gpqa-med', 8], ['mmlu-prom', 8]])
    const md = runCli(['table', a, '--format', 'md'])
    // Every row's average is over the table's columns (so averages compare), here gpqa-med and mmlu-prom.
    assert.match(md.stdout, /\| Llama-3\.1-8B-Instruct \| 35\.64 \| 57\.00 \| 46\.32 \| AdaThink-Med, Table 1 \|/)
    assert.match(md.stdout, /medrl \(direct, strict extraction, greedy; items: gpqa-med 8 of 390, mmlu-prom 8 of 1535\)/)
    const csv = runCli(['table', a, b, '--format', 'csv', '--no-references'])
    assert.equal(csv.stdout.trimEnd().split('\n').length, 3)
  })
})

describe('tables', () => {
  it('references come from the data file, each with its source', () => {
    const refs = loadReferences()
    const llama = refs.find((r) => r.model === 'Llama-3.1-8B-Instruct')!
    assert.deepEqual(llama.results, { medqa: 54.75, medmcqa: 54.69, pubmedqa: 77, 'mmlu-prom': 57, 'gpqa-med': 35.64, medxpert: 14.48 })
    const rl = refs.find((r) => r.model.startsWith('Med-RLVR'))!
    assert.deepEqual([rl.results.medqa, rl.std!.medqa, rl.results['mmlu-pro-health'], rl.std!['mmlu-pro-health']], [49.2, 1.4, 40.1, 1.8])
    const t = resultTable([], refs)
    assert.deepEqual(t.rows, [], 'no benchmarks of ours, no rows')
  })
})
