import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { getLlama, TokenBias, type Llama, type LlamaModel } from 'node-llama-cpp'
import { DEFAULT_GEN, Generator } from '../src/generate/generator.js'
import { saveTrainedTokenizer } from '../src/model/bpe.js'
import { initWeights, loadModel, saveModel } from '../src/model/files.js'
import { exportGguf, type GgufDType } from '../src/model/gguf/export.js'
import { BENCH_MODEL } from './engine.js'
import type { BenchSection, Figures } from './section.js'

/**
 * llama.cpp (node-llama-cpp's prebuilt CPU binary) beside medrl's engine on the same weights, in the same
 * run: the 39M benchmark model and the committed demo base, exported to GGUF as F32 (like for like) and
 * Q8_0 (what a user would run). Decode is sampled at temperature 1 with EOS banned, 32-token prompts, 64
 * new tokens per sequence; batch B is llama.cpp's B parallel sequences and medrl's B rows.
 */

const BATCHES = [1, 8, 64]
const NEW_TOKENS = 64
const PROMPT = 32
const prompt = (i: number, n: number, vocab: number) => Array.from({ length: n }, (_, k) => ((i * 7919 + k * 104729) % (vocab - 10)) + 1)

async function llamaDecode(lm: LlamaModel, b: number, threads: number, vocab: number): Promise<number> {
  const ctx = await lm.createContext({ contextSize: Math.max(256, 2 * (PROMPT + NEW_TOKENS)) * b, sequences: b, threads, batchSize: 512 })
  try {
    const bias = new TokenBias(lm.tokenizer)
    for (const t of [lm.tokens.eos, lm.tokens.eot]) if (t !== null) bias.set(t, 'never')
    const t0 = performance.now()
    let n = 0
    await Promise.all(
      Array.from({ length: b }, async (_, i) => {
        let k = 0
        for await (const _t of ctx.getSequence().evaluate(prompt(i, PROMPT, vocab) as never, { temperature: 1, seed: i, tokenBias: bias })) {
          n++
          if (++k >= NEW_TOKENS) break
        }
      }),
    )
    return n / ((performance.now() - t0) / 1000)
  } finally {
    await ctx.dispose()
  }
}

async function llamaPrefill(lm: LlamaModel, threads: number, vocab: number): Promise<number> {
  const ctx = await lm.createContext({ contextSize: 512, sequences: 1, threads, batchSize: 512 })
  try {
    const ids = prompt(3, 256, vocab)
    const t0 = performance.now()
    await ctx.getSequence().controlledEvaluate([...ids.slice(0, -1), [ids.at(-1)!, { generateNext: { token: true } }]] as never)
    return ids.length / ((performance.now() - t0) / 1000)
  } finally {
    await ctx.dispose()
  }
}

async function medrlFigures(dir: string, vocab: number): Promise<Figures> {
  const m = loadModel(dir)
  try {
    const decode: Record<string, number> = {}
    for (const b of BATCHES) {
      const g = new Generator(m.model, null, { eosIds: [] })
      const reqs = Array.from({ length: b }, (_, i) => ({ prompt: prompt(i, PROMPT, vocab), params: { ...DEFAULT_GEN, maxNewTokens: NEW_TOKENS, seed: i } }))
      await g.generate(reqs.map((r) => ({ ...r, params: { ...r.params, maxNewTokens: 4 } }))) // compile
      const t0 = performance.now()
      await g.generate(reqs)
      decode[String(b)] = (b * NEW_TOKENS) / ((performance.now() - t0) / 1000)
    }
    const g = new Generator(m.model, null, { eosIds: [] })
    const pre = [{ prompt: prompt(3, 256, vocab), params: { ...DEFAULT_GEN, maxNewTokens: 1 } }]
    await g.generate(pre)
    const t0 = performance.now()
    await g.generate(pre)
    return { decode_tokens_per_s: decode, prefill_tokens_per_s: 256 / ((performance.now() - t0) / 1000) }
  } finally {
    await m.model.dispose()
  }
}

/** llama.cpp at its better thread count (1 or all cores: on 2 shared cores its spinning workers can lose to one thread). */
async function llamaFigures(llama: Llama, gguf: string, vocab: number): Promise<Figures> {
  const lm = await llama.loadModel({ modelPath: gguf })
  try {
    const decode: Record<string, number> = {}
    const threadsUsed: Record<string, number> = {}
    for (const b of BATCHES) {
      let best = 0
      for (const threads of [...new Set([availableParallelism(), 1])]) {
        const r = await llamaDecode(lm, b, threads, vocab)
        if (r > best) [best, threadsUsed[String(b)]] = [r, threads]
      }
      decode[String(b)] = best
    }
    const prefill = Math.max(await llamaPrefill(lm, availableParallelism(), vocab), await llamaPrefill(lm, 1, vocab))
    return { decode_tokens_per_s: decode, decode_threads: threadsUsed, prefill_tokens_per_s: prefill }
  } finally {
    await lm.dispose()
  }
}

export const llamaCppBench: BenchSection = {
  name: 'llama-cpp',
  description: 'decode tokens/s at batch 1 / 8 / 64 and prefill tokens/s, medrl beside llama.cpp on the same GGUF-exported weights (F32, Q8_0)',
  async run() {
    const tmp = mkdtempSync(join(tmpdir(), 'medrl-bench-llama-'))
    try {
      const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never })
      // The 39M benchmark model needs a tokenizer to live in a GGUF file: a small BPE on real MedQA text, vocabulary rows padded.
      const benchDir = join(tmp, 'bench-model')
      const lines = readFileSync(join(import.meta.dirname, '..', '..', 'shared', 'data', 'medqa', 'medqa_input.jsonl'), 'utf8').split('\n').slice(0, 200)
      const bpe = saveTrainedTokenizer(benchDir, lines, 500)
      saveModel(benchDir, { ...BENCH_MODEL, eos_token_id: [bpe.eos] }, initWeights(BENCH_MODEL, 0))
      const models: [string, string, number][] = [
        ['bench_39m', benchDir, bpe.size],
        ['demo_base', join(import.meta.dirname, '..', 'assets', 'demo-base'), 700],
      ]
      const out: Figures = { new_tokens: NEW_TOKENS, prompt_tokens: PROMPT }
      for (const [name, dir, vocab] of models) {
        const medrl = await medrlFigures(dir, vocab)
        const fig: Figures = { medrl }
        for (const dtype of ['F32', 'Q8_0'] as GgufDType[]) {
          const gguf = join(tmp, `${name}-${dtype}.gguf`)
          exportGguf(dir, gguf, { dtype })
          const l = await llamaFigures(llama, gguf, vocab)
          const md = medrl.decode_tokens_per_s as Record<string, number>
          const ld = l.decode_tokens_per_s as Record<string, number>
          fig[`llama_cpp_${dtype}`] = {
            ...l,
            medrl_over_llama_cpp_decode: Object.fromEntries(BATCHES.map((b) => [String(b), md[String(b)]! / ld[String(b)]!])),
            medrl_over_llama_cpp_prefill: (medrl.prefill_tokens_per_s as number) / (l.prefill_tokens_per_s as number),
          }
        }
        out[name] = fig
      }
      return out
    } finally {
      rmSync(tmp, { recursive: true, force: true })
    }
  },
}
