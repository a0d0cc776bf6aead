import type { Graph, Sym } from '../engine/graph.js'
import * as O from '../engine/ops/index.js'
import { parameterShapes, type ModelConfig } from './config.js'

/** The weights of a decoder as graph parameters, by Hugging Face name (adapters by lora.ts's names, and LORA_SCALE). */
export type ParamSyms = Record<string, Sym>

/** The graph input holding the adapters' scale (alpha / rank), in ParamSyms. */
export const LORA_SCALE = 'lora_scale'

/** Declares every weight as a trainable graph input (or a plain input for frozen reference models). */
export function declareParams(g: Graph, c: ModelConfig, opts: { trainable?: boolean; prefix?: string } = {}): ParamSyms {
  const out: ParamSyms = {}
  for (const [name, shape] of Object.entries(parameterShapes(c))) {
    const id = `${opts.prefix ?? ''}${name}`
    out[name] = opts.trainable === false ? g.input(id, shape) : g.param(id, shape)
  }
  return out
}

export interface DecoderInputs {
  /** Token ids [B, T] (int64). */
  ids: Sym
  /** Rotary tables [B, 1, T, head_dim]. */
  cos: Sym
  sin: Sym
  /** Additive mask [B, 1, T, S]. */
  mask: Sym
}

function heads(x: Sym, b: number, t: number, n: number, d: number): Sym {
  return O.transpose(O.reshape(x, [b, t, n, d]), [0, 2, 1, 3])
}

/** Keys and values of one layer (after the rotary embedding), [B, Hkv, S, head_dim]. */
export interface LayerKV {
  k: Sym
  v: Sym
}

/**
 * One Llama/Qwen2 decoder layer: pre-norm attention and SwiGLU MLP, each with a residual. With `past`, the
 * new tokens attend to the cached keys/values followed by their own (the mask covers both, [B, 1, T, P+T]).
 * Without, the mask is causal (attentionMask) and attention runs in query blocks that skip the keys after them.
 * Returns the layer's output and the new tokens' keys/values (for a KV cache).
 */
export function decoderLayer(c: ModelConfig, p: ParamSyms, i: number, x: Sym, cos: Sym, sin: Sym, mask: Sym, past?: LayerKV): { x: Sym; kv: LayerKV } {
  const [b, t] = x.shape as [number, number, number]
  const pre = `model.layers.${i}`
  const w = (n: string) => {
    const s = p[`${pre}.${n}`]
    if (!s) throw new Error(`missing weight ${pre}.${n}`)
    return s
  }
  const bias = (n: string) => (c.attention_bias ? w(`${n}.bias`) : undefined)
  // A linear layer, with its low-rank adapter when the model has one there: + scale·(x·Aᵀ)·Bᵀ (lora.ts).
  const proj = (n: string, input: Sym, bi?: Sym) => {
    const y = O.linear(input, w(`${n}.weight`), bi)
    const A = p[`${pre}.${n}.lora_A.weight`]
    if (!A) return y
    return O.add(y, O.mul(O.linear(O.linear(input, A), p[`${pre}.${n}.lora_B.weight`]!), p[LORA_SCALE]!))
  }
  const h = O.rmsNorm(x, w('input_layernorm.weight'), c.rms_norm_eps)
  const q = heads(proj('self_attn.q_proj', h, bias('self_attn.q_proj')), b, t, c.num_attention_heads, c.head_dim)
  const k = O.rope(heads(proj('self_attn.k_proj', h, bias('self_attn.k_proj')), b, t, c.num_key_value_heads, c.head_dim), cos, sin)
  const v = heads(proj('self_attn.v_proj', h, bias('self_attn.v_proj')), b, t, c.num_key_value_heads, c.head_dim)
  const qr = O.rope(q, cos, sin)
  const a = past ? O.attentionWithCache(qr, past.k, past.v, k, v, mask) : O.causalAttention(qr, k, v, mask, O.causalBlocks(t))
  const merged = O.reshape(O.transpose(a, [0, 2, 1, 3]), [b, t, c.num_attention_heads * c.head_dim])
  const x1 = O.add(x, proj('self_attn.o_proj', merged))
  const h2 = O.rmsNorm(x1, w('post_attention_layernorm.weight'), c.rms_norm_eps)
  const mlp = proj('mlp.down_proj', O.mul(O.silu(proj('mlp.gate_proj', h2)), proj('mlp.up_proj', h2)))
  return { x: O.add(x1, mlp), kv: { k, v } }
}

/** The final hidden states [B, T, hidden] of the decoder, and each layer's new keys/values. */
export function decoderForward(c: ModelConfig, p: ParamSyms, inp: DecoderInputs, past?: LayerKV[]): { hidden: Sym; kv: LayerKV[] } {
  let x = O.embedding(p['model.embed_tokens.weight']!, inp.ids)
  const kv: LayerKV[] = []
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const r = decoderLayer(c, p, i, x, inp.cos, inp.sin, inp.mask, past?.[i])
    x = r.x
    kv.push(r.kv)
  }
  return { hidden: O.rmsNorm(x, p['model.norm.weight']!, c.rms_norm_eps), kv }
}

/** The final hidden states [B, T, hidden] of the decoder. */
export function decoderHidden(c: ModelConfig, p: ParamSyms, inp: DecoderInputs): Sym {
  return decoderForward(c, p, inp).hidden
}

/** Logits [..., vocab] from hidden states, through lm_head (or the tied embedding). */
export function lmHead(c: ModelConfig, p: ParamSyms, hidden: Sym): Sym {
  return O.linear(hidden, c.tie_word_embeddings ? p['model.embed_tokens.weight']! : p['lm_head.weight']!)
}

/** Per-token log-probabilities of targets from hidden states through lm_head (or the tied embedding), and the log-softmax. */
export function lmHeadLogProbs(c: ModelConfig, p: ParamSyms, hidden: Sym, targets: Sym): { logProbs: Sym; logSoftmax: Sym } {
  return O.lmHeadLogProbs(hidden, c.tie_word_embeddings ? p['model.embed_tokens.weight']! : p['lm_head.weight']!, targets)
}

/**
 * Per-token log-probabilities [B, T] without gradients, the output layer run on blocks of rows: a block's
 * logits [rows, V] stay in cache-sized pieces and only one block's worth is ever alive (a 0.5B model's
 * vocabulary makes the whole batch's logits over a gigabyte). 512 rows measured fastest on the 39M bench
 * model (its output layer 305 → 268 ms at 2,048 rows).
 */
export function lmHeadTokenLogProbs(c: ModelConfig, p: ParamSyms, hidden: Sym, targets: Sym, rowsPerBlock = 512): Sym {
  const [b, t, h] = hidden.shape as [number, number, number]
  const rows = b * t
  if (rows <= rowsPerBlock) return lmHeadLogProbs(c, p, hidden, targets).logProbs
  const x = O.reshape(hidden, [rows, h])
  const ids = O.reshape(targets, [rows])
  const parts: Sym[] = []
  for (let r = 0; r < rows; r += rowsPerBlock) {
    const end = Math.min(rows, r + rowsPerBlock)
    parts.push(lmHeadLogProbs(c, p, O.slice(x, 0, r, end), O.slice(ids, 0, r, end)).logProbs)
  }
  return O.reshape(O.concat(parts, 0), [b, t])
}

/** Declares the decoder's data inputs for a batch of B sequences of T new tokens after `past` cached ones. */
export function declareDecoderInputs(g: Graph, c: ModelConfig, b: number, t: number, past = 0): DecoderInputs {
  return {
    ids: g.input('ids', [b, t], 'int64'),
    cos: g.input('cos', [b, 1, t, c.head_dim]),
    sin: g.input('sin', [b, 1, t, c.head_dim]),
    mask: g.input('mask', [b, 1, t, past + t]),
  }
}
