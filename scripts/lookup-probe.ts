/**
 * Can a model of a given size learn an in-context lookup? The demo's multiple-choice questions need one
 * (find the option the reasoning named, answer its letter), and the demo's 0.9M-parameter base does not
 * have it. This probe trains a fresh model on associative recall — four key/value pairs, a separator, a
 * query key, its value — and prints the loss on the looked-up value: ln 30 ≈ 3.40 means no lookup,
 * ln 4 ≈ 1.39 a guess among the values in context, 0 the lookup.
 *
 *   node --import tsx scripts/lookup-probe.ts [--hidden 128] [--layers 4] [--heads 4] [--kv-heads 2]
 *                                             [--steps 2000] [--batch 64] [--lr 1e-3] [--prefix 0]
 *
 * `--prefix N` puts N fixed tokens first (the R1 instruction is about 150), which makes the lookup harder.
 */
import { parseArgs } from 'node:util'
import { CausalLM } from '../src/model/causal-lm.js'
import { initWeights, newConfig } from '../src/model/files.js'
import { pretrain } from '../src/pretrain/lm.js'
import { Rng } from '../src/util/rng.js'

const { values: a } = parseArgs({
  options: {
    hidden: { type: 'string', default: '128' },
    layers: { type: 'string', default: '4' },
    heads: { type: 'string', default: '4' },
    'kv-heads': { type: 'string', default: '2' },
    steps: { type: 'string', default: '2000' },
    batch: { type: 'string', default: '64' },
    lr: { type: 'string', default: '1e-3' },
    prefix: { type: 'string', default: '0' },
    seed: { type: 'string', default: '0' },
  },
})
const n = (k: keyof typeof a) => Number(a[k])
const hidden = n('hidden')
const config = newConfig({ arch: 'llama', hidden, layers: n('layers'), heads: n('heads'), kvHeads: n('kv-heads'), intermediate: Math.round((hidden * 8) / 3 / 16) * 16, vocab: 100, eos: [99], pad: 98, maxPositions: 1024 })
const model = new CausalLM(config, initWeights(config, n('seed')))
const rng = new Rng(n('seed') + 1)
const prefix = Array.from({ length: n('prefix') }, (_, i) => 60 + (i % 30))
// Keys 0..29, values 30..59, separator 97.
const example = (): number[] => {
  const keys = rng.shuffle(Array.from({ length: 30 }, (_, i) => i)).slice(0, 4)
  const vals = keys.map(() => 30 + rng.int(30))
  const q = rng.int(4)
  return [...prefix, ...keys.flatMap((k, i) => [k, vals[i]!]), 97, keys[q]!, vals[q]!]
}
const steps = n('steps')
const t0 = Date.now()
await pretrain(model, Array.from({ length: 20000 }, example), {
  steps,
  lr: n('lr'),
  batchSize: n('batch'),
  maxLen: 1024,
  seed: n('seed'),
  onStep: (s, loss) => {
    if ((s + 1) % Math.max(1, Math.floor(steps / 10)) === 0) console.log(`step ${s + 1}: loss ${loss.toFixed(3)} (${((Date.now() - t0) / 1000).toFixed(0)} s)`)
  },
})
const test = Array.from({ length: 256 }, example)
const ids = test.map((s) => s.slice(0, -1))
const r = await model.lossAndGrads({ ids, targets: test.map((s) => s.slice(1)), lossMask: test.map((s) => s.slice(1).map((_, t) => (t === s.length - 2 ? 1 : 0))), attention: ids.map((s) => s.map(() => 1)) })
console.log(`loss on the looked-up value: ${r.loss.toFixed(3)} (3.40 none, 1.39 a guess among the pairs, 0 the lookup)`)
await model.dispose()
