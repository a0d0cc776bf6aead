#!/usr/bin/env python3
"""The bench's PyTorch peer: the same Llama/Qwen2 decoder as medrl's engine, written the way a PyTorch user
writes it on the CPU (eager attention, F.cross_entropy, torch.optim.AdamW, a KV-cache decode loop), timed on
the same batch shapes. Run by bench/peer.ts with Debian's /usr/bin/python3 (python3-torch); prints one JSON
object.

    peer.py train  CONFIG_JSON B T STEPS [RANK]   with RANK: LoRA of that rank (alpha 2·RANK) on every linear layer
    peer.py forward CONFIG_JSON B T STEPS
    peer.py decode CONFIG_JSON B PROMPT NEW

Weights are random (N(0, 0.02), as transformers initialises them); ids are the bench's fixed pattern.
"""
import json
import resource
import sys
import time

import torch
import torch.nn.functional as F


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Decoder(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        h, inter = c["hidden_size"], c["intermediate_size"]
        self.nh, self.nkv = c["num_attention_heads"], c["num_key_value_heads"]
        self.hd = c.get("head_dim") or h // self.nh
        bias = c["architectures"][0] == "Qwen2ForCausalLM" or bool(c.get("attention_bias"))
        self.eps = c.get("rms_norm_eps", 1e-6)
        self.embed = torch.nn.Embedding(c["vocab_size"], h)
        self.layers = torch.nn.ModuleList()
        for _ in range(c["num_hidden_layers"]):
            layer = torch.nn.Module()
            layer.ln1 = torch.nn.Parameter(torch.ones(h))
            layer.ln2 = torch.nn.Parameter(torch.ones(h))
            layer.q = torch.nn.Linear(h, self.nh * self.hd, bias=bias)
            layer.k = torch.nn.Linear(h, self.nkv * self.hd, bias=bias)
            layer.v = torch.nn.Linear(h, self.nkv * self.hd, bias=bias)
            layer.o = torch.nn.Linear(self.nh * self.hd, h, bias=False)
            layer.gate = torch.nn.Linear(h, inter, bias=False)
            layer.up = torch.nn.Linear(h, inter, bias=False)
            layer.down = torch.nn.Linear(inter, h, bias=False)
            self.layers.append(layer)
        self.norm = torch.nn.Parameter(torch.ones(h))
        self.tied = c.get("tie_word_embeddings", False)
        if not self.tied:
            self.lm_head = torch.nn.Linear(h, c["vocab_size"], bias=False)
        g = torch.Generator().manual_seed(0)
        for name, p in self.named_parameters():
            with torch.no_grad():
                if p.dim() == 2:
                    p.normal_(0.0, 0.02, generator=g)
                elif name.endswith("bias"):
                    p.zero_()
        base = c.get("rope_theta", 10000.0)
        self.inv_freq = 1.0 / (base ** (torch.arange(0, self.hd, 2).float() / self.hd))

    def rms(self, x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def rope(self, pos):
        f = pos[..., None].float() * self.inv_freq
        emb = torch.cat((f, f), dim=-1)
        return emb.cos()[:, None], emb.sin()[:, None]

    @staticmethod
    def rot(x, cos, sin):
        x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
        return x * cos + torch.cat((-x2, x1), dim=-1) * sin

    def forward(self, ids, past=None):
        """ids [B, T] after `past` cached positions; returns hidden [B, T, H] and the new cache."""
        b, t = ids.shape
        p0 = 0 if past is None else past[0][0].shape[2]
        pos = torch.arange(p0, p0 + t)[None].expand(b, t)
        cos, sin = self.rope(pos)
        mask = torch.full((t, p0 + t), float("-inf")).triu(p0 + 1)
        x = self.embed(ids)
        cache = []
        rep = self.nh // self.nkv
        for i, L in enumerate(self.layers):
            h = self.rms(x, L.ln1)
            q = self.rot(L.q(h).view(b, t, self.nh, self.hd).transpose(1, 2), cos, sin)
            k = self.rot(L.k(h).view(b, t, self.nkv, self.hd).transpose(1, 2), cos, sin)
            v = L.v(h).view(b, t, self.nkv, self.hd).transpose(1, 2)
            if past is not None:
                k = torch.cat((past[i][0], k), dim=2)
                v = torch.cat((past[i][1], v), dim=2)
            cache.append((k, v))
            s = k.shape[2]
            kk = k[:, :, None].expand(b, self.nkv, rep, s, self.hd).reshape(b, self.nh, s, self.hd)
            vv = v[:, :, None].expand(b, self.nkv, rep, s, self.hd).reshape(b, self.nh, s, self.hd)
            a = torch.softmax(q @ kk.transpose(2, 3) * self.hd ** -0.5 + mask, dim=-1)
            x = x + L.o((a @ vv).transpose(1, 2).reshape(b, t, self.nh * self.hd))
            h = self.rms(x, L.ln2)
            x = x + L.down(F.silu(L.gate(h)) * L.up(h))
        return self.rms(x, self.norm), cache

    def logits(self, hidden):
        return hidden @ (self.embed.weight if self.tied else self.lm_head.weight).T


class LoraLinear(torch.nn.Module):
    """A frozen linear layer plus PEFT's low-rank update: y = x·Wᵀ (+ b) + (alpha/r)·(x·Aᵀ)·Bᵀ, A as PEFT draws
    it (Kaiming-uniform with a = √5), B zero."""

    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        base.requires_grad_(False)
        self.a = torch.nn.Parameter(torch.empty(r, base.in_features))
        self.b = torch.nn.Parameter(torch.zeros(base.out_features, r))
        torch.nn.init.kaiming_uniform_(self.a, a=5 ** 0.5)
        self.scale = alpha / r

    def forward(self, x):
        return self.base(x) + (x @ self.a.T) @ self.b.T * self.scale


def add_lora(m, r):
    """Freezes the model and puts adapters on q/k/v/o/gate/up/down (PEFT's all-linear), alpha 2r as bench/section.ts's benchLora."""
    m.requires_grad_(False)
    for L in m.layers:
        for name in ("q", "k", "v", "o", "gate", "up", "down"):
            setattr(L, name, LoraLinear(getattr(L, name), r, 2 * r))
    return m


def bench_ids(b, t, vocab, seed=0):
    rows = [[(i * 7919 + j * 104729 + seed) % vocab for j in range(t + 1)] for i in range(b)]
    x = torch.tensor(rows)
    return x[:, :-1], x[:, 1:]


def train(m, b, t, steps, rank=0):
    if rank:
        add_lora(m, rank)
    ids, targets = bench_ids(b, t, m.c["vocab_size"])
    params = [p for p in m.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    fb = up = 0.0
    for s in range(steps + 2):
        t0 = time.perf_counter()
        hidden, _ = m(ids)
        loss = F.cross_entropy(m.logits(hidden).view(b * t, -1), targets.reshape(-1))
        loss.backward()
        t1 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        t2 = time.perf_counter()
        if s >= 2:  # the first two steps warm up (allocator, optimizer state)
            fb += t1 - t0
            up += t2 - t1
    sec = (fb + up) / steps
    out = {"seconds": sec, "forward_backward_seconds": fb / steps, "optimizer_seconds": up / steps, "tokens_per_s": b * t / sec, "peak_rss_mb": peak_rss_mb()}
    if rank:
        out.update({"lora_rank": rank, "trainable_params": sum(p.numel() for p in params)})
    return out


@torch.no_grad()
def forward(m, b, t, steps):
    ids, targets = bench_ids(b, t, m.c["vocab_size"])
    total = 0.0
    for s in range(steps + 2):
        t0 = time.perf_counter()
        hidden, _ = m(ids)
        torch.log_softmax(m.logits(hidden), dim=-1).gather(-1, targets[..., None])
        if s >= 2:
            total += time.perf_counter() - t0
    sec = total / steps
    return {"seconds": sec, "tokens_per_s": b * t / sec, "peak_rss_mb": peak_rss_mb()}


@torch.no_grad()
def decode(m, b, prompt, new):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, m.c["vocab_size"], (b, prompt), generator=g)

    def run(n):
        hidden, cache = m(ids)
        tok = torch.multinomial(torch.softmax(m.logits(hidden[:, -1]), -1), 1, generator=g)
        t0 = time.perf_counter()
        for _ in range(n - 1):
            hidden, cache = m(tok, cache)
            tok = torch.multinomial(torch.softmax(m.logits(hidden[:, -1]), -1), 1, generator=g)
        return time.perf_counter() - t0

    run(4)
    sec = run(new)
    return {"seconds": sec, "tokens_per_s": b * (new - 1) / sec, "peak_rss_mb": peak_rss_mb()}


def main():
    mode, cfg = sys.argv[1], json.loads(sys.argv[2])
    args = [int(a) for a in sys.argv[3:]]
    threads = int(cfg.pop("threads", 0))
    if threads > 0:
        torch.set_num_threads(threads)
    m = Decoder(cfg)
    if mode != "train":
        m.requires_grad_(False)
    out = {"train": train, "forward": forward, "decode": decode}[mode](m, *args)
    out.update({"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas()})
    json.dump(out, sys.stdout)


def blas():
    """Debian's torch calls the system BLAS (BLAS_INFO=generic): libblas.so.3, which the alternatives point at."""
    import os
    return os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")


if __name__ == "__main__":
    main()
