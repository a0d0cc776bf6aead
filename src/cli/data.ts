import { extname } from 'node:path'
import { Command, Option } from 'commander'
import { writeFileAtomic } from '../util/atomic.js'
import { checkUniqueIds, importFiles, type FileReport } from '../data/import.js'
import { writeJsonl, writeRecords } from '../data/jsonl.js'
import { listLoaders } from '../data/loaders/registry.js'
import type { ImportOptions } from '../data/loaders/types.js'
import type { QARecord } from '../data/record.js'
import { dedupeRecords } from '../data/dedupe.js'
import { findContamination } from '../data/decontaminate.js'
import { computeStats, statsChartSpec, type GroupStats } from '../data/stats.js'
import { writeVerlParquet } from '../data/verl-parquet.js'
import { balancedSubset, cumulativeSubsets, parseLevels, subsetManifest } from '../difficulty/subsets.js'
import { floatOption, info, intOption, listOption } from './util.js'

interface ImportFlags {
  format?: string
  source?: string
  split?: string
  skipInvalid?: boolean
  seed?: number
  category?: string[]
  domain?: string[]
  pubmedqaSplitFile?: string
  copBase?: number
}

/** The options every command that reads question files shares (any layout medrl knows). */
function addImportOptions(cmd: Command): Command {
  return cmd
    .option('--format <name>', 'input layout (default: detected per file; see `medrl data formats`)')
    .option('--source <name>', 'benchmark name for every record (default: from the file name)')
    .option('--split <name>', 'split for every record (default: from the file name)')
    .option('--skip-invalid', 'skip invalid records and report each (default: stop at the first)')
    .option('--seed <n>', 'seed for layouts whose options are shuffled (GPQA)', intOption('--seed'), 0)
    .option('--category <list>', 'MMLU-Pro: keep these categories (e.g. health,biology)', listOption)
    .option('--domain <list>', 'GPQA: keep these high-level domains (e.g. Biology)', listOption)
    .option('--pubmedqa-split-file <path>', 'PubMedQA PQA-L: the official test split (default: test_ground_truth.json beside it)')
    .addOption(new Option('--cop-base <n>', 'MedMCQA original layout: cop counts from 1 or 0').choices(['0', '1']).argParser(Number))
}

function importOptions(f: ImportFlags): ImportOptions {
  const o: ImportOptions = { skipInvalid: f.skipInvalid === true }
  if (f.format !== undefined) o.format = f.format
  if (f.source !== undefined) o.source = f.source
  if (f.split !== undefined) o.split = f.split
  if (f.seed !== undefined) o.seed = f.seed
  if (f.category !== undefined) o.categories = f.category.map((c) => c.toLowerCase())
  if (f.domain !== undefined) o.domains = f.domain
  if (f.pubmedqaSplitFile !== undefined) o.pubmedqaSplitFile = f.pubmedqaSplitFile
  if (f.copBase !== undefined) o.copBase = f.copBase as 0 | 1
  return o
}

function printReports(files: FileReport[]): void {
  for (const f of files) {
    let line = `${f.file}: ${f.imported} records (format ${f.format}, source ${f.source}, split ${f.split})`
    if (f.filtered > 0) line += `, ${f.filtered} left out by options`
    if (f.skipped.length > 0) line += `, ${f.skipped.length} invalid skipped`
    info(line)
    for (const [reason, n] of Object.entries(f.filteredReasons)) info(`  left out ${n}: ${reason}`)
    for (const s of f.skipped) info(`  skipped: ${s.message}`)
    for (const n of f.notes) info(`  note: ${n}`)
  }
}

async function readInputs(files: string[], flags: ImportFlags, quiet = false): Promise<QARecord[]> {
  const r = await importFiles(files, importOptions(flags))
  if (!quiet) printReports(r.files)
  return r.records
}

/** Writes records to JSONL, or to verl Parquet when the name ends in .parquet; ids must be unique. */
function writeOut(path: string, records: QARecord[]): void {
  checkUniqueIds(records)
  if (extname(path).toLowerCase() === '.parquet') writeVerlParquet(path, records)
  else writeRecords(path, records)
  info(`wrote ${records.length} records to ${path}`)
}

function writeJson(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`)
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1)
}

function statsTable(rows: [string, GroupStats][]): string {
  const head = ['source', 'questions', 'splits', 'options', 'chars median', 'chars p90']
  const body = rows.map(([name, g]) => [
    name,
    String(g.count),
    Object.entries(g.splits).map(([k, v]) => `${k}:${v}`).join(' '),
    Object.entries(g.options_per_question).map(([k, v]) => `${k}:${v}`).join(' '),
    fmt(g.question_chars.median),
    fmt(g.question_chars.p90),
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)))
  return [head, ...body].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n')
}

export function dataCommand(): Command {
  const data = new Command('data').description('import, inspect and clean multiple-choice question data')

  data
    .command('formats')
    .description('list the input layouts medrl reads')
    .action(() => {
      for (const l of listLoaders()) process.stdout.write(`${l.name.padEnd(20)} ${l.description}\n`)
    })

  addImportOptions(
    data
      .command('import')
      .description('read question files in any known layout into medrl records (JSONL, or verl Parquet if OUT ends in .parquet)')
      .argument('<files...>', 'input files (.jsonl, .json, .csv, .parquet)')
      .requiredOption('--out <path>', 'output file (.jsonl or .parquet)')
      .option('--dedupe', 'also drop duplicate questions (reported)')
      .option('--report <path>', 'write the import report (per file: counts, skipped records, notes) as JSON'),
  ).action(async (files: string[], flags: ImportFlags & { out: string; dedupe?: boolean; report?: string }) => {
    const r = await importFiles(files, importOptions(flags))
    printReports(r.files)
    let records = r.records
    let dedupe
    if (flags.dedupe) {
      dedupe = dedupeRecords(records)
      records = dedupe.records
      info(`dedupe: removed ${dedupe.removed} duplicate(s) in ${dedupe.groups.length} group(s)`)
    }
    writeOut(flags.out, records)
    if (flags.report !== undefined) writeJson(flags.report, { files: r.files, written: records.length, dedupe: dedupe && { removed: dedupe.removed, groups: dedupe.groups } })
  })

  addImportOptions(
    data
      .command('stats')
      .description('counts by source and split, options per question, answer letters, question lengths')
      .argument('<files...>', 'question files in any known layout')
      .option('--out <path>', 'write the statistics as JSON')
      .option('--chart <path>', 'write a chart (PNG; an SVG is written beside it)')
      .option('--json', 'print the statistics as JSON instead of a table'),
  ).action(async (files: string[], flags: ImportFlags & { out?: string; chart?: string; json?: boolean }) => {
    const records = await readInputs(files, flags, flags.json === true)
    const stats = computeStats(records)
    if (flags.json) process.stdout.write(`${JSON.stringify(stats, null, 2)}\n`)
    else process.stdout.write(`${statsTable([...Object.entries(stats.by_source), ['(all)', stats.total]])}\n`)
    if (flags.out !== undefined) writeJson(flags.out, stats)
    if (flags.chart !== undefined) {
      const { renderVegaLite } = await import('../report/charts.js') // vega loads only when a chart is asked for
      const chart = await renderVegaLite(statsChartSpec(records, stats))
      writeFileAtomic(flags.chart, chart.png)
      writeFileAtomic(flags.chart.replace(/\.png$/i, '') + '.svg', chart.svg)
      info(`wrote ${flags.chart} (${chart.width}×${chart.height})`)
    }
  })

  addImportOptions(
    data
      .command('dedupe')
      .description('drop repeated questions (same folded stem and option set, any option order), keeping the first')
      .argument('<files...>', 'question files in any known layout')
      .requiredOption('--out <path>', 'output file (.jsonl or .parquet)')
      .option('--report <path>', 'write the duplicate groups as JSON'),
  ).action(async (files: string[], flags: ImportFlags & { out: string; report?: string }) => {
    const records = await readInputs(files, flags)
    const d = dedupeRecords(records)
    info(`removed ${d.removed} duplicate(s) in ${d.groups.length} group(s)`)
    const conflicts = d.groups.filter((g) => !g.answersAgree)
    for (const g of conflicts) info(`  conflict: ${g.kept} and ${g.dropped.join(', ')} are the same question with different answers`)
    writeOut(flags.out, d.records)
    if (flags.report !== undefined) writeJson(flags.report, { removed: d.removed, groups: d.groups })
  })

  addImportOptions(
    data
      .command('decontaminate')
      .description('find training questions that overlap evaluation questions (exact, or shared word n-grams); drop them on request')
      .requiredOption('--train <files...>', 'training question files')
      .requiredOption('--eval <files...>', 'evaluation question files')
      .option('--ngram <n>', 'word n-gram length', intOption('--ngram', 1), 13)
      .option('--min-overlap <share>', "share of a question's n-grams that must be shared to flag it (0 = any one)", floatOption('--min-overlap'), 0)
      .option('--out <path>', 'write the training records that remain (requires --drop)')
      .option('--drop', 'drop flagged training questions from --out')
      .option('--report <path>', 'write every flagged question as JSONL'),
  ).action(async (flags: ImportFlags & { train: string[]; eval: string[]; ngram: number; minOverlap: number; out?: string; drop?: boolean; report?: string }) => {
    const train = await readInputs(flags.train, flags)
    const evals = await readInputs(flags.eval, flags)
    const r = findContamination(train, evals, { ngram: flags.ngram, minOverlap: flags.minOverlap })
    const exact = r.hits.filter((h) => h.kind === 'exact').length
    info(`${r.hits.length} of ${train.length} training questions overlap the ${evals.length} evaluation questions (${exact} exact, ${r.hits.length - exact} by ${r.ngram}-gram)`)
    if (flags.report !== undefined) writeJsonl(flags.report, r.hits)
    if (flags.out !== undefined) {
      if (!flags.drop) throw new Error('--out writes the decontaminated training set: add --drop to confirm dropping the flagged questions')
      writeOut(flags.out, r.clean)
    }
  })

  data
    .command('subset')
    .description("difficulty-balanced subsets (AlphaMed): --per-level questions from each level, across sources, with a manifest beside it")
    .argument('<files...>', 'records with meta.difficulty (from medrl difficulty)')
    .requiredOption('--per-level <n>', 'questions per level', intOption('--per-level', 1))
    .option('--levels <range>', 'levels, e.g. 1-6 or 1,3,5', '1-6')
    .option('--sources <list>', 'sources to draw from (default: all)', listOption)
    .option('--weights <list>', 'mixing weights per source, e.g. medqa=2,medmcqa=1', listOption)
    .addOption(new Option('--mix <how>', "split: --per-level is divided among the sources (a fixed size); add: each source gives --per-level of its own (the union grows as sources are added); pool: --per-level from each level whatever the source").choices(['split', 'add', 'pool']).default('split'))
    .option('--seed <n>', 'seed', intOption('--seed'), 0)
    .option('--cumulative', 'also write the cumulative subsets L1..Ln (AlphaMed Figure 5) as OUT-L1..n.jsonl')
    .requiredOption('--out <path>', 'subset JSONL (a manifest is written to OUT.manifest.json)')
    .action(async (files: string[], f: { perLevel: number; levels: string; sources?: string[]; weights?: string[]; mix: 'split' | 'add' | 'pool'; seed: number; cumulative?: boolean; out: string }) => {
      const { records } = await importFiles(files)
      const levels = parseLevels(f.levels, '--levels')
      const weights = Object.fromEntries(
        (f.weights ?? []).map((w) => {
          const [k, v] = w.split('=')
          if (!k || !Number.isFinite(Number(v))) throw new Error(`--weights: write SOURCE=WEIGHT, got "${w}"`)
          return [k, Number(v)]
        }),
      )
      const missing = records.filter((r) => !r.meta.difficulty).length
      if (missing > 0) throw new Error(`${missing} record(s) have no meta.difficulty: run medrl difficulty first`)
      if (f.mix !== 'split' && f.weights) throw new Error(`--weights splits a level among sources; with --mix ${f.mix} they are not used, so give one or the other`)
      const opts = { perLevel: f.perLevel, levels, sources: f.sources, weights, mix: f.mix, seed: f.seed }
      const write = async (path: string, sub: ReturnType<typeof balancedSubset>, o: typeof opts) => {
        writeRecords(path, sub.records)
        writeJson(`${path.replace(/\.jsonl$/, '')}.manifest.json`, await subsetManifest(files, o, sub.report, sub.records.length))
        for (const s of sub.report.short) info(`  short: level ${s.level}${s.source ? ` of ${s.source}` : ''}: wanted ${s.wanted}, only ${s.available}`)
        info(`wrote ${sub.records.length} questions to ${path}`)
      }
      await write(f.out, balancedSubset(records, opts), opts)
      if (f.cumulative) {
        for (const c of cumulativeSubsets(records, { ...opts, maxLevel: Math.max(...levels) })) {
          await write(f.out.replace(/\.jsonl$/, '') + `-L${c.upTo}.jsonl`, c, { ...opts, levels: Array.from({ length: c.upTo }, (_, i) => i + 1) })
        }
      }
    })

  return data
}
