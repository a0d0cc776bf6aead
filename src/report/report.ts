import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { TopLevelSpec } from 'vega-lite'
import type { EvalResults } from '../eval/runner.js'
import type { QuestionLengths } from '../data/stats.js'
import { loadReferences, resultTable, tableMarkdown, type ReferenceRow } from '../eval/tables.js'
import { writeFileAtomic } from '../util/atomic.js'
import { renderVegaLite } from './charts.js'
import { readRun, type RunData } from './run-data.js'
import { STAGES } from '../reward/stages.js'
import { DYNAMICS, evalBarsSpec, lengthsSpec, levelsSpec, metricSpec, stagesSpec } from './specs.js'

export interface ReportInput {
  runDirs: string[]
  /** Evaluations to show: a name (e.g. "base", "rl", or "L3" for Figure 5) and its results. */
  evals?: { name: string; results: EvalResults }[]
  references?: ReferenceRow[]
  title?: string
}

export interface ReportChart {
  id: string
  title: string
  /** Why a chart looks as it does, when that needs saying (e.g. a metric that is 0 throughout, and why). */
  note?: string
  svg: string
  png: string
  width: number
  height: number
}

/** Why a metric can be 0 all along, in words a reader of the report needs. */
const FLAT_ZERO: Record<string, string> = {
  'actor/kl': 'Every value is 0: no reference model was loaded (kl.kl_coef is 0), so there is no KL to measure.',
  'actor/clipfrac': 'Every value is 0: each rollout batch makes one on-policy update (actor.ppo_epochs 1, one mini-batch), so the probability ratio stays 1 and nothing is clipped.',
}

/** Charts medrl computes from the rollouts it scores against their questions (a verl run's, from its dumps). */
const FROM_MATCHED_ROLLOUTS = new Set(['accuracy/mean', 'rollout/effective_ratio', 'reasoning/mentions_intermediate'])

/** For a verl run whose dumps hold rollouts of questions not in its prepared train.parquet: how many, and where they are missing. */
function unmatchedNote(runs: RunData[]): string | undefined {
  const parts = runs.flatMap((r) => {
    const rows = r.metrics.filter((m) => (m.data['ingest/unmatched'] ?? 0) > 0)
    if (rows.length === 0) return []
    const unmatched = rows.reduce((a, m) => a + m.data['ingest/unmatched']!, 0)
    const all = unmatched + rows.reduce((a, m) => a + (m.data['ingest/matched'] ?? 0), 0)
    const steps = rows.map((m) => m.step)
    return [`${r.name}: ${unmatched} of ${all} rollouts in steps ${steps[0]}–${steps[steps.length - 1]}`]
  })
  if (parts.length === 0) return undefined
  return `Rollouts whose prompt matched no question of the prepared train.parquet (${parts.join('; ')}) are left out of this chart and of the reasoning stages: medrl computes them from rollouts it can score against their question. verl's own metrics (reward, response length, KL, entropy) count every rollout. A verl run on other files than the ones prepared, or a changed template, leaves prompts unmatched.`
}

/** Median question length per source in tokens and characters (the chart shows one unit; both are kept). */
function lengthsNote(l: QuestionLengths): string {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? 0
  return `Median per source: ${Object.keys(l.chars).map((s) => `${s} ${l.tokens?.[s] ? `${median(l.tokens[s]!)} tokens, ` : ''}${median(l.chars[s]!)} characters`).join('; ')}.`
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

/** Markdown-ish table to HTML (the tables module writes Markdown; the report shows the same rows). */
function tableHtml(md: string): string {
  const rows = md
    .trim()
    .split('\n')
    .filter((l, i) => i !== 1)
    .map((l) => l.replace(/^\||\|$/g, '').split('|').map((c) => c.trim()))
  const [head, ...body] = rows
  return `<table><thead><tr>${head!.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${body.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`
}

/**
 * A self-contained HTML report (no network needed to open it) and one PNG and one SVG per chart: training
 * dynamics (runs overlaid), reasoning stages, question lengths by source, evaluation tables beside the
 * published references, evaluation comparisons (and accuracy against the highest difficulty level when
 * the evaluations are named L1…Ln), and a browsable sample of completions.
 */
export async function writeReport(outDir: string, input: ReportInput): Promise<{ charts: ReportChart[]; html: string }> {
  mkdirSync(outDir, { recursive: true })
  const runs: RunData[] = input.runDirs.map(readRun)
  const specs: { id: string; title: string; spec: TopLevelSpec; note?: string }[] = []
  const unmatched = unmatchedNote(runs)
  for (const [metric, title] of DYNAMICS) {
    const values = runs.flatMap((r) => r.metrics.map((m) => m.data[metric]).filter((v): v is number => typeof v === 'number'))
    if (values.length === 0) continue
    const notes = [values.every((v) => v === 0) ? (FLAT_ZERO[metric] ?? 'Every value is 0.') : undefined, FROM_MATCHED_ROLLOUTS.has(metric) ? unmatched : undefined].filter((n): n is string => n !== undefined)
    specs.push({ id: `dynamics-${metric.replace(/\W+/g, '-')}`, title, spec: metricSpec(runs, metric, title), ...(notes.length > 0 ? { note: notes.join(' ') } : {}) })
  }
  for (const r of runs) if (r.metrics.some((m) => Object.keys(m.data).some((k) => k.startsWith('stage/')))) specs.push({ id: `stages-${r.name}`, title: `Reasoning stages: ${r.name}`, spec: stagesSpec(r), ...(unmatched ? { note: unmatched } : {}) })
  const lengths = runs.find((r) => r.dataLengths)?.dataLengths
  if (lengths) specs.push({ id: 'question-lengths', title: 'Question length by source', spec: lengthsSpec(lengths), note: lengthsNote(lengths) })
  const evals = input.evals ?? []
  if (evals.length > 0) specs.push({ id: 'evaluations', title: 'Evaluations', spec: evalBarsSpec(evals) })
  const leveled = evals.map((e) => ({ m: /^L(\d+)$/.exec(e.name), e })).filter((x) => x.m)
  if (leveled.length > 1) specs.push({ id: 'accuracy-by-level', title: 'Accuracy vs. highest level included', spec: levelsSpec(leveled.map((x) => ({ level: Number(x.m![1]), results: x.e.results }))) })

  const charts: ReportChart[] = []
  for (const s of specs) {
    const c = await renderVegaLite(s.spec)
    writeFileAtomic(join(outDir, `${s.id}.svg`), c.svg)
    writeFileAtomic(join(outDir, `${s.id}.png`), c.png)
    charts.push({ id: s.id, title: s.title, ...(s.note ? { note: s.note } : {}), svg: c.svg, png: `${s.id}.png`, width: c.width, height: c.height })
  }
  const refs = input.references ?? loadReferences()
  const table = evals.length > 0 ? tableHtml(tableMarkdown(resultTable(evals, refs))) : '<p>No evaluation given (use --eval NAME=DIR).</p>'
  const figure = (c: ReportChart) => `<figure class="chart" id="${c.id}">${c.svg}<figcaption>${esc(c.title)}${c.note ? `<br><span class="note">${esc(c.note)}</span>` : ''}</figcaption></figure>`
  const samples: Record<string, unknown>[] = runs.flatMap((r) => r.samples.slice(-200).map((s) => ({ run: r.name, ...s })))
  // Three real completions per reasoning stage and run (earliest, middle and latest logged), so a reader sees what each stage looks like.
  const byStage = runs.flatMap((r) =>
    STAGES.flatMap((stage) => {
      const xs = r.samples.filter((x) => x.stage === stage)
      const pick = xs.length <= 3 ? xs : [xs[0]!, xs[Math.floor(xs.length / 2)]!, xs[xs.length - 1]!]
      return pick.map((x): Record<string, unknown> & { stage: string } => ({ ...x, run: r.name, stage }))
    }),
  )
  const problems = runs.flatMap((r) => [...(r.exists ? [] : [`${r.dir}: no such run directory`]), ...r.badLines.map((b) => `${r.name}/metrics.jsonl line ${b.line} could not be read (${b.text})`)])
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(input.title ?? 'medrl report')}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1400px;color:#222}
figure svg{max-width:100%;height:auto}.chart{flex:1 1 640px;margin:0}figcaption{font-size:.9rem;color:#444}.note{color:#555;font-size:.9rem}
h1{font-size:1.6rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}
.charts{display:flex;flex-wrap:wrap;gap:1rem}.chart{border:1px solid #eee;padding:.5rem}
table{border-collapse:collapse;font-size:.9rem}td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left}
.problem{color:#a00}.samples td{vertical-align:top;max-width:40rem;white-space:pre-wrap}
</style></head><body>
<h1>${esc(input.title ?? 'medrl report')}</h1>
<p>Runs: ${runs.map((r) => `<code>${esc(r.name)}</code> (${r.metrics.length} steps)`).join(', ') || 'none'}.</p>
${problems.map((p) => `<p class="problem">${esc(p)}</p>`).join('\n')}
<h2>Training dynamics</h2>
<div class="charts">${charts.filter((c) => !['evaluations', 'accuracy-by-level'].includes(c.id)).map(figure).join('\n')}</div>
<h2>Evaluation</h2>
${table}
${evals.length > 0 ? '<p class="note">Cells: accuracy (%) ± its bootstrap standard deviation (1,000 resamples; the 95% intervals are in each results.json). Each row’s average is over the table’s columns, shown for rows that have them all.</p>' : ''}
<div class="charts">${charts.filter((c) => ['evaluations', 'accuracy-by-level'].includes(c.id)).map(figure).join('\n')}</div>
${byStage.length > 0 ? `<h2>Reasoning stages, by example</h2>
<p class="note">Up to three logged completions per stage and run (the earliest, a middle one and the latest), as the stage rules read them under the run's reward.</p>
<table class="samples stage-examples"><thead><tr><th>run</th><th>stage</th><th>step</th><th>reward</th><th>completion</th></tr></thead><tbody>
${byStage.map((s) => `<tr><td>${esc(String(s.run))}</td><td>${esc(s.stage.replace(/_/g, ' '))}</td><td>${esc(String(s.step ?? ''))}</td><td>${esc(String(s.reward ?? ''))}</td><td>${esc(String(s.completion ?? ''))}</td></tr>`).join('\n')}
</tbody></table>` : ''}
<h2>Sampled completions</h2>
<p><input id="filter" placeholder="filter (text, stage, id…)" oninput="for(const tr of document.querySelectorAll('.samples tbody tr'))tr.style.display=tr.textContent.toLowerCase().includes(this.value.toLowerCase())?'':'none'"></p>
<table class="samples"><thead><tr><th>run</th><th>step</th><th>id</th><th>answer</th><th>extracted</th><th>reward</th><th>stage</th><th>completion</th></tr></thead><tbody>
${samples.map((s) => `<tr><td>${esc(String(s.run))}</td><td>${esc(String(s.step ?? ''))}</td><td>${esc(String(s.id ?? ''))}</td><td>${esc(String(s.answer ?? ''))}</td><td>${esc(String(s.extracted ?? ''))}</td><td>${esc(String(s.reward ?? ''))}</td><td>${esc(String(s.stage ?? ''))}</td><td>${esc(String(s.completion ?? ''))}</td></tr>`).join('\n')}
</tbody></table>
</body></html>
`
  writeFileAtomic(join(outDir, 'index.html'), html)
  return { charts, html }
}
