/**
 * Child process of the rl and model benches: GRPO steps of a saved model (8 prompts × 8 rollouts × 256 new
 * tokens, EOS ignored so every rollout is full length, reference model on) in a fresh process, so the peak
 * RSS is the step's. Prints the last step's time split as JSON.
 *
 *   grpo-worker.ts MODEL_DIR MICRO_BATCH STEPS
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { defaultDataDir } from '../src/eval/suites.js'
import { parseTrainConfig } from '../src/rl/config.js'
import { train, type StepLog } from '../src/rl/trainer.js'

const [dir, micro, steps] = process.argv.slice(2) as [string, string, string]
const cfg = parseTrainConfig({
  algorithm: 'grpo',
  total_steps: Number(steps),
  model: { path: dir },
  data: { files: [join(defaultDataDir(), 'medmcqa', 'medmcqa_input.jsonl')], template: 'r1', reward: 'binary' },
  rollout: { train_batch_size: 8, num_generations: 8, max_new_tokens: 256 },
  actor: { learning_rate: 1e-6, micro_batch_size: Number(micro) },
  kl: { kl_coef: 0.001 },
  trainer: { save_steps: 0, log_samples: 0 },
})
const run = mkdtempSync(join(tmpdir(), 'medrl-bench-grpo-'))
const logs: StepLog[] = []
try {
  await train(cfg, run, { onStep: (l) => logs.push(l) })
} finally {
  rmSync(run, { recursive: true, force: true })
}
const last = logs[logs.length - 1]!.data
const pick = (k: string) => last[k] ?? 0
process.stdout.write(
  JSON.stringify({
    seconds_per_step: pick('time/step'),
    split: { generate: pick('time/generate'), old_log_probs: pick('time/old_log_probs'), reference: pick('time/reference'), update: pick('time/update') },
    tokens_per_s: pick('perf/tokens_per_s'),
    micro_batch_size: Number(micro),
    steps: logs.length,
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
  }),
)
