import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { engineThreads } from '../src/engine/session.js'
import { configToJson, parameterCount, type ModelConfig } from '../src/model/config.js'
import { blasBestEnv, blasConditions, numpyCeilingGflops } from './ceiling.js'
import { BENCH_MODEL } from './engine.js'
import { LORA_RANK, ratio, type BenchSection, type Figures } from './section.js'

/** Debian's python3, where python3-torch installs (a pyenv or venv python3 on PATH usually lacks torch). */
export const TORCH_PYTHON = '/usr/bin/python3'
const HOW = 'apt-get install python3-torch libopenblas0-pthread (Debian; OpenBLAS with threads is what makes its matrix products run at native speed)'

type Json = Record<string, number | string>

function hfConfig(c: ModelConfig): Record<string, unknown> {
  return configToJson(c)
}

function parseJson(what: string, r: ReturnType<typeof spawnSync>): Json {
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}): ${String(r.stderr).trim().split('\n').slice(-3).join(' | ')}`)
  return JSON.parse(String(r.stdout)) as Json
}

/** One measurement of medrl's engine in a fresh process (bench/engine-worker.ts). */
export function medrlWorker(args: string[]): Json {
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', join(import.meta.dirname, 'engine-worker.ts'), ...args], { encoding: 'utf8', maxBuffer: 16 << 20 })
  return parseJson(`medrl ${args[0]}`, r)
}

/** One measurement of the PyTorch peer in a fresh process (bench/peer.py), under the ceiling's OpenBLAS conditions. */
function torchWorker(args: string[]): Json {
  const r = spawnSync(TORCH_PYTHON, [join(import.meta.dirname, 'peer.py'), ...args], { encoding: 'utf8', maxBuffer: 16 << 20, env: blasBestEnv() })
  return parseJson(`torch ${args[0]}`, r)
}

export function torchAvailable(): string | null {
  const r = spawnSync(TORCH_PYTHON, ['-c', 'import torch'], { encoding: 'utf8' })
  return r.status === 0 ? null : `no torch for ${TORCH_PYTHON} (${(r.stderr || r.error?.message || '').trim().split('\n').pop()}); install it with: ${HOW}`
}

/**
 * medrl's engine beside PyTorch on the CPU, same machine, same run, same model and shapes: the 39M bench
 * model's train step (every weight, and LoRA) and forward at 8 × 256, decoding at batch 1 / 8 / 64 (32-token prompts, 64 sampled
 * tokens), each in a fresh process so peak RSS belongs to that measurement.
 */
export const peerBench: BenchSection = {
  name: 'peer',
  description: 'medrl beside PyTorch (Debian python3-torch, OpenBLAS) on the 39M model: train step (full and LoRA rank 16), forward, decode b1/8/64, peak RSS; ratios',
  async run() {
    const missing = torchAvailable()
    if (missing) {
      process.stderr.write(`bench peer: skipped: ${missing}\n`)
      return { skipped: missing }
    }
    const cfg = JSON.stringify(hfConfig(BENCH_MODEL))
    const torchCfg = JSON.stringify({ ...hfConfig(BENCH_MODEL), threads: engineThreads() })
    // The ceiling of this section's own minutes (the run's first measurement can be half an hour old on a
    // machine whose speed drifts): numpy's product right before and right after, and their mean.
    const before = numpyCeilingGflops().gflops
    const medrl: Record<string, Json> = {}
    const torch: Record<string, Json> = {}
    for (const [name, args] of [
      ['train', ['train', '8', '256', '3']],
      // LoRA of rank 16 on every linear layer (alpha 32), the base frozen: PyTorch's adapters written in the peer.
      ['train_lora', ['train', '8', '256', '3', String(LORA_RANK)]],
      ['forward', ['forward', '8', '256', '3']],
      ['decode_b1', ['decode', '1', '32', '64']],
      ['decode_b8', ['decode', '8', '32', '64']],
      ['decode_b64', ['decode', '64', '32', '64']],
    ] as const) {
      const [mode, ...rest] = args
      medrl[name] = medrlWorker([mode, cfg, ...rest])
      torch[name] = torchWorker([mode, torchCfg, ...rest])
    }
    const after = numpyCeilingGflops().gflops
    const ceiling = before !== null && after !== null ? (before + after) / 2 : (before ?? after)
    const out: Figures = { model: { params: parameterCount(BENCH_MODEL), batch: 8, seq: 256 }, blas_environment: blasConditions(), ceiling_gflops: ceiling, ceiling_before_gflops: before, ceiling_after_gflops: after }
    // The engine's count of the matrix-product FLOPs it runs in a train step (forward: a third of it), used for
    // both: PyTorch runs a little more (its attention scores cover the masked keys that medrl's causal blocks
    // skip), so its share is understated by that much (~2% at 256 tokens), never medrl's overstated.
    const trainGflop = Number(medrl.train!.matmul_gflop)
    const frac = (seconds: unknown, gflop: number) => (ceiling && typeof seconds === 'number' ? gflop / seconds / ceiling : null)
    const bw = medrlWorker(['bandwidth'])
    const weightBytes = parameterCount(BENCH_MODEL) * 4
    out.medrl = medrl
    out.torch = { ...torch, version: torch.train!.torch!, blas: torch.train!.blas!, threads: torch.train!.threads! }
    out.ratios_medrl_over_torch = {
      train_tokens_per_s: ratio(medrl.train!.tokens_per_s, torch.train!.tokens_per_s),
      train_lora_tokens_per_s: ratio(medrl.train_lora!.tokens_per_s, torch.train_lora!.tokens_per_s),
      forward_tokens_per_s: ratio(medrl.forward!.tokens_per_s, torch.forward!.tokens_per_s),
      decode_b1: ratio(medrl.decode_b1!.tokens_per_s, torch.decode_b1!.tokens_per_s),
      decode_b8: ratio(medrl.decode_b8!.tokens_per_s, torch.decode_b8!.tokens_per_s),
      decode_b64: ratio(medrl.decode_b64!.tokens_per_s, torch.decode_b64!.tokens_per_s),
      train_peak_rss: ratio(medrl.train!.peak_rss_mb, torch.train!.peak_rss_mb),
    }
    out.fraction_of_ceiling = {
      medrl_train: frac(medrl.train!.seconds, trainGflop),
      medrl_forward: frac(medrl.forward!.seconds, trainGflop / 3),
      torch_train: frac(torch.train!.seconds, trainGflop),
      torch_forward: frac(torch.forward!.seconds, trainGflop / 3),
    }
    out.decode_b1_bound = {
      copy_gb_per_s: bw.copy_gb_per_s!,
      weight_mb: weightBytes / 2 ** 20,
      bound_tokens_per_s: (Number(bw.copy_gb_per_s) * 1e9) / weightBytes,
      medrl_over_bound: ratio(medrl.decode_b1!.tokens_per_s, (Number(bw.copy_gb_per_s) * 1e9) / weightBytes),
    }
    return out
  },
}
