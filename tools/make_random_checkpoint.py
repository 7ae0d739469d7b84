#!/usr/bin/env python3
"""Write a tiny random Qwen2-MoE checkpoint whose shape no type in moe has (3 experts, top-1, one KV head, a gated
shared expert, bf16), with a byte-level tokenizer: the checkpoint the consumer test builds `moe_add_model_executable`
for (tests/consumers/model_executable). Pure Python (no torch, no numpy); deterministic.

Usage (from the repository root):
    python3 tools/make_random_checkpoint.py [--out tests/data/random_qwen2_moe] [--seed 7]

Writes config.json, model.safetensors (BF16, ~115 KB) and tokenizer.json (5 special tokens + the 256 byte-level
symbols, no merges). The weights are random (N(0, 1/fan_in), norms 1): the model talks nonsense, it only has to
load and run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import struct

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
D, LAYERS, HEADS, KV_HEADS, HEAD_DIM = 32, 3, 4, 1, 8
EXPERTS, TOP_K, EXPERT_WIDTH, SHARED_WIDTH = 3, 1, 24, 40
VOCAB = len(SPECIALS) + 256


def bytes_to_unicode() -> list[str]:
    """GPT-2's printable stand-ins for the 256 byte values (the ByteLevel pre-tokenizer's alphabet)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for _, c in sorted(zip(bs, cs))]


def bf16(x: float) -> bytes:
    """float → bfloat16, round to nearest even."""
    bits = struct.unpack("<I", struct.pack("<f", x))[0]
    bits += 0x7FFF + ((bits >> 16) & 1)
    return struct.pack("<H", (bits >> 16) & 0xFFFF)


def tensors(rng: random.Random) -> dict[str, tuple[list[int], list[float]]]:
    out: dict[str, tuple[list[int], list[float]]] = {}

    def linear(name: str, rows: int, cols: int) -> None:
        out[name] = ([rows, cols], [rng.gauss(0.0, cols ** -0.5) for _ in range(rows * cols)])

    def vector(name: str, n: int, value: float | None = None) -> None:
        out[name] = ([n], [value if value is not None else rng.uniform(-0.1, 0.1) for _ in range(n)])

    out["model.embed_tokens.weight"] = ([VOCAB, D], [rng.gauss(0.0, 1.0) for _ in range(VOCAB * D)])
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        for proj, rows in (("q_proj", HEADS * HEAD_DIM), ("k_proj", KV_HEADS * HEAD_DIM), ("v_proj", KV_HEADS * HEAD_DIM)):
            linear(p + f"self_attn.{proj}.weight", rows, D)
            vector(p + f"self_attn.{proj}.bias", rows)
        linear(p + "self_attn.o_proj.weight", D, HEADS * HEAD_DIM)
        vector(p + "input_layernorm.weight", D, 1.0)
        vector(p + "post_attention_layernorm.weight", D, 1.0)
        linear(p + "mlp.gate.weight", EXPERTS, D)
        for e in range(EXPERTS):
            linear(p + f"mlp.experts.{e}.gate_proj.weight", EXPERT_WIDTH, D)
            linear(p + f"mlp.experts.{e}.up_proj.weight", EXPERT_WIDTH, D)
            linear(p + f"mlp.experts.{e}.down_proj.weight", D, EXPERT_WIDTH)
        linear(p + "mlp.shared_expert.gate_proj.weight", SHARED_WIDTH, D)
        linear(p + "mlp.shared_expert.up_proj.weight", SHARED_WIDTH, D)
        linear(p + "mlp.shared_expert.down_proj.weight", D, SHARED_WIDTH)
        linear(p + "mlp.shared_expert_gate.weight", 1, D)
    vector("model.norm.weight", D, 1.0)
    linear("lm_head.weight", VOCAB, D)
    return out


def write_safetensors(path: str, ts: dict[str, tuple[list[int], list[float]]]) -> None:
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    data = bytearray()
    for name in sorted(ts):
        shape, values = ts[name]
        begin = len(data)
        data += b"".join(bf16(v) for v in values)
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [begin, len(data)]}
    text = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + bytes(data))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="tests/data/random_qwen2_moe")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    config = {
        "architectures": ["Qwen2MoeForCausalLM"], "model_type": "qwen2_moe", "dtype": "bfloat16",
        "vocab_size": VOCAB, "hidden_size": D, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS, "intermediate_size": 64, "moe_intermediate_size": EXPERT_WIDTH,
        "num_experts": EXPERTS, "num_experts_per_tok": TOP_K, "shared_expert_intermediate_size": SHARED_WIDTH,
        "norm_topk_prob": False, "decoder_sparse_step": 1, "mlp_only_layers": [], "qkv_bias": True,
        "max_position_embeddings": 128, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "hidden_act": "silu",
        "tie_word_embeddings": False, "use_sliding_window": False, "bos_token_id": None, "eos_token_id": 2,
    }
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")

    vocab = {s: i for i, s in enumerate(SPECIALS)}
    for i, ch in enumerate(bytes_to_unicode()):
        vocab[ch] = len(SPECIALS) + i
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for i, s in enumerate(SPECIALS)],
        "normalizer": None, "pre_tokenizer": byte_level, "post_processor": None, "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": []},
    }
    with open(os.path.join(args.out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer, f, ensure_ascii=False)
        f.write("\n")

    write_safetensors(os.path.join(args.out, "model.safetensors"), tensors(random.Random(args.seed)))


if __name__ == "__main__":
    main()
