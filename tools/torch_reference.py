#!/usr/bin/env python3
"""Reference logits for a Llama / Qwen2 checkpoint, computed with PyTorch exactly as Hugging Face
transformers' modeling_llama / modeling_qwen2 compute them (eager attention, float32).

medrl's tests compare their logits with the values this script wrote (committed as fixtures), so the
numbers stay checkable on machines without torch. Run with a python3 that has torch and numpy, e.g.
Debian's:  /usr/bin/python3 tools/torch_reference.py MODEL_DIR 1,2,3,...  > reference_logits.json

Written for medrl; it reads safetensors itself (no safetensors package needed).
"""
import json
import math
import struct
import sys

import numpy as np
import torch


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = data[b:e]
        dt = info["dtype"]
        if dt == "F32":
            arr = np.frombuffer(raw, dtype="<f4")
        elif dt == "F16":
            arr = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif dt == "BF16":
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(f"{name}: dtype {dt}")
        out[name] = torch.from_numpy(arr.copy().reshape(info["shape"]))
    return out


def read_weights(model_dir):
    import os
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        files = sorted(set(json.load(open(index))["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    w = {}
    for f in files:
        w.update(read_safetensors(os.path.join(model_dir, f)))
    return w


def inv_freq(cfg, head_dim):
    base = cfg.get("rope_theta", 10000.0)
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    rs = cfg.get("rope_scaling") or {}
    kind = rs.get("rope_type", rs.get("type", "default"))
    if kind == "linear":
        inv = inv / rs["factor"]
    elif kind == "llama3":
        factor = rs["factor"]
        low, high = rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        low_wavelen, high_wavelen = old / low, old / high
        wavelen = 2 * math.pi / inv
        inv_llama = torch.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * inv_llama / factor + smooth * inv_llama
        is_medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
        inv = torch.where(is_medium, smoothed, inv_llama)
    return inv


def rms_norm(x, w, eps):
    h = x.to(torch.float32)
    var = h.pow(2).mean(-1, keepdim=True)
    h = h * torch.rsqrt(var + eps)
    return w * h


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def forward(cfg, w, ids):
    arch = cfg["architectures"][0]
    hidden = cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads", heads)
    hd = cfg.get("head_dim") or hidden // heads
    eps = cfg.get("rms_norm_eps", 1e-6)
    bias = arch == "Qwen2ForCausalLM" or cfg.get("attention_bias", False)
    t = len(ids)
    x = w["model.embed_tokens.weight"][torch.tensor(ids)][None]
    pos = torch.arange(t)[None]
    inv = inv_freq(cfg, hd)
    freqs = (inv[None, :, None].float() @ pos[:, None, :].float()).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[:, None], emb.sin()[:, None]
    mask = torch.full((t, t), torch.finfo(torch.float32).min).triu(1)[None, None]

    def lin(v, name, b=False):
        y = v @ w[name + ".weight"].T
        return y + w[name + ".bias"] if b else y

    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}"
        h = rms_norm(x, w[p + ".input_layernorm.weight"], eps)
        q = lin(h, p + ".self_attn.q_proj", bias).view(1, t, heads, hd).transpose(1, 2)
        k = lin(h, p + ".self_attn.k_proj", bias).view(1, t, kv, hd).transpose(1, 2)
        v = lin(h, p + ".self_attn.v_proj", bias).view(1, t, kv, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = heads // kv
        k = k[:, :, None].expand(1, kv, rep, t, hd).reshape(1, heads, t, hd)
        v = v[:, :, None].expand(1, kv, rep, t, hd).reshape(1, heads, t, hd)
        a = torch.matmul(q, k.transpose(2, 3)) * hd ** -0.5 + mask
        a = torch.softmax(a, dim=-1, dtype=torch.float32)
        o = torch.matmul(a, v).transpose(1, 2).reshape(1, t, heads * hd)
        x = x + lin(o, p + ".self_attn.o_proj")
        h = rms_norm(x, w[p + ".post_attention_layernorm.weight"], eps)
        g = lin(h, p + ".mlp.gate_proj")
        x = x + lin(torch.nn.functional.silu(g) * lin(h, p + ".mlp.up_proj"), p + ".mlp.down_proj")
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else w["lm_head.weight"]
    return (x @ head.T)[0]


def main():
    model_dir, ids = sys.argv[1], [int(s) for s in sys.argv[2].split(",")]
    cfg = json.load(open(f"{model_dir}/config.json"))
    with torch.no_grad():
        logits = forward(cfg, read_weights(model_dir), ids)
    json.dump({"torch": torch.__version__, "ids": ids, "logits": logits.tolist()}, sys.stdout)


if __name__ == "__main__":
    main()
