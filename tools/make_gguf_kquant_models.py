#!/usr/bin/env python3
"""A tiny Qwen3-MoE as llama.cpp's own K-quant (and Q4_0) GGUF files, with llama.cpp's logits on each.

Usage (from the repository root; the driver runs under a Python with torch, transformers and gguf-py and calls
llama-cpp-python's interpreter for the quantizer and the logits):
    python3 tools/make_gguf_kquant_models.py
    (--only CASE,...: write only these files, e.g. --only qwen3_moe_q5_0 --first-seed 3027 to add one file made
    from the same weights as the others; --llama-python PY: the Python with llama-cpp-python, default $LLAMA_PYTHON or this one; --llama-cpp DIR: llama.cpp's source tree for its
    converter, default $LLAMA_CPP_DIR; --out DIR: default tests/data/gguf_kquant_models)

1. A random Qwen3MoeForCausalLM (transformers, float32) whose every matrix has an inner width that is a multiple of
   256 (the K-quant super-block): vocab 512, hidden 256, 1 layer, 4 heads / 2 KV heads of 64, 4 experts of width
   256, top-2 renormalised, tied embeddings. One layer and four experts keep the files at 0.6-0.9 MB each.
   Weights drawn as tools/make_model_reference.py does (unit-variance outputs, router logits of std ~2.5).
2. llama.cpp's convert_hf_to_gguf.py writes an f32 GGUF (not committed), with a 512-token stand-in byte-level BPE
   vocabulary: token 0 "<|endoftext|>" (control), the 256 byte characters, then 255 two-letter merges.
3. llama.cpp's quantizer (llama_model_quantize, `pure`: every quantizable tensor gets the file type's one type,
   token_embd included) writes qwen3_moe_{q4_0,q5_0,q4_k,q5_k,q6_k}.gguf. Norms (1-D) and the router (ffn_gate_inp:
   llama.cpp never quantizes it) stay F32. qwen3_moe_q4_k_m.gguf is llama.cpp's default Q4_K_M mixture (not
   pure: attn_v, ffn_down_exps and token_embd... get Q6_K), for the mixed-type refusal test.
4. Routing margins: every file is dequantized (gguf-py) into the transformers model and the gap between the 2nd
   and 3rd router logit is measured for every token of every run; a seed whose smallest gap is below MIN_GAP is
   rejected. The gap is measured with fp32 activations; llama.cpp quantizes activations to Q8_K at each product
   (measured effect on the final logits printed below), so MIN_GAP is far above both that and the difference
   between the library's kernels and llama.cpp's (fp32 summation order).
5. llama.cpp (f32 KV cache, no flash attention, 1 thread) runs three token sequences (lengths 7, 12, 3) in one
   prefill each and sequence 1 one token per eval: <case>.logits.safetensors holds tokens_i (I32), logits_i
   (F32 (len, vocab)), logits_step_1, and in its metadata the seed and the routing margin.
"""

from __future__ import annotations

import argparse
import os
import json
import math
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

V, D, LAYERS, HEADS, KV_HEADS, HEAD_DIM, F, E, K = 512, 256, 1, 4, 2, 64, 256, 4, 2
LENGTHS = (7, 12, 3)
FIRST_SEED = 3001
TOKEN_SEED = 20240611
MIN_GAP = 0.1  # router-logit units
ROUTER_STD = 2.5  # of the router logits
# llama.cpp's "extra" CPU buffer types (repacked / AMX weights). False: its plain ggml-cpu kernels. The AMX type
# crashes (SIGILL or SIGSEGV in ggml_backend_amx_mul_mat) on a 2-token batch of the f160 mixed file on an AVX2-only
# Zen 1 with llama-cpp-python 0.3.36, so that variant turns them off.
EXTRA_BUFFER_TYPES = True

# case -> (llama_ftype, pure)
CASES = {"qwen3_moe_q4_0": (2, True), "qwen3_moe_q5_0": (8, True), "qwen3_moe_q4_k": (14, True),
         "qwen3_moe_q5_k": (16, True), "qwen3_moe_q6_k": (18, True), "qwen3_moe_q4_k_m": (15, False)}
if os.environ.get("MOE_KQUANT_CASES"):  # --only, passed on to the subprocesses
    CASES = {c: CASES[c] for c in os.environ["MOE_KQUANT_CASES"].split(",")}
PURE = [c for c, (_, pure) in CASES.items() if pure]


# ---- stage 1 (torch): the model, the converter ----

def build(seed: int):
    import torch
    from transformers import Qwen3MoeConfig, Qwen3MoeForCausalLM
    cfg = Qwen3MoeConfig(vocab_size=V, hidden_size=D, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                         num_key_value_heads=KV_HEADS, head_dim=HEAD_DIM, intermediate_size=F,
                         moe_intermediate_size=F, num_experts=E, num_experts_per_tok=K, norm_topk_prob=True,
                         decoder_sparse_step=1, mlp_only_layers=[], tie_word_embeddings=True,
                         max_position_embeddings=64, use_sliding_window=False, hidden_act="silu",
                         rms_norm_eps=1e-6, bos_token_id=0, eos_token_id=0, experts_implementation="eager",
                         attn_implementation="eager")
    torch.manual_seed(seed)
    model = Qwen3MoeForCausalLM(cfg).to(torch.float32).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.named_parameters():
            if name.endswith("norm.weight"):
                t.copy_(torch.rand(t.shape, generator=gen) * 0.5 + 0.75)
            elif name == "model.embed_tokens.weight":  # tied: logits = h . E, keep them O(1)
                t.copy_(torch.randn(t.shape, generator=gen) / math.sqrt(D))
            elif name.endswith("mlp.gate.weight"):  # router logits of std ~ROUTER_STD
                t.copy_(torch.randn(t.shape, generator=gen) * ROUTER_STD / math.sqrt(D))
            elif t.dim() in (2, 3):  # (out, in) or (E, out, in): unit-variance outputs
                t.copy_(torch.randn(t.shape, generator=gen) / math.sqrt(t.shape[-1]))
            else:
                raise AssertionError(f"no init rule for {name}")
    return model


def stand_in_vocab(self):
    """Replaces the converter's set_vocab: 512 byte-level BPE tokens (see the module comment)."""
    import gguf
    from make_gguf_models import byte_chars
    chars = byte_chars()
    letters = [chars[ord("a") + i] for i in range(26)]
    merges = [(letters[i % 26], letters[i // 26]) for i in range(V - 257)]
    tokens = ["<|endoftext|>"] + chars + [a + b for a, b in merges]
    self.gguf_writer.add_tokenizer_model("gpt2")
    self.gguf_writer.add_tokenizer_pre("qwen2")
    self.gguf_writer.add_token_list(tokens)
    self.gguf_writer.add_token_types([gguf.TokenType.CONTROL] + [gguf.TokenType.NORMAL] * (V - 1))
    self.gguf_writer.add_token_merges([a + " " + b for a, b in merges])
    self.gguf_writer.add_bos_token_id(0)
    self.gguf_writer.add_eos_token_id(0)
    self.gguf_writer.add_add_bos_token(False)


def convert(llama_cpp: Path, hf_dir: Path, out_file: Path):
    sys.path.insert(0, str(llama_cpp))
    sys.path.insert(1, str(llama_cpp / "gguf-py"))
    import convert_hf_to_gguf  # noqa: F401  (registers the model classes)
    from conversion import get_model_class
    get_model_class("Qwen3MoeForCausalLM").set_vocab = stand_in_vocab
    sys.argv = ["convert_hf_to_gguf.py", str(hf_dir), "--outtype", "f32", "--outfile", str(out_file)]
    convert_hf_to_gguf.main()


def tokens():
    import numpy as np
    rng = np.random.default_rng(TOKEN_SEED)
    seqs = [rng.integers(0, V, n).astype(np.int32) for n in LENGTHS]
    seqs[0][1], seqs[0][5] = 0, V - 1  # both ends of the vocabulary
    seqs[1][0], seqs[1][7] = V - 1, 0
    return seqs


def hf_state_from_gguf(path: Path):
    """The HF tensors of a (quantized) GGUF, dequantized by gguf-py."""
    import numpy as np
    import torch
    from gguf import GGUFReader
    from gguf.quants import dequantize
    r = GGUFReader(str(path))
    t = {x.name: np.array(dequantize(x.data, x.tensor_type), dtype=np.float32) for x in r.tensors}
    sd = {"model.embed_tokens.weight": t["token_embd.weight"], "model.norm.weight": t["output_norm.weight"]}
    names = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "attn_q": "self_attn.q_proj",
             "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
             "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm", "ffn_gate_inp": "mlp.gate"}
    for layer in range(LAYERS):
        for g, h in names.items():
            sd[f"model.layers.{layer}.{h}.weight"] = t[f"blk.{layer}.{g}.weight"]
        gate, up, down = (t[f"blk.{layer}.ffn_{k}_exps.weight"] for k in ("gate", "up", "down"))
        sd[f"model.layers.{layer}.mlp.experts.gate_up_proj"] = np.concatenate([gate, up], axis=1)
        sd[f"model.layers.{layer}.mlp.experts.down_proj"] = down
    return {k: torch.from_numpy(v.copy()) for k, v in sd.items()}


def min_gap(model, seqs):
    """Smallest gap between the K-th and (K+1)-th router logit over every token of every run."""
    import torch
    from transformers import DynamicCache
    gaps = []
    hooks = [layer.mlp.gate.register_forward_hook(
        lambda _m, _i, out: gaps.append(float((out[0].sort(-1, descending=True).values[:, K - 1] -
                                                out[0].sort(-1, descending=True).values[:, K]).min())))
        for layer in model.model.layers]
    logits = []
    with torch.no_grad():
        for s in seqs:
            logits.append(model(input_ids=torch.from_numpy(s).long().view(1, -1), use_cache=False).logits[0])
        cache = DynamicCache(config=model.config)
        for t in seqs[1]:
            model(input_ids=torch.tensor([[int(t)]]), past_key_values=cache, use_cache=True)
    for h in hooks:
        h.remove()
    return min(gaps), logits


# ---- stage 2 (llama-cpp-python): the quantizer, the logits ----

def quantize(f32: Path, out: Path):
    import llama_cpp
    for case, (ftype, pure) in CASES.items():
        p = llama_cpp.llama_model_quantize_default_params()
        p.ftype, p.pure, p.nthread = ftype, pure, 1
        rc = llama_cpp.llama_model_quantize(str(f32).encode(), str(out / f"{case}.gguf").encode(), p)
        assert rc == 0, (case, rc)


def llama_logits(out: Path, seed: int, gaps_json: str):
    import numpy as np
    import llama_cpp
    from llama_cpp import Llama
    from make_gguf_models import write_safetensors
    seqs, gaps = tokens(), json.loads(gaps_json)
    if not EXTRA_BUFFER_TYPES:  # Llama() takes its model parameters from this function; it has no argument for it
        import llama_cpp.llama_cpp as bindings
        default_params = bindings.llama_model_default_params

        def without_extra_buffer_types():
            p = default_params()
            p.use_extra_bufts = False
            return p
        bindings.llama_model_default_params = without_extra_buffer_types
    for case in PURE:
        llm = Llama(model_path=str(out / f"{case}.gguf"), n_ctx=64, n_batch=64, n_ubatch=64, logits_all=True,
                    n_threads=1, n_threads_batch=1, type_k=0, type_v=0, flash_attn=False, verbose=False, seed=1)
        tensors = {}
        for s, tk in enumerate(seqs):
            llm.reset()
            llm.eval([int(t) for t in tk])
            tensors[f"tokens_{s}"] = tk
            tensors[f"logits_{s}"] = np.array(llm.scores[:len(tk)], dtype=np.float32)
        llm.reset()
        steps = []
        for t in seqs[1]:
            llm.eval([int(t)])
            steps.append(np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32))
        tensors["logits_step_1"] = np.stack(steps)
        meta = {"case": case, "seed": str(seed), "llama_cpp_python": llama_cpp.__version__,
                "settings": "n_ctx 64, type_k/type_v f32, flash_attn off, 1 thread" +
                            ("" if EXTRA_BUFFER_TYPES else ", use_extra_bufts off"),
                "min_routing_gap": repr(gaps[case]),
                "max_abs_step_minus_prefill": repr(float(np.abs(tensors["logits_step_1"] - tensors["logits_1"]).max()))}
        write_safetensors(tensors, out / f"{case}.logits.safetensors", meta)
        print(f"{case}: max |logit| {np.abs(tensors['logits_1']).max():.4f}, step vs prefill "
              f"{meta['max_abs_step_minus_prefill']}, routing gap {gaps[case]:.3f}")


# ---- driver ----

def run_under(python: str, call: str):
    subprocess.run([python, "-c", f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
                    f"import make_gguf_kquant_models as m; from pathlib import Path; {call}"], check=True)


def main():
    global CASES, PURE
    p = argparse.ArgumentParser()
    p.add_argument("--llama-python", default=os.environ.get("LLAMA_PYTHON", sys.executable))
    p.add_argument("--llama-cpp", type=Path, default=Path(os.environ.get("LLAMA_CPP_DIR", "llama.cpp")))
    p.add_argument("--out", type=Path, default=ROOT / "tests" / "data" / "gguf_kquant_models")
    p.add_argument("--only", default="", help="comma-separated cases (default: all)")
    p.add_argument("--first-seed", type=int, default=FIRST_SEED)
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    if a.only:
        unknown = set(a.only.split(",")) - set(CASES)
        if unknown:
            p.error(f"unknown cases {sorted(unknown)}; known: {', '.join(CASES)}")
        os.environ["MOE_KQUANT_CASES"] = a.only
        CASES = {c: CASES[c] for c in a.only.split(",")}
        PURE = [c for c, (_, pure) in CASES.items() if pure]
    import torch
    seqs = tokens()
    for seed in range(a.first_seed, a.first_seed + 50):
        with tempfile.TemporaryDirectory() as tmp:
            hf, f32 = Path(tmp) / "qwen3_moe", Path(tmp) / "qwen3_moe_f32.gguf"
            model = build(seed)
            model.save_pretrained(hf, safe_serialization=True)
            # One converter run per process: the converter keeps module-level state between models.
            run_under(sys.executable, f"m.convert(Path({str(a.llama_cpp)!r}), Path({str(hf)!r}), Path({str(f32)!r}))")
            run_under(a.llama_python, f"m.quantize(Path({str(f32)!r}), Path({str(a.out)!r}))")
            gaps = {"f32": min_gap(model, seqs)[0]}
            reference = min_gap(model, seqs)[1]
            for case in PURE:
                model.load_state_dict(hf_state_from_gguf(a.out / f"{case}.gguf"), strict=False)
                gaps[case], logits = min_gap(model, seqs)
                # for information: dequantized weights, fp32 activations, vs the f32 model
                print(f"  {case}: gap {gaps[case]:.3f}, |dequantized - f32| logits "
                      f"{max(float((x - y).abs().max()) for x, y in zip(logits, reference)):.3f}")
            if min(gaps.values()) > MIN_GAP:
                break
            print(f"seed {seed} rejected: routing gaps {gaps}")
    else:
        raise RuntimeError("no seed with routing gaps above MIN_GAP")
    run_under(a.llama_python, f"m.llama_logits(Path({str(a.out)!r}), {seed}, {json.dumps(json.dumps(gaps))})")
    del torch


if __name__ == "__main__":
    main()
