import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { EmbeddedBackend } from '../backends/embedded.js'
import { importFiles } from '../data/import.js'
import { writeRecords } from '../data/jsonl.js'
import { questionText } from '../data/stats.js'
import type { QARecord } from '../data/record.js'
import { estimateDifficulty, type DifficultyMeta } from '../difficulty/levels.js'
import { Rng, hashString32 } from '../util/rng.js'
import { balancedSubset, subsetManifest } from '../difficulty/subsets.js'
import { runTraining } from '../engines/index.js'
import { runEval } from '../eval/runner.js'
import { modelFingerprint } from '../model/fingerprint.js'
import { TextTokenizer } from '../model/tokenizer.js'
import { parseTrainConfig } from '../rl/config.js'
import { makeQuestions, makeShiftQuestions } from '../synth/questions.js'
import { parseSftConfig } from '../sft/config.js'
import { sft } from '../sft/trainer.js'
import { makeCorpus, makeWorld } from '../synth/world.js'
import { DEMO_BASE, pretrainKey } from '../demo/pipeline.js'
import { DEFAULT_PRETRAIN } from '../synth/pretrain.js'
import { writeFileAtomic } from '../util/atomic.js'
import { Progress } from '../util/progress.js'
import { checkRunSettings } from '../util/run-settings.js'
import { cellDir, cellFinished } from './layout.js'
import { summarise, type ExperimentResults } from './results.js'
import { variantLevels, type ExperimentSpec, type VariantSpec } from './spec.js'
import { writeExperimentReport } from './report.js'

export interface ExperimentOptions {
  info?: (msg: string) => void
  /** Stop after this many cells have finished (tests of kill and resume). */
  stopAfterCells?: number
}


interface Pools {
  base: string
  train: QARecord[]
  /** Held-out sets by name (each an evaluation suite); the first is the experiment's primary measure. */
  evalSets: { name: string; file: string }[]
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
    const evalSets = spec.testbed.eval_sets.map((name) => {
      const file = join(dir, `${name === 'heldout' ? 'test' : `test-${name}`}.jsonl`)
      writeRecords(file, sets[name]!)
      return { name, file }
    })
    return { base: DEMO_BASE, train, evalSets }
  }
  const { records } = await importFiles(spec.train_files)
  return { base: spec.base!, train: records, evalSets: [{ name: 'heldout', file: spec.eval_files.length === 1 ? spec.eval_files[0]! : await mergeFiles(spec.eval_files, out) }] }
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

/** An RL cell: the spec's train config with the variant's overrides, through the engine seam. */
async function reinforce(spec: ExperimentSpec, v: VariantSpec, base: string, subset: string, seed: number, runDir: string, resume: boolean, onStep: (s: number) => void) {
  const t = merge(spec.train, v.train)
  const raw = { ...t, seed, model: { path: base }, data: { ...((t.data as object | undefined) ?? {}), files: [subset], template: spec.template } }
  return runTraining(parseTrainConfig(raw, `${v.name} seed ${seed}`), raw, runDir, { resume, info: () => {}, onStep })
}

/** An SFT cell: the spec's sft config on the variant's subset. */
async function fineTune(spec: ExperimentSpec, v: VariantSpec, base: string, subset: string, seed: number, runDir: string, resume: boolean, onStep: (s: number) => void) {
  const raw = { ...spec.sft, seed, model: { path: base }, data: { ...((spec.sft.data as object | undefined) ?? {}), files: [subset], template: spec.template } }
  return sft(parseSftConfig(raw, `${v.name} seed ${seed}`), runDir, { resume, onStep })
}

/**
 * Runs an experiment: difficulty levels once for the base, then every cell (variant × seed): its subset,
 * training, and greedy evaluation on the held-out questions. Finished cells are kept; a rerun continues the
 * grid (a cell cut off mid-training resumes from its checkpoint, an evaluation from its predictions) and
 * refuses settings that changed. Writes DIR/results.json and DIR/report/ as the grid fills.
 */
export async function runExperiment(spec: ExperimentSpec, out: string, o: ExperimentOptions = {}): Promise<ExperimentResults> {
  const info = o.info ?? (() => {})
  const t0 = Date.now()
  mkdirSync(out, { recursive: true })
  const p = await pools(spec, out)
  checkRunSettings(join(out, 'experiment.settings.json'), { spec, base: modelFingerprint(p.base) }, 'experiment')
  const tokenizer = TextTokenizer.fromDir(p.base)
  const countTokens = (s: string) => tokenizer.encode(s).length

  // Difficulty levels with the base, once for every variant and seed.
  const baseBackend = EmbeddedBackend.fromDir(p.base)
  const leveled = await estimateDifficulty(baseBackend, p.train, { k: spec.difficulty.k, template: spec.template, maxNewTokens: spec.difficulty.max_new_tokens, temperature: spec.difficulty.temperature, seed: 0, batchSize: 48, out: join(out, 'levels.progress.jsonl') })
  writeRecords(join(out, 'levels.jsonl'), leveled)
  const evalSettings = { suites: p.evalSets.map((e) => ({ name: e.name, description: `held-out questions (${e.name})`, files: [e.file] })), template: spec.template, mode: spec.eval.mode, maxNewTokens: spec.eval.max_new_tokens, batchSize: 48 }
  info(`difficulty: ${leveled.length} questions in levels L1–L${spec.difficulty.k + 1}; evaluating the base`)
  const baseEval = await runEval(baseBackend, { ...evalSettings, out: join(out, 'eval-base') })
  await baseBackend.close()

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
      info(`${label}: ${v.method === 'sft' ? 'fine-tuning' : 'training'}${hasRun ? ' (resuming)' : ''}`)
      const onStep = (step: number) => progress.update(finished, `${label}: step ${step}`)
      const r = v.method === 'sft' ? await fineTune(spec, v, p.base, join(dir, 'subset.jsonl'), seed, runDir, hasRun, onStep) : await reinforce(spec, v, p.base, join(dir, 'subset.jsonl'), seed, runDir, hasRun, onStep)
      if (!r.lastCheckpoint) throw new Error(`${label}: the engine left no Hugging Face checkpoint to evaluate (export one first)`)
      const policy = EmbeddedBackend.fromDir(r.lastCheckpoint)
      try {
        await runEval(policy, { ...evalSettings, out: join(dir, 'eval') })
      } finally {
        await policy.close()
      }
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
