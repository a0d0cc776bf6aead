import type { TopLevelSpec } from 'vega-lite'
import type { RunData } from './run-data.js'
import type { EvalResults } from '../eval/runner.js'

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

export const STAGE_NAMES = ['format_failure', 'verbose_formatter', 'concise_structurer', 'direct_answer_hacker', 'step_by_step_exploit', 'reintegrated_reasoning']

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json'

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
    width: 420,
    height: 220,
    data: { values },
    mark: { type: 'line', point: values.length < 60 },
    encoding: { x: { field: 'step', type: 'quantitative' }, y: { field: 'value', type: 'quantitative', title: metric }, color: { field: 'run', type: 'nominal' } },
  }
}

/** Share of each reasoning stage per step (Med-RLVR Figure 2). */
export function stagesSpec(run: RunData): TopLevelSpec {
  const values = run.metrics.flatMap((m) => STAGE_NAMES.filter((s) => typeof m.data[`stage/${s}`] === 'number').map((s) => ({ step: m.step, stage: s.replace(/_/g, ' '), share: m.data[`stage/${s}`]! })))
  return {
    $schema: SCHEMA,
    title: `Reasoning stages over training: ${run.name}`,
    width: 420,
    height: 220,
    data: { values },
    mark: 'area',
    encoding: { x: { field: 'step', type: 'quantitative' }, y: { field: 'share', type: 'quantitative', stack: 'normalize' }, color: { field: 'stage', type: 'nominal', sort: STAGE_NAMES.map((s) => s.replace(/_/g, ' ')) } },
  }
}

/** Question length distributions by source (AlphaMed Figure 2, right). */
export function lengthsSpec(lengths: Record<string, number[]>): TopLevelSpec {
  const values = Object.entries(lengths).flatMap(([source, xs]) => xs.map((chars) => ({ source, chars })))
  return {
    $schema: SCHEMA,
    title: 'Question length by source',
    width: 420,
    height: 220,
    data: { values },
    transform: [{ bin: { maxbins: 40 }, field: 'chars', as: 'bin' }],
    mark: { type: 'bar', opacity: 0.6 },
    encoding: { x: { field: 'bin', bin: { binned: true }, type: 'quantitative', title: 'characters' }, x2: { field: 'bin_end' }, y: { aggregate: 'count', type: 'quantitative', stack: null }, color: { field: 'source', type: 'nominal' } },
  }
}

/** Accuracy per benchmark of several evaluations side by side (quantity / diversity: AlphaMed Figures 3 and 4). */
export function evalBarsSpec(evals: { name: string; results: EvalResults }[]): TopLevelSpec {
  const values = evals.flatMap((e) => Object.entries(e.results.benchmarks).map(([b, r]) => ({ eval: e.name, benchmark: b, accuracy: 100 * r.accuracy, lo: 100 * r.ci95[0], hi: 100 * r.ci95[1] })))
  return {
    $schema: SCHEMA,
    title: 'Accuracy by benchmark (95% bootstrap intervals)',
    data: { values },
    width: 420,
    height: 220,
    layer: [
      { mark: 'bar', encoding: { x: { field: 'benchmark', type: 'nominal' }, xOffset: { field: 'eval' }, y: { field: 'accuracy', type: 'quantitative', title: 'accuracy (%)' }, color: { field: 'eval', type: 'nominal' } } },
      { mark: 'rule', encoding: { x: { field: 'benchmark', type: 'nominal' }, xOffset: { field: 'eval' }, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
    ],
  }
}

/** Accuracy per benchmark against the highest difficulty level included (AlphaMed Figure 5). */
export function levelsSpec(evals: { level: number; results: EvalResults }[]): TopLevelSpec {
  const values = evals.flatMap((e) => Object.entries(e.results.benchmarks).map(([b, r]) => ({ level: e.level, benchmark: b, accuracy: 100 * r.accuracy })))
  return {
    $schema: SCHEMA,
    title: 'Accuracy vs. highest level in the training data',
    width: 420,
    height: 220,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: { x: { field: 'level', type: 'ordinal', title: 'levels L1..Ln' }, y: { field: 'accuracy', type: 'quantitative', title: 'accuracy (%)' }, color: { field: 'benchmark', type: 'nominal' } },
  }
}
