import { configToJson } from '../src/model/config.js'
import { BENCH_MODEL } from './engine.js'
import { grpoStep, writeBenchModel } from './model.js'
import { medrlWorker } from './peer.js'
import { inTempDir, LORA_RANK, ratio, type BenchSection } from './section.js'

/**
 * Rollouts per forward/backward: 4 rows of prompt + 256 tokens is ~2,000 tokens, whose vocabulary-sized
 * tensors (4 bytes × 32,000 a token each) stay near a quarter of a gigabyte; at 16 rows the step outgrew 24 GB.
 */
const RL_MICRO_BATCH = 4

/** The step before the response-window layout and the on-policy shortcut (the same protocol, 2026-12-02). */
const STEP_SECONDS_BEFORE = 107

type Step = { seconds_per_step: number; tokens_per_s: Record<string, number | null> }

/**
 * One GRPO step of the 39M benchmark model: 8 prompts × 8 rollouts × 256 new tokens (EOS ignored, so every
 * rollout is full length), reference model on (kl_coef > 0), split into generate / old log-probs /
 * reference / update with each piece's tokens/s beside the engine's plain train step and no-grad forward
 * measured in the same run (8 × 256, fresh processes); the same step with LoRA. Each in a fresh process,
 * its peak RSS its own.
 */
export const rlBench: BenchSection = {
  name: 'rl',
  description: 'GRPO step of the 39M model (8 prompts × 8 rollouts × 256 new tokens): split, each piece’s tokens/s against the plain train step and forward of the same run, and with LoRA; peak RSS',
  run: () =>
    inTempDir('medrl-bench-rl-', async (dir) => {
      writeBenchModel(dir, BENCH_MODEL)
      const full = grpoStep(dir, RL_MICRO_BATCH, 2) as Step
      const lora = grpoStep(dir, RL_MICRO_BATCH, 2, LORA_RANK) as Step
      const cfg = JSON.stringify(configToJson(BENCH_MODEL))
      const plainTrain = medrlWorker(['train', cfg, '8', '256', '3'])
      const plainForward = medrlWorker(['forward', cfg, '8', '256', '3'])
      return {
        note: 'second step (the first compiles the programs); the BPE is small, the vocabulary 32,000 rows',
        ...full,
        plain_tokens_per_s: { train: plainTrain.tokens_per_s!, forward: plainForward.tokens_per_s! },
        update_over_plain_train: ratio(full.tokens_per_s.update, plainTrain.tokens_per_s),
        reference_over_plain_forward: ratio(full.tokens_per_s.reference, plainForward.tokens_per_s),
        old_log_probs_over_plain_forward: ratio(full.tokens_per_s.old_log_probs, plainForward.tokens_per_s),
        speedup_over_step_before: { seconds_before: STEP_SECONDS_BEFORE, speedup: STEP_SECONDS_BEFORE / full.seconds_per_step },
        lora: { ...lora, update_over_plain_train: ratio(lora.tokens_per_s.update, plainTrain.tokens_per_s) },
      }
    }),
}
