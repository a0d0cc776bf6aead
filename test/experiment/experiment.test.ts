import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { readExperimentSpec } from '../../src/experiment/spec.js'
import { ROOT, runCli, tempDir } from '../helpers.js'
import { inspectPng } from '../report/png.js'

/** Two variants × two seeds, two GRPO steps each: the whole grid in about a minute. */
const SPEC = `name: reduced
description: a reduced difficulty-mix
finding: harder levels help
seeds: [0, 1]
baseline: L1
x_title: highest level included
testbed: { seed: 0 }
template: r1-text
difficulty: { k: 5, max_new_tokens: 32 }
eval: { max_new_tokens: 32 }
train:
  algorithm: grpo
  total_steps: 2
  rollout: { train_batch_size: 4, num_generations: 4, max_new_tokens: 32 }
  actor: { learning_rate: 1.0e-4, micro_batch_size: 64 }
  trainer: { save_steps: 1, log_samples: 2 }
variants:
  - { name: L1, x: 1, subset: { levels: "1", per_level: 6 } }
  - { name: L1-3, x: 3, subset: { levels: "1-3", per_level: 6 } }
`

/** Runs `medrl experiment` and SIGKILLs it as soon as `cells` cells have finished (their eval results written). */
function runUntilCells(spec: string, out: string, cells: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'medrl.js'), 'experiment', spec, '--out', out], { stdio: 'ignore' })
    const timer = setInterval(() => {
      const done = ['L1', 'L1-3'].flatMap((v) => [0, 1].map((s) => join(out, 'cells', v, `seed-${s}`, 'eval', 'results.json'))).filter((f) => existsSync(f) && readFileSync(f, 'utf8').includes('"complete"')).length
      if (done >= cells) child.kill('SIGKILL')
    }, 200)
    child.on('exit', (code, signal) => {
      clearInterval(timer)
      if (signal === 'SIGKILL') resolve()
      else reject(new Error(`the experiment ended (${code}) before it could be killed`))
    })
  })
}

describe('medrl experiment', () => {
  it('runs a grid, survives a kill in the middle, continues without redoing finished cells, and writes results.json and the figure', async () => {
    const dir = tempDir('medrl-exp-')
    const spec = join(dir, 'spec.yaml')
    writeFileSync(spec, SPEC)
    const out = join(dir, 'out')
    await runUntilCells(spec, out, 1)
    const first = join(out, 'cells', 'L1', 'seed-0', 'eval', 'results.json')
    assert.ok(existsSync(first), 'the first cell finished before the kill')
    const firstMtime = statSync(first).mtimeMs
    assert.ok(!existsSync(join(out, 'cells', 'L1-3', 'seed-1', 'eval', 'results.json')), 'the kill came in the middle of the grid')

    const r = runCli(['experiment', spec, '--out', out])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /cells already finished: continuing the grid/)
    assert.equal(statSync(first).mtimeMs, firstMtime, 'a finished cell is not redone')
    const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'))
    assert.equal(res.status, 'complete')
    assert.deepEqual(res.seeds, [0, 1])
    assert.equal(res.held_out_questions, 48)
    assert.ok(res.base_accuracy > 0.1 && res.base_accuracy < 0.9)
    for (const v of ['L1', 'L1-3']) {
      const x = res.variants[v]
      assert.deepEqual(x.seeds_done, [0, 1])
      assert.equal(Object.keys(x.accuracy_by_seed).length, 2)
      assert.ok(Math.abs(x.mean - (x.accuracy_by_seed['0'] + x.accuracy_by_seed['1']) / 2) < 1e-12)
      assert.ok(x.ci95[0] <= x.mean && x.mean <= x.ci95[1])
      assert.ok(x.std_across_seeds >= 0)
      assert.equal(x.reward_by_step.length, 2)
      assert.equal(x.effective_ratio_by_step.length, 2)
    }
    assert.equal(res.variants.L1.diff_to_baseline, null)
    const d = res.variants['L1-3'].diff_to_baseline
    assert.ok(Math.abs(d.mean - (res.variants['L1-3'].mean - res.variants.L1.mean)) < 1e-9, 'the paired difference is the difference of the seed-averaged accuracies')
    assert.ok(res.variants['L1-3'].train_questions[0] > res.variants.L1.train_questions[0], 'cumulative levels give more questions')
    // The table on stdout and the report's figure.
    assert.match(r.stdout, /\| L1-3 \| \d+ \| 2 \| [\d.]+% ± [\d.]+ \| \[/)
    const html = readFileSync(join(out, 'report', 'index.html'), 'utf8')
    assert.match(html, /Experiment: reduced/)
    assert.match(html, /harder levels help/)
    const png = inspectPng(readFileSync(join(out, 'report', 'accuracy.png')))
    assert.ok(png.width > 600 && png.height > 300, `${png.width}×${png.height}`)
    const svg = readFileSync(join(out, 'report', 'accuracy.svg'), 'utf8')
    assert.match(svg, /highest level included/)
    assert.match(svg, /held-out accuracy/)
    // In a real browser the figures stand in a grid: two side by side on a wide page, each box no taller than its chart and caption need.
    if (existsSync('/usr/bin/chromium')) {
      const { chromium } = await import('playwright-core')
      const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] })
      try {
        const page = await browser.newPage({ viewport: { width: 1400, height: 900 } })
        await page.goto(`file://${join(out, 'report', 'index.html')}`)
        const boxes = await page.$$eval('figure.chart', (fs) => fs.map((f) => { const r = f.getBoundingClientRect(); const s = f.querySelector('svg')!.getBoundingClientRect(); const c = f.querySelector('figcaption')!.getBoundingClientRect(); return { id: f.id, top: r.top, left: r.left, height: r.height, inner: s.height + c.height } }))
        assert.deepEqual(boxes.map((b) => b.id), ['accuracy', 'reward', 'effective-ratio'])
        assert.equal(boxes[0]!.top, boxes[1]!.top, 'the first two figures share a row')
        assert.ok(boxes[1]!.left > boxes[0]!.left)
        assert.ok(boxes[2]!.top > boxes[0]!.top, 'the third wraps to the next row')
        for (const b of boxes) assert.ok(b.height < b.inner + 60, `${b.id}: ${b.height}px box around ${b.inner}px of chart and caption`)
      } finally {
        await browser.close()
      }
    }
    // The training runs carry question lengths in the policy's tokens, characters kept.
    const lengths = JSON.parse(readFileSync(join(out, 'cells', 'L1', 'seed-0', 'run', 'data_lengths.json'), 'utf8'))
    assert.ok(Object.values(lengths.tokens as Record<string, number[]>).flat().every((n) => n > 0))
    assert.ok(Object.values(lengths.chars as Record<string, number[]>).flat().length > 0)

    // Changed settings are refused, naming the file and the setting.
    writeFileSync(spec, SPEC.replace('total_steps: 2', 'total_steps: 3'))
    const changed = runCli(['experiment', spec, '--out', out])
    assert.notEqual(changed.code, 0)
    assert.match(changed.stderr, /experiment\.settings\.json: this output holds an earlier experiment with other settings \(spec: /)
  })

  it("Med-RLVR's comparison in miniature: SFT, PPO and GRPO from one base on the same questions, two seeds, in and out of distribution", () => {
    const dir = tempDir('medrl-exp-cmp-')
    const spec = join(dir, 'cmp.yaml')
    writeFileSync(
      spec,
      `name: cmp
seeds: [0, 1]
baseline: sft
testbed: { seed: 0, eval_sets: [id, heldout, style] }
template: r1-text
difficulty: { k: 2, max_new_tokens: 32 }
eval: { max_new_tokens: 32 }
train:
  total_steps: 1
  data: { reward: format_correct }
  rollout: { train_batch_size: 4, num_generations: 4, max_new_tokens: 32 }
  actor: { learning_rate: 1.0e-4, micro_batch_size: 64 }
sft:
  total_steps: 2
  optim: { learning_rate: 1.0e-4, train_batch_size: 8, micro_batch_size: 8 }
  trainer: { eval_steps: 0 }
variants:
  - { name: sft, method: sft, subset: { levels: "1-3", total: 144 } }
  - { name: ppo, subset: { levels: "1-3", total: 144 }, train: { algorithm: ppo, kl: { kl_coef: 0.001 }, actor: { ppo_epochs: 1 } } }
  - { name: grpo, subset: { levels: "1-3", total: 144 }, train: { algorithm: grpo } }
`,
    )
    const out = join(dir, 'out')
    const r = runCli(['experiment', spec, '--out', out])
    assert.equal(r.code, 0, r.stderr)
    const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'))
    assert.deepEqual(res.eval_sets, ['id', 'heldout', 'style'])
    assert.equal(res.status, 'complete')
    for (const v of ['sft', 'ppo', 'grpo']) {
      assert.deepEqual(res.variants[v].seeds_done, [0, 1])
      for (const set of ['id', 'heldout', 'style']) assert.ok(Number.isFinite(res.variants[v].by_eval_set[set].mean), `${v} ${set}`)
      // Every variant trained on the same questions for a seed.
      assert.equal(readFileSync(join(out, 'cells', v, 'seed-0', 'subset.jsonl'), 'utf8'), readFileSync(join(out, 'cells', 'sft', 'seed-0', 'subset.jsonl'), 'utf8'))
    }
    assert.ok(existsSync(join(out, 'cells', 'sft', 'seed-1', 'run', 'checkpoints', 'step-000002')), 'the SFT cell ran medrl sft')
    const ppoCfg = readFileSync(join(out, 'cells', 'ppo', 'seed-0', 'run', 'config.yaml'), 'utf8')
    assert.match(ppoCfg, /algorithm: ppo/)
    assert.match(ppoCfg, /reward: format_correct/)
    // The in-distribution questions are about training diseases, the others about held-out ones.
    // (Recall questions name every disease; the two-hop vignettes are what is held out.)
    const diseases = (f: string) => new Set(readFileSync(join(out, 'testbed', f), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.meta.kind === 'two-hop').map((r) => r.meta.disease))
    const train = diseases('train.jsonl')
    assert.ok([...diseases('test-id.jsonl')].every((d) => train.has(d)))
    assert.ok([...diseases('test.jsonl')].every((d) => !train.has(d)))
    assert.ok([...diseases('test-style.jsonl')].every((d) => !train.has(d)))
    assert.equal(res.variants.sft.by_eval_set.id.diff_to_baseline, null)
    assert.ok(res.variants.ppo.by_eval_set.style.diff_to_baseline !== null)
    assert.match(r.stdout, /\| base model \|/)
    assert.match(r.stdout, /style: mean \[95% interval\], vs sft/)
  })

  it('a spec with a mistake is refused with the file and the field', () => {
    const dir = tempDir('medrl-exp-bad-')
    const cases: [string, RegExp][] = [
      [SPEC.replace('baseline: L1', 'baseline: L9'), /baseline: "L9" is not a variant \(L1, L1-3\)/],
      [SPEC.replace('levels: "1-3"', 'levels: "1-x"'), /variants\.L1-3\.subset\.levels: "1-x" is not a level or a range/],
      [SPEC.replace('per_level: 6 } }\n', 'per_level: 6, total: 3 } }\n'), /variants\.L1\.subset: give per_level \(balanced by level\) or total/],
      [SPEC.replace('testbed: { seed: 0 }', 'testbed: { seed: 0 }\nbase: somewhere'), /give either testbed .* or base .*, not both/],
      [SPEC.replace('seeds: [0, 1]', 'seeds: []'), /seeds: /],
      [SPEC.replace('  algorithm: grpo', '  algorithm: grpo\n  seed: 3'), /train\.seed: the experiment sets it/],
    ]
    for (const [text, error] of cases) {
      const f = join(dir, 'spec.yaml')
      writeFileSync(f, text)
      assert.throws(() => readExperimentSpec(f), (e: Error) => e.message.startsWith(`${f}: `) && error.test(e.message), text.slice(0, 0))
    }
  })
})
