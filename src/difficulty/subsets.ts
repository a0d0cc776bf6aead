import type { QARecord } from '../data/record.js'
import { sha256File } from '../util/hash.js'
import { Rng, hashString32 } from '../util/rng.js'
import type { DifficultyMeta } from './levels.js'

export interface SubsetOptions {
  /** Questions per level (quantity: AlphaMed Figure 3). */
  perLevel: number
  /** Levels to draw from, e.g. [1, 2, 3, 4, 5, 6]. */
  levels: number[]
  /** Sources to draw from (diversity: AlphaMed Figure 4); all when empty. */
  sources?: string[]
  /** Mixing weights per source (default: equal); each level's quota is split by these. */
  weights?: Record<string, number>
  /**
   * How sources share a level's quota: 'split' divides `perLevel` among them (a fixed size, mixed), 'add'
   * gives each source `perLevel` of its own (a union that grows with each source added, as AlphaMed adds
   * MedMCQA-Sub to MedQA-Sub), 'pool' draws `perLevel` from the level whatever the source. Default 'split'.
   */
  mix?: 'split' | 'add' | 'pool'
  seed: number
}

export interface SubsetReport {
  counts: Record<string, Record<string, number>>
  /** Quotas a level (and source) could not fill: wanted vs available. */
  short: { level: number; source: string | null; wanted: number; available: number }[]
}

/** Levels written as "1-6", "1,3,5" or a mix ("1-3,5"); `what` names the option or field in errors. */
export function parseLevels(spec: string, what: string): number[] {
  return spec.split(',').flatMap((part) => {
    const m = /^(\d+)-(\d+)$/.exec(part.trim())
    if (m) return Array.from({ length: Number(m[2]) - Number(m[1]) + 1 }, (_, i) => Number(m[1]) + i)
    const n = Number(part)
    if (!Number.isInteger(n) || n < 1) throw new Error(`${what}: "${part}" is not a level or a range`)
    return [n]
  })
}

/** Largest-remainder split of n by weights (deterministic; sums to n). */
function split(n: number, keys: string[], weights: Record<string, number>): Record<string, number> {
  const total = keys.reduce((a, k) => a + (weights[k] ?? 1), 0)
  const raw = keys.map((k) => (n * (weights[k] ?? 1)) / total)
  const base = raw.map(Math.floor)
  let rest = n - base.reduce((a, b) => a + b, 0)
  const order = raw.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1])
  for (const [, i] of order) {
    if (rest-- <= 0) break
    base[i]!++
  }
  return Object.fromEntries(keys.map((k, i) => [k, base[i]!]))
}

/**
 * A difficulty-balanced subset: `perLevel` questions from each level, split across sources by weight,
 * drawn with the seed. A level (or source) that is short gives all it has, and the report says so.
 */
export function balancedSubset(records: readonly QARecord[], o: SubsetOptions): { records: QARecord[]; report: SubsetReport } {
  const pool = records.filter((r) => (o.sources && o.sources.length > 0 ? o.sources.includes(r.source) : true))
  const sources = o.sources && o.sources.length > 0 ? o.sources : [...new Set(pool.map((r) => r.source))].sort()
  const out: QARecord[] = []
  const report: SubsetReport = { counts: {}, short: [] }
  if (o.mix === 'pool') {
    for (const level of o.levels) {
      const cands = pool.filter((r) => (r.meta.difficulty as DifficultyMeta | undefined)?.level === level)
      const picked = new Rng(hashString32(`${o.seed}:${level}:pool`)).shuffle(cands).slice(0, o.perLevel)
      if (picked.length < o.perLevel) report.short.push({ level, source: null, wanted: o.perLevel, available: cands.length })
      out.push(...picked)
      report.counts[`L${level}`] = {}
      for (const r of picked) report.counts[`L${level}`]![r.source] = (report.counts[`L${level}`]![r.source] ?? 0) + 1
    }
    return { records: out, report }
  }
  for (const level of o.levels) {
    const quota = o.mix === 'add' ? Object.fromEntries(sources.map((src) => [src, o.perLevel])) : split(o.perLevel, sources, o.weights ?? {})
    for (const src of sources) {
      const cands = pool.filter((r) => r.source === src && (r.meta.difficulty as DifficultyMeta | undefined)?.level === level)
      const want = quota[src]!
      const picked = new Rng(hashString32(`${o.seed}:${level}:${src}`)).shuffle(cands).slice(0, want)
      if (picked.length < want) report.short.push({ level, source: sources.length > 1 ? src : null, wanted: want, available: cands.length })
      out.push(...picked)
      report.counts[`L${level}`] ??= {}
      report.counts[`L${level}`]![src] = picked.length
    }
  }
  return { records: out, report }
}

/** Cumulative difficulty subsets (AlphaMed Figure 5): for n = 1…max, the balanced subset of levels 1..n. */
export function cumulativeSubsets(records: readonly QARecord[], o: Omit<SubsetOptions, 'levels'> & { maxLevel: number }): { upTo: number; records: QARecord[]; report: SubsetReport }[] {
  return Array.from({ length: o.maxLevel }, (_, i) => {
    const levels = Array.from({ length: i + 1 }, (_, k) => k + 1)
    return { upTo: i + 1, ...balancedSubset(records, { ...o, levels }) }
  })
}

export interface Manifest {
  created_by: string
  seed: number
  options: Record<string, unknown>
  sources: { file: string; sha256: string }[]
  counts: Record<string, Record<string, number>>
  short: SubsetReport['short']
  total: number
}

/** The manifest written beside a subset: source files with hashes, seed, options, counts. */
export async function subsetManifest(files: readonly string[], o: SubsetOptions, report: SubsetReport, total: number): Promise<Manifest> {
  return {
    created_by: 'medrl data subset',
    seed: o.seed,
    options: { per_level: o.perLevel, levels: o.levels, sources: o.sources ?? [], weights: o.weights ?? {}, mix: o.mix ?? 'split' },
    sources: await Promise.all(files.map(async (f) => ({ file: f, sha256: await sha256File(f) }))),
    counts: report.counts,
    short: report.short,
    total,
  }
}
