import assert from 'node:assert/strict'
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { Tensor, bf16BitsToF32, f32ToBf16Bits } from '../../src/engine/tensor.js'
import { initWeights, loadModel, newConfig, saveModel } from '../../src/model/files.js'
import { SafetensorsFile, readWeights, writeSafetensors } from '../../src/model/safetensors.js'
import { DATA, runCli, tempDir } from '../helpers.js'

const config = newConfig({ arch: 'qwen2', hidden: 16, layers: 2, heads: 4, kvHeads: 2, intermediate: 24, vocab: 50 })

describe('safetensors', () => {
  it('follows the header rules: 8-byte length, JSON header padded to 8-byte alignment, __metadata__, contiguous data', () => {
    const dir = tempDir()
    const path = join(dir, 'x.safetensors')
    writeSafetensors(path, { b: Tensor.f32([1, 2, 3], [3]), a: Tensor.f32([4, 5], [1, 2]) }, { metadata: { note: 'hi' } })
    const buf = readFileSync(path)
    const n = Number(buf.readBigUInt64LE(0))
    assert.equal((8 + n) % 8, 0)
    const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'))
    assert.deepEqual(header.__metadata__, { format: 'pt', note: 'hi' })
    assert.deepEqual(header.a, { dtype: 'F32', shape: [1, 2], data_offsets: [0, 8] })
    assert.deepEqual(header.b, { dtype: 'F32', shape: [3], data_offsets: [8, 20] })
    assert.equal(buf.length, 8 + n + 20)
    assert.deepEqual([...new Float32Array(buf.buffer.slice(buf.byteOffset + 8 + n, buf.byteOffset + 8 + n + 8))], [4, 5])
  })

  it('reads F32, F16 and BF16 into float32; BF16 writing rounds to nearest even', () => {
    const dir = tempDir()
    const vals = [1 + 2 ** -8, 1 + 3 * 2 ** -8, -3.14159, 65504, 1e-3]
    for (const dtype of ['F32', 'F16', 'BF16'] as const) {
      const path = join(dir, `${dtype}.safetensors`)
      writeSafetensors(path, { t: Tensor.f32(vals, [5]) }, { dtype })
      const f = new SafetensorsFile(path)
      const back = [...(f.read('t').data as Float32Array)]
      f.close()
      if (dtype === 'F32') assert.deepEqual(back, vals.map(Math.fround))
      if (dtype === 'BF16') assert.deepEqual(back, vals.map((v) => bf16BitsToF32(f32ToBf16Bits(v))))
      if (dtype === 'F16') back.forEach((x, i) => assert.ok(Math.abs(x - vals[i]!) <= Math.abs(vals[i]!) * 2 ** -10, `${x} vs ${vals[i]}`))
    }
    assert.equal(bf16BitsToF32(f32ToBf16Bits(1 + 2 ** -8)), 1)
  })

  it('bad files get errors naming the file and the tensor', () => {
    const dir = tempDir()
    const path = join(dir, 'bad.safetensors')
    const header = Buffer.from(JSON.stringify({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 12] } }))
    const len = Buffer.alloc(8)
    len.writeBigUInt64LE(BigInt(header.length))
    writeFileSync(path, Buffer.concat([len, header, Buffer.alloc(12)]))
    assert.throws(() => new SafetensorsFile(path), /bad\.safetensors: tensor w: 12 bytes for F32 \[4\] \(needs 16\)/)
    writeFileSync(path, Buffer.from([1, 2, 3]))
    assert.throws(() => new SafetensorsFile(path), /too short/)
  })
})

describe('model directories', () => {
  it('round trip: save → load → save → load gives identical tensors (single file and sharded)', () => {
    const w = initWeights(config, 7)
    const a = tempDir()
    saveModel(a, config, w)
    const loaded = loadModel(a)
    for (const [n, t] of Object.entries(w)) assert.deepEqual(loaded.model.weights[n]!.data, t.data, n)
    const b = tempDir()
    const files = saveModel(b, config, loaded.model.weights, { maxShardBytes: 8000 })
    assert.ok(files.includes('model.safetensors.index.json'))
    const shards = readdirSync(b).filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f))
    assert.ok(shards.length > 2, `${shards.length} shards`)
    const index = JSON.parse(readFileSync(join(b, 'model.safetensors.index.json'), 'utf8'))
    assert.equal(Object.keys(index.weight_map).length, Object.keys(w).length)
    assert.equal(index.metadata.total_size, Object.values(w).reduce((s, t) => s + t.size * 4, 0))
    const again = readWeights(b).weights
    for (const [n, t] of Object.entries(w)) assert.deepEqual(again[n]!.data, t.data, n)
  })

  it('a missing, extra or mis-shaped tensor is an error naming it', () => {
    const w = initWeights(config, 1)
    const dir = tempDir()
    const { ['model.layers.1.mlp.up_proj.weight']: _drop, ...missing } = w
    saveModel(dir, config, missing)
    assert.throws(() => loadModel(dir), /missing weight model\.layers\.1\.mlp\.up_proj\.weight \[24, 16\]/)
    saveModel(dir, config, { ...w, 'model.layers.0.extra.weight': Tensor.f32([1], [1]) })
    assert.throws(() => loadModel(dir), /unexpected weight\(s\) for this config: model\.layers\.0\.extra\.weight/)
    saveModel(dir, config, { ...w, 'model.norm.weight': Tensor.f32(new Float32Array(15), [15]) })
    assert.throws(() => loadModel(dir), /weight model\.norm\.weight has shape \[15\], the config needs \[16\]/)
  })
})

describe('medrl model CLI', () => {
  it('init (trained tokenizer, sharded BF16) → info → logits as JSON for every position', () => {
    const dir = tempDir()
    const init = runCli(['model', 'init', '--arch', 'llama', '--hidden', '32', '--layers', '2', '--heads', '4', '--kv-heads', '2', '--vocab', '320', '--tokenizer-text', join(DATA, 'medqa', 'medqa_input.jsonl'), '--dtype', 'BF16', '--max-shard-mb', '0', '--out', dir])
    assert.equal(init.code, 0, init.stderr)
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'model.safetensors.index.json']) assert.ok(readdirSync(dir).includes(f), f)
    const info = runCli(['model', 'info', dir, '--json'])
    assert.equal(info.code, 0, info.stderr)
    const i = JSON.parse(info.stdout)
    assert.equal(i.architecture, 'LlamaForCausalLM')
    assert.equal(i.vocab_size, 325)
    assert.deepEqual(Object.keys(i.dtypes), ['BF16'])
    assert.equal(i.chat_template, true)
    const logits = runCli(['model', 'logits', '--model', dir, '--ids', '1,2,3', '--all', '--json'])
    assert.equal(logits.code, 0, logits.stderr)
    const rows = JSON.parse(logits.stdout) as number[][]
    assert.equal(rows.length, 3)
    assert.ok(rows.every((r) => r.length === 325 && r.every(Number.isFinite)))
    const last = JSON.parse(runCli(['model', 'logits', '--model', dir, '--ids', '1,2,3', '--json']).stdout) as number[]
    assert.deepEqual(last, rows[2])
    const text = runCli(['model', 'logits', '--model', dir, '--text', 'The patient has a fever.', '--top', '3'])
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, /^position \d+:\n(\s+\d+\s+-?\d+\.\d+ .*\n){3}$/)
  })

  it('a model without tokenizer runs from ids; --text then says why it cannot', () => {
    const dir = tempDir()
    assert.equal(runCli(['model', 'init', '--hidden', '16', '--layers', '1', '--heads', '2', '--vocab', '40', '--tie', '--out', dir]).code, 0)
    assert.deepEqual(readdirSync(dir).sort(), ['config.json', 'model.safetensors'])
    assert.equal(runCli(['model', 'logits', '--model', dir, '--ids', '0,39', '--json']).code, 0)
    const r = runCli(['model', 'logits', '--model', dir, '--text', 'hi'])
    assert.equal(r.code, 1)
    assert.match(r.stderr, /no tokenizer\.json, so --text cannot be used/)
    const bad = runCli(['model', 'logits', '--model', dir, '--ids', '0,40'])
    assert.match(bad.stderr, /token id 40 is outside the vocabulary \(40\)/)
  })
})
