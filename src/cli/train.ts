import { Command, Option } from 'commander'
import { describeConfig, readConfig } from '../rl/config.js'
import type { StepLog } from '../rl/trainer.js'
import { engineNames, runTraining } from '../engines/index.js'
import { verlNameOf } from '../verl/mapping.js'
import { Progress } from '../util/progress.js'
import { addRunOptions, floatOption, info, runConfigPath } from './util.js'

function stepLine(l: StepLog, total: number): string {
  const d = l.data
  const f = (k: string, digits = 3) => (d[k] === undefined ? '-' : d[k]!.toFixed(digits))
  return `step ${l.step}/${total}  reward ${f('reward/mean')}  acc ${f('accuracy/mean')}  effective ${f('rollout/effective_ratio', 2)}  len ${f('response_length/mean', 1)}  kl ${f('actor/kl', 4)}  entropy ${f('actor/entropy')}  ${f('time/step', 2)}s`
}

export function trainCommand(): Command {
  return addRunOptions(new Command('train').description('RL training: GRPO (AlphaMed) or PPO (Med-RLVR) with rule-based rewards'), 'actor.learning_rate=1e-5 rollout.num_generations=4', 'config.yaml, metrics.jsonl, samples.jsonl, checkpoints/')
    .addOption(new Option('--engine <name>', 'who trains (default: the config’s engine, else embedded)').choices(engineNames()))
    .option('--follow <seconds>', "engine verl: how often to read verl's metrics and rollouts while it runs", floatOption('--follow'), 10)
    .option('--help-config', 'list every option with its default, help and verl name')
    .action(async (f: { config?: string; out?: string; resume?: string; set?: string[]; engine?: string; follow: number; helpConfig?: boolean }) => {
      if (f.helpConfig) {
        process.stdout.write(`${describeConfig(undefined, '', verlNameOf).join('\n')}\n`)
        return
      }
      const { runDir, path } = runConfigPath(f)
      const { raw, cfg } = readConfig(path, [...(f.set ?? []), ...(f.engine ? [`engine=${f.engine}`] : [])])
      const progress = new Progress('train', cfg.total_steps, 'steps')
      const tty = process.stderr.isTTY === true
      const t0 = Date.now()
      const r = await runTraining(cfg, raw, runDir, {
        resume: f.resume !== undefined,
        info,
        followSeconds: f.follow,
        onStep: (step, data) => {
          if (tty) progress.update(step, data['reward/mean'] !== undefined ? `reward ${data['reward/mean'].toFixed(3)}` : '')
          else info(stepLine({ step, data }, cfg.total_steps))
        },
      })
      progress.stop()
      info(`${r.steps} steps in ${((Date.now() - t0) / 1000).toFixed(1)} s; last checkpoint ${r.lastCheckpoint ?? '(none)'}`)
      process.stdout.write(`${runDir}\n`)
    })
}
