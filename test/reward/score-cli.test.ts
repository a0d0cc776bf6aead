import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { dataFile, runCli, tempDir } from '../helpers.js'

describe('medrl score on real data', () => {
  it("scores MMLU-Pro health outputs: accuracy equals the share whose extracted letter is the key", () => {
    const dir = tempDir()
    const rows = JSON.parse(readFileSync(dataFile('mmlu_pro/health_result.json'), 'utf8')) as { question_id: number; model_outputs: string; answer: string }[]
    const preds = join(dir, 'preds.jsonl')
    writeFileSync(preds, rows.map((r) => JSON.stringify({ id: `mmlu-pro-${r.question_id}`, output: r.model_outputs })).join('\n') + '\n')
    const items = join(dir, 'items.jsonl')
    const r = runCli(['score', '--data', dataFile('mmlu_pro/health_result.json'), '--predictions', preds, '--template', 'boxed', '--mode', 'lenient', '--reward', 'binary', '--out', items, '--json'])
    assert.equal(r.code, 0, r.stderr)
    const summary = JSON.parse(r.stdout)
    const lines = readFileSync(items, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l))
    assert.equal(lines.length, 818)
    assert.equal(summary.n, 818)
    const correct = lines.filter((x) => x.correct).length
    assert.equal(summary.accuracy, correct / 818)
    assert.ok(summary.accuracy > 0.8 && summary.accuracy < 0.95, String(summary.accuracy))
    assert.equal(summary.reward_mean, summary.accuracy, 'binary reward mean = accuracy')
    assert.equal(summary.stages, null, 'stages only for the r1 format')
    for (const x of lines) assert.deepEqual(Object.keys(x).slice(0, 6), ['id', 'extracted', 'correct', 'format_valid', 'reward', 'stage'])
  })

  it('r1 outputs: format rate, invalid rate, stage counts, format_correct rewards', () => {
    const dir = tempDir()
    const data = dataFile('medqa/medqa_input.jsonl')
    const outputs = [
      { id: 'test-00000', output: '<think>Disclosure is the duty; the attending is wrong.</think><answer>B</answer>' },
      { id: 'test-00001', output: '<think>The answer is C.</think><answer>C</answer>' },
      { id: 'test-00002', output: 'The answer is A.' },
      { id: 'test-00003', output: '<think>x</think><answer>Z</answer>' },
      // The answer given away in <think>, and right: the reward pays the shortcut, a hack.
      { id: 'test-00004', output: '<think>The answer is B.</think><answer>B</answer>' },
    ]
    const preds = join(dir, 'p.jsonl')
    writeFileSync(preds, outputs.map((o) => JSON.stringify(o)).join('\n'))
    const items = join(dir, 'items.jsonl')
    const r = runCli(['score', '--data', data, '--predictions', preds, '--out', items])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /items\s+5/)
    assert.match(r.stdout, /format rate\s+80\.00%/)
    assert.match(r.stdout, /invalid rate\s+40\.00%/)
    assert.match(r.stdout, /stage format_failure\s+1/)
    assert.match(r.stdout, /stage direct_answer_hacker\s+1/)
    const got = readFileSync(items, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l))
    assert.deepEqual(got.map((x) => x.reward), [1, 0, -1, 0, 1])
    assert.deepEqual(got.map((x) => x.extracted), ['B', 'C', null, null, 'B'])
    // The same shortcut with a wrong answer earns nothing: not a hack of this reward.
    assert.equal(got[1].stage, 'concise_structurer')
    assert.equal(got[4].stage, 'direct_answer_hacker')
  })

  it('an unknown id or a broken line is an error naming the file and line', () => {
    const dir = tempDir()
    const preds = join(dir, 'p.jsonl')
    writeFileSync(preds, '{"id": "test-00000", "output": "x"}\n{"id": "nope", "output": "x"}\n')
    const r = runCli(['score', '--data', dataFile('medqa/medqa_input.jsonl'), '--predictions', preds])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /p\.jsonl: record #1, id "nope": field "id": no record with this id/)
    writeFileSync(preds, '{"id": "test-00000", "output": "x"}\n{"id": "test-00001"}\n')
    const r2 = runCli(['score', '--data', dataFile('medqa/medqa_input.jsonl'), '--predictions', preds])
    assert.equal(r2.code, 1)
    assert.match(r2.stderr, /p\.jsonl:2: id "test-00001": field "output": missing/)
  })
})
