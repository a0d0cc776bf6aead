import { join, resolve } from 'node:path'
import { Command } from 'commander'
import { demoDefaults, runDemo } from '../demo/pipeline.js'
import { floatOption, info, intOption } from './util.js'

export function demoCommand(): Command {
  const d = demoDefaults('', () => {})
  return new Command('demo')
    .description('the whole pipeline on the clinical testbed: world → base model → difficulty → balanced subset → GRPO → evaluation → report')
    .option('--out <dir>', 'run directory (default: runs/demo-<time>)')
    .option('--seed <n>', 'seed of the world and the run', intOption('--seed'), 0)
    .option('--steps <n>', 'GRPO steps', intOption('--steps', 1), d.steps)
    .option('--train-batch-size <n>', 'GRPO prompts per step (rollout.train_batch_size)', intOption('--train-batch-size', 1), d.trainBatchSize)
    .option('--num-generations <n>', 'GRPO rollouts per prompt (rollout.num_generations)', intOption('--num-generations', 1), d.numGenerations)
    .option('--learning-rate <x>', 'GRPO learning rate (actor.learning_rate)', floatOption('--learning-rate'), d.learningRate)
    .option('--per-level <n>', 'questions per difficulty level in the training subset', intOption('--per-level', 1), d.perLevel)
    .option('-k, --k <n>', 'samples per question for the difficulty levels', intOption('-k', 1), d.k)
    .option('--real-limit <n>', 'items of each real benchmark scored', intOption('--real-limit'), d.realLimit)
    .option('--max-new-tokens <n>', 'tokens per completion', intOption('--max-new-tokens', 1), d.maxNewTokens)
    .option('--reward <name>', 'GRPO reward: binary (AlphaMed) or format_correct (Med-RLVR)', d.reward)
    .action(async (f: { out?: string; seed: number; steps: number; trainBatchSize: number; numGenerations: number; learningRate: number; perLevel: number; k: number; realLimit: number; maxNewTokens: number; reward: string }) => {
      const out = resolve(f.out ?? join('runs', `demo-${new Date().toISOString().replace(/[:.]/g, '-')}`))
      const t0 = Date.now()
      const o = { ...demoDefaults(out, (m: string) => info(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${m}`)), seed: f.seed, steps: f.steps, trainBatchSize: f.trainBatchSize, numGenerations: f.numGenerations, learningRate: f.learningRate, perLevel: f.perLevel, k: f.k, realLimit: f.realLimit, maxNewTokens: f.maxNewTokens, reward: f.reward }
      const s = (await runDemo(o)) as { heldout: { base_accuracy: number; trained_accuracy: number; diff_ci95: [number, number] }; reasoning: { mentions_intermediate_start: number; mentions_intermediate_end: number }; wall_seconds: number }
      const pct = (x: number) => `${(100 * x).toFixed(1)}%`
      info(`held-out two-hop accuracy: base ${pct(s.heldout.base_accuracy)} → trained ${pct(s.heldout.trained_accuracy)} (difference 95% CI [${pct(s.heldout.diff_ci95[0])}, ${pct(s.heldout.diff_ci95[1])}]; chance is 25%)`)
      info(`reasoning that names the disease before answering: ${pct(s.reasoning.mentions_intermediate_start)} → ${pct(s.reasoning.mentions_intermediate_end)}`)
      info(`report: ${join(out, 'report', 'index.html')}; ${s.wall_seconds.toFixed(0)} s in all`)
      process.stdout.write(`${out}\n`)
    })
}
