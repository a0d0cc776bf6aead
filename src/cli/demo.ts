import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { Command } from 'commander'
import { importFiles } from '../data/import.js'
import { dedupeRecords } from '../data/dedupe.js'
import { writeRecords } from '../data/jsonl.js'
import { computeStats, statsChartSpec } from '../data/stats.js'
import { writeFileAtomic } from '../util/atomic.js'
import { info } from './util.js'

/** The six benchmarks of the AlphaMed paper, as bundled in ../shared/data. */
const BUNDLED = [
  'medqa/medqa_input.jsonl',
  'medmcqa/medmcqa_input.jsonl',
  'pubmedqa/ori_pqal.json',
  'mmlu_pro/MMLU-Pro_Medical_test.json',
  'gpqa/GPQA_Medical_test.json',
  'medxpertqa/MedXpertQA_test.jsonl',
]

export function demoCommand(): Command {
  return new Command('demo')
    .description('the end-to-end demo on bundled data (for now: import the six benchmarks, dedupe, statistics and chart)')
    .option('--data-dir <dir>', 'where the bundled data lives', resolve(import.meta.dirname, '..', '..', '..', 'shared', 'data'))
    .option('--out <dir>', 'run directory (default: runs/demo-<time>)')
    .action(async (flags: { dataDir: string; out?: string }) => {
      const t0 = Date.now()
      const out = flags.out ?? join('runs', `demo-${new Date().toISOString().replace(/[:.]/g, '-')}`)
      mkdirSync(out, { recursive: true })
      const r = await importFiles(BUNDLED.map((f) => join(flags.dataDir, f)))
      for (const f of r.files) info(`imported ${f.imported} ${f.source} (${f.split}) from ${f.file}`)
      const d = dedupeRecords(r.records)
      info(`dedupe: ${d.removed} duplicate(s) removed (${d.groups.length} group(s))`)
      writeRecords(join(out, 'benchmarks.jsonl'), d.records)
      const stats = computeStats(d.records)
      writeFileAtomic(join(out, 'stats.json'), `${JSON.stringify(stats, null, 2)}\n`)
      const { renderVegaLite } = await import('../report/charts.js')
      const chart = await renderVegaLite(statsChartSpec(d.records, stats))
      writeFileAtomic(join(out, 'stats.png'), chart.png)
      writeFileAtomic(join(out, 'stats.svg'), chart.svg)
      writeFileAtomic(join(out, 'summary.json'), `${JSON.stringify({ questions: d.records.length, by_source: Object.fromEntries(Object.entries(stats.by_source).map(([k, v]) => [k, v.count])), wall_seconds: (Date.now() - t0) / 1000 }, null, 2)}\n`)
      info(`${d.records.length} questions from six benchmarks in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
      process.stdout.write(`${resolve(out)}\n`)
    })
}
