import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { loadModel } from '../../src/model/files.js'
import { FIXTURES, ROOT } from '../helpers.js'

const MODELS = join(FIXTURES, 'models')

/** max |ours − ref| / max |ref|: agreement relative to the logits' scale. */
function relErr(ours: ArrayLike<number>, ref: number[][]): number {
  let maxDiff = 0
  let maxRef = 0
  const v = ref[0]!.length
  ref.forEach((row, t) =>
    row.forEach((x, i) => {
      maxDiff = Math.max(maxDiff, Math.abs(ours[t * v + i]! - x))
      maxRef = Math.max(maxRef, Math.abs(x))
    }),
  )
  return maxDiff / maxRef
}

describe('numerical agreement with PyTorch (transformers’ Llama / Qwen2, reference logits committed)', () => {
  for (const name of readdirSync(MODELS).sort()) {
    it(name, async () => {
      const dir = join(MODELS, name)
      const ref = JSON.parse(readFileSync(join(dir, 'reference_logits.json'), 'utf8')) as { ids: number[]; logits: number[][] }
      const m = loadModel(dir)
      const logits = await m.model.logits({ ids: [ref.ids] })
      assert.deepEqual(logits.shape, [1, ref.ids.length, m.config.vocab_size])
      const err = relErr(logits.data as Float32Array, ref.logits)
      assert.ok(err < 1e-4, `relative error ${err}`)
      // The logits are not trivially small: the comparison has something to see.
      assert.ok(Math.max(...ref.logits.flat().map(Math.abs)) > 0.5)
      await m.model.dispose()
    })
  }

  const torchPython = '/usr/bin/python3'
  const hasTorch = spawnSync(torchPython, ['-c', 'import torch, numpy'], { encoding: 'utf8' }).status === 0
  it('the reference script reproduces the committed values (where python3-torch is installed)', { skip: hasTorch ? false : 'no torch for /usr/bin/python3 here' }, () => {
    const dir = join(MODELS, 'qwen2-gqa-bf16')
    const committed = JSON.parse(readFileSync(join(dir, 'reference_logits.json'), 'utf8')) as { ids: number[]; logits: number[][] }
    const r = spawnSync(torchPython, [join(ROOT, 'tools', 'torch_reference.py'), dir, committed.ids.join(',')], { encoding: 'utf8', maxBuffer: 64 << 20 })
    assert.equal(r.status, 0, r.stderr)
    const fresh = JSON.parse(r.stdout) as { logits: number[][] }
    assert.ok(relErr(fresh.logits.flat(), committed.logits) < 1e-6)
  })
})
