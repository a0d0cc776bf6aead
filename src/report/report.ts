import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { TopLevelSpec } from 'vega-lite'
import type { EvalResults } from '../eval/runner.js'
import { loadReferences, resultTable, tableMarkdown, type ReferenceRow } from '../eval/tables.js'
import { writeFileAtomic } from '../util/atomic.js'
import { renderVegaLite } from './charts.js'
import { readRun, type RunData } from './run-data.js'
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
  svg: string
  png: string
  width: number
  height: number
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
  const specs: { id: string; title: string; spec: TopLevelSpec }[] = []
  for (const [metric, title] of DYNAMICS) {
    if (runs.some((r) => r.metrics.some((m) => typeof m.data[metric] === 'number'))) specs.push({ id: `dynamics-${metric.replace(/\W+/g, '-')}`, title, spec: metricSpec(runs, metric, title) })
  }
  for (const r of runs) if (r.metrics.some((m) => Object.keys(m.data).some((k) => k.startsWith('stage/')))) specs.push({ id: `stages-${r.name}`, title: `Reasoning stages: ${r.name}`, spec: stagesSpec(r) })
  const lengths = runs.find((r) => r.dataLengths)?.dataLengths
  if (lengths) specs.push({ id: 'question-lengths', title: 'Question length by source', spec: lengthsSpec(lengths) })
  const evals = input.evals ?? []
  if (evals.length > 0) specs.push({ id: 'evaluations', title: 'Evaluations', spec: evalBarsSpec(evals) })
  const leveled = evals.map((e) => ({ m: /^L(\d+)$/.exec(e.name), e })).filter((x) => x.m)
  if (leveled.length > 1) specs.push({ id: 'accuracy-by-level', title: 'Accuracy vs. highest level included', spec: levelsSpec(leveled.map((x) => ({ level: Number(x.m![1]), results: x.e.results }))) })

  const charts: ReportChart[] = []
  for (const s of specs) {
    const c = await renderVegaLite(s.spec)
    writeFileAtomic(join(outDir, `${s.id}.svg`), c.svg)
    writeFileAtomic(join(outDir, `${s.id}.png`), c.png)
    charts.push({ id: s.id, title: s.title, svg: c.svg, png: `${s.id}.png`, width: c.width, height: c.height })
  }
  const refs = input.references ?? loadReferences()
  const table = evals.length > 0 ? tableHtml(tableMarkdown(resultTable(evals, refs))) : '<p>No evaluation given (use --eval NAME=DIR).</p>'
  const samples: Record<string, unknown>[] = runs.flatMap((r) => r.samples.slice(-200).map((s) => ({ run: r.name, ...s })))
  const problems = runs.flatMap((r) => [...(r.exists ? [] : [`${r.dir}: no such run directory`]), ...r.badLines.map((b) => `${r.name}/metrics.jsonl line ${b.line} could not be read (${b.text})`)])
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(input.title ?? 'medrl report')}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1200px;color:#222}
h1{font-size:1.6rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}
.charts{display:flex;flex-wrap:wrap;gap:1rem}.chart{border:1px solid #eee;padding:.5rem}
table{border-collapse:collapse;font-size:.9rem}td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left}
.problem{color:#a00}.samples td{vertical-align:top;max-width:40rem;white-space:pre-wrap}
</style></head><body>
<h1>${esc(input.title ?? 'medrl report')}</h1>
<p>Runs: ${runs.map((r) => `<code>${esc(r.name)}</code> (${r.metrics.length} steps)`).join(', ') || 'none'}.</p>
${problems.map((p) => `<p class="problem">${esc(p)}</p>`).join('\n')}
<h2>Training dynamics</h2>
<div class="charts">${charts.filter((c) => !['evaluations', 'accuracy-by-level'].includes(c.id)).map((c) => `<figure class="chart" id="${c.id}">${c.svg}<figcaption>${esc(c.title)}</figcaption></figure>`).join('\n')}</div>
<h2>Evaluation</h2>
${table}
<div class="charts">${charts.filter((c) => ['evaluations', 'accuracy-by-level'].includes(c.id)).map((c) => `<figure class="chart" id="${c.id}">${c.svg}<figcaption>${esc(c.title)}</figcaption></figure>`).join('\n')}</div>
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
