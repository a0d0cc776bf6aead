import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EmbeddedBackend } from '../src/backends/embedded.js'
import { DEFAULT_GEN, Generator } from '../src/generate/generator.js'
import { CausalLM, randomWeights } from '../src/model/causal-lm.js'
import { loadModel, saveModel } from '../src/model/files.js'
import { OpenAIServer } from '../src/serve/server.js'
import { Rng } from '../src/util/rng.js'
import { BENCH_MODEL } from './engine.js'
import type { BenchSection, Figures } from './section.js'

function prompts(n: number, len: number, seed: number, vocab = BENCH_MODEL.vocab_size): number[][] {
  const rng = new Rng(seed)
  return Array.from({ length: n }, () => Array.from({ length: len }, () => rng.int(vocab)))
}

/**
 * Decodes `fresh` sampled tokens (temperature 1, EOS off) for `batch` random prompts of `prompt` tokens:
 * a short run first compiles the programs, then the timed run. Returns its wall time and the generator's stats.
 */
export async function timedDecode(model: CausalLM, o: { batch: number; prompt: number; fresh: number; drawOnHost?: boolean }): Promise<{ wallSeconds: number; stats: Generator['stats'] }> {
  const g = new Generator(model, null, { eosIds: [], drawOnHost: o.drawOnHost ?? false })
  const reqs = prompts(o.batch, o.prompt, o.batch, model.config.vocab_size).map((p, i) => ({ prompt: p, params: { ...DEFAULT_GEN, maxNewTokens: o.fresh, seed: i } }))
  await g.generate(reqs.map((r) => ({ ...r, params: { ...r.params, maxNewTokens: 4 } })))
  Object.assign(g.stats, { prefillMs: 0, prefillTokens: 0, decodeMs: 0, decodeSteps: 0, decodeRowSteps: 0, samplingMs: 0 })
  const t0 = performance.now()
  await g.generate(reqs)
  return { wallSeconds: (performance.now() - t0) / 1000, stats: g.stats }
}

/** Tokens per second of a timed decode: the engine's steps and the draws on the host. */
export const decodeTokensPerS = (s: Generator['stats']) => s.decodeRowSteps / ((s.decodeMs + s.samplingMs) / 1000)

/** FLOPs of one decode step for one row at cache length s (matrix products only, as the engine counts them). */
function decodeFlopsPerRow(s: number): number {
  const c = BENCH_MODEL
  const h = c.hidden_size
  const q = c.num_attention_heads * c.head_dim
  const kv = c.num_key_value_heads * c.head_dim
  const perLayer = 2 * (h * q + 2 * h * kv + q * h + 3 * h * c.intermediate_size) + 4 * c.num_attention_heads * c.head_dim * s
  return c.num_hidden_layers * perLayer + 2 * h * c.vocab_size
}

export const generateBench: BenchSection = {
  name: 'generate',
  description: 'decode tokens/s at batch 1, 8, 64 and prefill tokens/s for the 39M benchmark model; requests/s through medrl serve',
  async run() {
    const ceiling = (globalThis as { __benchCeiling?: number }).__benchCeiling ?? null
    const model = new CausalLM(BENCH_MODEL, randomWeights(BENCH_MODEL, 0))
    const out: Figures = { ceiling_gflops: ceiling }
    // Prefill: 8 prompts × 256 tokens (second run, after compilation).
    const gen = new Generator(model, null, { eosIds: [] })
    const pre = prompts(8, 256, 1).map((p) => ({ prompt: p, params: { ...DEFAULT_GEN, maxNewTokens: 1 } }))
    await gen.generate(pre)
    gen.stats.prefillMs = 0
    gen.stats.prefillTokens = 0
    await gen.generate(pre)
    const prefillS = gen.stats.prefillMs / 1000
    out.prefill_tokens_per_s = gen.stats.prefillTokens / prefillS
    const decode: Record<string, number> = {}
    const decodeFrac: Record<string, number | null> = {}
    for (const b of [1, 8, 64]) {
      const { wallSeconds, stats } = await timedDecode(model, { batch: b, prompt: 32, fresh: 64 })
      decode[String(b)] = decodeTokensPerS(stats)
      // Engine FLOP/s of the decode steps (the cache is attended at an average length of prompt + 32).
      const gflops = (stats.decodeRowSteps * decodeFlopsPerRow(32 + 32)) / (stats.decodeMs / 1000) / 1e9
      decodeFrac[String(b)] = ceiling ? gflops / ceiling : null
      out[`decode_b${b}_detail`] = { wall_seconds: wallSeconds, engine_seconds: stats.decodeMs / 1000, sampling_seconds: stats.samplingMs / 1000, engine_gflops: gflops }
    }
    out.decode_tokens_per_s = decode
    out.decode_engine_fraction_of_ceiling = decodeFrac
    // The same batch-64 decode with every token drawn on the host from the logits (the path before draws
    // moved into the decode program), for comparison in the same run.
    const host = (await timedDecode(model, { batch: 64, prompt: 32, fresh: 64, drawOnHost: true })).stats
    out.decode_b64_host_draw = { tokens_per_s: decodeTokensPerS(host), sampling_seconds: host.samplingMs / 1000, in_program_speedup: decode['64']! / decodeTokensPerS(host) }
    await model.dispose()
    // Requests/s through the server: 64 concurrent completions of 16 tokens from 32-token prompts.
    const dir = mkdtempSync(join(tmpdir(), 'medrl-bench-serve-'))
    try {
      saveModel(dir, BENCH_MODEL, randomWeights(BENCH_MODEL, 0))
      const backend = new EmbeddedBackend(loadModel(dir))
      const server = new OpenAIServer(backend, { servedModelName: 'bench' })
      const port = (await server.listen(0)).port
      const fire = (ps: number[][]) =>
        Promise.all(ps.map((p, i) => fetch(`http://127.0.0.1:${port}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: p, max_tokens: 16, seed: i }) }).then((r) => r.json())))
      await fire(prompts(64, 32, 7))
      const t0 = performance.now()
      await fire(prompts(64, 32, 8))
      const s = (performance.now() - t0) / 1000
      out.serve = { requests: 64, max_tokens: 16, seconds: s, requests_per_s: 64 / s, batches: server.batcher.batches }
      await server.close()
      await backend.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
    return out
  },
}
