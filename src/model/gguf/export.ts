import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { parameterShapes, type ModelConfig } from '../config.js'
import { mergeAdapterDir, readConfig } from '../files.js'
import { isAdapterDir } from '../lora.js'
import { inverseFrequencies } from '../rope.js'
import { SafetensorsFile, weightFiles } from '../safetensors.js'
import { writeGguf, type GgufKv, type GgufMetadata, type GgufTensorOut } from './format.js'
import { FILE_TYPE, TENSOR_TYPES, type TensorTypeName } from './tensor-types.js'
import { tokenizerMetadata } from './tokenizer.js'

/**
 * A Llama or Qwen2 checkpoint in the Hugging Face layout written as one GGUF file that llama.cpp (and
 * Ollama, LM Studio) loads: architecture key-values, the tokenizer, and every weight under llama.cpp's
 * name. Weights are read and encoded one tensor at a time.
 */

export const GGUF_DTYPES = ['F32', 'F16', 'BF16', 'Q8_0'] as const
export type GgufDType = (typeof GGUF_DTYPES)[number]

/** Hugging Face weight name → llama.cpp's, per layer and for the rest. */
const LAYER_NAMES: Record<string, string> = {
  'input_layernorm.weight': 'attn_norm.weight',
  'self_attn.q_proj.weight': 'attn_q.weight',
  'self_attn.k_proj.weight': 'attn_k.weight',
  'self_attn.v_proj.weight': 'attn_v.weight',
  'self_attn.q_proj.bias': 'attn_q.bias',
  'self_attn.k_proj.bias': 'attn_k.bias',
  'self_attn.v_proj.bias': 'attn_v.bias',
  'self_attn.o_proj.weight': 'attn_output.weight',
  'post_attention_layernorm.weight': 'ffn_norm.weight',
  'mlp.gate_proj.weight': 'ffn_gate.weight',
  'mlp.up_proj.weight': 'ffn_up.weight',
  'mlp.down_proj.weight': 'ffn_down.weight',
}
const GLOBAL_NAMES: Record<string, string> = { 'model.embed_tokens.weight': 'token_embd.weight', 'model.norm.weight': 'output_norm.weight', 'lm_head.weight': 'output.weight' }

export function ggufTensorName(hf: string): string | undefined {
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hf)
  if (m) {
    const rest = LAYER_NAMES[m[2]!]
    return rest === undefined ? undefined : `blk.${m[1]}.${rest}`
  }
  return GLOBAL_NAMES[hf]
}

/**
 * llama.cpp's Llama applies RoPE to adjacent pairs (x0, x1), transformers to the two halves of each head
 * (x_i, x_{i+d/2}): the rows of q_proj and k_proj (and their biases) are reordered per head so the same
 * rotation lands on the same numbers. Qwen2 runs in llama.cpp with the halves layout (NEOX) and needs none.
 */
function permuteRowsForPairRope(x: Float32Array, rows: number, cols: number, heads: number): Float32Array {
  const out = new Float32Array(x.length)
  const perHead = rows / heads
  const half = perHead / 2
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (const [k, j] of [[0, 2 * i], [1, 2 * i + 1]] as const) {
        const src = h * perHead + k * half + i
        const dst = h * perHead + j
        out.set(x.subarray(src * cols, (src + 1) * cols), dst * cols)
      }
    }
  }
  return out
}

const u32 = (value: number): GgufKv => ({ type: 'u32', value })
const f32 = (value: number): GgufKv => ({ type: 'f32', value })
const str = (value: string): GgufKv => ({ type: 'string', value })

function modelMetadata(c: ModelConfig, name: string, dtype: GgufDType): [string, GgufKv][] {
  const a = c.architecture
  const kv: [string, GgufKv][] = [
    ['general.architecture', str(a)],
    ['general.name', str(name)],
    ['general.file_type', u32(FILE_TYPE[dtype])],
    ['general.quantization_version', u32(2)],
    ['general.alignment', u32(32)],
    [`${a}.vocab_size`, u32(c.vocab_size)],
    [`${a}.context_length`, u32(c.max_position_embeddings)],
    [`${a}.embedding_length`, u32(c.hidden_size)],
    [`${a}.block_count`, u32(c.num_hidden_layers)],
    [`${a}.feed_forward_length`, u32(c.intermediate_size)],
    [`${a}.attention.head_count`, u32(c.num_attention_heads)],
    [`${a}.attention.head_count_kv`, u32(c.num_key_value_heads)],
    [`${a}.attention.key_length`, u32(c.head_dim)],
    [`${a}.attention.value_length`, u32(c.head_dim)],
    [`${a}.attention.layer_norm_rms_epsilon`, f32(c.rms_norm_eps)],
    [`${a}.rope.dimension_count`, u32(c.head_dim)],
    [`${a}.rope.freq_base`, f32(c.rope_theta)],
  ]
  const rs = c.rope_scaling
  if (rs?.rope_type === 'linear') {
    kv.push([`${a}.rope.scaling.type`, str('linear')], [`${a}.rope.scaling.factor`, f32(rs.factor ?? 1)])
  }
  return kv
}

/** The rope_freqs tensor llama.cpp reads for Llama 3 scaling: each frequency's divisor, from transformers' own scaled frequencies. */
function ropeFreqFactors(c: ModelConfig): Float32Array {
  const scaled = inverseFrequencies(c)
  const plain = inverseFrequencies({ ...c, rope_scaling: null })
  return Float32Array.from(plain, (p, i) => p / scaled[i]!)
}

export interface GgufExportResult {
  out: string
  bytes: number
  tensors: number
  /** Tensors kept in F32 although another dtype was asked (norms, biases, rows that are not whole Q8_0 blocks). */
  keptF32: string[]
}

/**
 * Writes `out` from the model directory `dir` (a LoRA adapter directory is merged into its base first); nothing is
 * written unless every tensor and field maps.
 */
export function exportGguf(dir: string, out: string, opts: { dtype?: GgufDType; name?: string } = {}): GgufExportResult {
  if (isAdapterDir(dir)) {
    const merged = mkdtempSync(join(tmpdir(), 'medrl-merged-'))
    try {
      mergeAdapterDir(dir, join(merged, 'model'))
      return exportGguf(join(merged, 'model'), out, { ...opts, name: opts.name ?? basename(resolve(dir)) })
    } finally {
      rmSync(merged, { recursive: true, force: true })
    }
  }
  const dtype = opts.dtype ?? 'F32'
  if (!(GGUF_DTYPES as readonly string[]).includes(dtype)) throw new Error(`--dtype ${dtype} is not one of ${GGUF_DTYPES.join(', ')}`)
  const c = readConfig(dir)
  if (c.rope_scaling?.rope_type === 'llama3' && c.architecture !== 'llama') throw new Error(`${join(dir, 'config.json')}: rope_scaling llama3 on ${c.architecture} has no llama.cpp equivalent`)
  const metadata: GgufMetadata = new Map([...modelMetadata(c, opts.name ?? basename(resolve(dir)), dtype), ...tokenizerMetadata(dir, c)])

  const { files } = weightFiles(dir)
  const opened = files.map((f) => new SafetensorsFile(f))
  try {
    const where = new Map<string, SafetensorsFile>()
    for (const f of opened) for (const n of f.names()) where.set(n, f)
    const expected = parameterShapes(c)
    for (const [n, f] of where) {
      if (n.endsWith('rotary_emb.inv_freq') || (c.tie_word_embeddings && n === 'lm_head.weight')) continue
      if (!(n in expected)) throw new Error(`${f.path}: tensor ${n} has no place in a ${c.architecture} GGUF file (llama.cpp would not read it)`)
      const shape = f.tensors[n]!.shape
      if (shape.join(',') !== expected[n]!.join(',')) throw new Error(`${f.path}: tensor ${n} has shape [${shape.join(', ')}], config.json implies [${expected[n]!.join(', ')}]`)
    }
    const keptF32: string[] = []
    const tensors: GgufTensorOut[] = []
    for (const [hf, shape] of Object.entries(expected)) {
      const f = where.get(hf)
      if (!f) throw new Error(`${dir}: tensor ${hf} is missing from the safetensors files`)
      const name = ggufTensorName(hf)!
      const dims = [...shape].reverse()
      const matrix = shape.length === 2
      let type: TensorTypeName = matrix ? dtype : 'F32'
      if (matrix && dims[0]! % TENSOR_TYPES[type].blockSize !== 0) type = 'F32'
      if (type === 'F32' && dtype !== 'F32') keptF32.push(name)
      const qk = /self_attn\.(q|k)_proj\.(weight|bias)$/.exec(hf)
      tensors.push({
        name,
        dims,
        type,
        bytes: () => {
          let x = f.read(hf).data as Float32Array
          if (qk && c.architecture === 'llama') {
            const heads = qk[1] === 'q' ? c.num_attention_heads : c.num_key_value_heads
            x = permuteRowsForPairRope(x, shape[0]!, shape[1] ?? 1, heads)
          }
          return TENSOR_TYPES[type].encode(x)
        },
      })
    }
    if (c.rope_scaling?.rope_type === 'llama3') {
      const ff = ropeFreqFactors(c)
      tensors.push({ name: 'rope_freqs.weight', dims: [ff.length], type: 'F32', bytes: () => TENSOR_TYPES.F32.encode(ff) })
    }
    const bytes = writeGguf(out, metadata, tensors)
    return { out, bytes, tensors: tensors.length, keptF32 }
  } finally {
    for (const f of opened) f.close()
  }
}
