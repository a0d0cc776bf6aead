import { existsSync, readdirSync, statSync } from 'node:fs'
import { basename, join } from 'node:path'
import { Command } from 'commander'
import { readResults } from '../eval/tables.js'
import type { EvalResults } from '../eval/runner.js'
import { writeReport } from '../report/report.js'
import { info, listOption } from './util.js'

const isRun = (d: string) => existsSync(join(d, 'metrics.jsonl'))

/**
 * What a directory argument stands for: a run (metrics.jsonl), the directory `medrl demo` writes (its training
 * run and its evaluations of the base and trained models), or a directory of runs. Anything else is an error
 * that says what to pass.
 */
export function reportInputs(dirs: readonly string[]): { runs: string[]; evals: { name: string; results: EvalResults }[]; title?: string } {
  const runs: string[] = []
  const evals: { name: string; results: EvalResults }[] = []
  let title: string | undefined
  for (const d of dirs) {
    if (!existsSync(d) || !statSync(d).isDirectory()) throw new Error(`${d}: no such directory`)
    if (isRun(d)) runs.push(d)
    else if (existsSync(join(d, 'summary.json')) && isRun(join(d, 'grpo'))) {
      runs.push(join(d, 'grpo'))
      // Each model's held-out and real-benchmark evaluations, as one row.
      for (const name of ['base', 'trained'] as const) {
        const parts = [`eval-${name}`, `eval-${name}-real`].filter((sub) => existsSync(join(d, sub, 'results.json'))).map((sub) => readResults(join(d, sub)))
        if (parts.length > 0) evals.push({ name, results: { ...parts[0]!, benchmarks: Object.assign({}, ...parts.map((p) => p.benchmarks)) } })
      }
      title ??= `medrl demo (${basename(d)}): GRPO on the clinical testbed`
    } else {
      const children = readdirSync(d).map((n) => join(d, n)).filter((p) => statSync(p).isDirectory() && isRun(p))
      if (children.length === 0) throw new Error(`${d}: holds no run (no metrics.jsonl): give a run directory (medrl train --out), the directory medrl demo prints, or a directory of runs`)
      runs.push(...children.sort())
    }
  }
  return { runs, evals, title }
}

export function reportCommand(): Command {
  return new Command('report')
    .description('a self-contained HTML report of runs (and evaluations) with one PNG and one SVG per chart')
    .argument('<runs...>', 'run directories (several are overlaid), the directory medrl demo prints, or a directory of runs')
    .requiredOption('--out <dir>', 'report directory (index.html, *.png, *.svg)')
    .option('--eval <specs...>', 'evaluations NAME=DIR (name them L1…Ln for accuracy against the highest level)', listOption)
    .option('--title <title>', 'report title')
    .action(async (dirs: string[], f: { out: string; eval?: string[]; title?: string }) => {
      const found = reportInputs(dirs)
      const evals = [
        ...found.evals,
        ...(f.eval ?? []).map((s) => {
          const eq = s.indexOf('=')
          const dir = eq > 0 ? s.slice(eq + 1) : s
          return { name: eq > 0 ? s.slice(0, eq) : basename(dir), results: readResults(dir) }
        }),
      ]
      const r = await writeReport(f.out, { runDirs: found.runs, evals, title: f.title ?? found.title })
      info(`wrote ${f.out}/index.html with ${r.charts.length} charts (${found.runs.length} runs, ${evals.length} evaluations)`)
      process.stdout.write(`${f.out}/index.html\n`)
    })
}
