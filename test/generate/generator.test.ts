import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { DEFAULT_GEN, Generator, type GenParams } from '../../src/generate/generator.js'
import { loadModel, type LoadedModel } from '../../src/model/files.js'
import { makeTinyModel } from '../model-helpers.js'

let m: LoadedModel
let gen: Generator
const P = (o: Partial<GenParams>): GenParams => ({ ...DEFAULT_GEN, ...o })

before(() => {
  m = loadModel(makeTinyModel({ arch: 'llama', seed: 3 }))
  gen = new Generator(m.model, m.tokenizer, { capacityStep: 16 })
})
after(async () => m.model.dispose())

async function fullForwardLogprobs(prompt: number[], tokens: number[]): Promise<number[]> {
  const ids = [...prompt, ...tokens]
  const lp = await m.model.tokenLogProbs({ ids: [ids.slice(0, -1)], targets: [ids.slice(1)] })
  return Array.from(lp.data as Float32Array).slice(prompt.length - 1)
}

describe('batched generation with a KV cache', () => {
  it('reported model log-probs equal a full forward pass over the same tokens (to 1e-4), prompts of different lengths, n > 1', async () => {
    const tok = m.tokenizer!
    const prompts = ['A 45-year-old man presents with chest pain.', 'Which drug?', 'The most likely diagnosis in this patient with fever and rash is']
    const out = await gen.generate(prompts.map((p, i) => ({ prompt: tok.encode(p), params: P({ maxNewTokens: 12, n: 3, seed: i, temperature: 1 }) })))
    for (const [i, samples] of out.entries()) {
      assert.equal(samples.length, 3)
      for (const s of samples) {
        assert.equal(s.tokenIds.length, s.modelLogprobs.length)
        const full = await fullForwardLogprobs(tok.encode(prompts[i]!), s.tokenIds)
        const diff = Math.max(...full.map((v, k) => Math.abs(v - s.modelLogprobs[k]!)))
        assert.ok(diff < 1e-4, `prompt ${i}: max difference ${diff}`)
      }
    }
  })

  it('a prompt gives the same greedy tokens alone and left-padded in a batch', async () => {
    const tok = m.tokenizer!
    const short = tok.encode('Fever?')
    const long = tok.encode('A 70-year-old woman with a history of hypertension comes to the emergency department.')
    const alone = await gen.generate([{ prompt: short, params: P({ maxNewTokens: 10, temperature: 0 }) }])
    const batched = await gen.generate([
      { prompt: long, params: P({ maxNewTokens: 10, temperature: 0 }) },
      { prompt: short, params: P({ maxNewTokens: 10, temperature: 0 }) },
    ])
    assert.deepEqual(batched[1]![0]!.tokenIds, alone[0]![0]!.tokenIds)
    const d = Math.max(...alone[0]![0]!.modelLogprobs.map((v, k) => Math.abs(v - batched[1]![0]!.modelLogprobs[k]!)))
    assert.ok(d < 1e-4, String(d))
  })

  it('per-request seeds: the same seed gives the same samples, another seed others; the n samples differ', async () => {
    const tok = m.tokenizer!
    const q = tok.encode('The patient was treated with')
    const other = { prompt: tok.encode('Other prompt entirely, longer than the first one.'), params: P({ maxNewTokens: 20, n: 3, seed: 1 }) }
    const a = await gen.generate([other, { prompt: q, params: P({ maxNewTokens: 8, n: 2, seed: 42 }) }])
    const again = await gen.generate([other, { prompt: q, params: P({ maxNewTokens: 8, n: 2, seed: 42 }) }])
    assert.deepEqual(again[1]!.map((s) => s.tokenIds), a[1]!.map((s) => s.tokenIds))
    assert.notDeepEqual(a[1]![0]!.tokenIds, a[1]![1]!.tokenIds, 'the n samples differ')
    const c = await gen.generate([other, { prompt: q, params: P({ maxNewTokens: 8, n: 2, seed: 43 }) }])
    assert.notDeepEqual(c[1]!.map((s) => s.tokenIds), a[1]!.map((s) => s.tokenIds))
    // Sample k draws from its own generator: alone, the request starts the same way (float32 sums over other
    // batch shapes differ in the last bits, so a later draw that lands within ~1e-5 of a boundary may not).
    const alone = await gen.generate([{ prompt: q, params: P({ maxNewTokens: 8, n: 2, seed: 42 }) }])
    for (let k = 0; k < 2; k++) assert.deepEqual(alone[0]![k]!.tokenIds.slice(0, 3), a[1]![k]!.tokenIds.slice(0, 3))
  })

  it('stops at max_new_tokens, at stop token ids (kept in tokens, not in text) and at stop strings (text cut before them)', async () => {
    const tok = m.tokenizer!
    const q = tok.encode('Answer:')
    const free = (await gen.generate([{ prompt: q, params: P({ maxNewTokens: 12, temperature: 0 }) }]))[0]![0]!
    assert.equal(free.finishReason, 'length')
    assert.equal(free.tokenIds.length, 12)
    const stopId = free.tokenIds[4]!
    const first = free.tokenIds.indexOf(stopId)
    const byId = (await gen.generate([{ prompt: q, params: P({ maxNewTokens: 12, temperature: 0, stopTokenIds: [stopId] }) }]))[0]![0]!
    assert.equal(byId.finishReason, 'stop')
    assert.deepEqual(byId.tokenIds, free.tokenIds.slice(0, first + 1))
    assert.equal(byId.text, tok.decode(free.tokenIds.slice(0, first)))
    const stopText = tok.decode(free.tokenIds.slice(6, 8))
    const cut = free.text.indexOf(stopText)
    assert.ok(cut >= 0 && stopText.length > 0)
    const byString = (await gen.generate([{ prompt: q, params: P({ maxNewTokens: 12, temperature: 0, stop: [stopText, 'zzzz-never'] }) }]))[0]![0]!
    assert.equal(byString.finishReason, 'stop')
    assert.equal(byString.text, free.text.slice(0, cut))
    assert.ok(byString.tokenIds.length <= 8)
  })

  it('prefill in chunks (long prompts in large batches) gives the same completions', async () => {
    const tok = m.tokenizer!
    const reqs = ['Fever and rash.', 'A 60-year-old man with chest pain and sweating for two hours.', 'Which drug?'].map((p, i) => ({ prompt: tok.encode(p), params: P({ maxNewTokens: 8, temperature: 0, seed: i }) }))
    const whole = await gen.generate(reqs)
    const chunked = await new Generator(m.model, m.tokenizer, { capacityStep: 16, prefillTokens: 1 }).generate(reqs)
    assert.deepEqual(chunked.map((x) => x[0]!.tokenIds), whole.map((x) => x[0]!.tokenIds))
  })

  it('rows that finish early leave the others unchanged (compaction)', async () => {
    const tok = m.tokenizer!
    const reqs = Array.from({ length: 6 }, (_, i) => ({ prompt: tok.encode(`Case ${i}: a patient`), params: P({ maxNewTokens: 3 + 4 * i, temperature: 0.8, seed: i }) }))
    const together = await gen.generate(reqs)
    for (const [i, r] of reqs.entries()) {
      const alone = await gen.generate([r])
      assert.deepEqual(together[i]![0]!.tokenIds, alone[0]![0]!.tokenIds, `request ${i}`)
      assert.equal(together[i]![0]!.tokenIds.length, 3 + 4 * i)
    }
  })

  it('sampling log-probs: 0 for greedy; log of the truncated, renormalised probability otherwise', async () => {
    const tok = m.tokenizer!
    const q = tok.encode('Diagnosis:')
    const greedy = (await gen.generate([{ prompt: q, params: P({ maxNewTokens: 5, temperature: 0 }) }]))[0]![0]!
    assert.deepEqual(greedy.logprobs, [0, 0, 0, 0, 0])
    const s = (await gen.generate([{ prompt: q, params: P({ maxNewTokens: 5, temperature: 0.7, seed: 5 }) }]))[0]![0]!
    // At temperature T the sampling log-prob is logit/T − logsumexp(logits/T); check it from the model's logits.
    const logits = await m.model.logits({ ids: [[...q, ...s.tokenIds.slice(0, 1)]] })
    const v = m.config.vocab_size
    const row = Array.from(logits.data.subarray((q.length - 1) * v, q.length * v) as Float32Array).map((x) => x / 0.7)
    const mx = Math.max(...row)
    const lse = mx + Math.log(row.reduce((a, x) => a + Math.exp(x - mx), 0))
    assert.ok(Math.abs(s.logprobs[0]! - (row[s.tokenIds[0]!]! - lse)) < 1e-4)
  })
})

describe('tokens drawn inside the decode program', () => {
  it('equal the host draw from the logits: the same tokens and log-probs (to float32), sampled rows (n = 4) and greedy rows', async () => {
    const tok = m.tokenizer!
    const prompts = ['A 45-year-old man presents with chest pain.', 'Which drug is first line?', 'The most likely diagnosis is']
    const reqs = (temperature: number) => prompts.map((p, i) => ({ prompt: tok.encode(p), params: P({ maxNewTokens: 24, n: temperature > 0 ? 4 : 1, seed: 11 + i, temperature }) }))
    const host = new Generator(m.model, m.tokenizer, { capacityStep: 16, drawOnHost: true })
    for (const temperature of [1, 0]) {
      const a = await gen.generate(reqs(temperature))
      const b = await host.generate(reqs(temperature))
      let tokens = 0
      a.forEach((samples, i) =>
        samples.forEach((s, k) => {
          const h = b[i]![k]!
          assert.deepEqual(s.tokenIds, h.tokenIds, `prompt ${i} sample ${k} at temperature ${temperature}`)
          s.logprobs.forEach((lp, j) => assert.ok(Math.abs(lp - h.logprobs[j]!) < 1e-4))
          s.modelLogprobs.forEach((lp, j) => assert.ok(Math.abs(lp - h.modelLogprobs[j]!) < 1e-4))
          tokens += s.tokenIds.length
        }),
      )
      assert.ok(tokens >= (temperature > 0 ? 200 : 50), `only ${tokens} tokens compared`)
    }
    // Sampled rows really sample: the four samples of a prompt are not all the same.
    const sampled = await gen.generate(reqs(1))
    assert.ok(sampled.some((samples) => new Set(samples.map((s) => s.tokenIds.join(','))).size > 1))
  })

  it('rows with a host-only processor (top-k, repetition penalty) are drawn on the host beside rows drawn in the program', async () => {
    const tok = m.tokenizer!
    const r = [
      { prompt: tok.encode('Chest pain'), params: P({ maxNewTokens: 10, seed: 1, temperature: 1 }) },
      { prompt: tok.encode('Fever and rash'), params: P({ maxNewTokens: 10, seed: 2, temperature: 0.8, topK: 5 }) },
    ]
    const host = new Generator(m.model, m.tokenizer, { capacityStep: 16, drawOnHost: true })
    assert.deepEqual((await gen.generate(r)).map((x) => x[0]!.tokenIds), (await host.generate(r)).map((x) => x[0]!.tokenIds))
  })
})
