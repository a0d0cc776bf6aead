import { Command } from 'commander'
import { readResults } from '../eval/tables.js'
import { writeReport } from '../report/report.js'
import { info, listOption } from './util.js'
import { basename } from 'node:path'

export function reportCommand(): Command {
  return new Command('report')
    .description('a self-contained HTML report of runs (and evaluations) with one PNG and one SVG per chart')
    .argument('<runs...>', 'run directories (several are overlaid)')
    .requiredOption('--out <dir>', 'report directory (index.html, *.png, *.svg)')
    .option('--eval <specs...>', 'evaluations NAME=DIR (name them L1…Ln for accuracy against the highest level)', listOption)
    .option('--title <title>', 'report title')
    .action(async (runs: string[], f: { out: string; eval?: string[]; title?: string }) => {
      const evals = (f.eval ?? []).map((s) => {
        const eq = s.indexOf('=')
        const dir = eq > 0 ? s.slice(eq + 1) : s
        return { name: eq > 0 ? s.slice(0, eq) : basename(dir), results: readResults(dir) }
      })
      const r = await writeReport(f.out, { runDirs: runs, evals, title: f.title })
      info(`wrote ${f.out}/index.html with ${r.charts.length} charts`)
      process.stdout.write(`${f.out}/index.html\n`)
    })
}
