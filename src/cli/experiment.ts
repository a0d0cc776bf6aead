import { join } from 'node:path'
import { Command } from 'commander'
import { runExperiment } from '../experiment/runner.js'
import { resultsTable } from '../experiment/report.js'
import { readExperimentSpec } from '../experiment/spec.js'
import { info } from './util.js'

export function experimentCommand(): Command {
  return new Command('experiment')
    .description('a grid of runs (variants × seeds) from one spec: difficulty once, then subset, training and held-out evaluation per cell; results.json and a report with the figure. A rerun continues the grid')
    .argument('<spec>', 'experiment spec (YAML; see examples/experiments/)')
    .requiredOption('--out <dir>', 'experiment directory (rerun with the same one to continue)')
    .action(async (specPath: string, f: { out: string }) => {
      const spec = readExperimentSpec(specPath)
      const r = await runExperiment(spec, f.out, { info })
      const [head, ...rows] = resultsTable(spec, r)
      process.stdout.write(`| ${head!.join(' | ')} |\n|${head!.map(() => '---').join('|')}|\n${rows.map((x) => `| ${x.join(' | ')} |`).join('\n')}\n`)
      info(`${r.status}: ${join(f.out, 'results.json')}, ${join(f.out, 'report', 'index.html')} (${(r.wall_seconds / 60).toFixed(1)} min)`)
    })
}
