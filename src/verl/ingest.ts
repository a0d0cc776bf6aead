import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { importFiles } from '../data/import.js'
import { optionEntries, type QARecord } from '../data/record.js'
import { parseTrainConfig, loadConfigFile } from '../rl/config.js'
import { rolloutMetrics, type ScoredRollout } from '../rl/rollout-metrics.js'
import { resolveReward } from '../reward/rewards.js'
import { scoreOutput, type ScoreOptions } from '../reward/score.js'
import type { Stage } from '../reward/stages.js'
import { getTemplate } from '../reward/templates.js'
import { readJsonl, type StepRow } from '../report/run-data.js'
import { writeFileAtomic } from '../util/atomic.js'
import { readJsonFile } from '../util/json-file.js'

/** verl's metric names → medrl's (verl's own names are kept beside them). */
const RENAMES: [string, string][] = [
  ['critic/score/mean', 'reward/mean'],
  ['actor/pg_clipfrac', 'actor/clipfrac'],
  ['critic/vf_loss', 'critic/value_loss'],
  ['timing_s/step', 'time/step'],
  ['timing_s/gen', 'time/generate'],
  ['timing_s/old_log_prob', 'time/old_log_probs'],
  ['timing_s/ref', 'time/reference'],
  ['timing_s/update_actor', 'time/update'],
  ['perf/throughput', 'perf/tokens_per_s'],
]

/** A verl metrics row with medrl's names added: KL from the KL loss or the in-reward penalty, validation accuracy per source. */
export function renameVerlMetrics(data: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [k, v] of Object.entries(data)) if (typeof v === 'number' && Number.isFinite(v)) out[k] = v
  for (const [from, to] of RENAMES) if (out[from] !== undefined && out[to] === undefined) out[to] = out[from]!
  const kl = out['actor/kl_loss'] ?? out['actor/reward_kl_penalty']
  if (kl !== undefined) out['actor/kl'] = kl
  for (const [k, v] of Object.entries(out)) {
    const m = /^val-core\/(.+)\/acc\/mean@\d+$/.exec(k)
    if (m) out[`val/accuracy/${m[1]}`] = v
  }
  return out
}

/** A row a training step logged (the PPO trainer's scores, timings or actor metrics; the SFT trainer's train/…), not validation alone. */
const isTrainingRow = (d: Record<string, unknown>) => Object.keys(d).some((k) => k.startsWith('critic/score') || k.startsWith('timing_s/') || k.startsWith('actor/') || k.startsWith('train/'))

/**
 * verl's metrics file merged into the rows already ingested. verl opens the file anew when a run resumes, so it
 * then starts at the resumed step: rows before the first training step in the file are kept from earlier reads,
 * rows from it on come from the file (the resumed run re-did them). Rows of one step are merged (validation is
 * logged at the same step as training). Nothing is lost or doubled.
 */
export function mergeVerlMetrics(previous: readonly StepRow[], verlRows: readonly unknown[]): StepRow[] {
  const fresh = new Map<number, Record<string, unknown>>()
  for (const r of verlRows) {
    const row = r as { step?: unknown; data?: unknown }
    if (typeof row?.step !== 'number' || typeof row.data !== 'object' || row.data === null) continue
    fresh.set(row.step, { ...fresh.get(row.step), ...(row.data as Record<string, unknown>) })
  }
  const trainingSteps = [...fresh.entries()].filter(([, d]) => isTrainingRow(d)).map(([s]) => s)
  const firstTraining = trainingSteps.length > 0 ? Math.min(...trainingSteps) : Infinity
  const out = new Map<number, Record<string, number>>()
  for (const r of previous) if (r.step < firstTraining) out.set(r.step, r.data)
  for (const [step, d] of fresh) out.set(step, { ...(step < firstTraining ? out.get(step) : undefined), ...renameVerlMetrics(d) })
  return [...out.entries()].sort((a, b) => a[0] - b[0]).map(([step, data]) => ({ step, data }))
}

const squash = (s: string) => s.replace(/\s+/g, '')

/**
 * Finds the record behind a rollout's decoded prompt. verl's dumps hold the prompt as decoded text (special
 * tokens dropped, possibly with spaces cleaned up) and the ground truth, not the row's id, so a record is found
 * by its ground truth and then by its question and options appearing in the prompt, white space ignored.
 */
export class RecordMatcher {
  private readonly byTruth = new Map<string, { r: QARecord; q: string; o: string }[]>()
  private readonly cache = new Map<string, QARecord | null>()

  constructor(records: readonly QARecord[]) {
    for (const r of records) {
      const key = squash(r.options[r.answer] ?? '')
      const entry = { r, q: squash(r.question), o: squash(optionEntries(r).map(([l, t]) => `${l}. ${t}`).join('')) }
      const list = this.byTruth.get(key)
      if (list) list.push(entry)
      else this.byTruth.set(key, [entry])
    }
  }

  find(input: string, groundTruth: unknown): QARecord | null {
    const cacheKey = `${String(groundTruth)}\u0000${input}`
    const hit = this.cache.get(cacheKey)
    if (hit !== undefined) return hit
    const text = squash(input)
    const candidates = typeof groundTruth === 'string' ? this.byTruth.get(squash(groundTruth)) ?? [] : [...this.byTruth.values()].flat()
    const found = candidates.find((c) => text.includes(c.o) && text.includes(c.q))?.r ?? null
    if (this.cache.size > 50_000) this.cache.clear()
    this.cache.set(cacheKey, found)
    return found
  }
}

interface DumpSummary {
  size: number
  mtimeMs: number
  metrics: Record<string, number>
  samples: Record<string, unknown>[]
}

export interface IngestSources {
  /** verl's metrics file (VERL_FILE_LOGGER_PATH). */
  metrics: string
  /** verl's rollout dumps (trainer.rollout_data_dir). */
  rollouts: string
  /** The medrl run directory to write. */
  out: string
  /** The prepared directory (train.parquet, config.yaml, data_lengths.json); default: out/verl. */
  prepared?: string
}

export interface IngestResult {
  steps: number
  lastStep: number | null
  /** The last step's metrics. */
  data: Record<string, number>
  dumps: number
  unmatched: number
}

/** The step a dump file holds ({step}.jsonl), or null for other files. */
function dumpStep(name: string): number | null {
  const m = /^(\d+)\.jsonl$/.exec(name)
  return m ? Number(m[1]) : null
}

/**
 * Reads a verl run back into medrl's run layout: `metrics.jsonl` (verl's metrics under medrl's names, plus the
 * rollout metrics verl does not log — accuracy, effective-query ratio, solve-all/none, reasoning stages, per-source
 * lines — computed from the rollout dumps by the same function the embedded trainer uses) and `samples.jsonl`.
 * Safe to run again and again while verl writes (the live follow of `train --engine verl`): dumps already read are
 * cached by size and time, and files are replaced atomically.
 */
export class VerlIngest {
  private readonly prepared: string
  private readonly cachePath: string
  private cache: Record<string, DumpSummary>
  private matcher: RecordMatcher | null = null
  private scoreOpts: ScoreOptions | null = null
  private logSamples = 4

  constructor(private readonly src: IngestSources) {
    this.prepared = src.prepared ?? join(src.out, 'verl')
    this.cachePath = join(src.out, 'verl-ingest.json')
    this.cache = existsSync(this.cachePath) ? readJsonFile<Record<string, DumpSummary>>(this.cachePath, 'ingest cache') : {}
  }

  private async load(): Promise<void> {
    if (this.matcher) return
    const cfgPath = join(this.prepared, 'config.yaml')
    if (!existsSync(cfgPath)) throw new Error(`${this.prepared}: no config.yaml (the directory \`medrl verl prepare\` wrote; give --prepared DIR)`)
    const cfg = parseTrainConfig(loadConfigFile(readFileSync(cfgPath, 'utf8')), cfgPath)
    this.scoreOpts = { template: getTemplate(cfg.data.template), reward: resolveReward(cfg.data.reward), mode: 'strict' }
    this.logSamples = cfg.trainer.log_samples
    const trainFile = join(this.prepared, 'train.parquet')
    if (!existsSync(trainFile)) throw new Error(`${this.prepared}: no train.parquet (the directory \`medrl verl prepare\` wrote)`)
    this.matcher = new RecordMatcher((await importFiles([trainFile])).records)
    mkdirSync(this.src.out, { recursive: true })
    const lengths = join(this.prepared, 'data_lengths.json')
    if (existsSync(lengths)) copyFileSync(lengths, join(this.src.out, 'data_lengths.json'))
  }

  private summarise(path: string, step: number): DumpSummary | null {
    const st = statSync(path)
    const cached = this.cache[String(step)]
    if (cached && cached.size === st.size && cached.mtimeMs === st.mtimeMs) return cached
    const text = readFileSync(path, 'utf8')
    if (!text.endsWith('\n')) return null // verl is still writing it
    const rows: ScoredRollout[] = []
    const samples: Record<string, unknown>[] = []
    let unmatched = 0
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue
      let d: Record<string, unknown>
      try {
        d = JSON.parse(line) as Record<string, unknown>
      } catch {
        return null
      }
      const output = typeof d.output === 'string' ? d.output : ''
      const record = this.matcher!.find(typeof d.input === 'string' ? d.input : '', d.gts)
      if (!record) {
        unmatched++
        continue
      }
      const s = scoreOutput(output, record, this.scoreOpts!)
      const uid = typeof d.uid === 'string' ? d.uid.split('_') : null
      const reward = typeof d.score === 'number' ? d.score : s.reward
      rows.push({
        group: uid && uid.length >= 3 ? uid.slice(0, -2).join('_') : String(d.input),
        source: record.source,
        reward,
        correct: s.correct,
        formatValid: s.format_valid,
        stage: s.stage as Stage | null,
        completion: output,
        ...(typeof record.meta.intermediate === 'string' ? { intermediate: record.meta.intermediate } : {}),
      })
      samples.push({ step, id: record.id, source: record.source, answer: record.answer, completion: output, extracted: s.extracted, correct: s.correct, reward, stage: s.stage })
    }
    const metrics = rows.length > 0 ? rolloutMetrics(rows) : {}
    if (unmatched > 0) {
      metrics['ingest/unmatched'] = unmatched
      metrics['ingest/matched'] = rows.length
    }
    const every = Math.max(1, Math.floor(samples.length / Math.max(1, this.logSamples)))
    const summary: DumpSummary = { size: st.size, mtimeMs: st.mtimeMs, metrics, samples: samples.filter((_, i) => i % every === 0).slice(0, this.logSamples) }
    this.cache[String(step)] = summary
    return summary
  }

  /** One pass: reads what verl has written so far and rewrites the run's metrics.jsonl and samples.jsonl. */
  async run(): Promise<IngestResult> {
    await this.load()
    const previous = readJsonl(join(this.src.out, 'metrics.jsonl')).rows as StepRow[]
    const rows = mergeVerlMetrics(previous.filter((r) => typeof r?.step === 'number'), readJsonl(this.src.metrics).rows)
    const byStep = new Map(rows.map((r) => [r.step, r]))
    let dumps = 0
    let unmatched = 0
    const samples: Record<string, unknown>[] = []
    const names = existsSync(this.src.rollouts) ? readdirSync(this.src.rollouts) : []
    for (const [name, step] of names.map((n) => [n, dumpStep(n)] as const).filter((x): x is readonly [string, number] => x[1] !== null).sort((a, b) => a[1] - b[1])) {
      const s = this.summarise(join(this.src.rollouts, name), step)
      if (!s) continue
      dumps++
      unmatched += s.metrics['ingest/unmatched'] ?? 0
      const row = byStep.get(step) ?? { step, data: {} }
      // Rollout metrics computed from the dump (over verl's own only where verl logs no such name).
      row.data = { ...row.data, ...s.metrics }
      byStep.set(step, row)
      samples.push(...s.samples)
    }
    const merged = [...byStep.values()].sort((a, b) => a.step - b.step)
    writeFileAtomic(join(this.src.out, 'metrics.jsonl'), merged.map((r) => `${JSON.stringify(r)}\n`).join(''))
    writeFileAtomic(join(this.src.out, 'samples.jsonl'), samples.map((r) => `${JSON.stringify(r)}\n`).join(''))
    writeFileAtomic(this.cachePath, JSON.stringify(this.cache))
    const lastRow = merged[merged.length - 1]
    return { steps: merged.length, lastStep: lastRow?.step ?? null, data: lastRow?.data ?? {}, dumps, unmatched }
  }
}
