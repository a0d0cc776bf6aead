import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { saveTrainedTokenizer } from '../src/model/bpe.js'
import { randomWeights } from '../src/model/causal-lm.js'
import { saveModel } from '../src/model/files.js'
import { parseTrainConfig } from '../src/rl/config.js'
import { train, type StepLog } from '../src/rl/trainer.js'
import { BENCH_MODEL } from './engine.js'
import type { BenchSection } from './run.js'
import { readFileSync } from 'node:fs'
import { defaultDataDir } from '../src/eval/suites.js'

/**
 * One GRPO step of the 39M benchmark model: 8 prompts × 8 rollouts × 256 new tokens (EOS ignored, so every
 * rollout is full length), reference model on (kl_coef > 0), split into generate / reference / update.
 */
export const rlBench: BenchSection = {
  name: 'rl',
  description: 'seconds per GRPO step of the 39M model (8 prompts × 8 rollouts × 256 new tokens) and its split; peak RSS',
  async run() {
    const dir = mkdtempSync(join(tmpdir(), 'medrl-bench-rl-'))
    try {
      // A 32k-token byte-level BPE needs a big corpus; the benchmark only needs the vocabulary size, so the
      // tokenizer is trained small and the model keeps BENCH_MODEL's 32,000 rows (ids above it never occur).
      const text = readFileSync(join(defaultDataDir(), 'medqa', 'medqa_input.jsonl'), 'utf8').split('\n').slice(0, 400)
      saveTrainedTokenizer(dir, text, 2000)
      // No EOS in the config: rollouts run to max_new_tokens.
      saveModel(dir, { ...BENCH_MODEL, eos_token_id: [] }, randomWeights(BENCH_MODEL, 0))
      const cfg = parseTrainConfig({
        algorithm: 'grpo',
        total_steps: 2,
        model: { path: dir },
        data: { files: [join(defaultDataDir(), 'medmcqa', 'medmcqa_input.jsonl')], template: 'r1', reward: 'binary' },
        rollout: { train_batch_size: 8, num_generations: 8, max_new_tokens: 256 },
        actor: { learning_rate: 1e-6, micro_batch_size: 4 },
        kl: { kl_coef: 0.001 },
        trainer: { save_steps: 0, log_samples: 0 },
      })
      const logs: StepLog[] = []
      const run = join(dir, 'run')
      await train(cfg, run, { onStep: (l) => logs.push(l) })
      const last = logs[logs.length - 1]!.data
      const pick = (k: string) => last[k] ?? 0
      return {
        prompts: 8,
        rollouts_per_prompt: 8,
        new_tokens: 256,
        seconds_per_step: pick('time/step'),
        split: { generate: pick('time/generate'), old_log_probs: pick('time/old_log_probs'), reference: pick('time/reference'), update: pick('time/update') },
        tokens_per_s: pick('perf/tokens_per_s'),
        peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
        note: 'second step (the first compiles the programs); the BPE is small, the vocabulary 32,000 rows',
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  },
}
