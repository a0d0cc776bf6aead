import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BENCH_MODEL } from './engine.js'
import { grpoStep, writeBenchModel } from './model.js'
import type { BenchSection } from './section.js'

/**
 * One GRPO step of the 39M benchmark model: 8 prompts × 8 rollouts × 256 new tokens (EOS ignored, so every
 * rollout is full length), reference model on (kl_coef > 0), split into generate / old log-probs /
 * reference / update; in a fresh process, its peak RSS its own.
 */
/**
 * Rollouts per forward/backward: 4 rows of prompt + 256 tokens is ~2,000 tokens, whose vocabulary-sized
 * tensors (4 bytes × 32,000 a token each) stay near a quarter of a gigabyte; at 16 rows the step outgrew 24 GB.
 */
const RL_MICRO_BATCH = 4

export const rlBench: BenchSection = {
  name: 'rl',
  description: 'seconds per GRPO step of the 39M model (8 prompts × 8 rollouts × 256 new tokens) and its split; peak RSS',
  async run() {
    const dir = mkdtempSync(join(tmpdir(), 'medrl-bench-rl-'))
    try {
      writeBenchModel(dir, BENCH_MODEL)
      return { prompts: 8, rollouts_per_prompt: 8, new_tokens: 256, note: 'second step (the first compiles the programs); the BPE is small, the vocabulary 32,000 rows', ...grpoStep(dir, RL_MICRO_BATCH, 2) }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  },
}
