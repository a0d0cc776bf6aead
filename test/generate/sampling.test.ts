import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { DEFAULT_SAMPLING } from '../../src/generate/logits-processors.js'
import { applyRepetitionPenalty, drawToken, logSumExp, sampleRow, samplingDistribution } from '../../src/generate/sampling.js'
import { LOGITS_PROCESSORS, activeProcessors, registerLogitsProcessor } from '../../src/generate/logits-processors.js'
import { Rng } from '../../src/util/rng.js'

const logits = Float64Array.from([2, 1, 0, -1, 3, 0.5])
const softmax = (x: number[], t = 1) => {
  const m = Math.max(...x)
  const e = x.map((v) => Math.exp((v - m) / t))
  const z = e.reduce((a, b) => a + b, 0)
  return e.map((v) => v / z)
}

describe('logits processors and sampling', () => {
  it('temperature 0 is greedy (a point mass, log-prob 0)', () => {
    const d = samplingDistribution(logits, { ...DEFAULT_SAMPLING, temperature: 0 })
    assert.deepEqual([...d.ids], [4])
    assert.deepEqual(drawToken(d, new Rng(1)), { id: 4, logprob: 0 })
  })

  it('temperature scales the softmax; no truncation keeps every token', () => {
    const d = samplingDistribution(logits, { ...DEFAULT_SAMPLING, temperature: 0.5 })
    const want = softmax([...logits], 0.5)
    assert.equal(d.ids.length, 6)
    d.ids.forEach((id, k) => assert.ok(Math.abs(d.probs[k]! - want[id]!) < 1e-12))
  })

  it('top-k, top-p (smallest set reaching p) and min-p, renormalised', () => {
    const p = softmax([...logits])
    const k2 = samplingDistribution(logits, { ...DEFAULT_SAMPLING, topK: 2 })
    assert.deepEqual([...k2.ids], [4, 0])
    assert.ok(Math.abs(k2.probs[0]! - p[4]! / (p[4]! + p[0]!)) < 1e-12)
    // p sorted: .605 (id 4), .2225 (id 0), .0818 (id 1)…: top-p 0.8 stops at two tokens, 0.85 needs a third.
    assert.deepEqual([...samplingDistribution(logits, { ...DEFAULT_SAMPLING, topP: 0.8 }).ids], [4, 0])
    assert.deepEqual([...samplingDistribution(logits, { ...DEFAULT_SAMPLING, topP: 0.85 }).ids], [4, 0, 1])
    const mp = samplingDistribution(logits, { ...DEFAULT_SAMPLING, minP: 0.3 })
    assert.deepEqual([...mp.ids], [4, 0], 'tokens under 0.3 × the top probability are dropped')
    assert.ok(Math.abs(mp.probs.reduce((a, b) => a + b, 0) - 1) < 1e-12)
  })

  it('repetition penalty divides positive and multiplies negative logits of seen tokens', () => {
    const x = Float64Array.from(logits)
    applyRepetitionPenalty(x, [0, 3, 3], 2)
    assert.deepEqual([...x], [1, 1, 0, -2, 3, 0.5])
  })

  it('draws follow the distribution; the same seed draws the same tokens', () => {
    const d = samplingDistribution(logits, DEFAULT_SAMPLING)
    const rng = new Rng(3)
    const counts = new Array(6).fill(0)
    for (let i = 0; i < 20000; i++) counts[drawToken(d, rng).id]++
    const p = softmax([...logits])
    counts.forEach((c, i) => assert.ok(Math.abs(c / 20000 - p[i]!) < 0.015, `token ${i}: ${c / 20000} vs ${p[i]}`))
    const a = new Rng(9)
    const b = new Rng(9)
    assert.deepEqual(Array.from({ length: 50 }, () => drawToken(d, a).id), Array.from({ length: 50 }, () => drawToken(d, b).id))
    const one = drawToken(d, new Rng(4))
    assert.ok(Math.abs(one.logprob - Math.log(p[one.id]!)) < 1e-12)
  })

  it('logSumExp is stable for large logits', () => {
    assert.ok(Math.abs(logSumExp([1000, 1000]) - (1000 + Math.log(2))) < 1e-9)
  })

  it('processors run in one fixed, documented order, each only when its setting changes something', () => {
    assert.deepEqual(LOGITS_PROCESSORS.map((p) => p.name), ['repetition_penalty', 'temperature', 'top_k', 'top_p', 'min_p'])
    assert.deepEqual(activeProcessors(DEFAULT_SAMPLING, 6), [])
    assert.deepEqual(activeProcessors({ ...DEFAULT_SAMPLING, temperature: 0.7, topP: 0.9, topK: 6 }, 6).map((p) => p.name), ['temperature', 'top_p'])
    assert.throws(() => registerLogitsProcessor({ name: 'top_k', active: () => false, apply: () => {} }), /already registered/)
    assert.throws(() => registerLogitsProcessor({ name: 'x', active: () => false, apply: () => {} }, 'nope'), /no logits processor named nope/)
  })

  it('top-p after top-k counts probability among the top k (transformers: each warper renormalises)', () => {
    // softmax over the top 2 of [3, 2, 1, …]: 0.731, 0.269 — top-p 0.7 keeps only the first; over the whole vocabulary it would need two.
    const d = samplingDistribution(logits, { ...DEFAULT_SAMPLING, topK: 2, topP: 0.7 })
    assert.deepEqual([...d.ids], [4])
    assert.deepEqual([...samplingDistribution(logits, { ...DEFAULT_SAMPLING, topP: 0.7 }).ids], [4, 0])
  })

  it('the plain-softmax shortcut draws exactly the tokens the general path draws', () => {
    const rng = new Rng(11)
    const rows = Array.from({ length: 200 }, () => Float32Array.from({ length: 50 }, () => (rng.next() - 0.5) * 8))
    for (const [i, row] of rows.entries()) {
      const fast = sampleRow(row, DEFAULT_SAMPLING, new Rng(i), [])
      const general = drawToken(samplingDistribution(new Float64Array(row), DEFAULT_SAMPLING), new Rng(i))
      assert.equal(fast.id, general.id, `row ${i}`)
      assert.ok(Math.abs(fast.logprob - general.logprob) < 1e-9)
    }
  })

  it('greedy applies the repetition penalty first, then takes the argmax', () => {
    // Token 4 (logit 3) seen with penalty 2 becomes 1.5 < 2: the argmax moves to token 0.
    assert.deepEqual([...samplingDistribution(logits, { ...DEFAULT_SAMPLING, temperature: 0, repetitionPenalty: 2 }, [4]).ids], [0])
    assert.deepEqual([...samplingDistribution(logits, { ...DEFAULT_SAMPLING, temperature: 0 }).ids], [4])
  })
})

describe('the in-program draw (draw-nodes.ts) against sampleRow', () => {
  it('200 rows of real-scale logits: the host draw’s token for the same uniform (float32 may move a boundary), its log-prob, and the argmax', async () => {
    const { Graph } = await import('../../src/engine/graph.js')
    const { Program } = await import('../../src/engine/session.js')
    const { Tensor } = await import('../../src/engine/tensor.js')
    const { drawNodes } = await import('../../src/model/draw-nodes.js')
    const { drawUniform } = await import('../../src/generate/graph-draw.js')
    const b = 200
    const v = 5000
    const rng = new Rng(5)
    // Peaked and flat rows alike: logits scaled from 0.1 to 20.
    const data = new Float32Array(b * v)
    for (let i = 0; i < b; i++) for (let j = 0; j < v; j++) data[i * v + j] = rng.normal() * (0.1 + (20 * i) / b)
    const g = new Graph('float32')
    const d = drawNodes(g.input('logits', [b, v]), { u: g.input('u', [b, 1]), greedy: true })
    const prog = await Program.compile(g, { sampled: d.sampled!, sampledLogprob: d.sampledLogprob!, greedy: d.greedy!, greedyLogprob: d.greedyLogprob! })
    const u = Float32Array.from({ length: b }, (_, i) => drawUniform(new Rng(100 + i)))
    const out = await prog.run({ logits: new Tensor('float32', data, [b, v]), u: new Tensor('float32', u, [b, 1]) })
    await prog.release()
    const distinct = new Set<number>()
    let same = 0
    for (let i = 0; i < b; i++) {
      const row = data.subarray(i * v, (i + 1) * v)
      const host = sampleRow(row, DEFAULT_SAMPLING, new Rng(100 + i), [])
      const id = Number((out.sampled!.data as BigInt64Array)[i])
      const lp = (out.sampledLogprob!.data as Float32Array)[i]!
      // Whatever the token, its reported log-prob is the model's.
      assert.ok(Math.abs(lp - (row[id]! - logSumExp(row))) < 1e-4, `row ${i}: log-prob ${lp}`)
      if (id === host.id) same++
      const greedy = sampleRow(row, { ...DEFAULT_SAMPLING, temperature: 0 }, new Rng(0), [])
      assert.equal(Number((out.greedy!.data as BigInt64Array)[i]), greedy.id)
      assert.ok(Math.abs((out.greedyLogprob!.data as Float32Array)[i]! - greedy.modelLogprob) < 1e-4)
      distinct.add(id)
    }
    assert.ok(same >= 198, `only ${same} of ${b} rows drew the host's token`)
    assert.ok(distinct.size > 150, 'the rows draw different tokens')
  })
})
