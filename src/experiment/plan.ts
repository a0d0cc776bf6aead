import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gpuGroups, vllmServeArgs, type VllmSettings } from '../backends/vllm.js'
import { resolveSuites } from '../eval/suites.js'
import { DEMO_BASE } from '../demo/pipeline.js'
import type { TrainConfig } from '../rl/config.js'
import type { SftConfig } from '../sft/config.js'
import { readJsonFile } from '../util/json-file.js'
import { mean } from '../util/stats.js'
import { lastCheckpointDir } from '../rl/checkpoint.js'
import { latestVerlStep, mergerArgs } from '../verl/checkpoints.js'
import { verlOverrides, verlPaths } from '../verl/prepare.js'
import { verlPython } from '../verl/runtime.js'
import { verlSftOverrides, verlSftPaths } from '../verl/sft.js'
import { CELL_TIMING, cellDir, cellFinished, type CellTiming } from './layout.js'
import { cellConfig, servedName, servings, type CellConfig } from './runner.js'
import { variantLevels, type ExperimentSpec, type VariantSpec } from './spec.js'

/** One cell of the plan: where it stands, what will run, on how many GPUs, for how long. */
export interface PlannedCell {
  variant: string
  seed: number
  dir: string
  status: string
  method: 'rl' | 'sft'
  engine: string
  /** Training questions: the subset's size once drawn, else at most this many. */
  questions: string
  steps: number
  commands: string[]
  trainGpus: number
  evalGpus: number
  /** Estimated wall hours still to run (training, then export and evaluation), null when no figure is known. */
  trainHours: number | null
  evalHours: number | null
}

export interface Plan {
  name: string
  cells: PlannedCell[]
  base: string
  difficulty: string[]
  notes: string[]
  /** GPU-hours still to spend, where every cell left has an estimate; else null. */
  gpuHours: number | null
  wallHours: number | null
}

const q = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`)
const cmd = (parts: string[]) => parts.map(q).join(' ')

/** At most how many questions a variant's subset holds (its levels × per_level, per source where it adds them), or its total. */
function subsetBound(v: VariantSpec, k: number): number {
  if (v.subset.total !== undefined) return v.subset.total
  const levels = variantLevels(v, 'spec').filter((l) => l <= k + 1).length
  return v.subset.per_level! * levels * (v.subset.mix === 'add' ? Math.max(1, v.subset.sources.length) : 1)
}

function countLines(path: string): number {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').length
}

/** The step a cut-off cell resumes from: verl's latest checkpoint, or the embedded engine's. */
function checkpointedStep(runDir: string): number {
  const verl = join(runDir, 'verl', 'checkpoints')
  if (existsSync(verl)) return latestVerlStep(verl) ?? 0
  const dir = lastCheckpointDir(runDir)
  return dir ? Number(/step-(\d+)$/.exec(dir)![1]) : 0
}

/** Where a cell stands: finished, evaluated in part, checkpointed at step N of M, or not started. */
function cellStatus(out: string, v: VariantSpec, seed: number, steps: number): { status: string; done: number } {
  if (cellFinished(out, v.name, seed)) return { status: 'finished', done: steps }
  const dir = cellDir(out, v.name, seed)
  if (existsSync(join(dir, 'eval'))) return { status: 'trained; evaluation under way', done: steps }
  const runDir = join(dir, 'run')
  const step = existsSync(runDir) ? checkpointedStep(runDir) : 0
  if (step >= steps) return { status: 'trained; evaluation not started', done: steps }
  if (step > 0) return { status: `trained to step ${step} of ${steps} (its checkpoint)`, done: step }
  return { status: existsSync(runDir) ? 'started, no checkpoint yet' : 'not started', done: 0 }
}

/** Seconds per step and per evaluation measured on this grid's finished cells, by method and engine. */
function measured(spec: ExperimentSpec, out: string): Map<string, { perStep: number; evalSeconds: number; cells: number }> {
  const by = new Map<string, CellTiming[]>()
  for (const v of spec.variants)
    for (const seed of spec.seeds) {
      const f = join(cellDir(out, v.name, seed), CELL_TIMING)
      if (!existsSync(f)) continue
      const t = readJsonFile<CellTiming>(f, 'cell timing')
      const key = `${t.method}/${t.engine}`
      by.set(key, [...(by.get(key) ?? []), t])
    }
  return new Map(
    [...by].map(([k, ts]) => {
      const trained = ts.filter((t) => t.steps > 0)
      return [k, { perStep: trained.length > 0 ? mean(trained.map((t) => t.train_seconds / t.steps)) : NaN, evalSeconds: mean(ts.map((t) => t.eval_seconds)), cells: ts.length }]
    }),
  )
}

/** A command with its Hydra overrides, one a line, shell-quoted as run.sh passes them; only those not in `shown` when given. */
function withOverrides(head: string, overrides: string[], shown?: { cell: string; overrides: string[] }): string[] {
  if (shown) {
    const differ = overrides.filter((o) => !shown.overrides.includes(o))
    return [`${head} … the overrides of ${shown.cell}, except:`, ...differ.map((o) => `    ${q(o)}`)]
  }
  return [`${head} \\`, ...overrides.map((o, i) => `    ${q(o)}${i < overrides.length - 1 ? ' \\' : ''}`)]
}

function launchLines(c: CellConfig, runDir: string, questions: number, shown?: { cell: string; overrides: string[] }): { lines: string[]; gpus: number; overrides: string[] } {
  const verlDir = join(runDir, 'verl')
  if (c.method === 'rl') {
    const cfg = c.cfg as TrainConfig
    const paths = verlPaths(cfg, verlDir, questions)
    const overrides = verlOverrides(cfg, c.raw, paths)
    const gpus = cfg.verl.nnodes * cfg.verl.n_gpus_per_node
    const head = cfg.verl.ray_address ? ['ray', 'job', 'submit', `--address=${cfg.verl.ray_address}`, '--runtime-env-json=…', '--', 'python3'] : [verlPython()]
    return {
      gpus,
      overrides,
      lines: [
        `prepare: medrl verl prepare → ${verlDir}/ (train.parquet, val.parquet, reward.py, run.sh, ${overrides.length} overrides checked against verl's schema)`,
        `reward: medrl reward serve at ${process.env.MEDRL_REWARD_URL ?? cfg.verl.reward_url}${process.env.MEDRL_REWARD_URL ? ' (yours, MEDRL_REWARD_URL)' : ', started and stopped by medrl'}`,
        ...withOverrides(`launch: bash ${join(verlDir, 'run.sh')} (${cfg.verl.nnodes} node${cfg.verl.nnodes > 1 ? 's' : ''} × ${cfg.verl.n_gpus_per_node} GPUs): ${cmd([...head, '-m', 'verl.trainer.main_ppo'])}`, overrides, shown),
      ],
    }
  }
  const cfg = c.cfg as SftConfig
  const overrides = verlSftOverrides(cfg, verlSftPaths(cfg, verlDir, questions, cfg.data.val_files.length > 0))
  return {
    gpus: cfg.verl.nnodes * cfg.verl.n_gpus_per_node,
    overrides,
    lines: [
      `prepare: train.parquet (chat messages) → ${verlDir}/, ${overrides.length} overrides`,
      ...withOverrides(`launch: bash ${join(verlDir, 'run.sh')} (${cfg.verl.nnodes} node${cfg.verl.nnodes > 1 ? 's' : ''} × ${cfg.verl.n_gpus_per_node} GPUs): ${cmd(['torchrun', cfg.verl.nnodes === 1 ? '--standalone' : '--node_rank=…', `--nnodes=${cfg.verl.nnodes}`, `--nproc_per_node=${cfg.verl.n_gpus_per_node}`, '-m', 'verl.trainer.sft_trainer'])}`, overrides, shown),
    ],
  }
}

function serveLines(model: string, s: VllmSettings, name: string): string[] {
  return gpuGroups(s).map((gpus, i) => `serve: CUDA_VISIBLE_DEVICES=${gpus.join(',')} ${cmd([s.command[0]!, ...vllmServeArgs(model, s, { port: s.port_range[0] + i, name, seed: 0 })])}   (port: the first free in ${s.port_range[0]}–${s.port_range[1]})`)
}

/**
 * What `medrl experiment SPEC` will run, without running anything: every cell with its status, each command
 * (prepare, launch with its overrides, merger, vLLM servers, evaluation) with its paths and GPUs, and the GPU-hours
 * still to spend, from the spec's steps and seconds per step measured on finished cells (or the spec's estimates).
 */
export function planExperiment(spec: ExperimentSpec, out: string): Plan {
  const serve = servings(spec)
  const base = spec.testbed ? DEMO_BASE : spec.base!
  const sets = spec.testbed ? spec.testbed.eval_sets.map((n) => `${n} (testbed)`) : spec.eval.benchmarks.length > 0 ? resolveSuites(spec.eval.benchmarks).map((s) => s.name) : ['heldout (eval_files)']
  const evalGpus = serve.cell.server === 'vllm' ? spec.vllm.data_parallel * spec.vllm.tensor_parallel_size : 0
  const m = measured(spec, out)
  const notes: string[] = []
  const difficulty = [
    `difficulty levels: k = ${spec.difficulty.k} samples of each question of the pool (${spec.train_files.length > 0 ? spec.train_files.join(', ') : 'the testbed’s training questions'}), temperature ${spec.difficulty.temperature}, ${spec.difficulty.max_new_tokens} new tokens → ${join(out, 'levels.jsonl')}`,
    ...(serve.base.server === 'vllm' ? serveLines(base, spec.vllm, 'base') : serve.base.server === 'endpoint' ? [`serve: your servers ${serve.base.urls.join(', ')}`] : ['serve: the embedded engine (this process, CPU)']),
    `eval: the base on ${sets.join(', ')} → ${join(out, 'eval-base')}`,
  ]
  const cells: PlannedCell[] = []
  for (const v of spec.variants) {
    // A variant's first cell shows every override; its other seeds only those that differ.
    let shown: { cell: string; overrides: string[] } | undefined
    for (const seed of spec.seeds) {
      const dir = cellDir(out, v.name, seed)
      const subset = join(dir, 'subset.jsonl')
      const drawn = existsSync(subset) ? countLines(subset) : null
      const n = drawn ?? subsetBound(v, spec.difficulty.k)
      const c = cellConfig(spec, v, base, subset, seed)
      const steps = c.cfg.total_steps
      const runDir = join(dir, 'run')
      const { status, done } = cellStatus(out, v, seed, steps)
      const commands = [`subset: levels ${JSON.stringify(v.subset.levels)}, ${v.subset.total !== undefined ? `${v.subset.total} drawn at random` : `${v.subset.per_level} per level (${v.subset.mix})`} → ${subset}`]
      let trainGpus = 0
      if (c.engine === 'verl') {
        const l = launchLines(c, runDir, n, shown)
        shown ??= { cell: `${v.name} seed ${seed}`, overrides: l.overrides }
        trainGpus = l.gpus
        commands.push(...l.lines)
        const step = spec.eval.step ?? steps
        const local = join(runDir, 'verl', 'checkpoints', `global_step_${step}`, ...(c.method === 'rl' ? ['actor'] : []))
        commands.push(`export: ${cmd([verlPython(), ...mergerArgs(local, join(dir, 'model', `step-${step}`))])}`)
      } else commands.push(`train: ${c.method === 'sft' ? 'medrl sft' : 'medrl train'} on the embedded engine (this process, CPU), ${steps} steps → ${runDir}`)
      const model = c.engine === 'verl' ? join(dir, 'model', `step-${spec.eval.step ?? steps}`) : join(runDir, 'checkpoints', 'step-…')
      if (serve.cell.server === 'vllm') commands.push(...serveLines(model, spec.vllm, servedName(v.name, seed)))
      commands.push(`eval: ${sets.join(', ')}, greedy, ${spec.eval.max_new_tokens} new tokens, ${spec.eval.mode} extraction → ${join(dir, 'eval')}`)
      const key = `${c.method}/${c.engine}`
      const given = c.method === 'rl' ? spec.estimate.rl_seconds_per_step : spec.estimate.sft_seconds_per_step
      const measuredStep = m.get(key)?.perStep
      const perStep = measuredStep !== undefined && Number.isFinite(measuredStep) ? measuredStep : (given ?? null)
      const evalSeconds = m.get(key)?.evalSeconds ?? (spec.estimate.eval_minutes_per_cell !== undefined ? spec.estimate.eval_minutes_per_cell * 60 : null)
      const finished = status === 'finished'
      cells.push({
        variant: v.name,
        seed,
        dir,
        status,
        method: c.method,
        engine: c.engine,
        questions: drawn !== null ? String(drawn) : `≤ ${n}`,
        steps,
        commands,
        trainGpus,
        evalGpus,
        trainHours: finished ? 0 : perStep === null ? null : ((steps - done) * perStep) / 3600,
        evalHours: finished ? 0 : evalSeconds === null ? null : evalSeconds / 3600,
      })
    }
  }
  for (const [key, x] of m) notes.push(`measured on ${x.cells} finished ${key} cell${x.cells > 1 ? 's' : ''}: ${Number.isFinite(x.perStep) ? `${x.perStep.toFixed(1)} s a step` : 'no step trained in one run'}, ${(x.evalSeconds / 60).toFixed(1)} min to export and evaluate`)
  if (spec.estimate.source) notes.push(`estimates: ${spec.estimate.source}`)
  if (!existsSync(join(out, 'levels.jsonl'))) notes.push('the base’s difficulty levels (once, before the first cell) are not in these figures')
  const known = cells.every((c) => c.trainHours !== null && c.evalHours !== null)
  if (!known) notes.push('some cells have no time estimate: set estimate.rl_seconds_per_step / sft_seconds_per_step / eval_minutes_per_cell, or run one cell and plan again')
  const gpuHours = known ? cells.reduce((a, c) => a + c.trainHours! * c.trainGpus + c.evalHours! * c.evalGpus, 0) : null
  const wallHours = known ? cells.reduce((a, c) => a + c.trainHours! + c.evalHours!, 0) : null
  return { name: spec.name, cells, base, difficulty, notes, gpuHours, wallHours }
}

/** The plan as text for a terminal. */
export function formatPlan(p: Plan): string {
  const h = (x: number | null) => (x === null ? '?' : x.toFixed(x < 10 ? 2 : 1))
  const out = [`experiment ${p.name}: ${p.cells.length} cells; base ${p.base}`, '', ...p.difficulty.map((l) => `  ${l}`), '']
  for (const c of p.cells) {
    out.push(`${c.variant} seed ${c.seed} — ${c.status}; ${c.method.toUpperCase()} on ${c.engine}, ${c.steps} steps, ${c.questions} questions; ${c.dir}`)
    out.push(...c.commands.map((l) => `  ${l}`))
    out.push(`  time left: training ${h(c.trainHours)} h on ${c.trainGpus || 'CPU'}${c.trainGpus ? ' GPUs' : ''}, evaluation ${h(c.evalHours)} h on ${c.evalGpus || 'CPU'}${c.evalGpus ? ' GPUs' : ''}`, '')
  }
  out.push(...p.notes.map((n) => `note: ${n}`))
  out.push(`total still to run: ${h(p.gpuHours)} GPU-hours, ${h(p.wallHours)} hours of wall time one cell after another`)
  return `${out.join('\n')}\n`
}
