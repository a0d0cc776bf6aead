/**
 * Builds the tiny checkpoints in test/fixtures/models and their PyTorch reference logits
 * (tools/torch_reference.py, run with a python3 that has torch: Debian's python3-torch).
 *   node --import tsx scripts/make-model-fixtures.ts [/usr/bin/python3]
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { initWeights, newConfig, saveModel, type InitOptions } from '../src/model/files.js'
import { Rng } from '../src/util/rng.js'

const python = process.argv[2] ?? '/usr/bin/python3'
const root = join(import.meta.dirname, '..', 'test', 'fixtures', 'models')

export const FIXTURES: { name: string; init: InitOptions; dtype: 'F32' | 'BF16' }[] = [
  {
    name: 'llama-gqa-llama3-rope',
    dtype: 'F32',
    init: { arch: 'llama', hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 48, ropeTheta: 10000, ropeScaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 } },
  },
  { name: 'llama-tied-linear-rope', dtype: 'F32', init: { arch: 'llama', hidden: 32, layers: 2, heads: 4, kvHeads: 4, intermediate: 40, tie: true, ropeScaling: { rope_type: 'linear', factor: 2 } } },
  { name: 'qwen2-gqa-bf16', dtype: 'BF16', init: { arch: 'qwen2', hidden: 32, layers: 2, heads: 4, kvHeads: 1, intermediate: 64, ropeTheta: 1000000 } },
  { name: 'qwen2-tied', dtype: 'F32', init: { arch: 'qwen2', hidden: 24, layers: 3, heads: 3, kvHeads: 1, headDim: 8, intermediate: 32, tie: true } },
]

export const FIXTURE_IDS = [3, 17, 42, 5, 77, 90, 1, 64, 23, 8, 55, 31, 99, 12, 70, 4]

for (const [k, f] of FIXTURES.entries()) {
  const dir = join(root, f.name)
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const config = newConfig({ ...f.init, vocab: 100, maxPositions: 128 })
  const weights = initWeights(config, 100 + k, 0.1)
  // Non-zero biases, so the q/k/v bias path is checked too.
  const rng = new Rng(200 + k)
  for (const [n, t] of Object.entries(weights)) if (n.endsWith('.bias')) (t.data as Float32Array).forEach((_, i, a) => (a[i] = rng.normal() * 0.1))
  saveModel(dir, config, weights, { dtype: f.dtype })
  const out = execFileSync(python, [join(import.meta.dirname, '..', 'tools', 'torch_reference.py'), dir, FIXTURE_IDS.join(',')], { encoding: 'utf8', maxBuffer: 64 << 20 })
  writeFileSync(join(dir, 'reference_logits.json'), out)
  console.log(`${dir}: reference from torch ${JSON.parse(out).torch}`)
}
