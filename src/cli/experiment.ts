import { join } from 'node:path'
import { Command } from 'commander'
import { formatPlan, planExperiment } from '../experiment/plan.js'
import { runExperiment } from '../experiment/runner.js'
import { resultsTable } from '../experiment/report.js'
import { readExperimentSpec } from '../experiment/spec.js'
import { info } from './util.js'

export function experimentCommand(): Command {
  return new Command('experiment')
    .description('a grid of runs (variants × seeds) from one spec: difficulty once, then subset, training (embedded or verl) and evaluation (embedded or vLLM) per cell; results.json and a report with the figure. A rerun continues the grid')
    .argument('<spec>', 'experiment spec (YAML; see examples/experiments/)')
    .requiredOption('--out <dir>', 'experiment directory (rerun with the same one to continue)')
    .option('--plan', 'print every cell and command it will run, with paths, GPUs and the GPU-hours left; run nothing')
    .action(async (specPath: string, f: { out: string; plan?: boolean }) => {
      const spec = readExperimentSpec(specPath)
      if (f.plan) {
        process.stdout.write(formatPlan(planExperiment(spec, f.out)))
        return
      }
      const r = await runExperiment(spec, f.out, { info })
      const [head, ...rows] = resultsTable(spec, r)
      process.stdout.write(`| ${head!.join(' | ')} |\n|${head!.map(() => '---').join('|')}|\n${rows.map((x) => `| ${x.join(' | ')} |`).join('\n')}\n`)
      info(`${r.status}: ${join(f.out, 'results.json')}, ${join(f.out, 'report', 'index.html')} (${(r.wall_seconds / 60).toFixed(1)} min)`)
    })
}
