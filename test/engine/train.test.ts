import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { AdamW, NonFiniteError, globalNorm, guardedStep } from '../../src/engine/optim.js'
import * as O from '../../src/engine/ops/index.js'
import { CausalLM, randomWeights, type LmBatch } from '../../src/model/causal-lm.js'
import { parameterShapes, parseConfig, type ModelConfig } from '../../src/model/config.js'
import { decoderLayer, type ParamSyms } from '../../src/model/llama.js'
import { attentionMask, ropeTables } from '../../src/model/rope.js'
import { gradCheck, type InputSpec } from './gradcheck.js'

const tiny = (arch: 'LlamaForCausalLM' | 'Qwen2ForCausalLM' = 'LlamaForCausalLM', extra: Record<string, unknown> = {}): ModelConfig =>
  parseConfig({ architectures: [arch], vocab_size: 48, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, rms_norm_eps: 1e-6, max_position_embeddings: 64, ...extra })

function fixedBatch(): LmBatch {
  const rows = [
    [1, 5, 9, 13, 17, 21, 25, 29, 33],
    [2, 4, 6, 8, 10, 12, 14, 16, 18],
    [40, 30, 20, 10, 0, 11, 22, 33, 44],
  ]
  return { ids: rows.map((r) => r.slice(0, -1)), targets: rows.map((r) => r.slice(1)), lossMask: rows.map((r) => r.slice(1).map(() => 1)) }
}

async function train(c: ModelConfig, seed: number, steps: number): Promise<{ losses: number[]; model: CausalLM }> {
  const model = new CausalLM(c, randomWeights(c, seed))
  const opt = new AdamW({ weightDecay: 0 })
  const losses: number[] = []
  for (let s = 0; s < steps; s++) {
    const { loss, grads } = await model.lossAndGrads(fixedBatch())
    losses.push(loss)
    guardedStep({ step: s, loss, grads, params: model.buffers(), optimizer: opt, lr: 3e-3, maxGradNorm: 1 })
  }
  return { losses, model }
}

describe('training on the engine', () => {
  it('a tiny Llama overfits a fixed batch (loss falls by more than 10×)', async () => {
    const { losses, model } = await train(tiny(), 1, 80)
    assert.ok(losses[0]! > 3, `start ${losses[0]}`)
    assert.ok(losses[losses.length - 1]! < losses[0]! / 10, `from ${losses[0]} to ${losses[losses.length - 1]}`)
    await model.dispose()
  })

  it('a tiny Qwen2 (q/k/v biases, tied embeddings) overfits too', async () => {
    const { losses, model } = await train(tiny('Qwen2ForCausalLM', { tie_word_embeddings: true }), 2, 80)
    assert.ok(losses[losses.length - 1]! < losses[0]! / 10, `from ${losses[0]} to ${losses[losses.length - 1]}`)
    await model.dispose()
  })

  it('the gradient norm from the program (summed in the graph where whole, on the host where rows join) equals the norm of the collected gradients', async () => {
    for (const c of [tiny(), tiny('Qwen2ForCausalLM', { tie_word_embeddings: true })]) {
      const model = new CausalLM(c, randomWeights(c, 3))
      const { grads, gradNorm } = await model.lossAndGrads(fixedBatch())
      const host = globalNorm(grads)
      assert.ok(host > 0.1)
      assert.ok(Math.abs(gradNorm - host) < 1e-5 * host, `${c.architecture} tied=${c.tie_word_embeddings}: ${gradNorm} vs ${host}`)
      await model.dispose()
    }
  })

  it('deterministic: the same seed gives bitwise-identical losses and weights', async () => {
    const a = await train(tiny(), 5, 4)
    const b = await train(tiny(), 5, 4)
    assert.deepEqual(a.losses, b.losses)
    for (const k of Object.keys(a.model.weights)) assert.deepEqual(a.model.weights[k]!.data, b.model.weights[k]!.data, k)
    await a.model.dispose()
    await b.model.dispose()
  })

  it('a NaN weight gives a NaN loss, caught before it reaches the weights', async () => {
    const c = tiny()
    const model = new CausalLM(c, randomWeights(c, 3))
    ;(model.weights['model.layers.1.mlp.up_proj.weight']!.data as Float32Array)[7] = NaN
    const before = (model.weights['model.norm.weight']!.data as Float32Array).slice()
    const { loss, grads } = await model.lossAndGrads(fixedBatch())
    assert.ok(Number.isNaN(loss))
    assert.throws(() => guardedStep({ step: 4, loss, grads, params: model.buffers(), optimizer: new AdamW(), lr: 1e-3 }), (e: unknown) => e instanceof NonFiniteError && e.tensor === 'loss' && e.step === 4)
    assert.deepEqual(model.weights['model.norm.weight']!.data, before)
    await model.dispose()
  })

  it('no-grad forward: logits equal the training graph’s, from a program without backward nodes', async () => {
    const c = tiny()
    const model = new CausalLM(c, randomWeights(c, 4))
    const batch = fixedBatch()
    const logits = await model.logits(batch)
    assert.deepEqual(logits.shape, [3, 8, 48])
    // Cross-entropy recomputed from the no-grad logits equals the training program's loss.
    let nll = 0
    for (let b = 0; b < 3; b++) {
      for (let t = 0; t < 8; t++) {
        const row = logits.data.subarray((b * 8 + t) * 48, (b * 8 + t + 1) * 48) as Float32Array
        const m = Math.max(...row)
        const lse = m + Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0))
        nll += lse - row[batch.targets[b]![t]!]!
      }
    }
    const { loss } = await model.lossAndGrads(batch)
    assert.ok(Math.abs(nll / 24 - loss) < 1e-5, `${nll / 24} vs ${loss}`)
    await model.dispose()
  })
})

describe('gradient check: a whole transformer block (float64)', () => {
  for (const arch of ['LlamaForCausalLM', 'Qwen2ForCausalLM'] as const) {
    it(arch, async () => {
      const c = parseConfig({ architectures: [arch], vocab_size: 10, hidden_size: 8, intermediate_size: 12, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, rms_norm_eps: 1e-6, rope_theta: 100 })
      const names = Object.keys(parameterShapes(c)).filter((n) => n.startsWith('model.layers.0.'))
      const shapes = parameterShapes(c)
      const rope = ropeTables(c, [[0, 1, 2], [0, 1, 2]], 'float64')
      const mask = attentionMask([[true, true, true], [true, true, false]], 3, 0, 'float64')
      const inputs: InputSpec[] = [
        { shape: [2, 3, 8] },
        ...names.map((n) => ({ shape: shapes[n]!, gen: n.endsWith('norm.weight') ? (r: { next(): number }) => 0.5 + r.next() : undefined }) as InputSpec),
        { shape: rope.shape, kind: 'const', gen: (_r, i) => rope.cos[i]! },
        { shape: rope.shape, kind: 'const', gen: (_r, i) => rope.sin[i]! },
        { shape: mask.shape, kind: 'const', gen: (_r, i) => mask.data[i]! },
      ]
      const r = await gradCheck(inputs, (xs) => {
        const p: ParamSyms = {}
        names.forEach((n, i) => (p[n] = xs[i + 1]!))
        const n = names.length
        return O.mul(decoderLayer(c, p, 0, xs[0]!, xs[n + 1]!, xs[n + 2]!, xs[n + 3]!).x, 1)
      })
      assert.ok(r.checked > 500, `${r.checked} elements`)
      assert.ok(r.maxRelErr < 1e-5, `max relative error ${r.maxRelErr}`)
    })
  }
})
