import { Graph } from '../src/engine/graph.js'
import * as O from '../src/engine/ops/index.js'
import { AdamW, guardedStep } from '../src/engine/optim.js'
import { Program, engineThreads } from '../src/engine/session.js'
import { Tensor } from '../src/engine/tensor.js'
import { CausalLM, randomWeights, type LmBatch } from '../src/model/causal-lm.js'
import { parameterCount, parseConfig, type ModelConfig } from '../src/model/config.js'
import { numpyCeilingGflops } from './ceiling.js'
import type { BenchSection } from './section.js'

/** The benchmark model of the issue: Llama architecture, hidden 512, 8 layers, 8 heads / 2 KV heads, MLP 1408, vocab 32k, tied embeddings (≈ 39M parameters). */
export const BENCH_MODEL: ModelConfig = parseConfig({
  architectures: ['LlamaForCausalLM'],
  vocab_size: 32000,
  hidden_size: 512,
  intermediate_size: 1408,
  num_hidden_layers: 8,
  num_attention_heads: 8,
  num_key_value_heads: 2,
  max_position_embeddings: 1024,
  tie_word_embeddings: true,
})

export function benchBatch(b: number, t: number, seed = 0, vocab = 32000): LmBatch {
  const rows = Array.from({ length: b }, (_, i) => Array.from({ length: t + 1 }, (_, j) => (i * 7919 + j * 104729 + seed) % vocab))
  return { ids: rows.map((r) => r.slice(0, -1)), targets: rows.map((r) => r.slice(1)), lossMask: rows.map((r) => r.slice(1).map(() => 1)) }
}

async function matmulGflops(n = 1024): Promise<number> {
  const g = new Graph('float32')
  const a = g.input('a', [n, n])
  const b = g.input('b', [n, n])
  const p = await Program.compile(g, { c: O.matmul(a, b) })
  const feeds = { a: Tensor.f32(new Float32Array(n * n).map(() => Math.random()), [n, n]), b: Tensor.f32(new Float32Array(n * n).map(() => Math.random()), [n, n]) }
  await p.run(feeds)
  let best = 0
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now()
    for (let k = 0; k < 10; k++) await p.run(feeds)
    best = Math.max(best, (2 * n ** 3 * 10) / ((performance.now() - t0) / 1000) / 1e9)
  }
  await p.release()
  return best
}

function rssMb(): number {
  return process.memoryUsage().rss / 2 ** 20
}

function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024
}

/** RSS over many training steps of a small model: growth after warm-up should be ~0 (no leak). */
async function leakCheck(steps: number): Promise<{ steps: number; rss_after_warmup_mb: number; rss_end_mb: number; growth_mb: number }> {
  const c = parseConfig({ architectures: ['LlamaForCausalLM'], vocab_size: 256, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 128 })
  const m = new CausalLM(c, randomWeights(c, 0))
  const opt = new AdamW()
  const batch = benchBatch(4, 32)
  batch.ids = batch.ids.map((r) => r.map((x) => x % 256))
  batch.targets = batch.targets.map((r) => r.map((x) => x % 256))
  let warm = 0
  for (let s = 0; s < steps; s++) {
    const { loss, grads, gradNorm } = await m.lossAndGrads(batch)
    guardedStep({ step: s, loss, grads, gradNorm, params: m.buffers(), optimizer: opt, lr: 1e-3, maxGradNorm: 1 })
    if (s === 49) {
      global.gc?.()
      warm = rssMb()
    }
  }
  global.gc?.()
  const end = rssMb()
  await m.dispose()
  return { steps, rss_after_warmup_mb: Math.round(warm), rss_end_mb: Math.round(end), growth_mb: Math.round(end - warm) }
}

export const engineBench: BenchSection = {
  name: 'engine',
  description: 'matrix-product ceiling (numpy) vs the engine; train step and forward of the 39M Llama (batch 8 × 256); RSS over 500 steps',
  async run() {
    const ceiling = { gflops: (globalThis as { __benchCeiling?: number | null }).__benchCeiling ?? numpyCeilingGflops().gflops, detail: 'measured once per bench run (see ceiling_detail)' }
    const matmul = await matmulGflops()
    const c = BENCH_MODEL
    const b = 8
    const t = 256
    const tokens = b * t
    const model = new CausalLM(c, randomWeights(c, 0))
    const opt = new AdamW()
    const batch = benchBatch(b, t)
    // Warm-up: session creation and onnxruntime's first-run memory planning.
    for (let s = 0; s < 2; s++) {
      const r0 = await model.lossAndGrads(batch)
      const { loss, grads } = r0
      guardedStep({ step: s, loss, grads, gradNorm: r0.gradNorm, params: model.buffers(), optimizer: opt, lr: 1e-4, maxGradNorm: 1 })
    }
    const reps = 3
    let fwdBwd = 0
    let update = 0
    let flops = 0
    for (let s = 0; s < reps; s++) {
      const t0 = performance.now()
      const r = await model.lossAndGrads(batch)
      const t1 = performance.now()
      guardedStep({ step: s + 2, loss: r.loss, grads: r.grads, gradNorm: r.gradNorm, params: model.buffers(), optimizer: opt, lr: 1e-4, maxGradNorm: 1 })
      update += performance.now() - t1
      fwdBwd += t1 - t0
      flops = r.flops
    }
    const stepS = (fwdBwd + update) / reps / 1000
    const trainPeak = peakRssMb()
    // No-grad forward as the RL reference / old-policy passes run it: per-token log-probs out.
    for (let s = 0; s < 2; s++) await model.tokenLogProbs(batch)
    let fwd = 0
    for (let s = 0; s < reps; s++) {
      const t0 = performance.now()
      await model.tokenLogProbs(batch)
      fwd += performance.now() - t0
    }
    const fwdS = fwd / reps / 1000
    const fwdFlops = flops / 3 // a forward is one of the three matrix products per weight (backward: two)
    await model.dispose()
    const ceil = ceiling.gflops
    const leak = await leakCheck(500)
    const trainGflops = flops / stepS / 1e9
    const fwdGflops = fwdFlops / fwdS / 1e9
    return {
      ceiling_gflops: ceil,
      ceiling_detail: ceiling.detail,
      threads: engineThreads(),
      matmul_gflops: matmul,
      model: { params: parameterCount(c), batch: b, seq: t },
      train_step: {
        seconds: stepS,
        forward_backward_seconds: fwdBwd / reps / 1000,
        optimizer_seconds: update / reps / 1000,
        tokens_per_s: tokens / stepS,
        gflops: trainGflops,
        mfu: ceil ? trainGflops / ceil : null,
        matmul_gflop_per_step: flops / 1e9,
        peak_rss_mb: Math.round(trainPeak),
      },
      forward: { seconds: fwdS, tokens_per_s: tokens / fwdS, gflops: fwdGflops, mfu: ceil ? fwdGflops / ceil : null },
      leak,
    }
  },
}
