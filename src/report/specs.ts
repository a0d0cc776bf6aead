import type { TopLevelSpec } from 'vega-lite'
import { STAGES as STAGE_NAMES } from '../reward/stages.js'
import type { RunData } from './run-data.js'
import type { EvalResults } from '../eval/runner.js'
import type { QuestionLengths } from '../data/stats.js'

/** The training-dynamics metrics the papers plot (AlphaMed Figure 2, left and middle), with their titles. */
export const DYNAMICS: [string, string][] = [
  ['reward/mean', 'Reward'],
  ['accuracy/mean', 'Accuracy'],
  ['rollout/effective_ratio', 'Effective-query ratio'],
  ['response_length/mean', 'Response length (tokens)'],
  ['actor/kl', 'KL to the reference'],
  ['actor/entropy', 'Entropy'],
  ['actor/clipfrac', 'Clip fraction'],
  // Logged when the training questions name the fact to be inferred (the testbed's two-hop vignettes).
  ['reasoning/mentions_intermediate', 'Reasoning that names the intermediate fact'],
]


const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json'

/** Chart size and a legend under the plot whose labels are never cut short. */
const SIZE = { width: 600, height: 260 } as const
const LEGEND = { orient: 'bottom', labelLimit: 600, columns: 2, title: null } as const

/** One metric over steps, several runs overlaid (and per-source lines when the run logs them). */
export function metricSpec(runs: RunData[], metric: string, title: string): TopLevelSpec {
  const values = runs.flatMap((r) =>
    r.metrics.flatMap((m) => {
      const out: { run: string; step: number; value: number }[] = []
      if (typeof m.data[metric] === 'number') out.push({ run: r.name, step: m.step, value: m.data[metric]! })
      for (const [k, v] of Object.entries(m.data)) if (k.startsWith(`${metric}/`)) out.push({ run: `${r.name} · ${k.slice(metric.length + 1)}`, step: m.step, value: v })
      return out
    }),
  )
  return {
    $schema: SCHEMA,
    title,
    ...SIZE,
    data: { values },
    mark: { type: 'line', point: values.length < 60 },
    encoding: { x: { field: 'step', type: 'quantitative', title: 'step' }, y: { field: 'value', type: 'quantitative', title }, color: { field: 'run', type: 'nominal', legend: LEGEND } },
  }
}

/** Share of each reasoning stage per step (Med-RLVR Figure 2). */
export function stagesSpec(run: RunData): TopLevelSpec {
  const values = run.metrics.flatMap((m) => STAGE_NAMES.filter((s) => typeof m.data[`stage/${s}`] === 'number').map((s) => ({ step: m.step, stage: s.replace(/_/g, ' '), share: m.data[`stage/${s}`]! })))
  return {
    $schema: SCHEMA,
    title: `Reasoning stages over training: ${run.name}`,
    ...SIZE,
    data: { values },
    mark: 'area',
    encoding: { x: { field: 'step', type: 'quantitative', title: 'step' }, y: { field: 'share', type: 'quantitative', stack: 'normalize', title: 'share of rollouts' }, color: { field: 'stage', type: 'nominal', sort: STAGE_NAMES.map((s) => s.replace(/_/g, ' ')), legend: LEGEND } },
  }
}

/** Question length distributions by source (AlphaMed Figure 2, right). */
export function lengthsSpec(lengths: QuestionLengths): TopLevelSpec {
  const unit = lengths.tokens ? 'tokens' : 'characters'
  const values = Object.entries(lengths.tokens ?? lengths.chars).flatMap(([source, xs]) => xs.map((n) => ({ source, n })))
  return {
    $schema: SCHEMA,
    title: `Question length by source (${unit})`,
    ...SIZE,
    data: { values },
    transform: [{ bin: { maxbins: 40 }, field: 'n', as: 'bin' }],
    mark: { type: 'bar', opacity: 0.6 },
    encoding: { x: { field: 'bin', bin: { binned: true }, type: 'quantitative', title: unit }, x2: { field: 'bin_end' }, y: { aggregate: 'count', type: 'quantitative', stack: null, title: 'questions' }, color: { field: 'source', type: 'nominal', legend: LEGEND } },
  }
}

/** Accuracy per benchmark of several evaluations side by side (quantity / diversity: AlphaMed Figures 3 and 4). */
export function evalBarsSpec(evals: { name: string; results: EvalResults }[]): TopLevelSpec {
  const benchmarks = [...new Set(evals.flatMap((e) => Object.keys(e.results.benchmarks)))]
  // Every bar is labelled with its value, so 0% is told from a benchmark an evaluation did not run ("not run").
  const values = evals.flatMap((e) =>
    benchmarks.map((b) => {
      const r = e.results.benchmarks[b]
      return r ? { eval: e.name, benchmark: b, accuracy: 100 * r.accuracy, lo: 100 * r.ci95[0], hi: 100 * r.ci95[1], label: `${(100 * r.accuracy).toFixed(1)}` } : { eval: e.name, benchmark: b, accuracy: 0, lo: null, hi: null, label: 'not run' }
    }),
  )
  const x = { field: 'benchmark', type: 'nominal', title: null, axis: { labelAngle: 0 } } as const
  return {
    $schema: SCHEMA,
    title: 'Accuracy by benchmark (bars: accuracy, lines: 95% bootstrap interval)',
    data: { values },
    width: Math.max(SIZE.width, benchmarks.length * evals.length * 28),
    height: SIZE.height,
    layer: [
      { mark: 'bar', encoding: { x, xOffset: { field: 'eval' }, y: { field: 'accuracy', type: 'quantitative', title: 'accuracy (%)' }, color: { field: 'eval', type: 'nominal', legend: LEGEND } } },
      { mark: 'rule', encoding: { x, xOffset: { field: 'eval' }, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
      { mark: { type: 'text', dy: -6, fontSize: 9 }, encoding: { x, xOffset: { field: 'eval' }, y: { field: 'accuracy', type: 'quantitative' }, text: { field: 'label' } } },
    ],
  }
}

/** Accuracy per benchmark against the highest difficulty level included (AlphaMed Figure 5). */
export function levelsSpec(evals: { level: number; results: EvalResults }[]): TopLevelSpec {
  const values = evals.flatMap((e) => Object.entries(e.results.benchmarks).map(([b, r]) => ({ level: e.level, benchmark: b, accuracy: 100 * r.accuracy })))
  return {
    $schema: SCHEMA,
    title: 'Accuracy vs. highest level in the training data',
    ...SIZE,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: { x: { field: 'level', type: 'ordinal', title: 'levels L1..Ln' }, y: { field: 'accuracy', type: 'quantitative', title: 'accuracy (%)' }, color: { field: 'benchmark', type: 'nominal', legend: LEGEND } },
  }
}
