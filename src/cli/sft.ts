import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Command } from 'commander'
import { describeConfig } from '../rl/config.js'
import { checkNewRunDir } from '../engines/index.js'
import { SftConfigSchema, readSftConfig } from '../sft/config.js'
import { sft } from '../sft/trainer.js'
import { Progress } from '../util/progress.js'
import { info, listOption } from './util.js'

export function sftCommand(): Command {
  return new Command('sft')
    .description('supervised fine-tuning on question → answer completions (the SFT baseline RL is compared with), loss on the answer tokens only')
    .option('--config <file>', 'run config (YAML or JSON); see --help-config')
    .option('--out <dir>', 'run directory (config.yaml, metrics.jsonl, checkpoints/)')
    .option('--resume <dir>', 'continue a run from its last checkpoint (its config.yaml, plus any --set)')
    .option('--set <key=value...>', 'override options, e.g. --set optim.learning_rate=1e-5', listOption)
    .option('--help-config', 'list every option with its default and help')
    .action(async (f: { config?: string; out?: string; resume?: string; set?: string[]; helpConfig?: boolean }) => {
      if (f.helpConfig) {
        process.stdout.write(`${describeConfig(SftConfigSchema).join('\n')}\n`)
        return
      }
      if (f.resume && f.config) throw new Error('--resume takes the run’s own config.yaml; give --set to change options')
      const runDir = f.resume ?? f.out
      if (!runDir) throw new Error('give --out RUN_DIR (a new run) or --resume RUN_DIR')
      const path = f.resume ? join(f.resume, 'config.yaml') : f.config
      if (!path) throw new Error('give --config FILE')
      if (f.resume && !existsSync(path)) throw new Error(`${f.resume}: no config.yaml (is this a run directory?)`)
      const { cfg } = readSftConfig(path, f.set ?? [])
      if (!f.resume) checkNewRunDir(runDir)
      const progress = new Progress('sft', cfg.total_steps, 'steps')
      const tty = process.stderr.isTTY === true
      const t0 = Date.now()
      const r = await sft(cfg, runDir, {
        resume: f.resume !== undefined,
        info,
        onStep: (step, d) => {
          const line = `loss ${d['train/loss']!.toFixed(4)}  token acc ${d['train/token_accuracy']!.toFixed(3)}${d['val/loss'] !== undefined ? `  val loss ${d['val/loss'].toFixed(4)}` : ''}`
          if (tty) progress.update(step, line)
          else info(`step ${step}/${cfg.total_steps}  ${line}  ${d['time/step']!.toFixed(2)}s`)
        },
      })
      progress.stop()
      info(`${r.steps} steps in ${((Date.now() - t0) / 1000).toFixed(1)} s; last checkpoint ${r.lastCheckpoint ?? '(none)'}`)
      process.stdout.write(`${runDir}\n`)
    })
}
