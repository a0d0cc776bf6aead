import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { TopLevelSpec } from 'vega-lite'
import { renderVegaLite } from '../report/charts.js'
import { writeFileAtomic } from '../util/atomic.js'
import type { ExperimentResults, SetResult } from './results.js'
import type { ExperimentSpec } from './spec.js'

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json'
const LEGEND = { orient: 'bottom', labelLimit: 400, columns: 3, title: null } as const
const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : '–')
const pts = (x: number) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${(100 * x).toFixed(1)}` : '–')

/**
 * The experiment's figure: held-out accuracy per variant, the mean over seeds with its 95% interval, each
 * seed as a dot, and the base model as a dashed line. On a numeric x axis when every variant has an x
 * (e.g. the highest difficulty level included, AlphaMed Figure 5), else variants in the spec's order.
 */
export function accuracySpec(spec: ExperimentSpec, r: ExperimentResults): TopLevelSpec {
  const numeric = spec.variants.every((v) => v.x !== undefined)
  const many = r.eval_sets.length > 1
  const xOf = (name: string) => (numeric ? r.variants[name]!.x! : name)
  const x = numeric ? { field: 'x', type: 'quantitative' as const, title: spec.x_title, axis: { values: [...new Set(spec.variants.map((v) => v.x!))] }, scale: { zero: false, padding: 30 } } : { field: 'x', type: 'ordinal' as const, title: spec.x_title, sort: spec.variants.map((v) => v.name) }
  const done = spec.variants.filter((v) => r.variants[v.name]!.seeds_done.length > 0)
  const means = done.flatMap((v) => r.eval_sets.map((set) => ({ x: xOf(v.name), set, mean: r.variants[v.name]!.by_eval_set[set]!.mean, lo: r.variants[v.name]!.by_eval_set[set]!.ci95[0], hi: r.variants[v.name]!.by_eval_set[set]!.ci95[1] })))
  const seeds = spec.variants.flatMap((v) => r.eval_sets.flatMap((set) => Object.entries(r.variants[v.name]!.by_eval_set[set]?.accuracy_by_seed ?? {}).map(([seed, acc]) => ({ x: xOf(v.name), set, seed, acc }))))
  const bases = r.eval_sets.map((set) => ({ set, base: r.base_accuracy_by_eval_set[set] }))
  const y = { type: 'quantitative' as const, title: 'held-out accuracy', scale: { domain: [0, 1] }, axis: { format: '%' } }
  const color = many ? { color: { field: 'set', type: 'nominal' as const, title: 'evaluation set', legend: LEGEND } } : {}
  const offset = !numeric && many ? { xOffset: { field: 'set' } } : {}
  return {
    $schema: SCHEMA,
    title: `${spec.name}: held-out accuracy`,
    width: 520,
    height: 280,
    layer: [
      { data: { values: means }, mark: { type: 'rule', strokeWidth: 2 }, encoding: { x, y: { field: 'lo', ...y }, y2: { field: 'hi' }, ...color, ...offset } },
      { data: { values: means }, mark: (numeric ? { type: 'line', point: { filled: true, size: 80 } } : { type: 'point', filled: true, size: 80 }) as never, encoding: { x, y: { field: 'mean', ...y }, ...color, ...offset } },
      { data: { values: seeds }, mark: { type: 'point', opacity: 0.5, size: 30 }, encoding: { x, y: { field: 'acc', ...y }, ...color, ...offset } as never },
      { data: { values: bases }, mark: { type: 'rule', strokeDash: [6, 4] }, encoding: { y: { field: 'base', ...y }, ...(many ? color : { color: { value: 'gray' } }) } },
    ],
  } as TopLevelSpec
}

/**
 * A per-step training curve, averaged over seeds, one line per variant (AlphaMed Figure 2, left). The axis
 * title stays shorter than the plot is tall: a longer one stretches the chart and opens a band above it.
 */
export function curveSpec(r: ExperimentResults, key: 'reward_by_step' | 'effective_ratio_by_step', title: string, yTitle: string): TopLevelSpec {
  const values = Object.entries(r.variants).flatMap(([variant, v]) => v[key].map((value, i) => ({ variant, step: i + 1, value })).filter((p) => p.value !== null))
  const steps = Math.max(1, ...values.map((p) => p.step))
  return {
    $schema: SCHEMA,
    title,
    width: 520,
    height: 240,
    data: { values },
    mark: { type: 'line', point: values.length < 80 },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step', axis: steps <= 12 ? { values: Array.from({ length: steps }, (_, i) => i + 1), format: 'd' } : { tickMinStep: 1, format: 'd' } },
      y: { field: 'value', type: 'quantitative', title: yTitle },
      color: { field: 'variant', type: 'nominal', legend: LEGEND, sort: Object.keys(r.variants) },
    },
  }
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

/** The table of an experiment as Markdown rows (the README and notes quote it). */
export function resultsTable(spec: ExperimentSpec, r: ExperimentResults): string[][] {
  const [primary, ...others] = r.eval_sets
  const suffix = others.length > 0 ? ` (${primary})` : ''
  const head = ['variant', 'train questions', 'seeds', `held-out accuracy${suffix} (mean ± std over seeds)`, '95% interval', `vs ${spec.baseline} (points, 95% interval)`, ...others.map((s) => `${s}: mean [95% interval], vs ${spec.baseline}`)]
  const base = ['base model', '–', '–', pct(r.base_accuracy), '–', '–', ...others.map((s) => pct(r.base_accuracy_by_eval_set[s]!))]
  const rows = spec.variants.map((v) => {
    const x = r.variants[v.name]!
    const n = [...new Set(x.train_questions)]
    const diff = (d: SetResult['diff_to_baseline']) => (d ? `${pts(d.mean)} [${pts(d.ci95[0])}, ${pts(d.ci95[1])}]` : v.name === spec.baseline ? 'baseline' : '–')
    const other = others.map((s) => {
      const y = x.by_eval_set[s]!
      return `${pct(y.mean)} [${pct(y.ci95[0])}, ${pct(y.ci95[1])}], ${diff(y.diff_to_baseline)}`
    })
    return [v.name, n.join('/') || '–', String(x.seeds_done.length), `${pct(x.mean)} ± ${(100 * x.std_across_seeds).toFixed(1)}`, `[${pct(x.ci95[0])}, ${pct(x.ci95[1])}]`, diff(x.diff_to_baseline), ...other]
  })
  return [head, base, ...rows]
}

/** DIR/report/: index.html with the table and the figures, and each figure as PNG and SVG. */
export async function writeExperimentReport(dir: string, spec: ExperimentSpec, r: ExperimentResults): Promise<void> {
  mkdirSync(dir, { recursive: true })
  // Training curves only once some RL cell has logged steps (SFT cells have no reward).
  const hasCurve = (k: 'reward_by_step' | 'effective_ratio_by_step') => Object.values(r.variants).some((v) => v[k].some((x) => x !== null))
  const charts: { id: string; spec: TopLevelSpec; caption: string }[] = [
    { id: 'accuracy', spec: accuracySpec(spec, r), caption: `Held-out accuracy per variant: the mean of ${r.seeds.length} seeds with its 95% interval; dots are seeds, the dashed line the base model.` },
    ...(hasCurve('reward_by_step') ? [{ id: 'reward', spec: curveSpec(r, 'reward_by_step', 'Training reward per step', 'mean reward'), caption: 'Training reward per step, the mean over seeds.' }] : []),
    ...(hasCurve('effective_ratio_by_step') ? [{ id: 'effective-ratio', spec: curveSpec(r, 'effective_ratio_by_step', 'Effective-query ratio per step', 'effective-query ratio'), caption: 'Share of prompts whose rollouts did not all get the same reward, per step, the mean over seeds.' }] : []),
  ]
  const figures: string[] = []
  for (const { id, spec: s, caption } of charts) {
    const c = await renderVegaLite(s)
    writeFileAtomic(join(dir, `${id}.svg`), c.svg)
    writeFileAtomic(join(dir, `${id}.png`), c.png)
    figures.push(`<figure class="chart" id="${id}">${c.svg}<figcaption>${esc(caption)}</figcaption></figure>`)
  }
  const [head, ...body] = resultsTable(spec, r)
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>${esc(spec.name)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:1rem;margin-top:1.5em}.chart{margin:0;border:1px solid #eee;padding:.5rem}.chart svg{max-width:100%;height:auto}figcaption{font-size:.9rem;color:#444}</style></head><body>
<h1>Experiment: ${esc(spec.name)}</h1>
<p>${esc(spec.description)}</p>
${spec.finding ? `<p><b>The paper's finding:</b> ${esc(spec.finding)}</p>` : ''}
<p>Status: ${r.status}. Seeds ${r.seeds.join(', ')}; ${r.held_out_questions} held-out questions, greedy; base model ${pct(r.base_accuracy)}. ${(r.wall_seconds / 60).toFixed(1)} minutes in this run.</p>
<table><thead><tr>${head!.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${body.map((row) => `<tr>${row.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>
<div class="charts">
${figures.join('\n')}
</div>
</body></html>
`
  writeFileAtomic(join(dir, 'index.html'), html)
}
