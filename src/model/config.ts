/** The parts of a Hugging Face config.json that Llama and Qwen2 decoders need, validated. */

export type Architecture = 'llama' | 'qwen2'

export interface RopeScaling {
  rope_type: 'default' | 'llama3' | 'linear'
  factor?: number
  low_freq_factor?: number
  high_freq_factor?: number
  original_max_position_embeddings?: number
}

export interface ModelConfig {
  architecture: Architecture
  vocab_size: number
  hidden_size: number
  intermediate_size: number
  num_hidden_layers: number
  num_attention_heads: number
  num_key_value_heads: number
  head_dim: number
  rms_norm_eps: number
  rope_theta: number
  rope_scaling: RopeScaling | null
  max_position_embeddings: number
  tie_word_embeddings: boolean
  /** Biases on q/k/v projections (Qwen2 has them; Llama's `attention_bias` is usually false). */
  attention_bias: boolean
  bos_token_id: number | null
  eos_token_id: number[]
  pad_token_id: number | null
}

const ARCH: Record<string, Architecture> = { LlamaForCausalLM: 'llama', Qwen2ForCausalLM: 'qwen2' }

function int(o: Record<string, unknown>, k: string, def?: number): number {
  const v = o[k] ?? def
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new Error(`config.json: "${k}" must be a positive integer, got ${JSON.stringify(o[k])}`)
  return v
}

function num(o: Record<string, unknown>, k: string, def: number): number {
  const v = o[k] ?? def
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`config.json: "${k}" must be a number, got ${JSON.stringify(o[k])}`)
  return v
}

function tokenIds(v: unknown): number[] {
  if (v === null || v === undefined) return []
  return (Array.isArray(v) ? v : [v]).filter((x): x is number => typeof x === 'number')
}

/** Reads config.json's object; unknown architectures and inconsistent head counts are refused with the field named. */
export function parseConfig(raw: Record<string, unknown>): ModelConfig {
  const archs = Array.isArray(raw.architectures) ? (raw.architectures as unknown[]) : []
  const named = archs.map((a) => ARCH[String(a)]).find((a) => a !== undefined)
  const byType = raw.model_type === 'llama' ? 'llama' : raw.model_type === 'qwen2' ? 'qwen2' : undefined
  const architecture = named ?? byType
  if (!architecture) throw new Error(`config.json: "architectures" ${JSON.stringify(raw.architectures)} is not LlamaForCausalLM or Qwen2ForCausalLM`)
  const hidden = int(raw, 'hidden_size')
  const heads = int(raw, 'num_attention_heads')
  const kv = int(raw, 'num_key_value_heads', heads)
  if (heads % kv !== 0) throw new Error(`config.json: num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kv}`)
  const headDim = raw.head_dim === undefined || raw.head_dim === null ? hidden / heads : int(raw, 'head_dim')
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) throw new Error(`config.json: head dimension ${headDim} must be an even integer`)
  let rope_scaling: RopeScaling | null = null
  const rs = raw.rope_scaling as Record<string, unknown> | null | undefined
  if (rs) {
    const type = String(rs.rope_type ?? rs.type ?? 'default')
    if (type !== 'default' && type !== 'llama3' && type !== 'linear') throw new Error(`config.json: rope_scaling type "${type}" is not supported (default, linear, llama3)`)
    rope_scaling = { rope_type: type, ...(rs as object) } as RopeScaling
  }
  return {
    architecture,
    vocab_size: int(raw, 'vocab_size'),
    hidden_size: hidden,
    intermediate_size: int(raw, 'intermediate_size'),
    num_hidden_layers: int(raw, 'num_hidden_layers'),
    num_attention_heads: heads,
    num_key_value_heads: kv,
    head_dim: headDim,
    rms_norm_eps: num(raw, 'rms_norm_eps', 1e-6),
    rope_theta: num(raw, 'rope_theta', 10000),
    rope_scaling,
    max_position_embeddings: int(raw, 'max_position_embeddings', 2048),
    tie_word_embeddings: raw.tie_word_embeddings === true,
    attention_bias: architecture === 'qwen2' ? true : raw.attention_bias === true,
    bos_token_id: typeof raw.bos_token_id === 'number' ? raw.bos_token_id : null,
    eos_token_id: tokenIds(raw.eos_token_id),
    pad_token_id: typeof raw.pad_token_id === 'number' ? raw.pad_token_id : null,
  }
}

/** config.json as Hugging Face writes it for this architecture. */
export function configToJson(c: ModelConfig): Record<string, unknown> {
  const base: Record<string, unknown> = {
    architectures: [c.architecture === 'llama' ? 'LlamaForCausalLM' : 'Qwen2ForCausalLM'],
    model_type: c.architecture,
    vocab_size: c.vocab_size,
    hidden_size: c.hidden_size,
    intermediate_size: c.intermediate_size,
    num_hidden_layers: c.num_hidden_layers,
    num_attention_heads: c.num_attention_heads,
    num_key_value_heads: c.num_key_value_heads,
    head_dim: c.head_dim,
    hidden_act: 'silu',
    rms_norm_eps: c.rms_norm_eps,
    rope_theta: c.rope_theta,
    rope_scaling: c.rope_scaling,
    max_position_embeddings: c.max_position_embeddings,
    tie_word_embeddings: c.tie_word_embeddings,
    bos_token_id: c.bos_token_id,
    eos_token_id: c.eos_token_id.length === 1 ? c.eos_token_id[0] : c.eos_token_id,
    pad_token_id: c.pad_token_id,
    torch_dtype: 'float32',
  }
  if (c.architecture === 'llama') {
    base.attention_bias = c.attention_bias
    base.mlp_bias = false
  }
  return base
}

/** Every weight by its Hugging Face name, with its shape. */
export function parameterShapes(c: ModelConfig): Record<string, number[]> {
  const h = c.hidden_size
  const q = c.num_attention_heads * c.head_dim
  const kv = c.num_key_value_heads * c.head_dim
  const s: Record<string, number[]> = { 'model.embed_tokens.weight': [c.vocab_size, h] }
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `model.layers.${i}`
    s[`${p}.input_layernorm.weight`] = [h]
    s[`${p}.self_attn.q_proj.weight`] = [q, h]
    s[`${p}.self_attn.k_proj.weight`] = [kv, h]
    s[`${p}.self_attn.v_proj.weight`] = [kv, h]
    if (c.attention_bias) {
      s[`${p}.self_attn.q_proj.bias`] = [q]
      s[`${p}.self_attn.k_proj.bias`] = [kv]
      s[`${p}.self_attn.v_proj.bias`] = [kv]
    }
    s[`${p}.self_attn.o_proj.weight`] = [h, q]
    s[`${p}.post_attention_layernorm.weight`] = [h]
    s[`${p}.mlp.gate_proj.weight`] = [c.intermediate_size, h]
    s[`${p}.mlp.up_proj.weight`] = [c.intermediate_size, h]
    s[`${p}.mlp.down_proj.weight`] = [h, c.intermediate_size]
  }
  s['model.norm.weight'] = [h]
  if (!c.tie_word_embeddings) s['lm_head.weight'] = [c.vocab_size, h]
  return s
}

export function parameterCount(c: ModelConfig): number {
  return Object.values(parameterShapes(c)).reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0)
}
