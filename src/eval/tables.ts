import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { isComplete, type PredictionRow, type EvalResults } from './runner.js'
import { pairedBootstrap, type Interval } from './bootstrap.js'
import { readJsonFile } from '../util/json-file.js'
import { fileLines } from '../util/lines.js'
import { mean } from '../util/stats.js'

export interface ReferenceRow {
  model: string
  source: string
  results: Record<string, number>
  std?: Record<string, number>
}

/** Published results, from the data file shipped with medrl (data/references.json) or a user's file. */
export function loadReferences(path = resolve(import.meta.dirname, '..', '..', 'data', 'references.json')): ReferenceRow[] {
  return (JSON.parse(readFileSync(path, 'utf8')) as { rows: ReferenceRow[] }).rows
}

export function readResults(dir: string): EvalResults {
  const p = join(dir, 'results.json')
  if (!existsSync(p)) throw new Error(`${dir}: no results.json`)
  return readJsonFile<EvalResults>(p, 'evaluation result')
}

export interface TableRow {
  model: string
  source: string
  cells: Record<string, { value: number; std?: number } | undefined>
  average?: number
}

/** Our runs (accuracy in %, bootstrap std) and the references, over the union of benchmarks ours cover. */
export function resultTable(runs: { name: string; results: EvalResults }[], refs: ReferenceRow[]): { benchmarks: string[]; rows: TableRow[] } {
  const benchmarks = [...new Set(runs.flatMap((r) => Object.keys(r.results.benchmarks)))]
  // One average per row over the table's own columns, and only for a row that has them all, so averages compare.
  const average = (cells: TableRow['cells']) => (benchmarks.every((b) => cells[b] !== undefined) ? benchmarks.reduce((a, b) => a + cells[b]!.value, 0) / benchmarks.length : undefined)
  const rows: TableRow[] = runs.map((r) => {
    const cells = Object.fromEntries(benchmarks.map((b) => [b, r.results.benchmarks[b] && { value: 100 * r.results.benchmarks[b]!.accuracy, std: 100 * r.results.benchmarks[b]!.std }]))
    const unfinished = isComplete(r.results) ? '' : `; incomplete: ${Object.keys(r.results.benchmarks).length} of ${r.results.selection?.benchmarks.length ?? '?'} benchmarks finished`
    const partial = Object.entries(r.results.benchmarks).filter(([, b]) => b.total !== undefined && b.n < b.total).map(([name, b]) => `${name} ${b.n} of ${b.total}`)
    const source = `medrl (${r.results.template}, ${r.results.extraction} extraction, ${r.results.generation.samples > 1 ? `${r.results.generation.samples} samples` : 'greedy'}${partial.length > 0 ? `; items: ${partial.join(', ')}` : ''}${unfinished})`
    return { model: r.name, source, cells, average: average(cells) }
  })
  for (const ref of refs) {
    if (!benchmarks.some((b) => b in ref.results)) continue
    const cells = Object.fromEntries(benchmarks.map((b) => [b, b in ref.results ? { value: ref.results[b]!, std: ref.std?.[b] } : undefined]))
    rows.push({ model: ref.model, source: ref.source, cells, average: average(cells) })
  }
  return { benchmarks, rows }
}

const fmt = (c: { value: number; std?: number } | undefined) => (c === undefined ? '–' : c.std !== undefined ? `${c.value.toFixed(2)} ± ${c.std.toFixed(2)}` : c.value.toFixed(2))

export function tableMarkdown(t: ReturnType<typeof resultTable>): string {
  const head = ['model', ...t.benchmarks, 'average', 'source']
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`]
  for (const r of t.rows) lines.push(`| ${[r.model, ...t.benchmarks.map((b) => fmt(r.cells[b])), r.average === undefined ? '–' : r.average.toFixed(2), r.source].join(' | ')} |`)
  return `${lines.join('\n')}\n`
}

export function tableCsv(t: ReturnType<typeof resultTable>): string {
  const q = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s)
  const head = ['model', 'source', ...t.benchmarks.flatMap((b) => [b, `${b}_std`]), 'average']
  const lines = [head.join(',')]
  for (const r of t.rows) lines.push([q(r.model), q(r.source), ...t.benchmarks.flatMap((b) => [r.cells[b]?.value.toFixed(4) ?? '', r.cells[b]?.std?.toFixed(4) ?? '']), r.average?.toFixed(4) ?? ''].join(','))
  return `${lines.join('\n')}\n`
}

export function readPredictions(dir: string): PredictionRow[] {
  const p = join(dir, 'predictions.jsonl')
  if (!existsSync(p)) throw new Error(`${dir}: no predictions.jsonl`)
  const rows: PredictionRow[] = []
  for (const l of fileLines(p)) {
    const text = l.bytes.toString('utf8')
    if (text.trim() === '') continue
    try {
      rows.push(JSON.parse(text) as PredictionRow)
    } catch (e) {
      throw new Error(`${p}:${l.line}: not valid JSON (${(e as Error).message})`)
    }
  }
  return rows
}

export interface Comparison {
  benchmark: string
  n: number
  a: number
  b: number
  diff: Interval
}

/**
 * Accuracy difference (b − a) per benchmark over the items both runs answered, with a paired bootstrap interval.
 * `finished` limits it to benchmarks both evaluations finished (a killed run's partial benchmark is left out).
 */
export function compareRuns(a: PredictionRow[], b: PredictionRow[], resamples = 1000, seed = 0, finished?: ReadonlySet<string>): Comparison[] {
  const perItem = (rows: PredictionRow[]) => {
    const m = new Map<string, { c: number; n: number }>()
    for (const r of rows) {
      const k = `${r.benchmark}\u0000${r.id}`
      const v = m.get(k) ?? { c: 0, n: 0 }
      v.c += r.correct ? 1 : 0
      v.n++
      m.set(k, v)
    }
    return m
  }
  const pa = perItem(a)
  const pb = perItem(b)
  const benchmarks = [...new Set(a.map((r) => r.benchmark))].filter((x) => b.some((r) => r.benchmark === x) && (finished === undefined || finished.has(x)))
  return benchmarks.map((bench) => {
    const keys = [...pa.keys()].filter((k) => k.startsWith(`${bench}\u0000`) && pb.has(k))
    const va = keys.map((k) => pa.get(k)!.c / pa.get(k)!.n)
    const vb = keys.map((k) => pb.get(k)!.c / pb.get(k)!.n)
    return { benchmark: bench, n: keys.length, a: mean(va), b: mean(vb), diff: pairedBootstrap(va, vb, resamples, seed) }
  })
}

/** The benchmarks two evaluation directories both finished, and what each left unfinished (to say so). */
export function finishedInBoth(a: string, b: string): { finished: Set<string>; unfinished: string[] } {
  const ra = readResults(a)
  const rb = readResults(b)
  const finished = new Set(Object.keys(ra.benchmarks).filter((x) => x in rb.benchmarks))
  const asked = (r: EvalResults) => r.selection?.benchmarks ?? Object.keys(r.benchmarks)
  const unfinished = [...new Set([...asked(ra), ...asked(rb)])].filter((x) => !finished.has(x))
  return { finished, unfinished }
}
