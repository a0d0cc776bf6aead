import type { ModelConfig } from './config.js'

/** Inverse frequencies of the rotary embedding, with Llama-3 or linear scaling as transformers applies them. */
export function inverseFrequencies(c: ModelConfig): Float64Array {
  const d = c.head_dim
  const inv = new Float64Array(d / 2)
  for (let i = 0; i < d / 2; i++) inv[i] = 1 / c.rope_theta ** ((2 * i) / d)
  const rs = c.rope_scaling
  if (rs?.rope_type === 'linear') {
    const f = rs.factor ?? 1
    for (let i = 0; i < inv.length; i++) inv[i] = inv[i]! / f
  } else if (rs?.rope_type === 'llama3') {
    const factor = rs.factor ?? 8
    const low = rs.low_freq_factor ?? 1
    const high = rs.high_freq_factor ?? 4
    const oldLen = rs.original_max_position_embeddings ?? 8192
    const lowWavelen = oldLen / low
    const highWavelen = oldLen / high
    for (let i = 0; i < inv.length; i++) {
      const f = inv[i]!
      const wavelen = (2 * Math.PI) / f
      let v = wavelen > lowWavelen ? f / factor : f
      if (!(wavelen < highWavelen) && !(wavelen > lowWavelen)) {
        const smooth = (oldLen / wavelen - low) / (high - low)
        v = ((1 - smooth) * v) / factor + smooth * v
      }
      inv[i] = v
    }
  }
  return inv
}

/**
 * cos and sin tables [B, 1, T, head_dim] for the given positions (one row of positions per sequence, so
 * left-padded batches and decoding with a cache get their own offsets).
 */
export function ropeTables(c: ModelConfig, positions: readonly (readonly number[])[], float: 'float32' | 'float64' = 'float32'): { cos: Float32Array | Float64Array; sin: Float32Array | Float64Array; shape: number[] } {
  const inv = inverseFrequencies(c)
  const d = c.head_dim
  const half = d / 2
  const b = positions.length
  const t = positions[0]?.length ?? 0
  const Arr = float === 'float32' ? Float32Array : Float64Array
  const cos = new Arr(b * t * d)
  const sin = new Arr(b * t * d)
  for (let i = 0; i < b; i++) {
    for (let j = 0; j < t; j++) {
      const pos = positions[i]![j]!
      const base = (i * t + j) * d
      for (let k = 0; k < half; k++) {
        // transformers computes the angle in float32 (inv_freq and positions are float32 tensors).
        const angle = float === 'float32' ? Math.fround(Math.fround(pos) * Math.fround(inv[k]!)) : pos * inv[k]!
        const cv = Math.cos(angle)
        const sv = Math.sin(angle)
        cos[base + k] = cv
        cos[base + k + half] = cv
        sin[base + k] = sv
        sin[base + k + half] = sv
      }
    }
  }
  return { cos, sin, shape: [b, 1, t, d] }
}

/** The additive attention mask [B, 1, T, S]: 0 where query t may see key s (causal, not padding), else −1e9. */
export function attentionMask(keyValid: readonly (readonly boolean[])[], queryLen: number, pastLen: number, float: 'float32' | 'float64' = 'float32'): { data: Float32Array | Float64Array; shape: number[] } {
  const b = keyValid.length
  const s = pastLen + queryLen
  const Arr = float === 'float32' ? Float32Array : Float64Array
  const data = new Arr(b * queryLen * s)
  for (let i = 0; i < b; i++) {
    for (let t = 0; t < queryLen; t++) {
      for (let j = 0; j < s; j++) {
        data[(i * queryLen + t) * s + j] = j <= pastLen + t && keyValid[i]![j] !== false ? 0 : -1e9
      }
    }
  }
  return { data, shape: [b, 1, queryLen, s] }
}
