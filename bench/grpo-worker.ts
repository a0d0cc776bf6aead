/**
 * Child process of the rl and model benches: GRPO steps of a saved model (8 prompts × 8 rollouts × 256 new
 * tokens, EOS ignored so every rollout is full length, reference model on) in a fresh process, so the peak
 * RSS is the step's. Prints the last step's time split, and each piece's tokens/s, as JSON.
 *
 *   grpo-worker.ts MODEL_DIR MICRO_BATCH STEPS [LORA_RANK]
 *
 * With LORA_RANK: LoRA of that rank (alpha twice it) on every linear layer, the reference the base with the
 * adapters off.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { defaultDataDir } from '../src/eval/suites.js'
import { parseTrainConfig } from '../src/rl/config.js'
import { train, type StepLog } from '../src/rl/trainer.js'
import { benchLora, ratio } from './section.js'

const [dir, micro, steps, rank] = process.argv.slice(2) as [string, string, string, string | undefined]
const lora = rank ? benchLora(Number(rank)) : undefined
const cfg = parseTrainConfig({
  algorithm: 'grpo',
  total_steps: Number(steps),
  model: { path: dir },
  data: { files: [join(defaultDataDir(), 'medmcqa', 'medmcqa_input.jsonl')], template: 'r1', reward: 'binary' },
  rollout: { train_batch_size: 8, num_generations: 8, max_new_tokens: 256 },
  actor: { learning_rate: 1e-6, micro_batch_size: Number(micro), ...(lora ? { lora } : {}) },
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
const tokens = pick('perf/total_num_tokens')
const { train_batch_size: prompts, num_generations: rolloutsPerPrompt, max_new_tokens: newPerRollout } = cfg.rollout
const newTokens = prompts * rolloutsPerPrompt * newPerRollout
process.stdout.write(
  JSON.stringify({
    prompts,
    rollouts_per_prompt: rolloutsPerPrompt,
    new_tokens: newPerRollout,
    seconds_per_step: pick('time/step'),
    split: { generate: pick('time/generate'), old_log_probs: pick('time/old_log_probs'), reference: pick('time/reference'), update: pick('time/update') },
    // Tokens a piece processed per second: prompt + response tokens (no padding) for the passes over the
    // sequences, new tokens for generation.
    tokens: { step: tokens, new: newTokens },
    tokens_per_s: { step: pick('perf/tokens_per_s'), generate: ratio(newTokens, pick('time/generate')), old_log_probs: ratio(tokens, pick('time/old_log_probs')), reference: ratio(tokens, pick('time/reference')), update: ratio(tokens, pick('time/update')) },
    on_policy_shortcut: pick('actor/on_policy_shortcut') === 1,
    micro_batch_size: Number(micro),
    ...(lora ? { lora } : {}),
    steps: logs.length,
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
  }),
)
