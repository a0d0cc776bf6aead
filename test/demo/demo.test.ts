import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { DEMO_BASE, demoDefaults, runDemo } from '../../src/demo/pipeline.js'
import { runCli, tempDir } from '../helpers.js'

describe('the demo pipeline, reduced (committed base model)', () => {
  it('runs end to end: difficulty, subset, GRPO (reward rises; held-out answers name the disease more and are right more), evaluation, report, summary.json', { skip: existsSync(join(DEMO_BASE, 'pretrain.key')) ? false : 'no committed base model' }, async () => {
    const out = tempDir('medrl-demo-')
    const o = { ...demoDefaults(out, () => {}), steps: 12, perLevel: 12, k: 2, realLimit: 2, maxNewTokens: 40 }
    const s = (await runDemo(o)) as {
      heldout: { n: number; base_accuracy: number; trained_accuracy: number; diff_ci95: [number, number] }
      reasoning: { mentions_intermediate_start: number; mentions_intermediate_end: number }
      training: { reward_by_step: number[] }
      wall_seconds: number
    }
    assert.ok(!existsSync(join(out, 'base')), 'the committed base was used, not pretrained again')
    const r = s.training.reward_by_step
    assert.equal(r.length, 12)
    const first = (r[0]! + r[1]!) / 2
    const last = (r[9]! + r[10]! + r[11]!) / 3
    assert.ok(last > first + 0.1, `reward from ${first.toFixed(3)} to ${last.toFixed(3)}`)
    assert.equal(s.heldout.n, 48)
    for (const k of ['base_accuracy', 'trained_accuracy'] as const) assert.ok(s.heldout[k] >= 0 && s.heldout[k] <= 1)
    assert.ok(s.heldout.diff_ci95[0] <= s.heldout.diff_ci95[1])
    // The base mostly answers tersely; RL makes it name the disease it infers, and that is what transfers.
    const m = s.reasoning
    assert.ok(m.mentions_intermediate_end > m.mentions_intermediate_start + 0.2, `names the disease ${m.mentions_intermediate_start} → ${m.mentions_intermediate_end}`)
    assert.ok(s.heldout.trained_accuracy > s.heldout.base_accuracy, `held-out ${s.heldout.base_accuracy} → ${s.heldout.trained_accuracy}`)
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'))
    assert.deepEqual(Object.keys(summary.heldout), ['n', 'base_accuracy', 'trained_accuracy', 'diff', 'diff_ci95'])
    assert.ok(summary.wall_seconds > 0)
    assert.ok(existsSync(join(out, 'report', 'index.html')))
    assert.ok(existsSync(join(out, 'report', 'dynamics-reasoning-mentions_intermediate.svg')), 'the share naming the disease is charted over steps')
    assert.ok(existsSync(join(out, 'levels.jsonl')) && existsSync(join(out, 'subset.manifest.json')))
    // The directory the demo prints is a report's input as it is: its run and both evaluations.
    const rep = runCli(['report', out, '--out', join(out, 'again')])
    assert.equal(rep.code, 0, rep.stderr)
    assert.match(rep.stderr, /with \d+ charts \(1 runs, 2 evaluations\)/)
    assert.match(readFileSync(join(out, 'again', 'index.html'), 'utf8'), /medrl demo \(medrl-demo-[^)]*\): GRPO on the clinical testbed/)
  })
})
