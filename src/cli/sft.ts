import { Command } from 'commander'
import { describeConfig } from '../rl/config.js'
import { checkNewRunDir } from '../engines/index.js'
import { SftConfigSchema, readSftConfig } from '../sft/config.js'
import { sft } from '../sft/trainer.js'
import { Progress } from '../util/progress.js'
import { addRunOptions, info, runConfigPath } from './util.js'

export function sftCommand(): Command {
  return addRunOptions(new Command('sft').description('supervised fine-tuning on question → answer completions (the SFT baseline RL is compared with), loss on the answer tokens only'), 'optim.learning_rate=1e-5', 'config.yaml, metrics.jsonl, checkpoints/')
    .option('--help-config', 'list every option with its default and help')
    .action(async (f: { config?: string; out?: string; resume?: string; set?: string[]; helpConfig?: boolean }) => {
      if (f.helpConfig) {
        process.stdout.write(`${describeConfig(SftConfigSchema).join('\n')}\n`)
        return
      }
      const { runDir, path } = runConfigPath(f)
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
