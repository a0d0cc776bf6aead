import { Command, Option } from 'commander'
import { describeConfig } from '../rl/config.js'
import { engineNames, runSft } from '../engines/index.js'
import { SftConfigSchema, readSftConfig } from '../sft/config.js'
import { SFT_KEY_MAP } from '../verl/sft.js'
import { Progress } from '../util/progress.js'
import { addRunOptions, floatOption, info, runConfigPath } from './util.js'

const fmt = (d: Record<string, number>, k: string, digits = 4) => (d[k] === undefined ? '-' : d[k]!.toFixed(digits))

export function sftCommand(): Command {
  return addRunOptions(new Command('sft').description('supervised fine-tuning on question → answer completions (the SFT baseline RL is compared with), loss on the answer tokens only'), 'optim.learning_rate=1e-5', 'config.yaml, metrics.jsonl, checkpoints/')
    .addOption(new Option('--engine <name>', 'who trains (default: the config’s engine, else embedded)').choices(engineNames()))
    .option('--follow <seconds>', "engine verl: how often to read verl's metrics while it runs", floatOption('--follow'), 10)
    .option('--help-config', 'list every option with its default, help and verl name')
    .action(async (f: { config?: string; out?: string; resume?: string; set?: string[]; engine?: string; follow: number; helpConfig?: boolean }) => {
      if (f.helpConfig) {
        process.stdout.write(`${describeConfig(SftConfigSchema, '', (k) => SFT_KEY_MAP.find((m) => m.key === k)?.verl).join('\n')}\n`)
        return
      }
      const { runDir, path } = runConfigPath(f)
      const { cfg } = readSftConfig(path, [...(f.set ?? []), ...(f.engine ? [`engine=${f.engine}`] : [])])
      const progress = new Progress('sft', cfg.total_steps, 'steps')
      const tty = process.stderr.isTTY === true
      const t0 = Date.now()
      const r = await runSft(cfg, runDir, {
        resume: f.resume !== undefined,
        info,
        followSeconds: f.follow,
        onStep: (step, d) => {
          const line = `loss ${fmt(d, 'train/loss')}  token acc ${fmt(d, 'train/token_accuracy', 3)}${d['val/loss'] !== undefined ? `  val loss ${fmt(d, 'val/loss')}` : ''}`
          if (tty) progress.update(step, line)
          else info(`step ${step}/${cfg.total_steps}  ${line}  ${fmt(d, 'time/step', 2)}s`)
        },
      })
      progress.stop()
      info(`${r.steps} steps in ${((Date.now() - t0) / 1000).toFixed(1)} s; last checkpoint ${r.lastCheckpoint ?? '(none)'}`)
      process.stdout.write(`${runDir}\n`)
    })
}
