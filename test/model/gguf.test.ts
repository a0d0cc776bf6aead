import assert from 'node:assert/strict'
import { availableParallelism } from 'node:os'
import { existsSync, readFileSync, readdirSync, writeFileSync, copyFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { getLlama, type Llama, type LlamaModel } from 'node-llama-cpp'
import { importFiles } from '../../src/data/import.js'
import { saveTrainedTokenizer } from '../../src/model/bpe.js'
import { initWeights, loadModel, newConfig, saveModel, type InitOptions } from '../../src/model/files.js'
import { exportGguf, type GgufDType } from '../../src/model/gguf/export.js'
import { metaValue, readGguf, readGgufTensor } from '../../src/model/gguf/format.js'
import { readWeights } from '../../src/model/safetensors.js'
import type { StorageDType } from '../../src/model/safetensors.js'
import { EmbeddedBackend } from '../../src/backends/embedded.js'
import { renderPrompt } from '../../src/reward/templates.js'
import { ROOT, dataFile, runCli, tempDir } from '../helpers.js'

const DEMO_BASE = join(ROOT, 'assets', 'demo-base')
const medqaLines = readFileSync(dataFile('medqa/medqa_input.jsonl'), 'utf8').split('\n').filter(Boolean)

/** A small model in the HF layout with a byte-level BPE trained on real MedQA text. */
function buildModel(o: Pick<InitOptions, 'arch' | 'ropeScaling'> & { tie: boolean; dtype?: StorageDType; seed: number }): string {
  const dir = tempDir('medrl-gguf-model-')
  const bpe = saveTrainedTokenizer(dir, medqaLines.slice(0, 200), 500)
  // Vocabulary rounded up past the tokenizer, as real checkpoints do: the spare rows must export too.
  const config = newConfig({ arch: o.arch, hidden: 64, layers: 2, heads: 4, kvHeads: 2, intermediate: 96, vocab: bpe.size + 11, tie: o.tie, ropeScaling: o.ropeScaling ?? null, maxPositions: 512, eos: [bpe.eos], bos: bpe.bos, pad: bpe.pad })
  saveModel(dir, config, initWeights(config, o.seed, 0.2), { dtype: o.dtype ?? 'F32' })
  return dir
}

/** max |ours − llama.cpp| / max |ours| over every token, after centring each row (llama.cpp gives probabilities). */
function relativeLogitError(ours: Float32Array, probs: Map<number, number>, vocab: number): number {
  const lp = Array.from({ length: vocab }, (_, k) => Math.log(probs.get(k) ?? 0))
  assert.ok(lp.every(Number.isFinite), 'llama.cpp gave a probability for every token')
  const mean = (a: ArrayLike<number>) => {
    let s = 0
    for (let i = 0; i < a.length; i++) s += a[i]!
    return s / a.length
  }
  const mo = mean(ours)
  const mp = mean(lp)
  let diff = 0
  let scale = 0
  for (let k = 0; k < vocab; k++) {
    diff = Math.max(diff, Math.abs(ours[k]! - mo - (lp[k]! - mp)))
    scale = Math.max(scale, Math.abs(ours[k]! - mo))
  }
  return diff / scale
}

let llama: Llama
const opened: LlamaModel[] = []
async function llamaModel(path: string): Promise<LlamaModel> {
  const m = await llama.loadModel({ modelPath: path })
  opened.push(m)
  return m
}

/** llama.cpp's logits (as probabilities) at the last `k` positions of a prompt, with an F32 KV cache and no flash attention. */
async function llamaCppProbs(m: LlamaModel, ids: number[], k: number): Promise<Map<number, number>[]> {
  const ctx = await m.createContext({ contextSize: 512, sequences: 1, threads: availableParallelism(), experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32', flashAttention: false })
  try {
    const input = ids.map((t, i) => (i >= ids.length - k ? ([t, { generateNext: { probabilities: true } }] as const) : t))
    const res = await ctx.getSequence().controlledEvaluate(input as never)
    return ids.slice(-k).map((_, j) => res[ids.length - k + j]!.next.probabilities as unknown as Map<number, number>)
  } finally {
    await ctx.dispose()
  }
}

const realQuestions = async (n: number) => (await importFiles([dataFile('medqa/medqa_input.jsonl')])).records.slice(0, n)

describe('GGUF export, proved in llama.cpp itself (node-llama-cpp)', () => {
  before(async () => {
    llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never })
  })
  after(async () => {
    for (const m of opened) await m.dispose()
  })

  const cases: { name: string; dir: () => string }[] = [
    { name: 'the committed demo base (Llama, untied, trained)', dir: () => DEMO_BASE },
    { name: 'Qwen2, tied embeddings (q/k/v biases)', dir: () => buildModel({ arch: 'qwen2', tie: true, seed: 3 }) },
    { name: 'Qwen2, untied, stored as BF16', dir: () => buildModel({ arch: 'qwen2', tie: false, dtype: 'BF16', seed: 4 }) },
    { name: 'Llama, tied, Llama 3 RoPE scaling', dir: () => buildModel({ arch: 'llama', tie: true, seed: 5, ropeScaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 } }) },
    { name: 'Llama, untied, linear RoPE scaling', dir: () => buildModel({ arch: 'llama', tie: false, seed: 6, ropeScaling: { rope_type: 'linear', factor: 2 } }) },
  ]

  for (const c of cases) {
    it(`${c.name}: llama.cpp tokenizes real questions as medrl and its F32 logits agree within 1e-3`, async () => {
      const dir = c.dir()
      const out = join(tempDir('medrl-gguf-'), 'model.gguf')
      exportGguf(dir, out, { dtype: 'F32' })
      const ours = loadModel(dir)
      const lm = await llamaModel(out)
      const questions = await realQuestions(40)
      const texts = questions.map((r) => renderPrompt(r, 'r1-text').text)
      texts.push(ours.tokenizer!.chat!.render([{ role: 'user', content: `${texts[0]}\n\n  spaced  out\ttabs\n` }], { addGenerationPrompt: true }))
      for (const t of texts) assert.deepEqual(lm.tokenize(t, true), ours.tokenizer!.encode(t), `tokenization of ${JSON.stringify(t.slice(0, 60))}`)

      const v = ours.config.vocab_size
      for (const t of [texts[1]!, texts.at(-1)!]) {
        const ids = ours.tokenizer!.encode(t).slice(0, 200)
        const logits = (await ours.model.logits({ ids: [ids] })).data as Float32Array
        const probs = await llamaCppProbs(lm, ids, 4)
        probs.forEach((p, j) => {
          const pos = ids.length - 4 + j
          const err = relativeLogitError(logits.subarray(pos * v, (pos + 1) * v), p, v)
          assert.ok(err <= 1e-3, `position ${pos}: relative error ${err}`)
        })
      }
      await ours.model.dispose()
    })
  }

  it('the demo base: greedy completions of real MedQA prompts are identical token for token (F32)', async () => {
    const out = join(tempDir('medrl-gguf-'), 'demo.gguf')
    exportGguf(DEMO_BASE, out, { dtype: 'F32' })
    const lm = await llamaModel(out)
    const backend = EmbeddedBackend.fromDir(DEMO_BASE)
    const prompts = (await realQuestions(6)).map((r) => renderPrompt(r, 'r1-text').text)
    const ours = await backend.generate(prompts.map((p) => ({ prompt: p, params: { temperature: 0, maxNewTokens: 48 } })))
    const ctx = await lm.createContext({ contextSize: 1024, sequences: 1, threads: availableParallelism(), experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32', flashAttention: false })
    let compared = 0
    for (const [i, p] of prompts.entries()) {
      const seq = ctx.getSequence()
      const theirs: number[] = []
      for await (const t of seq.evaluate(lm.tokenize(p, true), { temperature: 0, yieldEogToken: true })) {
        theirs.push(t as number)
        if (theirs.length >= 48 || lm.isEogToken(t)) break
      }
      seq.dispose()
      const mine = ours[i]![0]!.tokenIds!
      assert.deepEqual(theirs, mine, `prompt ${i}: llama.cpp ${JSON.stringify(lm.detokenize(theirs as never))} vs medrl ${JSON.stringify(ours[i]![0]!.text)}`)
      compared += mine.length
    }
    assert.ok(compared >= 6 * 10, `compared ${compared} tokens`)
    await ctx.dispose()
    await backend.close()
  })

  for (const [dtype, tol] of [['F16', 5e-3], ['BF16', 3e-2], ['Q8_0', 3e-2]] as [GgufDType, number][]) {
    it(`the demo base as ${dtype}: llama.cpp loads it, logits within ${tol} of medrl's, the file is ${dtype === 'Q8_0' ? 'about a quarter' : 'half'} of F32`, async () => {
      const tmp = tempDir('medrl-gguf-')
      const f32 = exportGguf(DEMO_BASE, join(tmp, 'f32.gguf'), { dtype: 'F32' })
      const r = exportGguf(DEMO_BASE, join(tmp, `${dtype}.gguf`), { dtype })
      assert.ok(r.bytes < f32.bytes * (dtype === 'Q8_0' ? 0.35 : 0.55), `${r.bytes} vs F32 ${f32.bytes}`)
      const g = readGguf(r.out)
      assert.equal(g.tensors.find((t) => t.name === 'blk.0.ffn_up.weight')!.type, dtype)
      assert.equal(g.tensors.find((t) => t.name === 'blk.0.attn_norm.weight')!.type, 'F32')
      const ours = loadModel(DEMO_BASE)
      const lm = await llamaModel(r.out)
      const ids = ours.tokenizer!.encode(renderPrompt((await realQuestions(1))[0]!, 'r1-text').text).slice(0, 200)
      const logits = (await ours.model.logits({ ids: [ids] })).data as Float32Array
      const v = ours.config.vocab_size
      const probs = await llamaCppProbs(lm, ids, 3)
      const errs = probs.map((p, j) => relativeLogitError(logits.subarray((ids.length - 3 + j) * v, (ids.length - 2 + j) * v), p, v))
      assert.ok(Math.max(...errs) <= tol, `relative errors ${errs.join(', ')}`)
      assert.ok(Math.max(...errs) > 1e-6, 'a lossy dtype shows some difference (the comparison sees the weights)')
      await ours.model.dispose()
    })
  }
})

describe('GGUF files as medrl writes them', () => {
  it('round trip: every tensor reads back (F32 exactly; Llama q/k rows reordered for pair RoPE), metadata as configured', () => {
    const out = join(tempDir('medrl-gguf-'), 'm.gguf')
    exportGguf(DEMO_BASE, out)
    const g = readGguf(out)
    const { weights } = readWeights(DEMO_BASE)
    assert.equal(metaValue(g.metadata, 'general.architecture'), 'llama')
    assert.equal(metaValue(g.metadata, 'llama.block_count'), 4)
    assert.equal(metaValue(g.metadata, 'llama.attention.head_count_kv'), 2)
    assert.equal(metaValue(g.metadata, 'tokenizer.ggml.pre'), 'gpt-2')
    assert.equal((metaValue(g.metadata, 'tokenizer.ggml.tokens') as string[]).length, 705)
    assert.equal(metaValue(g.metadata, 'tokenizer.ggml.eos_token_id'), 701)
    assert.deepEqual(readGgufTensor(g, 'blk.2.ffn_down.weight'), weights['model.layers.2.mlp.down_proj.weight']!.data)
    assert.deepEqual(readGgufTensor(g, 'output.weight'), weights['lm_head.weight']!.data)
    assert.deepEqual(g.tensors.find((t) => t.name === 'blk.0.attn_q.weight')!.dims, [128, 128])
    const q = readGgufTensor(g, 'blk.0.attn_q.weight')
    const hf = weights['model.layers.0.self_attn.q_proj.weight']!.data as Float32Array
    // Head 1, pair element 0 of rotation 3 is HF row 32+3; pair element 1 is HF row 32+16+3.
    assert.deepEqual(q.subarray((32 + 6) * 128, (32 + 7) * 128), hf.subarray((32 + 3) * 128, (32 + 4) * 128))
    assert.deepEqual(q.subarray((32 + 7) * 128, (32 + 8) * 128), hf.subarray((32 + 16 + 3) * 128, (32 + 20) * 128).subarray(0, 128))
  })

  it('Q8_0 blocks decode within half a quantisation step of the weights', () => {
    const out = join(tempDir('medrl-gguf-'), 'q.gguf')
    exportGguf(DEMO_BASE, out, { dtype: 'Q8_0' })
    const w = readWeights(DEMO_BASE).weights['model.layers.1.mlp.gate_proj.weight']!.data as Float32Array
    const q = readGgufTensor(readGguf(out), 'blk.1.ffn_gate.weight')
    for (let b = 0; b < w.length / 32; b++) {
      let amax = 0
      for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(w[b * 32 + i]!))
      for (let i = 0; i < 32; i++) assert.ok(Math.abs(q[b * 32 + i]! - w[b * 32 + i]!) <= (amax / 127) * 0.5 + amax * 1e-3, `block ${b}`)
    }
  })

  it('`medrl model export` and `medrl model info FILE.gguf` from the command line', () => {
    const out = join(tempDir('medrl-gguf-'), 'demo-q8.gguf')
    const r = runCli(['model', 'export', DEMO_BASE, '--format', 'gguf', '--dtype', 'Q8_0', '--out', out])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /39 tensors/)
    const i = runCli(['model', 'info', out, '--json'])
    assert.equal(i.code, 0, i.stderr)
    const s = JSON.parse(i.stdout) as { architecture: string; parameters: number; types: Record<string, number>; vocab_size: number; chat_template: boolean }
    assert.equal(s.architecture, 'llama')
    assert.equal(s.parameters, 918_912)
    assert.equal(s.types.Q8_0, 4 * 7 + 2)
    assert.equal(s.vocab_size, 705)
    assert.equal(s.chat_template, true)
    const text = runCli(['model', 'info', out])
    assert.match(text.stdout, /architecture\s+llama \(demo-base\)/)
  })

  it('bad input: one clear line each, and no GGUF file (or temporary file) left behind', () => {
    const tmp = tempDir('medrl-gguf-bad-')
    const cases: { setup: () => string; args?: string[]; error: RegExp }[] = [
      { setup: () => tmp, error: /no config\.json/ },
      {
        setup: () => {
          const d = buildModel({ arch: 'qwen2', tie: true, seed: 1 })
          const c = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'))
          writeFileSync(join(d, 'config.json'), JSON.stringify({ ...c, architectures: ['MistralForCausalLM'], model_type: 'mistral' }))
          return d
        },
        error: /architectures.*MistralForCausalLM.*not LlamaForCausalLM or Qwen2ForCausalLM/,
      },
      {
        setup: () => {
          const d = buildModel({ arch: 'llama', tie: false, seed: 1 })
          const t = JSON.parse(readFileSync(join(d, 'tokenizer.json'), 'utf8'))
          writeFileSync(join(d, 'tokenizer.json'), JSON.stringify({ ...t, normalizer: { type: 'NFKC' } }))
          return d
        },
        error: /tokenizer\.json: normalizer .*NFKC.* has no llama\.cpp equivalent/,
      },
      {
        setup: () => {
          const d = buildModel({ arch: 'llama', tie: false, seed: 1 })
          const t = JSON.parse(readFileSync(join(d, 'tokenizer.json'), 'utf8'))
          writeFileSync(join(d, 'tokenizer.json'), JSON.stringify({ ...t, pre_tokenizer: { type: 'Metaspace', replacement: '▁' } }))
          return d
        },
        error: /pre_tokenizer .*Metaspace.* has no llama\.cpp equivalent/,
      },
      {
        setup: () => {
          const d = buildModel({ arch: 'llama', tie: false, seed: 1 })
          copyFileSync(join(DEMO_BASE, 'model.safetensors'), join(d, 'model.safetensors'))
          return d
        },
        error: /tensor (lm_head|model\.embed_tokens)\.weight has shape \[705, 128\], config\.json implies \[516, 64\]/,
      },
      { setup: () => DEMO_BASE, args: ['--dtype', 'Q4_K'], error: /--dtype.*Q4_K.*(F32|choices)/ },
    ]
    for (const c of cases) {
      const dir = c.setup()
      const outDir = tempDir('medrl-gguf-out-')
      const r = runCli(['model', 'export', dir, '--out', join(outDir, 'x.gguf'), ...(c.args ?? [])])
      assert.notEqual(r.code, 0)
      assert.match(r.stderr, c.error)
      assert.ok(r.stderr.trim().split('\n').length <= 2, r.stderr)
      assert.deepEqual(readdirSync(outDir), [], 'nothing written')
    }
    assert.ok(!existsSync(join(tmp, 'x.gguf')))
    const notGguf = join(tmp, 'bogus.gguf')
    writeFileSync(notGguf, 'not a model at all')
    const r = runCli(['model', 'info', notGguf])
    assert.notEqual(r.code, 0)
    assert.match(r.stderr, /bogus\.gguf: not a GGUF file/)
  })
})
