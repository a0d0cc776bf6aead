#!/usr/bin/env python3
"""Reference logits for a Llama / Qwen2 checkpoint, computed with PyTorch exactly as Hugging Face
transformers' modeling_llama / modeling_qwen2 compute them (eager attention, float32).

medrl's tests compare their logits with the values this script wrote (committed as fixtures), so the
numbers stay checkable on machines without torch. Run with a python3 that has torch and numpy, e.g.
Debian's:  /usr/bin/python3 tools/torch_reference.py MODEL_DIR 1,2,3,...  > reference_logits.json

With a LoRA adapter in PEFT's layout (adapter_config.json, adapter_model.safetensors):
  tools/torch_reference.py MODEL_DIR 1,2,3 --adapter ADAPTER_DIR   logits with W + lora_alpha / r · B·A
  tools/torch_reference.py MODEL_DIR --write-adapter OUT --rank 4 --alpha 8 --targets q_proj,v_proj --seed 0
    writes an adapter for MODEL_DIR as PEFT saves one (tensor names base_model.model.<module>.lora_A.weight),
    with random A and B (so it changes the logits)

Written for medrl; it reads and writes safetensors itself (no safetensors or peft package needed).
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


def write_safetensors(path, tensors):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        b = tensors[name].contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def write_adapter(model_dir, out, rank, alpha, targets, seed):
    """A LoRA adapter as PEFT's save_pretrained writes one: A and B per targeted linear layer of every decoder layer."""
    import os
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(seed)
    w = read_weights(model_dir)
    tensors = {}
    for name, t in w.items():
        parts = name.split(".")
        if len(parts) > 2 and parts[-1] == "weight" and parts[-2] in targets:
            module = name[: -len(".weight")]
            out_f, in_f = t.shape
            tensors[f"base_model.model.{module}.lora_A.weight"] = torch.randn(rank, in_f) / math.sqrt(in_f)
            tensors[f"base_model.model.{module}.lora_B.weight"] = torch.randn(out_f, rank) * 0.05
    write_safetensors(os.path.join(out, "adapter_model.safetensors"), tensors)
    config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": os.path.abspath(model_dir), "r": rank, "lora_alpha": alpha, "lora_dropout": 0.0, "target_modules": targets, "bias": "none", "fan_in_fan_out": False, "inference_mode": True}
    json.dump(config, open(os.path.join(out, "adapter_config.json"), "w"), indent=2)


def apply_adapter(w, adapter_dir):
    """W + lora_alpha / r · B·A for every adapted module (what PEFT's merge_and_unload computes)."""
    cfg = json.load(open(f"{adapter_dir}/adapter_config.json"))
    scale = cfg["lora_alpha"] / cfg["r"]
    ad = read_safetensors(f"{adapter_dir}/adapter_model.safetensors")
    for name, a in ad.items():
        if not name.endswith(".lora_A.weight"):
            continue
        module = name[len("base_model.model.") : -len(".lora_A.weight")]
        b = ad[name.replace(".lora_A.", ".lora_B.")]
        w[module + ".weight"] = w[module + ".weight"] + scale * (b @ a)
    return w


def main():
    args = sys.argv[1:]
    model_dir = args[0]
    cfg = json.load(open(f"{model_dir}/config.json"))
    if "--write-adapter" in args:
        opt = lambda k: args[args.index(k) + 1]
        write_adapter(model_dir, opt("--write-adapter"), int(opt("--rank")), float(opt("--alpha")), opt("--targets").split(","), int(opt("--seed")))
        return
    ids = [int(s) for s in args[1].split(",")]
    w = read_weights(model_dir)
    if "--adapter" in args:
        w = apply_adapter(w, args[args.index("--adapter") + 1])
    with torch.no_grad():
        logits = forward(cfg, w, ids)
    json.dump({"torch": torch.__version__, "ids": ids, "logits": logits.tolist()}, sys.stdout)


if __name__ == "__main__":
    main()
