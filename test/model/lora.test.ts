import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import * as O from '../../src/engine/ops/index.js'
import { Tensor } from '../../src/engine/tensor.js'
import { CausalLM } from '../../src/model/causal-lm.js'
import { loadModel } from '../../src/model/files.js'
import { initLora, loraShapes, loraSpec, mergeLora, readAdapter, saveAdapter } from '../../src/model/lora.js'
import { SafetensorsFile } from '../../src/model/safetensors.js'
import { Rng } from '../../src/util/rng.js'
import { gradCheck } from '../engine/gradcheck.js'
import { FIXTURES, ROOT, runCli, tempDir } from '../helpers.js'

const MODEL = join(FIXTURES, 'models', 'qwen2-tied')
const TORCH = '/usr/bin/python3'
const hasTorch = spawnSync(TORCH, ['-c', 'import torch, numpy'], { encoding: 'utf8' }).status === 0

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!))
  return m
}

/** Adapters with every tensor random (a trained adapter changes the logits; a new one does not). */
function randomAdapters(shapes: Record<string, number[]>, seed: number): Record<string, Tensor> {
  const rng = new Rng(seed)
  return Object.fromEntries(Object.entries(shapes).map(([n, s]) => [n, Tensor.f32(Array.from({ length: s[0]! * s[1]! }, () => (rng.next() - 0.5) * 0.2), s)]))
}

const IDS = [[3, 17, 5, 40, 2, 9, 11, 30]]

describe('LoRA adapters (PEFT’s definition) on the embedded engine', () => {
  it('the adapted linear layer, y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ with W frozen: float64 gradients for A, B and x match central differences', async () => {
    const r = await gradCheck(
      [{ shape: [2, 3, 5] }, { shape: [4, 5], kind: 'const' }, { shape: [2, 5] }, { shape: [4, 2] }, { shape: [], kind: 'const' }],
      ([x, w, a, b, s]) => O.add(O.linear(x!, w!), O.mul(O.linear(O.linear(x!, a!), b!), s!)),
    )
    assert.ok(r.checked > 30 && r.maxRelErr < 1e-6, JSON.stringify(r))
  })

  it('new adapters (B = 0) give the base’s logits exactly; trained ones, merged into W + s·B·A, give the adapter model’s logits within 1e-5', async () => {
    const base = loadModel(MODEL)
    const spec = loraSpec(base.config, { rank: 4, alpha: 8 })
    assert.equal(spec.modules.length, 7 * base.config.num_hidden_layers, 'all-linear: seven modules a layer')
    assert.equal(spec.scale, 2)
    const plain = (await base.model.logits({ ids: IDS })).data as Float32Array
    const fresh = new CausalLM(base.config, base.model.weights, { spec, weights: initLora(spec, 0) })
    assert.deepEqual((await fresh.logits({ ids: IDS })).data, plain, 'bit for bit')
    const trained = new CausalLM(base.config, base.model.weights, { spec, weights: randomAdapters(loraShapes(spec), 1) })
    const adapted = (await trained.logits({ ids: IDS })).data as Float32Array
    assert.ok(maxAbs(adapted, plain) > 1e-3, 'the adapters change the logits')
    const merged = new CausalLM(base.config, mergeLora(base.model.weights, spec, trained.adapters!.weights))
    assert.ok(maxAbs((await merged.logits({ ids: IDS })).data as Float32Array, adapted) < 1e-5)
    // The reference view: the same model with its adapters off scores as the base.
    const targets = [IDS[0]!.slice(1).concat(0)]
    const refLp = (await trained.tokenLogProbs({ ids: IDS, targets }, { adapters: false })).data
    assert.deepEqual(refLp, (await base.model.tokenLogProbs({ ids: IDS, targets })).data)
    for (const m of [fresh, trained, merged, base.model]) await m.dispose()
  })

  it('training differentiates the adapters alone: gradients and optimizer buffers for A and B only, the base weights untouched', async () => {
    const base = loadModel(MODEL)
    const spec = loraSpec(base.config, { rank: 2, target_modules: ['q_proj', 'v_proj'] })
    const m = new CausalLM(base.config, base.model.weights, { spec, weights: randomAdapters(loraShapes(spec), 2) })
    const before = Object.fromEntries(Object.entries(base.model.weights).map(([n, t]) => [n, Float32Array.from(t.data as Float32Array)]))
    const r = await m.lossAndGrads({ ids: IDS, targets: [IDS[0]!.slice(1).concat(0)], lossMask: [IDS[0]!.map(() => 1)] })
    assert.deepEqual(Object.keys(r.grads).sort(), Object.keys(loraShapes(spec)).sort())
    assert.deepEqual(Object.keys(m.buffers()).sort(), Object.keys(loraShapes(spec)).sort(), 'what an optimizer updates')
    assert.ok(Object.values(r.grads).every((g) => g.some((x) => x !== 0)))
    for (const [n, t] of Object.entries(m.weights)) assert.deepEqual(t.data, before[n], n)
    await m.dispose()
  })

  it('adapters in PEFT’s layout: adapter_config.json and adapter_model.safetensors with PEFT’s tensor names, read back as written; a load merges them into their base', async () => {
    const dir = tempDir('medrl-adapter-')
    const base = loadModel(MODEL)
    const spec = loraSpec(base.config, { rank: 3, alpha: 6, target_modules: ['q_proj', 'k_proj', 'gate_proj'] })
    const weights = randomAdapters(loraShapes(spec), 3)
    saveAdapter(dir, spec, weights, { baseModel: MODEL })
    const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'))
    assert.equal(cfg.peft_type, 'LORA')
    assert.equal(cfg.task_type, 'CAUSAL_LM')
    assert.equal(cfg.r, 3)
    assert.equal(cfg.lora_alpha, 6)
    assert.deepEqual(cfg.target_modules, ['q_proj', 'k_proj', 'gate_proj'])
    assert.equal(cfg.base_model_name_or_path, MODEL)
    const st = new SafetensorsFile(join(dir, 'adapter_model.safetensors'))
    assert.ok(st.names().includes('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'))
    assert.ok(st.names().includes('base_model.model.model.layers.1.mlp.gate_proj.lora_B.weight'))
    st.close()
    const back = readAdapter(dir)
    assert.equal(back.baseModel, MODEL)
    for (const [n, t] of Object.entries(weights)) assert.deepEqual(back.weights[n]!.data, t.data, n)
    const loaded = loadModel(dir)
    assert.equal(loaded.adapterBase, MODEL)
    const want = new CausalLM(base.config, base.model.weights, { spec, weights })
    assert.ok(maxAbs((await loaded.model.logits({ ids: IDS })).data as Float32Array, (await want.logits({ ids: IDS })).data as Float32Array) < 1e-5)
    // medrl model merge writes the merged model as a Hugging Face directory.
    const merged = join(dir, '..', `${dir.split('/').pop()}-merged`)
    const r = runCli(['model', 'merge', dir, '--out', merged])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /9 adapted modules merged into/)
    const m2 = loadModel(merged)
    assert.ok(maxAbs((await m2.model.logits({ ids: IDS })).data as Float32Array, (await want.logits({ ids: IDS })).data as Float32Array) < 1e-5)
    for (const m of [loaded.model, want, m2.model, base.model]) await m.dispose()
  })

  it('bad input, one clear line each: rank 0, a module the model lacks, an adapter trained on another base, an unknown adapter type', () => {
    const base = loadModel(MODEL)
    assert.throws(() => loraSpec(base.config, { rank: 0 }, 'actor.lora'), /^Error: actor\.lora\.rank: 0: the adapters need a rank of 1 or more$/)
    assert.throws(() => loraSpec(base.config, { rank: 2, target_modules: ['q_proj', 'qkv_proj'] }, 'actor.lora'), /actor\.lora\.target_modules: qkv_proj: this qwen2 model has no such module \(it has q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, or all-linear\)/)
    const dir = tempDir('medrl-adapter-bad-')
    // An adapter whose shapes are another model's.
    const other = loadModel(join(FIXTURES, 'models', 'llama-gqa-llama3-rope'))
    const spec = loraSpec(other.config, { rank: 2, target_modules: ['q_proj'] })
    saveAdapter(dir, spec, initLora(spec, 0), { baseModel: MODEL })
    assert.throws(() => loadModel(dir), /the adapter was trained on another base|was not trained on/)
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'IA3', r: 2, base_model_name_or_path: MODEL, target_modules: ['q_proj'] }))
    assert.throws(() => loadModel(dir), /"peft_type" "IA3": only LORA adapters are read/)
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 2, base_model_name_or_path: '/no/such/base', target_modules: ['q_proj'] }))
    assert.throws(() => loadModel(dir), /its base model \/no\/such\/base \(base_model_name_or_path in adapter_config\.json\) is not a model directory here: give the base with --base DIR/)
  })

  it('an adapter written with PyTorch in PEFT’s layout loads in medrl; its logits, adapted and merged, match PyTorch’s W + alpha/r·B·A', { skip: hasTorch ? false : 'no torch for /usr/bin/python3 here' }, async () => {
    const dir = tempDir('medrl-peft-')
    for (const model of ['qwen2-tied', 'llama-gqa-llama3-rope']) {
      const baseDir = join(FIXTURES, 'models', model)
      const adapter = join(dir, model)
      const w = spawnSync(TORCH, [join(ROOT, 'tools', 'torch_reference.py'), baseDir, '--write-adapter', adapter, '--rank', '4', '--alpha', '8', '--targets', 'q_proj,v_proj,o_proj,down_proj', '--seed', '0'], { encoding: 'utf8' })
      assert.equal(w.status, 0, w.stderr)
      assert.ok(existsSync(join(adapter, 'adapter_model.safetensors')))
      const ids = [5, 9, 2, 33, 17, 8, 1]
      const ref = spawnSync(TORCH, [join(ROOT, 'tools', 'torch_reference.py'), baseDir, ids.join(','), '--adapter', adapter], { encoding: 'utf8', maxBuffer: 64 << 20 })
      assert.equal(ref.status, 0, ref.stderr)
      const want = (JSON.parse(ref.stdout) as { logits: number[][] }).logits.flat()
      const scaleOf = Math.max(...want.map(Math.abs))
      const merged = loadModel(adapter)
      const kept = loadModel(adapter, { adapters: 'keep' })
      assert.ok(kept.model.adapters !== null && merged.model.adapters === null)
      for (const m of [merged, kept]) {
        const got = (await m.model.logits({ ids: [ids] })).data as Float32Array
        assert.ok(maxAbs(got, want) / scaleOf < 1e-4, `${model}: relative error ${maxAbs(got, want) / scaleOf}`)
        await m.model.dispose()
      }
      const plain = spawnSync(TORCH, [join(ROOT, 'tools', 'torch_reference.py'), baseDir, ids.join(',')], { encoding: 'utf8', maxBuffer: 64 << 20 })
      assert.ok(maxAbs((JSON.parse(plain.stdout) as { logits: number[][] }).logits.flat(), want) / scaleOf > 1e-3, 'the adapter changes the logits')
    }
  })
})
