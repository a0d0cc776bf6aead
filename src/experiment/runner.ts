import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { serveModel, type Serving } from '../backends/serving.js'
import { importFiles } from '../data/import.js'
import { writeRecords } from '../data/jsonl.js'
import { questionText } from '../data/stats.js'
import type { QARecord } from '../data/record.js'
import { estimateDifficulty, type DifficultyMeta } from '../difficulty/levels.js'
import { Rng, hashString32 } from '../util/rng.js'
import { balancedSubset, subsetManifest } from '../difficulty/subsets.js'
import { getEngine, runSft, runTraining } from '../engines/index.js'
import { runEval, type EvalResults } from '../eval/runner.js'
import { resolveSuites, type Suite } from '../eval/suites.js'
import { modelFingerprint } from '../model/fingerprint.js'
import { TextTokenizer } from '../model/tokenizer.js'
import { parseTrainConfig, type TrainConfig } from '../rl/config.js'
import { makeQuestions, makeShiftQuestions } from '../synth/questions.js'
import { parseSftConfig, type SftConfig } from '../sft/config.js'
import { makeCorpus, makeWorld } from '../synth/world.js'
import { DEMO_BASE, pretrainKey } from '../demo/pipeline.js'
import { DEFAULT_PRETRAIN } from '../synth/pretrain.js'
import { writeFileAtomic } from '../util/atomic.js'
import { readJsonl } from '../report/run-data.js'
import { Progress } from '../util/progress.js'
import { checkRunSettings } from '../util/run-settings.js'
import { CELL_TIMING, cellDir, cellFinished, type CellTiming } from './layout.js'
import { summarise, type ExperimentResults } from './results.js'
import { baseIsLocal, variantLevels, type ExperimentSpec, type VariantSpec } from './spec.js'
import { writeExperimentReport } from './report.js'

export interface ExperimentOptions {
  info?: (msg: string) => void
  /** Stop after this many cells have finished (tests of kill and resume). */
  stopAfterCells?: number
}


interface Pools {
  base: string
  train: QARecord[]
  /** The evaluation sets (each a suite); the first is the experiment's primary measure. */
  evalSets: Suite[]
}

/** The question pool, the held-out questions and the base: the testbed's (written into DIR/testbed) or the spec's files. */
async function pools(spec: ExperimentSpec, out: string): Promise<Pools> {
  if (spec.testbed) {
    const world = makeWorld(spec.testbed.seed)
    const { train, test, warmup } = makeQuestions(world, spec.testbed.seed)
    // The committed base knows one world: the one its pretraining key names.
    const key = pretrainKey(DEFAULT_PRETRAIN, makeCorpus(world, spec.testbed.seed), warmup)
    const keyFile = join(DEMO_BASE, 'pretrain.key')
    if (!existsSync(keyFile) || readFileSync(keyFile, 'utf8').trim() !== key) throw new Error(`testbed seed ${spec.testbed.seed}: the committed base (${DEMO_BASE}) was not pretrained on that world; run medrl demo --seed ${spec.testbed.seed} and give its base directory as base: with the testbed files`)
    const dir = join(out, 'testbed')
    mkdirSync(dir, { recursive: true })
    writeRecords(join(dir, 'train.jsonl'), train)
    const shift = makeShiftQuestions(world, { train, test, warmup }, spec.testbed.seed)
    const sets: Record<string, QARecord[]> = { heldout: test, id: shift.id, style: shift.style }
    const evalSets = spec.testbed.eval_sets.map((name): Suite => {
      const file = join(dir, `${name === 'heldout' ? 'test' : `test-${name}`}.jsonl`)
      writeRecords(file, sets[name]!)
      return { name, description: `held-out questions (${name})`, files: [file] }
    })
    return { base: DEMO_BASE, train, evalSets }
  }
  const { records } = await importFiles(spec.train_files)
  if (spec.eval.benchmarks.length > 0) return { base: spec.base!, train: records, evalSets: resolveSuites(spec.eval.benchmarks) }
  return { base: spec.base!, train: records, evalSets: [{ name: 'heldout', description: 'held-out questions (heldout)', files: [spec.eval_files.length === 1 ? spec.eval_files[0]! : await mergeFiles(spec.eval_files, out)] }] }
}

async function mergeFiles(files: string[], out: string): Promise<string> {
  const { records } = await importFiles(files)
  const path = join(out, 'eval-questions.jsonl')
  writeRecords(path, records)
  return path
}

/** A variant's training subset for one seed: its levels, sources and mix, after the informativeness filter. */
function subsetOf(v: VariantSpec, leveled: readonly QARecord[], seed: number, countTokens: (s: string) => number, where: string) {
  const qt = v.subset.question_tokens
  const pool = qt ? leveled.filter((r) => { const n = countTokens(questionText(r)); return n >= (qt.min ?? 0) && n <= (qt.max ?? Infinity) }) : leveled
  const levels = variantLevels(v, where)
  const opts = { perLevel: v.subset.per_level ?? v.subset.total!, levels, sources: v.subset.sources, weights: v.subset.weights, mix: v.subset.mix, seed }
  if (v.subset.total === undefined) return { opts, ...balancedSubset(pool, opts) }
  // total: a random draw of that many from the chosen levels and sources (quantity without balancing).
  const cands = pool.filter((r) => levels.includes((r.meta.difficulty as DifficultyMeta).level) && (v.subset.sources.length === 0 || v.subset.sources.includes(r.source)))
  const records = new Rng(hashString32(`${seed}:total`)).shuffle([...cands]).slice(0, v.subset.total)
  const counts: Record<string, Record<string, number>> = {}
  for (const r of records) {
    const l = `L${(r.meta.difficulty as DifficultyMeta).level}`
    counts[l] = { ...counts[l], [r.source]: (counts[l]?.[r.source] ?? 0) + 1 }
  }
  return { opts, records, report: { counts, short: records.length < v.subset.total ? [{ level: 0, source: null, wanted: v.subset.total, available: records.length }] : [] } }
}

/** A plain-object deep merge: `over`'s keys win, objects merge key by key. */
function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base }
  for (const [k, v] of Object.entries(over)) {
    const b = out[k]
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b) ? merge(b as Record<string, unknown>, v as Record<string, unknown>) : v
  }
  return out
}

/** The last step in a run's metrics.jsonl (0 when it has none). */
function lastLoggedStep(runDir: string): number {
  const f = join(runDir, 'metrics.jsonl')
  if (!existsSync(f)) return 0
  return Math.max(0, ...(readJsonl(f).rows as { step?: unknown }[]).map((r) => (typeof r?.step === 'number' ? r.step : 0)))
}

/** What trains one cell: its method, its resolved config (and the config as written) and the engine named in it. */
export type CellConfig = { method: 'rl'; cfg: TrainConfig; raw: Record<string, unknown>; engine: string } | { method: 'sft'; cfg: SftConfig; raw: Record<string, unknown>; engine: string }

/**
 * The training config of one cell: the spec's train config with the variant's overrides (RL), or its sft config
 * (SFT), on the variant's subset, from the base, with the cell's seed and the spec's template.
 */
export function cellConfig(spec: ExperimentSpec, v: VariantSpec, base: string, subset: string, seed: number): CellConfig {
  const where = `${v.name} seed ${seed}`
  // verl names its metrics and checkpoints after the experiment, the variant and the seed.
  const verl = (section: unknown) => ({ experiment_name: `${spec.name}-${v.name}-seed-${seed}`, ...((section as object | undefined) ?? {}) })
  if (v.method === 'sft') {
    const raw = { ...spec.sft, seed, model: { path: base }, data: { ...((spec.sft.data as object | undefined) ?? {}), files: [subset], template: spec.template }, verl: verl(spec.sft.verl) }
    const cfg = parseSftConfig(raw, where)
    return { method: 'sft', cfg, raw, engine: cfg.engine }
  }
  const t = merge(spec.train, v.train)
  const raw = { ...t, seed, model: { path: base }, data: { ...((t.data as object | undefined) ?? {}), files: [subset], template: spec.template }, verl: verl(t.verl) }
  const cfg = parseTrainConfig(raw, where)
  return { method: 'rl', cfg, raw, engine: cfg.engine }
}

/** Trains a cell on its engine: a new run, or the cut-off one resumed (a finished one is only read back). */
async function trainCell(c: CellConfig, dir: string, resume: boolean, onStep: (s: number) => void): Promise<void> {
  const runDir = join(dir, 'run')
  const opts = { resume, info: () => {}, onStep }
  if (c.method === 'sft') await runSft(c.cfg, runDir, opts)
  else await runTraining(c.cfg, c.raw, runDir, opts)
}

/** How the base is served for its difficulty levels and evaluation, and how each cell's checkpoint for its evaluation. */
export function servings(spec: ExperimentSpec): { base: Serving; cell: Serving } {
  const vllm: Serving = { server: 'vllm', vllm: spec.vllm }
  const base: Serving = spec.difficulty.endpoint.length > 0 ? { server: 'endpoint', urls: spec.difficulty.endpoint, servedModelName: spec.difficulty.served_model_name } : spec.difficulty.server === 'vllm' ? vllm : { server: 'embedded' }
  return { base, cell: spec.eval.server === 'vllm' ? vllm : { server: 'embedded' } }
}

/** The served model name of a cell's checkpoint (what vLLM's --served-model-name says). */
export function servedName(variant: string, seed: number): string {
  return `${variant}-seed-${seed}`
}

/**
 * The spec as it decides results: what only says where and how things run (the vLLM servers' ports and GPUs,
 * the base's endpoint, the plan's estimates) is left out, so it can change between a run and its continuation.
 */
function settingsOf(spec: ExperimentSpec): Record<string, unknown> {
  const { vllm: _vllm, estimate: _estimate, ...rest } = spec
  const { endpoint: _endpoint, served_model_name: _name, ...difficulty } = spec.difficulty
  return { ...rest, difficulty }
}

/**
 * Runs an experiment: difficulty levels once for the base, then every cell (variant × seed): its subset,
 * training (on the embedded engine or verl, as its config says), its checkpoint as a Hugging Face directory
 * (verl's merged by its model merger), and greedy evaluation on the evaluation sets (in this process or on vLLM
 * servers medrl starts and stops). Finished cells are kept; a rerun continues the grid (a cell cut off
 * mid-training resumes from its checkpoint, an evaluation from its predictions) and refuses settings that changed.
 * Writes DIR/results.json and DIR/report/ as the grid fills.
 */
export async function runExperiment(spec: ExperimentSpec, out: string, o: ExperimentOptions = {}): Promise<ExperimentResults> {
  const info = o.info ?? (() => {})
  const t0 = Date.now()
  mkdirSync(out, { recursive: true })
  const p = await pools(spec, out)
  const local = baseIsLocal(p.base)
  checkRunSettings(join(out, 'experiment.settings.json'), { spec: settingsOf(spec), base: local ? modelFingerprint(p.base) : `hub:${p.base}` }, 'experiment')
  if (!local && spec.variants.some((v) => v.subset.question_tokens)) throw new Error(`base ${p.base} is not a directory here: question_tokens counts tokens with the base's tokenizer; give base as a model directory`)
  const tokenizer = local ? TextTokenizer.fromDir(p.base) : null
  const countTokens = (s: string) => tokenizer!.encode(s).length
  const serve = servings(spec)

  // Difficulty levels with the base, once for every variant and seed, and the base's evaluation, on one serving.
  const evalSettings = { suites: p.evalSets, template: spec.template, mode: spec.eval.mode, maxNewTokens: spec.eval.max_new_tokens, batchSize: 48 }
  const baseServed = await serveModel(p.base, serve.base, { name: 'base', logDir: join(out, 'servers'), info })
  let leveled: QARecord[]
  let baseEval: EvalResults
  try {
    leveled = await estimateDifficulty(baseServed.backend, p.train, { k: spec.difficulty.k, template: spec.template, maxNewTokens: spec.difficulty.max_new_tokens, temperature: spec.difficulty.temperature, seed: 0, batchSize: 48, out: join(out, 'levels.progress.jsonl') })
    writeRecords(join(out, 'levels.jsonl'), leveled)
    info(`difficulty: ${leveled.length} questions in levels L1–L${spec.difficulty.k + 1}; evaluating the base`)
    baseEval = await runEval(baseServed.backend, { ...evalSettings, out: join(out, 'eval-base') })
  } finally {
    await baseServed.close()
  }

  const cells = spec.variants.flatMap((v) => spec.seeds.map((seed) => ({ v, seed })))
  let finished = cells.filter((c) => cellFinished(out, c.v.name, c.seed)).length
  const progress = new Progress(`experiment ${spec.name}`, cells.length, 'cells')
  progress.update(finished)
  if (finished > 0) info(`${finished} of ${cells.length} cells already finished: continuing the grid`)
  const writeAll = async (status: 'running' | 'complete') => {
    const results = summarise(spec, out, baseEval, status, (Date.now() - t0) / 1000)
    writeFileAtomic(join(out, 'results.json'), `${JSON.stringify(results, null, 2)}\n`)
    await writeExperimentReport(join(out, 'report'), spec, results)
    return results
  }
  let ranNow = 0
  try {
    for (const { v, seed } of cells) {
      const dir = cellDir(out, v.name, seed)
      if (cellFinished(out, v.name, seed)) continue
      mkdirSync(dir, { recursive: true })
      const sub = subsetOf(v, leveled, seed, countTokens, 'spec')
      if (sub.records.length === 0) throw new Error(`variant ${v.name}: its subset is empty (levels ${sub.opts.levels.join(', ')}, sources ${sub.opts.sources.join(', ') || 'all'}): no question matches`)
      writeRecords(join(dir, 'subset.jsonl'), sub.records)
      writeFileAtomic(join(dir, 'subset.manifest.json'), `${JSON.stringify(await subsetManifest([join(out, 'levels.jsonl')], sub.opts, sub.report, sub.records.length), null, 2)}\n`)
      const runDir = join(dir, 'run')
      const hasRun = existsSync(runDir) && readdirSync(runDir).length > 0
      const label = `${v.name} seed ${seed} (${sub.records.length} questions)`
      const c = cellConfig(spec, v, p.base, join(dir, 'subset.jsonl'), seed)
      info(`${label}: ${c.method === 'sft' ? 'fine-tuning' : 'training'} on ${c.engine}${hasRun ? ' (resuming)' : ''}`)
      const onStep = (step: number) => progress.update(finished, `${label}: step ${step}`)
      const stepsBefore = lastLoggedStep(runDir)
      const tTrain = Date.now()
      await trainCell(c, dir, hasRun, onStep)
      const tEval = Date.now()
      // Its checkpoint as a Hugging Face directory (verl's merged once into DIR/model/step-N).
      const ck = await getEngine(c.engine).checkpoint(join(dir, 'run'), { step: spec.eval.step, exportDir: join(dir, 'model'), logFile: join(dir, 'export.log') })
      info(`${label}: evaluating step ${ck.step} (${ck.dir})`)
      const served = await serveModel(ck.dir, serve.cell, { name: servedName(v.name, seed), logDir: join(dir, 'servers'), info })
      try {
        await runEval(served.backend, { ...evalSettings, out: join(dir, 'eval') })
      } finally {
        await served.close()
      }
      const timing: CellTiming = { method: c.method, engine: c.engine, steps: lastLoggedStep(runDir) - stepsBefore, train_seconds: (tEval - tTrain) / 1000, eval_seconds: (Date.now() - tEval) / 1000 }
      writeFileAtomic(join(dir, CELL_TIMING), `${JSON.stringify(timing)}\n`)
      finished++
      ranNow++
      progress.update(finished, label)
      await writeAll('running')
      if (o.stopAfterCells !== undefined && ranNow >= o.stopAfterCells) break
    }
  } finally {
    progress.stop()
  }
  return writeAll(finished === cells.length ? 'complete' : 'running')
}
