import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { askQuestions } from '../backends/answer.js'
import { backendIdentity, type Backend } from '../backends/types.js'
import type { Letter, QARecord } from '../data/record.js'
import { isCorrect, type ExtractMode } from '../reward/extract.js'
import { getTemplate } from '../reward/templates.js'
import { writeFileAtomic } from '../util/atomic.js'
import { JsonlLog } from '../util/jsonl-log.js'
import { checkRunSettings } from '../util/run-settings.js'
import { bootstrapMean } from './bootstrap.js'
import { loadSuite, type Suite } from './suites.js'
import { readJsonFile } from '../util/json-file.js'
import { DEFAULT_MAX_NEW_TOKENS } from '../defaults.js'

export interface PredictionRow {
  benchmark: string
  id: string
  sample: number
  /** The batch the item was generated in (a resumed run regenerates whole batches, so results match). */
  batch: number
  output: string
  extracted: Letter | null
  correct: boolean
  finish_reason: string
  /** The prompt left no room in the model's context: nothing was generated, and the item counts as wrong. */
  overlong?: true
}

export interface BenchmarkResult {
  n: number
  accuracy: number
  std: number
  ci95: [number, number]
  invalid_rate: number
  samples: number
  pass_at_k?: number
  maj_at_k?: number
  subjects?: Record<string, { n: number; accuracy: number }>
  description: string
  /** Items the benchmark has (n is fewer when --limit chose a part). */
  total?: number
  /** Items whose prompt did not fit the model's context (counted wrong; nothing generated). */
  overlong?: number
}

export interface EvalResults {
  model: string
  backend: string
  template: string
  chat: boolean
  generation: { samples: number; temperature: number; max_new_tokens: number; seed: number }
  extraction: ExtractMode
  benchmarks: Record<string, BenchmarkResult>
  /** Unweighted mean accuracy over the benchmarks. */
  average: number
  bootstrap: { resamples: number; seed: number }
  /**
   * "running" until every benchmark of the last run's selection is scored (a killed run stays "running");
   * every entry of `benchmarks` is finished. Results written before this field existed count as complete.
   */
  status?: 'running' | 'complete'
  /** The benchmarks the last run was asked for, and its --limit. */
  selection?: { benchmarks: string[]; limit: number | null }
}

/** Whether an evaluation finished everything it was asked for (older results, without a status, did). */
export function isComplete(r: EvalResults): boolean {
  return r.status === undefined || r.status === 'complete'
}

/**
 * Evaluation reads only the answer the template asks for (\boxed{} for boxed, <answer> for R1, the letter for
 * direct): that is what the papers' numbers mean, and it does not credit degenerate output that happens to end on a
 * letter. `lenient` also reads "the answer is X" statements and a final answer-only line, as HuatuoGPT-o1's scripts do.
 */
export const DEFAULT_EVAL_EXTRACTION: ExtractMode = 'strict'

export interface EvalOptions {
  suites: Suite[]
  template: string
  chat?: boolean
  limit?: number
  /** Completions per item: 1 (greedy by default), or k for pass@k / maj@k. */
  samples?: number
  temperature?: number
  maxNewTokens?: number
  seed?: number
  batchSize?: number
  mode?: ExtractMode
  dataDir?: string
  out: string
  resamples?: number
  onProgress?: (benchmark: string, done: number, total: number) => void
}

/** The last complete write of a batch in the log (every item × sample once), or null. */
function completeBatch(rows: PredictionRow[], batch: readonly QARecord[], k: number): PredictionRow[] | null {
  const need = batch.length * k
  if (rows.length < need) return null
  const last = rows.slice(rows.length - need)
  const want = new Set(batch.flatMap((r) => Array.from({ length: k }, (_, s) => `${r.id}\u0000${s}`)))
  for (const r of last) if (!want.delete(`${r.id}\u0000${r.sample}`)) return null
  return want.size === 0 ? last : null
}

function subjectOf(r: QARecord): string | null {
  const s = r.meta.subject ?? r.meta.category
  return typeof s === 'string' && s !== '' ? s : null
}

/** Accuracy, bootstrap interval, invalid rate, pass@k, maj@k and subjects of one benchmark's predictions. */
export function scoreBenchmark(suite: Suite, records: readonly QARecord[], rows: readonly PredictionRow[], k: number, resamples: number, seed: number): BenchmarkResult {
  const byId = new Map<string, PredictionRow[]>()
  for (const r of rows) {
    const l = byId.get(r.id) ?? []
    l.push(r)
    byId.set(r.id, l)
  }
  const items = records.filter((r) => byId.has(r.id))
  const perItem = items.map((r) => {
    const ps = byId.get(r.id)!
    return ps.filter((p) => p.correct).length / ps.length
  })
  const iv = bootstrapMean(perItem, resamples, seed)
  const all = items.flatMap((r) => byId.get(r.id)!)
  const res: BenchmarkResult = {
    n: items.length,
    accuracy: iv.mean,
    std: iv.std,
    ci95: iv.ci95,
    invalid_rate: all.filter((p) => p.extracted === null).length / Math.max(1, all.length),
    samples: k,
    description: suite.description,
    overlong: items.filter((r) => byId.get(r.id)!.some((p) => p.overlong)).length,
  }
  if (k > 1) {
    res.pass_at_k = items.filter((r) => byId.get(r.id)!.some((p) => p.correct)).length / Math.max(1, items.length)
    res.maj_at_k =
      items.filter((r) => {
        const counts = new Map<string, number>()
        for (const p of byId.get(r.id)!) if (p.extracted) counts.set(p.extracted, (counts.get(p.extracted) ?? 0) + 1)
        const top = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]
        return top !== undefined && isCorrect(top[0] as Letter, r)
      }).length / Math.max(1, items.length)
  }
  const subjects = new Map<string, number[]>()
  items.forEach((r, i) => {
    const s = subjectOf(r)
    if (s) subjects.set(s, [...(subjects.get(s) ?? []), perItem[i]!])
  })
  if (subjects.size > 1) res.subjects = Object.fromEntries([...subjects.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([s, v]) => [s, { n: v.length, accuracy: v.reduce((a, b) => a + b, 0) / v.length }]))
  return res
}

/**
 * Runs benchmarks through a backend: prompts from the template, greedy decoding unless samples > 1,
 * extraction, scoring. Predictions are appended per batch to OUT/predictions.jsonl; a rerun skips the
 * finished batches (a partly written batch is redone whole, so results equal an uninterrupted run); OUT/settings.json
 * makes sure that a rerun has the same model and generation settings.
 * OUT/results.json is written (atomically) after every benchmark.
 */
export async function runEval(backend: Backend, o: EvalOptions): Promise<EvalResults> {
  const template = getTemplate(o.template)
  const k = o.samples ?? 1
  const temperature = o.temperature ?? (k > 1 ? 1 : 0)
  const maxNew = o.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS
  const seed = o.seed ?? 0
  const bs = o.batchSize ?? 16
  const mode = o.mode ?? DEFAULT_EVAL_EXTRACTION
  const resamples = o.resamples ?? 1000
  await backend.ready?.()
  checkRunSettings(join(o.out, 'settings.json'), { model: backendIdentity(backend), backend: backend.kind, template: template.name, chat: o.chat === true, samples: k, temperature, max_new_tokens: maxNew, seed, batch_size: bs, extraction: mode }, 'evaluation')
  const log = new JsonlLog<PredictionRow>(join(o.out, 'predictions.jsonl'))
  // Keep only complete batches from an earlier run.
  const kept = new Map<string, PredictionRow[]>()
  for (const r of log.rows) {
    const key = `${r.benchmark}\u0000${r.batch}`
    kept.set(key, [...(kept.get(key) ?? []), r])
  }
  const results: EvalResults = {
    model: backend.model,
    backend: backend.kind,
    template: template.name,
    chat: o.chat === true,
    generation: { samples: k, temperature, max_new_tokens: maxNew, seed },
    extraction: mode,
    benchmarks: {},
    average: NaN,
    bootstrap: { resamples, seed },
    status: 'running',
    selection: { benchmarks: o.suites.map((x) => x.name), limit: o.limit ?? null },
  }
  // Benchmarks an earlier run finished and this one was not asked for keep their results (same settings, checked above).
  const resultsPath = join(o.out, 'results.json')
  if (existsSync(resultsPath)) {
    const before = readJsonFile<EvalResults>(resultsPath, 'evaluation result')
    for (const [name, b] of Object.entries(before.benchmarks)) if (!results.selection!.benchmarks.includes(name)) results.benchmarks[name] = b
  }
  const writeResults = () => {
    const accs = Object.values(results.benchmarks).map((x) => x.accuracy)
    results.average = accs.length > 0 ? accs.reduce((a, b) => a + b, 0) / accs.length : NaN
    writeFileAtomic(resultsPath, `${JSON.stringify(results, null, 2)}\n`)
  }
  writeResults()
  const done: PredictionRow[] = []
  try {
    for (const suite of o.suites) {
      const all = await loadSuite(suite, o.dataDir)
      const records = o.limit !== undefined ? all.slice(0, o.limit) : all
      o.onProgress?.(suite.name, 0, records.length)
      for (let b = 0; b * bs < records.length; b++) {
        const batch = records.slice(b * bs, (b + 1) * bs)
        const prev = completeBatch(kept.get(`${suite.name}\u0000${b}`) ?? [], batch, k)
        if (prev) {
          done.push(...prev)
          o.onProgress?.(suite.name, Math.min((b + 1) * bs, records.length), records.length)
          continue
        }
        const answered = await askQuestions(backend, batch, { template, chat: o.chat, mode, params: (_, i) => ({ maxNewTokens: maxNew, temperature, n: k, seed: seed + b * bs + i }) })
        const rows = batch.flatMap((r, i) =>
          answered[i]!.map((a, sample) => {
            const row: PredictionRow = { benchmark: suite.name, id: r.id, sample, batch: b, output: a.completion.text, extracted: a.letter, correct: a.correct, finish_reason: a.completion.finishReason }
            if (a.completion.finishReason === 'overlong') row.overlong = true
            return row
          }),
        )
        log.append(rows)
        done.push(...rows)
        o.onProgress?.(suite.name, Math.min((b + 1) * bs, records.length), records.length)
      }
      results.benchmarks[suite.name] = { ...scoreBenchmark(suite, records, done.filter((r) => r.benchmark === suite.name), k, resamples, seed), total: all.length }
      writeResults()
    }
  } finally {
    log.close()
  }
  results.status = 'complete'
  writeResults()
  // Predictions are only ever added to: this run's (complete batches) replace earlier ones of the same item and
  // sample; earlier ones of items this run did not cover (other benchmarks, beyond a narrower --limit) stay.
  const merged = new Map<string, PredictionRow>()
  for (const r of [...log.rows, ...done]) merged.set(`${r.benchmark}\u0000${r.id}\u0000${r.sample}`, r)
  writeFileAtomic(join(o.out, 'predictions.jsonl'), [...merged.values()].map((r) => `${JSON.stringify(r)}\n`).join(''))
  return results
}
