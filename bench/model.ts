import { spawnSync } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { defaultDataDir } from '../src/eval/suites.js'
import { saveTrainedTokenizer } from '../src/model/bpe.js'
import { parameterCount } from '../src/model/config.js'
import { initWeights, newConfig, saveModel } from '../src/model/files.js'
import { medrlWorker } from './peer.js'
import { inTempDir, LORA_RANK, type BenchSection, type Figures } from './section.js'

/** Qwen2.5-0.5B's shapes: Qwen2, 24 layers, hidden 896, 14 / 2 heads, MLP 4,864, vocabulary 151,936, tied embeddings. */
export const QWEN25_05B = newConfig({ arch: 'qwen2', hidden: 896, layers: 24, heads: 14, kvHeads: 2, intermediate: 4864, vocab: 151936, tie: true, ropeTheta: 1e6, maxPositions: 32768 })

/** Qwen2.5-1.5B's shapes: Qwen2, 28 layers, hidden 1,536, 12 / 2 heads, MLP 8,960, vocabulary 151,936, tied embeddings. */
export const QWEN25_15B = newConfig({ arch: 'qwen2', hidden: 1536, layers: 28, heads: 12, kvHeads: 2, intermediate: 8960, vocab: 151936, tie: true, ropeTheta: 1e6, maxPositions: 32768 })

/** What a one-step GRPO row measures. */
const FIRST_STEP = 'one step, programs compiled during it'

/** Rollouts per forward/backward in the model bench's GRPO step: the largest that leaves room (see the README). */
export const GRPO_MICRO_BATCH_05B = 2

/** Writes a model with random weights in the Hugging Face layout (BF16) and a small byte-level BPE beside it. */
export function writeBenchModel(dir: string, config = QWEN25_05B): number {
  // The GRPO step needs a tokenizer; only the vocabulary size matters here, so the BPE is trained small and
  // the model keeps all its rows (ids above the BPE's never occur).
  const text = readFileSync(join(defaultDataDir(), 'medqa', 'medqa_input.jsonl'), 'utf8').split('\n').slice(0, 400)
  saveTrainedTokenizer(dir, text, 2000)
  const t0 = performance.now()
  saveModel(dir, { ...config, eos_token_id: [] }, initWeights(config, 0), { dtype: 'BF16' })
  return (performance.now() - t0) / 1000
}

function worker(script: string, args: string[]): Record<string, unknown> {
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', join(import.meta.dirname, script), ...args], { encoding: 'utf8', maxBuffer: 16 << 20 })
  if (r.status !== 0) throw new Error(`${script} failed (${r.signal ? `killed by ${r.signal}, out of memory?` : `exit ${r.status}`}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`)
  return JSON.parse(r.stdout) as Record<string, unknown>
}

/** A GRPO step of a saved model in a fresh process (bench/grpo-worker.ts); with a rank, LoRA on every linear layer. */
export function grpoStep(dir: string, micro: number, steps: number, loraRank?: number): Record<string, unknown> {
  return worker('grpo-worker.ts', [dir, String(micro), String(steps), ...(loraRank ? [String(loraRank)] : [])])
}

export const modelBench: BenchSection = {
  name: 'model',
  description: 'a Qwen2.5-0.5B-shaped model (random BF16 weights, HF layout): load, prefill and decode at batch 1/8/64, one GRPO step (8 × 8 × 256) training every weight and one with LoRA, with their split and peak RSS',
  run: () =>
    inTempDir('medrl-bench-model-', async (dir) => {
      const saveSeconds = writeBenchModel(dir)
      const bytes = statSync(join(dir, 'model.safetensors')).size
      const load = worker('load-model.ts', [dir]) as { seconds: number; params: number; peak_rss_mb: number }
      const fp32Mb = (load.params * 4) / 2 ** 20
      const out: Figures = {
        params: parameterCount(QWEN25_05B),
        file_mb: Math.round(bytes / 2 ** 20),
        init_and_save_seconds: saveSeconds,
        load_seconds: load.seconds,
        load_peak_rss_mb: load.peak_rss_mb,
        fp32_weights_mb: Math.round(fp32Mb),
        peak_rss_over_fp32_weights: load.peak_rss_mb / fp32Mb,
      }
      // 64-token prompts, 32 sampled tokens per row.
      const prefill: Record<string, unknown> = {}
      const decode: Record<string, unknown> = {}
      const rss: Record<string, unknown> = {}
      for (const b of [1, 8, 64]) {
        const r = medrlWorker(['decode', dir, String(b), '64', '32'])
        prefill[`b${b}`] = r.prefill_tokens_per_s
        decode[`b${b}`] = r.tokens_per_s
        rss[`b${b}`] = r.peak_rss_mb
      }
      out.prefill_tokens_per_s = prefill
      out.decode_tokens_per_s = decode
      out.generate_peak_rss_mb = rss
      out.grpo_step = { note: FIRST_STEP, ...grpoStep(dir, GRPO_MICRO_BATCH_05B, 1) }
      out.grpo_step_lora = { note: FIRST_STEP, ...grpoStep(dir, GRPO_MICRO_BATCH_05B, 1, LORA_RANK) }
      return out
    }),
}

/** Qwen2.5-1.5B's shape with LoRA: whether one GRPO step fits this machine, its time and peak RSS (long: ~20 minutes). */
export const model15bBench: BenchSection = {
  name: 'model-1.5b',
  description: 'a Qwen2.5-1.5B-shaped model (random BF16 weights, HF layout): one GRPO step (8 × 8 × 256) with LoRA (rank 16, every linear layer), its split and peak RSS',
  run: () =>
    inTempDir('medrl-bench-model15-', async (dir) => {
      writeBenchModel(dir, QWEN25_15B)
      return {
        params: parameterCount(QWEN25_15B),
        file_mb: Math.round(statSync(join(dir, 'model.safetensors')).size / 2 ** 20),
        grpo_step_lora: { note: FIRST_STEP, ...grpoStep(dir, GRPO_MICRO_BATCH_05B, 1, LORA_RANK) },
      }
    }),
}
