import { join } from 'node:path'
import { Command } from 'commander'
import { readConfig } from '../rl/config.js'
import { VerlIngest } from '../verl/ingest.js'
import { exportVerlCheckpoint } from '../verl/checkpoints.js'
import { prepareVerlRun } from '../verl/prepare.js'
import { info, intOption, listOption } from './util.js'

export function verlCommand(): Command {
  const verl = new Command('verl').description('scale out on verl 0.9: prepare a run for a GPU cluster, read its metrics and rollouts back, export its checkpoints')

  verl
    .command('prepare')
    .description('write everything a verl run needs: train/val.parquet, reward.py, overrides.txt, run.sh, config.yaml (no verl or model needed here)')
    .requiredOption('--config <file>', 'the run config (the same file `medrl train` takes)')
    .requiredOption('--out <dir>', 'directory to write')
    .option('--set <key=value...>', 'override options, as for `medrl train`', listOption)
    .action(async (f: { config: string; out: string; set?: string[] }) => {
      const { raw, cfg } = readConfig(f.config, f.set ?? [])
      const p = await prepareVerlRun(cfg, raw, f.out, { info })
      info(`${p.trainRecords} training and ${p.valRecords} validation rows, ${p.overrides.length} overrides checked against verl's schema`)
      info(`start the reward service (medrl reward serve), then run ${p.runScript}`)
      process.stdout.write(`${p.dir}\n`)
    })

  verl
    .command('ingest')
    .description("read a verl run's metrics file and rollout dumps into a medrl run directory (metrics.jsonl, samples.jsonl) for `medrl report` and the dashboard")
    .argument('[run]', 'a run directory of `medrl train --engine verl` (reads RUN/verl/metrics.jsonl and RUN/verl/rollouts)')
    .option('--metrics <file>', "verl's metrics file (VERL_FILE_LOGGER_PATH), for a verl run started by other means")
    .option('--rollouts <dir>', "verl's rollout dumps (trainer.rollout_data_dir)")
    .option('--prepared <dir>', 'the directory `medrl verl prepare` wrote (default: RUN/verl)')
    .option('--out <dir>', 'the medrl run directory to write (default: RUN)')
    .action(async (run: string | undefined, f: { metrics?: string; rollouts?: string; prepared?: string; out?: string }) => {
      const out = f.out ?? run
      if (!out) throw new Error('give RUN (a verl run directory) or --metrics FILE --rollouts DIR --prepared DIR --out RUN')
      const prepared = f.prepared ?? join(run ?? out, 'verl')
      const r = await new VerlIngest({ metrics: f.metrics ?? join(prepared, 'metrics.jsonl'), rollouts: f.rollouts ?? join(prepared, 'rollouts'), out, prepared }).run()
      info(`${r.steps} steps (last ${r.lastStep ?? '-'}), ${r.dumps} rollout dumps${r.unmatched > 0 ? `, ${r.unmatched} rollouts matched no prepared question` : ''}`)
      process.stdout.write(`${out}\n`)
    })

  verl
    .command('export')
    .description("merge a verl checkpoint's FSDP shards into a Hugging Face directory (verl's model merger), checked with `medrl model info`")
    .argument('<run>', 'a verl run directory (or its checkpoints directory)')
    .option('--step <n>', 'the step (default: the latest checkpoint)', intOption('--step'))
    .requiredOption('--out <dir>', 'the Hugging Face directory to write')
    .action((run: string, f: { step?: number; out: string }) => {
      const r = exportVerlCheckpoint(run, f.out, { step: f.step, info })
      info(`step ${r.step} → ${r.dir}; evaluate with: medrl eval --model ${r.dir}`)
      process.stdout.write(`${r.dir}\n`)
    })
  return verl
}
