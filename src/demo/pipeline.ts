import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { EmbeddedBackend } from '../backends/embedded.js'
import { writeRecords } from '../data/jsonl.js'
import type { QARecord } from '../data/record.js'
import { estimateDifficulty } from '../difficulty/levels.js'
import { balancedSubset, subsetManifest } from '../difficulty/subsets.js'
import { runEval, type EvalResults } from '../eval/runner.js'
import { DEFAULT_BENCHMARKS, defaultDataDir, resolveSuites } from '../eval/suites.js'
import { compareRuns, readPredictions } from '../eval/tables.js'
import { parseTrainConfig } from '../rl/config.js'
import { mentionsBeforeAnswer, train, type StepLog } from '../rl/trainer.js'
import { writeReport } from '../report/report.js'
import { DEFAULT_PRETRAIN, pretrainBase, type PretrainConfig } from '../synth/pretrain.js'
import { makeQuestions } from '../synth/questions.js'
import { makeCorpus, makeWorld } from '../synth/world.js'
import { writeFileAtomic } from '../util/atomic.js'
import { sha256Hex } from '../util/hash.js'

export interface DemoOptions {
  out: string
  seed: number
  /** GRPO steps. */
  steps: number
  /** Questions per difficulty level in the training subset. */
  perLevel: number
  /** Samples per question for difficulty levels. */
  k: number
  /** Items of each real benchmark scored (a sample). */
  realLimit: number
  maxNewTokens: number
  /** GRPO: prompts per step, rollouts per prompt, learning rate. */
  trainBatchSize: number
  numGenerations: number
  learningRate: number
  /** Reward of the GRPO run: binary (AlphaMed) or format_correct (Med-RLVR, punishes broken formats). */
  reward: string
  pretrain: PretrainConfig
  /** Directory of a committed base checkpoint (used when its pretraining config matches). */
  baseDir: string
  log: (msg: string) => void
}

export const DEMO_BASE = resolve(import.meta.dirname, '..', '..', 'assets', 'demo-base')

export function demoDefaults(out: string, log: (m: string) => void): DemoOptions {
  return { out, seed: 0, steps: 30, perLevel: 24, k: 5, realLimit: 10, maxNewTokens: 64, trainBatchSize: 16, numGenerations: 8, learningRate: 1e-4, reward: 'binary', pretrain: DEFAULT_PRETRAIN, baseDir: DEMO_BASE, log }
}

export function pretrainKey(c: PretrainConfig, corpus: string[], warmup: QARecord[]): string {
  return sha256Hex(JSON.stringify(c) + corpus.join('\n') + JSON.stringify(warmup)).slice(0, 16)
}

/** Share of an eval's predictions (of questions with an intermediate fact) that name it before answering. */
function mentionShare(dir: string, records: Map<string, QARecord>): number {
  const rows = readPredictions(dir).filter((r) => typeof records.get(r.id)?.meta.intermediate === 'string')
  return rows.length === 0 ? 0 : rows.filter((r) => mentionsBeforeAnswer(r.output, String(records.get(r.id)!.meta.intermediate))).length / rows.length
}

/**
 * The whole pipeline on the clinical testbed: world → base model (committed, or pretrained) → difficulty
 * levels with the base → a balanced subset → GRPO with the rule-based reward → evaluation of base and
 * trained models on held-out questions and on a sample of every real benchmark → report → summary.json.
 */
export async function runDemo(o: DemoOptions): Promise<Record<string, unknown>> {
  const t0 = Date.now()
  const log = o.log
  mkdirSync(o.out, { recursive: true })
  const world = makeWorld(o.seed)
  const corpus = makeCorpus(world, o.seed)
  const { train: trainQ, test: testQ, warmup } = makeQuestions(world, o.seed)
  const template = o.pretrain.template
  const data = join(o.out, 'testbed')
  mkdirSync(data, { recursive: true })
  writeFileAtomic(join(data, 'world.json'), JSON.stringify(world, null, 2))
  writeFileAtomic(join(data, 'corpus.txt'), `${corpus.join('\n')}\n`)
  writeRecords(join(data, 'train.jsonl'), trainQ)
  writeRecords(join(data, 'test.jsonl'), testQ)
  writeRecords(join(data, 'warmup.jsonl'), warmup)
  log(`testbed: ${world.diseases.length} diseases, ${corpus.length} corpus statements, ${trainQ.length} train and ${testQ.length} held-out questions`)

  // Base model: the committed one when it was made from this corpus and config, else pretrain now.
  const key = pretrainKey(o.pretrain, corpus, warmup)
  let base = o.baseDir
  const keyFile = join(o.baseDir, 'pretrain.key')
  if (!existsSync(keyFile) || readFileSync(keyFile, 'utf8').trim() !== key) {
    base = join(o.out, 'base')
    log(`pretraining the base model (${o.pretrain.steps} steps)…`)
    const losses = await pretrainBase(corpus, base, o.pretrain, (s, l) => {
      if ((s + 1) % 100 === 0) log(`  pretrain step ${s + 1}: loss ${l.toFixed(3)}`)
    }, warmup)
    writeFileAtomic(join(base, 'pretrain.key'), `${key}\n`)
    log(`  loss ${losses[0]!.toFixed(3)} → ${losses[losses.length - 1]!.toFixed(3)}`)
  } else log(`base model: ${base} (pretrained from this corpus; medrl pretrain reproduces it)`)

  // Difficulty levels with the base model, then a balanced subset.
  const baseBackend = EmbeddedBackend.fromDir(base)
  const leveled = await estimateDifficulty(baseBackend, trainQ, { k: o.k, template, maxNewTokens: o.maxNewTokens, seed: o.seed, batchSize: 48, out: join(o.out, 'levels.progress.jsonl') })
  writeRecords(join(o.out, 'levels.jsonl'), leveled)
  const subsetOpts = { perLevel: o.perLevel, levels: Array.from({ length: o.k + 1 }, (_, i) => i + 1), seed: o.seed }
  const sub = balancedSubset(leveled, subsetOpts)
  writeRecords(join(o.out, 'subset.jsonl'), sub.records)
  writeFileAtomic(join(o.out, 'subset.manifest.json'), `${JSON.stringify(await subsetManifest([join(o.out, 'levels.jsonl')], subsetOpts, sub.report, sub.records.length), null, 2)}\n`)
  log(`difficulty: ${JSON.stringify(sub.report.counts)}; subset of ${sub.records.length}${sub.report.short.length ? ` (short levels: ${sub.report.short.map((s) => `L${s.level}`).join(', ')})` : ''}`)

  // GRPO.
  const runDir = join(o.out, 'grpo')
  const logs: StepLog[] = []
  const cfg = parseTrainConfig({
    algorithm: 'grpo',
    seed: o.seed,
    total_steps: o.steps,
    model: { path: base },
    data: { files: [join(o.out, 'subset.jsonl')], template, reward: o.reward },
    rollout: { train_batch_size: o.trainBatchSize, num_generations: o.numGenerations, max_new_tokens: o.maxNewTokens },
    actor: { learning_rate: o.learningRate, micro_batch_size: 64 },
    trainer: { save_steps: 0, log_samples: 6 },
  })
  await train(cfg, runDir, {
    info: log,
    onStep: (l) => {
      logs.push(l)
      log(`  step ${l.step}/${o.steps}: reward ${l.data['reward/mean']!.toFixed(3)}, effective ${l.data['rollout/effective_ratio']!.toFixed(2)}, names the disease ${(l.data['reasoning/mentions_intermediate'] ?? 0).toFixed(2)}`)
    },
  })
  const trained = join(runDir, 'checkpoints', `step-${String(o.steps).padStart(6, '0')}`)

  // Evaluation: held-out testbed questions and a sample of each real benchmark, base and trained.
  const heldOut = { name: 'heldout', description: 'held-out two-hop testbed questions', files: [join(data, 'test.jsonl')] }
  const real = existsSync(defaultDataDir()) ? resolveSuites(DEFAULT_BENCHMARKS) : []
  const evalOf = async (dir: string, name: string): Promise<EvalResults> => {
    const b = name === 'base' ? baseBackend : EmbeddedBackend.fromDir(dir)
    // The testbed's figures are measured with lenient extraction (a final answer-only line also counts).
    const r1 = await runEval(b, { suites: [heldOut], template, mode: 'lenient', maxNewTokens: o.maxNewTokens, batchSize: 48, out: join(o.out, `eval-${name}`) })
    const r2 = real.length > 0 ? await runEval(b, { suites: real, template, mode: 'lenient', limit: o.realLimit, maxNewTokens: o.maxNewTokens, batchSize: 32, out: join(o.out, `eval-${name}-real`) }) : null
    if (b !== baseBackend) await b.close()
    return { ...r1, benchmarks: { ...r1.benchmarks, ...(r2?.benchmarks ?? {}) } }
  }
  const baseEval = await evalOf(base, 'base')
  const rlEval = await evalOf(trained, 'trained')
  await baseBackend.close()
  const cmp = compareRuns(readPredictions(join(o.out, 'eval-base')), readPredictions(join(o.out, 'eval-trained')), 1000, o.seed)[0]!
  const byId = new Map(testQ.map((r) => [r.id, r]))
  const summary = {
    heldout: {
      n: cmp.n,
      base_accuracy: cmp.a,
      trained_accuracy: cmp.b,
      diff: cmp.diff.mean,
      diff_ci95: cmp.diff.ci95,
    },
    reasoning: {
      mentions_intermediate_start: mentionShare(join(o.out, 'eval-base'), byId),
      mentions_intermediate_end: mentionShare(join(o.out, 'eval-trained'), byId),
      during_training: logs.map((l) => l.data['reasoning/mentions_intermediate'] ?? null),
    },
    training: { steps: logs.length, reward_start: logs[0]?.data['reward/mean'], reward_end: logs.at(-1)?.data['reward/mean'], reward_by_step: logs.map((l) => l.data['reward/mean']) },
    real_benchmarks: Object.fromEntries(Object.entries(rlEval.benchmarks).filter(([k]) => k !== 'heldout').map(([k, v]) => [k, { n: v.n, base: baseEval.benchmarks[k]?.accuracy, trained: v.accuracy, chance_note: 'a tiny model of a fictional world answers with names from that world, which match no real option: accuracy near zero, below chance (one over the number of options), is what it shows' }])),
    wall_seconds: (Date.now() - t0) / 1000,
  }
  writeFileAtomic(join(o.out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`)
  await writeReport(join(o.out, 'report'), { runDirs: [runDir], evals: [{ name: 'base', results: baseEval }, { name: 'trained', results: rlEval }], title: 'medrl demo: GRPO on the clinical testbed' })
  return summary
}
