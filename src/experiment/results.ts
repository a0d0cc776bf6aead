import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { bootstrapMean, type Interval } from '../eval/bootstrap.js'
import type { EvalResults, PredictionRow } from '../eval/runner.js'
import { resolveSuites } from '../eval/suites.js'
import { compareRuns, readPredictions } from '../eval/tables.js'
import { readRun } from '../report/run-data.js'
import { mean } from '../util/stats.js'
import { cellDir, cellFinished } from './layout.js'
import type { ExperimentSpec } from './spec.js'

/** A variant's held-out accuracy on one evaluation set. */
export interface SetResult {
  /** Held-out accuracy of each finished seed. */
  accuracy_by_seed: Record<string, number>
  /** Mean over seeds, and the std across seeds. */
  mean: number
  std_across_seeds: number
  /** Bootstrap over held-out questions of the seed-averaged accuracy: 95% interval. */
  ci95: [number, number]
  /** Paired (same questions) difference to the baseline variant, seed-averaged per question. */
  diff_to_baseline: { mean: number; ci95: [number, number] } | null
}

export interface VariantResult extends SetResult {
  x: number | null
  /** Seeds whose cell has finished. */
  seeds_done: number[]
  /** Every evaluation set by name (the top-level fields are the first set's, the primary measure). */
  by_eval_set: Record<string, SetResult>
  /** Training questions per seed (the subset's size). */
  train_questions: number[]
  /** Per training step, averaged over seeds: mean reward and the effective-query ratio (RL variants). */
  reward_by_step: (number | null)[]
  effective_ratio_by_step: (number | null)[]
}

export interface ExperimentResults {
  name: string
  status: 'running' | 'complete'
  finding: string
  seeds: number[]
  baseline: string
  /** The evaluation sets, the primary first. */
  eval_sets: string[]
  held_out_questions: number
  base_accuracy: number
  base_accuracy_by_eval_set: Record<string, number>
  variants: Record<string, VariantResult>
  wall_seconds: number
}

function std(xs: readonly number[]): number {
  if (xs.length < 2) return 0
  const m = mean(xs)
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1))
}

/** Per-step mean of a metric over the runs that have that step. */
function byStep(runDirs: string[], metric: string): (number | null)[] {
  const runs = runDirs.filter((d) => existsSync(join(d, 'metrics.jsonl'))).map(readRun)
  const steps = Math.max(0, ...runs.map((r) => r.metrics.length))
  return Array.from({ length: steps }, (_, i) => {
    const v = runs.map((r) => r.metrics[i]?.data[metric]).filter((x): x is number => typeof x === 'number')
    return v.length > 0 ? mean(v) : null
  })
}

/** Prediction rows of every finished seed, pooled: per question, their mean is the seed-averaged correctness. */
function pooled(rows: PredictionRow[][]): PredictionRow[] {
  return rows.flat()
}

/** The evaluation sets of a spec, the primary first. */
export function evalSetNames(spec: ExperimentSpec): string[] {
  if (spec.testbed) return spec.testbed.eval_sets
  return spec.eval.benchmarks.length > 0 ? resolveSuites(spec.eval.benchmarks).map((s) => s.name) : ['heldout']
}

/** Results of the grid so far: per variant, the seeds done, their mean and spread, and intervals. */
export function summarise(spec: ExperimentSpec, out: string, baseEval: EvalResults, status: 'running' | 'complete', wallSeconds: number): ExperimentResults {
  const finishedRows = (variant: string) =>
    spec.seeds
      .filter((s) => cellFinished(out, variant, s))
      .map((s) => ({ seed: s, rows: readPredictions(join(cellDir(out, variant, s), 'eval')) }))
  const sets = evalSetNames(spec)
  const baselineRows = pooled(finishedRows(spec.baseline).map((x) => x.rows))
  const setResult = (done: { seed: number; rows: PredictionRow[] }[], isBaseline: boolean, set: string): SetResult => {
    const only = (rows: PredictionRow[]) => rows.filter((r) => r.benchmark === set)
    const accs = Object.fromEntries(done.map((d) => [String(d.seed), mean(only(d.rows).map((r) => (r.correct ? 1 : 0)))]))
    const rows = only(pooled(done.map((d) => d.rows)))
    const perItem = new Map<string, number[]>()
    for (const r of rows) (perItem.get(r.id) ?? perItem.set(r.id, []).get(r.id)!).push(r.correct ? 1 : 0)
    const ci: Interval = bootstrapMean([...perItem.values()].map((c) => mean(c)), 1000, 0)
    const base = only(baselineRows)
    const cmp = !isBaseline && rows.length > 0 && base.length > 0 ? compareRuns(base, rows, 1000, 0)[0] : undefined
    return {
      accuracy_by_seed: accs,
      mean: done.length > 0 ? mean(Object.values(accs)) : NaN,
      std_across_seeds: std(Object.values(accs)),
      ci95: ci.ci95,
      diff_to_baseline: cmp ? { mean: cmp.diff.mean, ci95: cmp.diff.ci95 } : null,
    }
  }
  const variants: Record<string, VariantResult> = {}
  for (const v of spec.variants) {
    const done = finishedRows(v.name)
    const bySet = Object.fromEntries(sets.map((set) => [set, setResult(done, v.name === spec.baseline, set)]))
    const runDirs = spec.seeds.map((s) => join(cellDir(out, v.name, s), 'run'))
    variants[v.name] = {
      x: v.x ?? null,
      seeds_done: done.map((d) => d.seed),
      ...bySet[sets[0]!]!,
      by_eval_set: bySet,
      train_questions: spec.seeds.map((s) => join(cellDir(out, v.name, s), 'subset.jsonl')).filter((f) => existsSync(f)).map(countLines),
      reward_by_step: byStep(runDirs, 'reward/mean'),
      effective_ratio_by_step: byStep(runDirs, 'rollout/effective_ratio'),
    }
  }
  const primary = baseEval.benchmarks[sets[0]!]
  return {
    name: spec.name,
    status,
    finding: spec.finding,
    seeds: spec.seeds,
    baseline: spec.baseline,
    eval_sets: sets,
    held_out_questions: primary?.n ?? 0,
    base_accuracy: primary?.accuracy ?? NaN,
    base_accuracy_by_eval_set: Object.fromEntries(sets.map((set) => [set, baseEval.benchmarks[set]!.accuracy])),
    variants,
    wall_seconds: wallSeconds,
  }
}

/** Records in a JSONL file (its non-empty lines). */
function countLines(path: string): number {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').length
}
