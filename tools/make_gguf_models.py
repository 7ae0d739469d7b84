#!/usr/bin/env python3
"""Convert the tiny test checkpoints to GGUF with llama.cpp's own converter, and record llama.cpp's logits on them.

Usage (from the repository root; needs torch + transformers for the converter and llama-cpp-python for the logits):
    python3 tools/make_gguf_models.py --convert       # writes tests/data/gguf_models/*.gguf
    python3 tools/make_gguf_models.py --logits  # writes tests/data/gguf_models/*.logits.safetensors (CACHE_CASES: also the q8_0 and f16 cache logits)
    (--llama-cpp DIR: llama.cpp's source tree, default $LLAMA_CPP_DIR; --out DIR: default tests/data/gguf_models)

For each case below, the HF checkpoint in tests/data/models/<case> (made by tools/make_model_reference.py) is copied
to a temporary folder and converted by llama.cpp's convert_hf_to_gguf.py, unchanged except for the vocabulary: the
tiny models have 160 tokens and no tokenizer files, so set_vocab is replaced by one that writes a 160-token
byte-level BPE vocabulary (tokenizer.ggml.model "gpt2", pre "qwen2", token 0 "<|endoftext|>" a control token, then
single byte characters, one merge "Ġ !" making the last token) — enough for llama.cpp to open the file; the tokenizer is not under test here.
Every tensor, name, layout (Q/K permutation, merged experts) and metadata key is the converter's own.

Then llama.cpp (llama-cpp-python, f32 KV cache, no flash attention, one thread) runs the three token sequences of
the case's reference.safetensors: `tokens_i` (I32) and `logits_i` (F32 (len, vocab), all positions of one prefill),
and `logits_step_1` (sequence 1 one token per eval). Written with sorted header keys (byte-reproducible).

Cases: f32 files for qwen3_moe, qwen2_moe, olmoe (every matrix F32 — the f32-vs-llama.cpp and f32-vs-safetensors
tests); q8_0 files for mixtral and deepseek_v2, whose every matrix row is a multiple of 32 wide, so the converter
writes every matrix Q8_0 (no F16 fallback) and llama.cpp runs Q8_0 x Q8_0 products everywhere, as the library's q8_0
format does (deepseek_v2's split k_b, 16 wide, falls back to F16: the converter's rule). deepseek_v3 is f32: in
q8_0 its routing margins (5e-3) are below the quantization noise and llama.cpp picks other experts than
transformers (max logit difference 1.1 measured), so only f32 compares tightly. Total 3.4 MB.
mixtral_hd32_f32 and deepseek_v2_kv32_f32 (head widths of one q8_0 block: head_dim 32; latent 32 + rope key 32) also
get llama.cpp's logits with its q8_0 and f16 KV caches, flash attention on (CACHE_CASES):
<case>.q8_0_cache.logits.safetensors and <case>.f16_cache.logits.safetensors — the references of the library's KV
cache formats (tests/models/test_kv_cache_formats_vs_llama_cpp.cpp). Measured step vs prefill in llama.cpp:
7e-7 (q8_0 cache), 7.6e-4 (f16 cache, whose V sum is fp16).
deepseek_v2 gets one extra key (see tiny_vocab); deepseek_v3 two config.json keys (see convert_one).

Measured (llama.cpp f32 vs transformers, each tests/data/models case's reference.safetensors): max |difference| 1.3e-6 to
2.9e-6 for every f32 case (max |logit| 3.1-4.2); llama.cpp's own one-token-per-eval logits vs its prefill: up to
2.1e-6 (f32), 0 (q8_0). q8_0 vs transformers: 0.064 (mixtral), 0.12 (deepseek_v2).
"""

from __future__ import annotations

import argparse
import os
import json
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "tests" / "data" / "models"

# case -> (source checkpoint, converter outtype)
CASES = {
    "qwen3_moe_f32": ("qwen3_moe", "f32"),
    "qwen2_moe_f32": ("qwen2_moe", "f32"),
    "olmoe_f32": ("olmoe", "f32"),
    "mixtral_q8_0": ("mixtral", "q8_0"),
    "deepseek_v2_q8_0": ("deepseek_v2", "q8_0"),
    "deepseek_v3_f32": ("deepseek_v3", "f32"),
    "mixtral_hd32_f32": ("mixtral_hd32", "f32"),
    "deepseek_v2_kv32_f32": ("deepseek_v2_kv32", "f32"),
}

# Cases whose logits are also recorded with llama.cpp's quantized and half KV caches (flash attention on, which a
# quantized V cache needs): <case>.<cache>_cache.logits.safetensors. Their head widths are whole q8_0 blocks.
CACHE_CASES = ("mixtral_hd32_f32", "deepseek_v2_kv32_f32")
CACHE_TYPES = {"q8_0": 8, "f16": 1}  # ggml_type values of llama.cpp's -ctk/-ctv

VOCAB = 160


def byte_chars():
    """GPT-2's bytes_to_unicode: the printable stand-in of each byte, in byte order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = dict(zip(bs, cs))
    return [chr(table[b]) for b in range(256)]


def tiny_vocab(self):
    """Replaces the converter's set_vocab: 160 tokens, see the module comment."""
    import gguf
    chars = byte_chars()
    tokens = ["<|endoftext|>"] + [chars[b] for b in range(32, 32 + VOCAB - 2)] + [chars[32] + chars[33]]
    types = [gguf.TokenType.CONTROL] + [gguf.TokenType.NORMAL] * (VOCAB - 1)
    self.gguf_writer.add_tokenizer_model("gpt2")
    self.gguf_writer.add_tokenizer_pre("qwen2")
    self.gguf_writer.add_token_list(tokens)
    self.gguf_writer.add_token_types(types)
    self.gguf_writer.add_token_merges([chars[32] + " " + chars[33]])  # llama.cpp requires a merges list
    self.gguf_writer.add_bos_token_id(0)
    self.gguf_writer.add_eos_token_id(0)
    self.gguf_writer.add_add_bos_token(False)
    # llama.cpp (both the tree the converter comes from and llama-cpp-python's) reads deepseek2's q_lora_rank
    # unless the model has 26/27 layers (its "lite" heuristic); the converter omits it when q_lora_rank is null.
    # Written here as 0 so that llama.cpp can run the 3-layer V2 case; the library reads an absent key as 0.
    if self.model_arch == gguf.MODEL_ARCH.DEEPSEEK2 and self.hparams.get("q_lora_rank") is None:
        self.gguf_writer.add_q_lora_rank(0)


def convert_one(llama_cpp: Path, case: str, out: Path):
    source, outtype = CASES[case]
    sys.path.insert(0, str(llama_cpp))
    sys.path.insert(1, str(llama_cpp / "gguf-py"))
    import convert_hf_to_gguf  # noqa: F401  (registers the model classes)
    from conversion import ModelBase, get_model_class
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / source
        shutil.copytree(MODELS / source, d, ignore=shutil.ignore_patterns("reference.safetensors"))
        config = json.loads((d / "config.json").read_text())
        arch = config["architectures"][0]
        if arch == "DeepseekV3ForCausalLM":
            # transformers 5 does not write the two keys the released DeepSeek-V3 config.json has (its class
            # implies them); the converter reads scoring_func to write expert_gating_func (absent = softmax).
            config.update(scoring_func="sigmoid", topk_method="noaux_tc")
            (d / "config.json").write_text(json.dumps(config, indent=2))
        cls = get_model_class(arch)
        cls.set_vocab = tiny_vocab
        sys.argv = ["convert_hf_to_gguf.py", str(d), "--outtype", outtype, "--outfile", str(out / f"{case}.gguf")]
        convert_hf_to_gguf.main()
    del ModelBase


def read_safetensors(path: Path):
    import numpy as np
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = {"I32": np.int32, "F32": np.float32, "I64": np.int64}[info["dtype"]]
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype=dt).reshape(info["shape"])
    return out


def write_safetensors(tensors, path: Path, metadata):
    """Sorted header keys, tensors in name order: byte-reproducible."""
    import numpy as np
    header = {"__metadata__": dict(sorted(metadata.items()))}
    blobs, offset = [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        dt = {np.dtype(np.int32): "I32", np.dtype(np.float32): "F32"}[a.dtype]
        blob = a.tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def logits_one(case: str, out: Path, cache: str | None = None):
    import numpy as np
    import llama_cpp
    from llama_cpp import Llama
    source, _ = CASES[case]
    ref = read_safetensors(MODELS / source / "reference.safetensors")
    cache_type = CACHE_TYPES[cache] if cache else 0
    llm = Llama(model_path=str(out / f"{case}.gguf"), n_ctx=64, n_batch=64, n_ubatch=64, logits_all=True,
                n_threads=1, n_threads_batch=1, type_k=cache_type, type_v=cache_type, flash_attn=cache is not None,
                verbose=False, seed=1)
    tensors = {}
    for s in range(3):
        tokens = [int(t) for t in ref[f"tokens_{s}"]]
        llm.reset()
        llm.eval(tokens)
        tensors[f"tokens_{s}"] = np.array(tokens, dtype=np.int32)
        tensors[f"logits_{s}"] = np.array(llm.scores[:len(tokens)], dtype=np.float32)
    tokens = [int(t) for t in ref["tokens_1"]]
    llm.reset()
    steps = []
    for t in tokens:
        llm.eval([t])
        steps.append(np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32))
    tensors["logits_step_1"] = np.stack(steps)
    settings = (f"n_ctx 64, type_k/type_v {cache}, flash_attn on, 1 thread" if cache
                else "n_ctx 64, type_k/type_v f32, flash_attn off, 1 thread")
    meta = {"case": case, "source": f"tests/data/models/{source}", "llama_cpp_python": llama_cpp.__version__,
            "settings": settings,
            "max_abs_step_minus_prefill": repr(float(np.abs(tensors["logits_step_1"] - tensors["logits_1"]).max()))}
    name = f"{case}.{cache}_cache.logits.safetensors" if cache else f"{case}.logits.safetensors"
    write_safetensors(tensors, out / name, meta)
    print(f"{case}: max |logit| {np.abs(tensors['logits_1']).max():.4f}, step vs prefill {meta['max_abs_step_minus_prefill']}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--convert", action="store_true")
    p.add_argument("--logits", action="store_true")
    p.add_argument("--only", nargs="*", default=list(CASES))
    p.add_argument("--llama-cpp", type=Path, default=Path(os.environ.get("LLAMA_CPP_DIR", "llama.cpp")))
    p.add_argument("--out", type=Path, default=ROOT / "tests" / "data" / "gguf_models")
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    for case in a.only:
        if a.convert:
            # One converter run per process: the converter keeps module-level state between models.
            subprocess.run([sys.executable, "-c",
                            f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                            f"import make_gguf_models as m; from pathlib import Path; "
                            f"m.convert_one(Path({str(a.llama_cpp)!r}), {case!r}, Path({str(a.out)!r}))"],
                           check=True)
        if a.logits:
            logits_one(case, a.out)
            if case in CACHE_CASES:
                for cache in CACHE_TYPES:
                    logits_one(case, a.out, cache)


if __name__ == "__main__":
    main()
