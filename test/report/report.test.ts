import assert from 'node:assert/strict'
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { EmbeddedBackend } from '../../src/backends/embedded.js'
import { runEval } from '../../src/eval/runner.js'
import { resolveSuites } from '../../src/eval/suites.js'
import { parseTrainConfig } from '../../src/rl/config.js'
import { train } from '../../src/rl/trainer.js'
import { Dashboard } from '../../src/report/dashboard.js'
import { runCli, tempDir } from '../helpers.js'
import { inspectPng } from './png.js'

let runDir: string
let evalDir: string

before(async () => {
  runDir = join(tempDir('medrl-report-'), 'grpo-r1')
  await train(
    parseTrainConfig({
      algorithm: 'grpo',
      total_steps: 3,
      model: { init: { hidden: 48, layers: 2, heads: 4, kv_heads: 2, intermediate: 96, pretrain_steps: 60 } },
      data: { task: { size: 32 }, template: 'r1', reward: 'format_correct' },
      rollout: { train_batch_size: 4, num_generations: 4, max_new_tokens: 24 },
      actor: { learning_rate: 3e-4, micro_batch_size: 16 },
      trainer: { save_steps: 0 },
    }),
    runDir,
  )
  evalDir = tempDir('medrl-report-eval-')
  const backend = EmbeddedBackend.fromDir(join(runDir, 'checkpoints', 'step-000003'))
  await runEval(backend, { suites: resolveSuites(['medqa', 'gpqa-med']), template: 'direct', limit: 4, maxNewTokens: 4, out: evalDir })
  await backend.close()
})

describe('medrl report', () => {
  it('writes a self-contained HTML report with every chart and table, and a PNG and an SVG per chart', () => {
    const out = join(tempDir(), 'report')
    const r = runCli(['report', runDir, '--eval', `rl=${evalDir}`, `L1=${evalDir}`, `L2=${evalDir}`, '--out', out])
    assert.equal(r.code, 0, r.stderr)
    const html = readFileSync(join(out, 'index.html'), 'utf8')
    const charts = ['dynamics-reward-mean', 'dynamics-accuracy-mean', 'dynamics-rollout-effective_ratio', 'dynamics-response_length-mean', 'dynamics-actor-kl', 'dynamics-actor-entropy', 'dynamics-actor-clipfrac', 'stages-grpo-r1', 'question-lengths', 'evaluations', 'accuracy-by-level']
    for (const c of charts) {
      assert.ok(html.includes(`id="${c}"`), `chart ${c} in the page`)
      assert.match(readFileSync(join(out, `${c}.svg`), 'utf8'), /^<svg/)
      const png = inspectPng(readFileSync(join(out, `${c}.png`)))
      assert.ok(png.width >= 400 && png.height >= 200, `${c}: ${png.width}×${png.height}`)
      assert.ok(png.distinctBytes > 8, `${c} is not blank`)
    }
    assert.ok(!/https?:\/\/(?!vega\.github\.io|www\.w3\.org)/.test(html.replace(/xmlns(:\w+)?="[^"]*"/g, '')), 'no network references')
    assert.match(html, /<th>model<\/th><th>medqa<\/th><th>gpqa-med<\/th>/)
    assert.match(html, /Llama-3\.1-8B-Instruct/)
    assert.match(html, /class="samples"/)
    assert.match(html, /<td>grpo-r1<\/td><td>3<\/td>/)
    // Real completions per reasoning stage, each row naming one of the six stages; at most three per stage.
    const stageRows = [...html.matchAll(/<tr><td>grpo-r1<\/td><td>(format failure|verbose formatter|concise structurer|direct answer hacker|step by step exploit|reintegrated reasoning)<\/td>/g)].map((m) => m[1])
    assert.ok(stageRows.length > 0, 'stage examples shown')
    for (const st of new Set(stageRows)) assert.ok(stageRows.filter((x) => x === st).length <= 3, st)
    // Question lengths in the policy's tokens, both units in the note.
    assert.match(html, /Median per source: color-rule \d+ tokens, \d+ characters/)
  })
})

describe('medrl report: a directory with no run', () => {
  it('is an error that says what to pass, for a missing directory and for one that holds no run', () => {
    const empty = tempDir()
    for (const d of [join(empty, 'nonexistent'), empty]) {
      const r = runCli(['report', d, '--out', join(tempDir(), 'r')])
      assert.equal(r.code, 1)
      assert.match(r.stderr, d === empty ? /holds no run \(no metrics\.jsonl\): give a run directory/ : /nonexistent: no such directory/)
    }
  })
})

describe('medrl dashboard', () => {
  let dash: Dashboard
  let url: string
  let live: string
  before(async () => {
    const root = tempDir('medrl-dash-')
    live = join(root, 'live-run')
    mkdirSync(live)
    writeFileSync(join(live, 'metrics.jsonl'), [1, 2, 3].map((s) => JSON.stringify({ step: s, data: { 'reward/mean': s / 10, 'accuracy/mean': s / 10 } })).join('\n') + '\n')
    writeFileSync(join(live, 'samples.jsonl'), JSON.stringify({ step: 3, id: 'q1', answer: 'B', extracted: 'B', reward: 1, stage: null, completion: 'B' }) + '\n')
    dash = new Dashboard({ runs: [live, runDir, join(root, 'gone')], pollMs: 100 })
    url = `http://127.0.0.1:${(await dash.listen(0)).port}/`
  })
  after(async () => dash.close())

  it('shows bad and truncated metrics and missing runs as such, and never crashes', async () => {
    const runs = (await (await fetch(`${url}api/runs`)).json()) as { name: string; exists: boolean; steps: number }[]
    assert.deepEqual(runs.map((r) => [r.name, r.exists]), [['live-run', true], ['grpo-r1', true], ['gone', false]])
    assert.equal((await fetch(`${url}api/runs/nope/metrics`)).status, 404)
    assert.equal((await fetch(`${url}api/runs/gone/metrics`)).status, 200)
    assert.equal((await fetch(`${url}api/runs/live-run/chart/reward%2Fmean.svg`)).status, 200)
    assert.equal((await fetch(`${url}nothing/here`)).status, 404)
    assert.equal((await fetch(`${url}api/runs/%E0%A4%A/metrics`)).status, 400, 'a malformed %-escape is a bad request, not a crash')
  })

  it('a port in use is one clear error and the command exits', () => {
    const r = runCli(['dashboard', '--port', String(new URL(url).port), live])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /dashboard: cannot listen on 127\.0\.0\.1:\d+: the port is in use/)
  })

  const chromium = '/usr/bin/chromium'
  it('a real browser sees a run, sees its chart update after new metrics are appended, and takes a screenshot', { skip: existsSync(chromium) ? false : 'Debian chromium not installed here (.ci/run installs it)' }, async () => {
    const { chromium: pw } = await import('playwright-core')
    const browser = await pw.launch({ executablePath: chromium, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] })
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
      await page.goto(url)
      await page.waitForSelector('#runs li[data-run="live-run"]')
      // Page-side expressions are strings: they run in the browser, not in Node.
      await page.waitForFunction("document.getElementById('step')?.textContent === '3'")
      await page.waitForSelector('img[data-metric="reward/mean"]')
      await page.waitForFunction(`document.querySelector('img[data-metric="reward/mean"]').naturalWidth > 100`)
      const before = await page.getAttribute('img[data-metric="reward/mean"]', 'src')
      appendFileSync(join(live, 'metrics.jsonl'), JSON.stringify({ step: 4, data: { 'reward/mean': 0.9, 'accuracy/mean': 0.8 } }) + '\n')
      await page.waitForFunction("document.getElementById('step')?.textContent === '4'", undefined, { timeout: 10_000 })
      const afterSrc = await page.getAttribute('img[data-metric="reward/mean"]', 'src')
      assert.notEqual(afterSrc, before)
      assert.match(afterSrc!, /v=4$/)
      // A half-written line is reported on the page; the server keeps answering.
      appendFileSync(join(live, 'metrics.jsonl'), '{"step": 5, "data": {"reward/me')
      await page.waitForFunction("/1 unreadable line/.test(document.getElementById('problems')?.textContent ?? '')", undefined, { timeout: 10_000 })
      const shot = join(tempDir(), 'dashboard.png')
      await page.screenshot({ path: shot, fullPage: true })
      const png = inspectPng(readFileSync(shot))
      assert.ok(png.width === 1280 && png.height >= 600 && png.distinctBytes > 8)
      assert.match((await page.textContent('#samples')) ?? '', /q1/)
      // The report, as a reader sees it: every chart drawn at a readable width, axes titled in words, the flat
      // KL and clip-fraction charts explained, ± explained under the table.
      const out = join(tempDir(), 'report')
      assert.equal(runCli(['report', runDir, '--eval', `rl=${evalDir}`, '--out', out]).code, 0)
      await page.goto(`file://${join(out, 'index.html')}`)
      const figures = await page.$$eval('figure.chart', (fs) => fs.map((f) => ({ id: f.id, width: f.querySelector('svg')!.getBoundingClientRect().width, text: f.textContent ?? '' })))
      assert.ok(figures.length >= 8, `${figures.length} charts`)
      for (const f of figures) assert.ok(f.width >= 500, `${f.id} drawn ${Math.round(f.width)} px wide`)
      const reward = figures.find((f) => f.id === 'dynamics-reward-mean')!
      assert.ok(reward.text.includes('Reward') && !reward.text.includes('reward/mean'), 'the y axis says what it shows')
      const kl = figures.find((f) => f.id === 'dynamics-actor-kl')
      if (kl && /Every value is 0/.test(kl.text)) assert.match(kl.text, /no reference model was loaded/)
      assert.match((await page.textContent('body')) ?? '', /± its bootstrap standard deviation/)
      await page.screenshot({ path: join(tempDir(), 'report.png'), fullPage: true })
    } finally {
      await browser.close()
    }
  })
})
