/**
 * Child process of the peer and model benches: one measurement of medrl's engine in a fresh process, so its
 * peak RSS is that measurement's alone. Prints one JSON object.
 *
 * MODEL is a config.json object (random weights) or a model directory.
 *
 *   engine-worker.ts train   MODEL B T STEPS [R] forward + backward + AdamW, as the engine bench runs it; with R,
 *                                               LoRA of rank R (alpha 2R) on every linear layer, the base frozen
 *   engine-worker.ts forward MODEL B T STEPS     no-grad per-token log-probs
 *   engine-worker.ts decode  MODEL B PROMPT NEW  KV-cache decoding, plain sampling at temperature 1
 *   engine-worker.ts bandwidth                         memory copy bandwidth (STREAM's copy: bytes read + written)
 */
import { AdamW, guardedStep } from '../src/engine/optim.js'
import { CausalLM, randomWeights } from '../src/model/causal-lm.js'
import { parseConfig, type ModelConfig } from '../src/model/config.js'
import { loadModel } from '../src/model/files.js'
import { initLora, loraSpec } from '../src/model/lora.js'
import { benchBatch } from './engine.js'
import { benchLora } from './section.js'
import { decodeTokensPerS, timedDecode } from './generate.js'

const newModel = (c: ModelConfig) => new CausalLM(c, randomWeights(c, 0))
/** The model with LoRA adapters of rank r (alpha 2r) on every linear layer, as PEFT initialises them. */
function withLora(m: CausalLM, rank: number): CausalLM {
  const spec = loraSpec(m.config, benchLora(rank))
  return new CausalLM(m.config, m.weights, { spec, weights: initLora(spec, 0) })
}
const peakRssMb = () => process.resourceUsage().maxRSS / 1024

async function train(m: CausalLM, b: number, t: number, steps: number) {
  const batch = benchBatch(b, t, 0, m.config.vocab_size)
  const opt = new AdamW()
  let fb = 0
  let up = 0
  let flops = 0
  for (let s = 0; s < steps + 2; s++) {
    const t0 = performance.now()
    const r = await m.lossAndGrads(batch)
    flops = r.flops
    const t1 = performance.now()
    guardedStep({ step: s, loss: r.loss, grads: r.grads, gradNorm: r.gradNorm, params: m.buffers(), optimizer: opt, lr: 1e-4, maxGradNorm: 1 })
    // The first two steps warm up (programs compiled, arena grown, optimizer state made).
    if (s >= 2) {
      fb += t1 - t0
      up += performance.now() - t1
    }
  }
  const seconds = (fb + up) / steps / 1000
  return { seconds, forward_backward_seconds: fb / steps / 1000, optimizer_seconds: up / steps / 1000, tokens_per_s: (b * t) / seconds, matmul_gflop: flops / 1e9, peak_rss_mb: peakRssMb() }
}

async function forward(m: CausalLM, b: number, t: number, steps: number) {
  const batch = benchBatch(b, t, 0, m.config.vocab_size)
  let total = 0
  for (let s = 0; s < steps + 2; s++) {
    const t0 = performance.now()
    await m.tokenLogProbs(batch)
    if (s >= 2) total += performance.now() - t0
  }
  const seconds = total / steps / 1000
  return { seconds, tokens_per_s: (b * t) / seconds, peak_rss_mb: peakRssMb() }
}

async function decode(m: CausalLM, b: number, prompt: number, fresh: number) {
  const { stats } = await timedDecode(m, { batch: b, prompt, fresh })
  return {
    seconds: (stats.decodeMs + stats.samplingMs) / 1000,
    tokens_per_s: decodeTokensPerS(stats),
    host_sampling_seconds: stats.samplingMs / 1000,
    prefill_tokens_per_s: stats.prefillTokens / (stats.prefillMs / 1000),
    peak_rss_mb: peakRssMb(),
  }
}

function bandwidth() {
  const n = 64 * 2 ** 20 // 256 MB of float32, far beyond any cache
  const a = new Float32Array(n).fill(1)
  const b = new Float32Array(n)
  let best = 0
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now()
    b.set(a)
    best = Math.max(best, (2 * 4 * n) / ((performance.now() - t0) / 1000) / 1e9)
  }
  return { copy_gb_per_s: best }
}

async function main(): Promise<void> {
  const [mode, cfgJson, ...rest] = process.argv.slice(2)
  if (mode === 'bandwidth') {
    process.stdout.write(JSON.stringify(bandwidth()))
    return
  }
  // A config (random weights) or a model directory (its weights, as a user's checkpoint loads).
  const m = cfgJson!.startsWith('{') ? newModel(parseConfig(JSON.parse(cfgJson!))) : loadModel(cfgJson!).model
  const [x, y, z, rank] = rest.map(Number) as [number, number, number, number | undefined]
  const run = { train, forward, decode }[mode as 'train' | 'forward' | 'decode']
  if (!run) throw new Error(`unknown mode ${mode}`)
  const model = rank ? withLora(m, rank) : m
  const out = await run(model, x, y, z)
  await model.dispose()
  process.stdout.write(JSON.stringify(rank ? { ...out, lora_rank: rank, trainable_params: Object.values(model.buffers()).reduce((a, b) => a + b.length, 0) } : out))
}

await main()
