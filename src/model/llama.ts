import type { Graph, Sym } from '../engine/graph.js'
import * as O from '../engine/ops/index.js'
import { parameterShapes, type ModelConfig } from './config.js'

/** The weights of a decoder as graph parameters, by Hugging Face name. */
export type ParamSyms = Record<string, Sym>

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

/** One Llama/Qwen2 decoder layer: pre-norm attention and SwiGLU MLP, each with a residual. */
export function decoderLayer(c: ModelConfig, p: ParamSyms, i: number, x: Sym, cos: Sym, sin: Sym, mask: Sym): Sym {
  const [b, t] = x.shape as [number, number, number]
  const pre = `model.layers.${i}`
  const w = (n: string) => {
    const s = p[`${pre}.${n}`]
    if (!s) throw new Error(`missing weight ${pre}.${n}`)
    return s
  }
  const bias = (n: string) => (c.attention_bias ? w(n) : undefined)
  const h = O.rmsNorm(x, w('input_layernorm.weight'), c.rms_norm_eps)
  const q = heads(O.linear(h, w('self_attn.q_proj.weight'), bias('self_attn.q_proj.bias')), b, t, c.num_attention_heads, c.head_dim)
  const k = heads(O.linear(h, w('self_attn.k_proj.weight'), bias('self_attn.k_proj.bias')), b, t, c.num_key_value_heads, c.head_dim)
  const v = heads(O.linear(h, w('self_attn.v_proj.weight'), bias('self_attn.v_proj.bias')), b, t, c.num_key_value_heads, c.head_dim)
  const a = O.attention(O.rope(q, cos, sin), O.rope(k, cos, sin), v, mask)
  const merged = O.reshape(O.transpose(a, [0, 2, 1, 3]), [b, t, c.num_attention_heads * c.head_dim])
  const x1 = O.add(x, O.linear(merged, w('self_attn.o_proj.weight')))
  const h2 = O.rmsNorm(x1, w('post_attention_layernorm.weight'), c.rms_norm_eps)
  const mlp = O.linear(O.mul(O.silu(O.linear(h2, w('mlp.gate_proj.weight'))), O.linear(h2, w('mlp.up_proj.weight'))), w('mlp.down_proj.weight'))
  return O.add(x1, mlp)
}

/** The final hidden states [B, T, hidden] of the decoder. */
export function decoderHidden(c: ModelConfig, p: ParamSyms, inp: DecoderInputs): Sym {
  let x = O.embedding(p['model.embed_tokens.weight']!, inp.ids)
  for (let i = 0; i < c.num_hidden_layers; i++) x = decoderLayer(c, p, i, x, inp.cos, inp.sin, inp.mask)
  return O.rmsNorm(x, p['model.norm.weight']!, c.rms_norm_eps)
}

/** Logits [..., vocab] from hidden states, through lm_head (or the tied embedding). */
export function lmHead(c: ModelConfig, p: ParamSyms, hidden: Sym): Sym {
  return O.linear(hidden, c.tie_word_embeddings ? p['model.embed_tokens.weight']! : p['lm_head.weight']!)
}

/** Declares the decoder's data inputs for a batch of B sequences of T tokens. */
export function declareDecoderInputs(g: Graph, c: ModelConfig, b: number, t: number): DecoderInputs {
  return {
    ids: g.input('ids', [b, t], 'int64'),
    cos: g.input('cos', [b, 1, t, c.head_dim]),
    sin: g.input('sin', [b, 1, t, c.head_dim]),
    mask: g.input('mask', [b, 1, t, t]),
  }
}
