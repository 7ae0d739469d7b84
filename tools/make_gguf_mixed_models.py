#!/usr/bin/env python3
"""A tiny 8-expert Qwen3-MoE as llama.cpp's own Q4_K_M GGUF file (block types chosen per tensor), with llama.cpp's
logits on it: the data of tests/models/test_gguf_mixed_model.cpp (weight_format::gguf_mixed).

Usage (from the repository root; runs under a Python with torch, transformers and gguf-py and calls llama-cpp-python's
interpreter for the quantizer and the logits):
    python3 tools/make_gguf_mixed_models.py [--variant qwen3_moe_q4_k_m|qwen3_moe_f160_q4_k_m]
    (--llama-python PY: the Python with llama-cpp-python, default $LLAMA_PYTHON or this one; --llama-cpp DIR: default $LLAMA_CPP_DIR;
    --out DIR: default tests/data/gguf_mixed_models)

The model, the converter, the stand-in vocabulary, the routing-margin seed search and llama.cpp's logits are
tools/make_gguf_kquant_models.py's, with 8 experts instead of 4: llama.cpp's quantizer (llama_tensor_get_type, with
pure = False) gives an 8-expert model's attn_k / attn_v Q8_0 and attn_output Q5_K, so one small file holds four
block types (Q4_K, Q5_K, Q6_K, Q8_0) besides the F32 norms and router. One layer keeps it at ~1 MB. The tensor
types are printed and stored in the logits file's metadata ("tensor_types").

Variant qwen3_moe_f160_q4_k_m: 2 layers whose 8 experts are 160 wide (not a multiple of 256, as Qwen1.5-MoE's and
DeepSeek-V2-Lite's 1408): llama.cpp's Q4_K_M rules give ffn_down_exps Q4_K in layer 0 and Q6_K in layer 1
(use_more_bits), which its tensor_type_fallback turns into Q5_0 and Q8_0 — the Q5_0 of real Q4_K_M files. With 8
experts in 2 layers the routing margins are smaller: router logits of std 5 and a margin of at least 0.02 (still
10^4 times the engines' fp32 differences in those logits, which both compute from the same quantized activations).
"""

from __future__ import annotations

import argparse
import os
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))

# Per variant, applied to make_gguf_kquant_models in this process and in every subprocess.
VARIANTS = {
    "qwen3_moe_q4_k_m": ("m.E = 8; m.LAYERS = 1; m.FIRST_SEED = 5001; "
                         "m.CASES = {'qwen3_moe_q4_k_m': (15, False)}; m.PURE = ['qwen3_moe_q4_k_m']"),
    "qwen3_moe_f160_q4_k_m": ("m.E = 8; m.LAYERS = 2; m.F = 160; m.FIRST_SEED = 6001; m.ROUTER_STD = 5.0; m.MIN_GAP = 0.02; "
                              "m.EXTRA_BUFFER_TYPES = False; "
                              "m.CASES = {'qwen3_moe_f160_q4_k_m': (15, False)}; m.PURE = ['qwen3_moe_f160_q4_k_m']"),
}
OVERRIDES = VARIANTS["qwen3_moe_q4_k_m"]


def run_under(python: str, call: str):
    subprocess.run([python, "-c", f"import sys; sys.path.insert(0, {str(TOOLS)!r}); "
                    f"import make_gguf_kquant_models as m; {OVERRIDES}; from pathlib import Path; {call}"], check=True)


def tensor_types(path: Path) -> dict:
    from gguf import GGUFReader
    return {t.name: t.tensor_type.name for t in GGUFReader(str(path)).tensors}


def add_types_to_metadata(logits: Path, types: dict):
    """Rewrites the logits file's metadata with the GGUF's tensor types (safetensors header JSON)."""
    import struct
    raw = logits.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header.setdefault("__metadata__", {})["tensor_types"] = json.dumps(types, sort_keys=True)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    logits.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n:])


def main():
    global OVERRIDES
    import make_gguf_kquant_models as m
    p = argparse.ArgumentParser()
    p.add_argument("--variant", choices=sorted(VARIANTS), default="qwen3_moe_q4_k_m")
    p.add_argument("--llama-python", default=os.environ.get("LLAMA_PYTHON", sys.executable))
    p.add_argument("--llama-cpp", type=Path, default=Path(os.environ.get("LLAMA_CPP_DIR", "llama.cpp")))
    p.add_argument("--out", type=Path, default=ROOT / "tests" / "data" / "gguf_mixed_models")
    a = p.parse_args()
    OVERRIDES = VARIANTS[a.variant]
    exec(OVERRIDES, {"m": m})
    a.out.mkdir(parents=True, exist_ok=True)
    seqs = m.tokens()
    case = m.PURE[0]
    for seed in range(m.FIRST_SEED, m.FIRST_SEED + 50):
        with tempfile.TemporaryDirectory() as tmp:
            hf, f32 = Path(tmp) / "qwen3_moe", Path(tmp) / "qwen3_moe_f32.gguf"
            model = m.build(seed)
            model.save_pretrained(hf, safe_serialization=True)
            run_under(sys.executable, f"m.convert(Path({str(a.llama_cpp)!r}), Path({str(hf)!r}), Path({str(f32)!r}))")
            run_under(a.llama_python, f"m.quantize(Path({str(f32)!r}), Path({str(a.out)!r}))")
            gaps = {"f32": m.min_gap(model, seqs)[0]}
            model.load_state_dict(m.hf_state_from_gguf(a.out / f"{case}.gguf"), strict=False)
            gaps[case] = m.min_gap(model, seqs)[0]
            if min(gaps.values()) > m.MIN_GAP:
                break
            print(f"seed {seed} rejected: routing gaps {gaps}")
    else:
        raise RuntimeError("no seed with routing gaps above MIN_GAP")
    run_under(a.llama_python, f"m.llama_logits(Path({str(a.out)!r}), {seed}, {json.dumps(json.dumps(gaps))})")
    types = tensor_types(a.out / f"{case}.gguf")
    add_types_to_metadata(a.out / f"{case}.logits.safetensors", types)
    for name, t in sorted(types.items()):
        print(f"  {name}: {t}")


if __name__ == "__main__":
    main()
