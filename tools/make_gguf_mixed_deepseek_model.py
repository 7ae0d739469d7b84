#!/usr/bin/env python3
"""A tiny DeepSeek-V3 as llama.cpp's own Q4_K_M GGUF file, with llama.cpp's logits on it: the data of the DeepSeek
tests of tests/models/test_gguf_mixed_model.cpp (weight_format::gguf_mixed with matrices it cannot hold as they are:
the split attn_k_b / attn_v_b, an F16 matrix).

Usage (from the repository root; runs under a Python with torch, transformers and gguf-py and calls llama-cpp-python's
interpreter for the quantizer and the logits):
    python3 tools/make_gguf_mixed_deepseek_model.py
    (--llama-python PY: the Python with llama-cpp-python, default $LLAMA_PYTHON or this one; --llama-cpp DIR: default $LLAMA_CPP_DIR;
    --out DIR: default tests/data/gguf_mixed_models)

1. A random DeepseekV3ForCausalLM (transformers, float32, weights drawn as tools/make_model_reference.py does) whose
   quantized widths are multiples of 256: vocab 320, hidden 256, 1 layer (MoE, no dense layer), 4 heads, q_lora_rank
   256, kv_lora_rank 256, qk_nope 16, qk_rope 32, v_head 64 (o_proj 256 wide), 4 routed experts of width 256 (sigmoid
   + selection bias, top-2 renormalised, x2.5), 1 shared expert, YaRN as tests/data/models/deepseek_v3.
2. llama.cpp's convert_hf_to_gguf.py writes an f32 GGUF (not committed; kv_b_proj split into attn_k_b (H, R, nope)
   and attn_v_b (H, v, R)), with make_gguf_kquant_models.py's stand-in vocabulary cut to 320 tokens.
3. llama_model_quantize, ftype LLAMA_FTYPE_MOSTLY_Q4_K_M, pure = False, token_embedding_type F16 (as
   `llama-quantize --token-embedding-type f16` writes it): token_embd F16, and attn_k_b (rows 16 wide: Q4_K's
   fallback Q5_0 needs 32) F16 by the quantizer's own rule. The types are printed and stored in the logits file's
   metadata ("tensor_types").
4. Routing margins: the file is dequantized (gguf-py) into the transformers model and the selection margin (biased
   sigmoid scores, make_model_reference.selection_gaps) measured for every token of every run; seeds are tried
   until it is at least MIN_GAP.
5. llama.cpp (f32 KV cache, no flash attention, 1 thread) runs three token sequences (lengths 7, 12, 3) in one
   prefill each and sequence 1 one token per eval (make_gguf_kquant_models.llama_logits).
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

CASE = "deepseek_v3_q4_k_m"
V, D, H, R, RQ, NOPE, ROPE, VD, F, E, K = 320, 256, 4, 256, 256, 16, 32, 64, 256, 4, 2
FIRST_SEED = 7001
MIN_GAP = 0.02  # biased sigmoid score units
GGML_F16, FTYPE_Q4_K_M = 1, 15

# make_gguf_kquant_models, in this process and in every subprocess: the vocabulary size and this one case.
OVERRIDES = f"m.V = {V}; m.CASES = {{{CASE!r}: ({FTYPE_Q4_K_M}, False)}}; m.PURE = [{CASE!r}]"


def run_under(python: str, call: str):
    subprocess.run([python, "-c", f"import sys; sys.path.insert(0, {str(TOOLS)!r}); "
                    f"import make_gguf_kquant_models as m; import make_gguf_mixed_deepseek_model as d; {OVERRIDES}; "
                    f"from pathlib import Path; {call}"], check=True)


def build(seed: int):
    import torch
    from transformers import DeepseekV3Config, DeepseekV3ForCausalLM
    import make_model_reference as ref
    cfg = DeepseekV3Config(
        vocab_size=V, hidden_size=D, hidden_act="silu", rms_norm_eps=1e-6, num_hidden_layers=1,
        num_attention_heads=H, num_key_value_heads=H, first_k_dense_replace=0, intermediate_size=F,
        moe_intermediate_size=F, n_routed_experts=E, n_group=1, topk_group=1, num_experts_per_tok=K,
        n_shared_experts=1, q_lora_rank=RQ, kv_lora_rank=R, qk_nope_head_dim=NOPE, qk_rope_head_dim=ROPE,
        v_head_dim=VD, routed_scaling_factor=2.5, norm_topk_prob=True, rope_theta=10000.0,
        max_position_embeddings=64, tie_word_embeddings=False, bos_token_id=0, eos_token_id=0,
        rope_scaling=dict(type="yarn", factor=4.0, original_max_position_embeddings=16, beta_fast=32, beta_slow=1,
                          mscale=1.0, mscale_all_dim=1.0),
        experts_implementation="eager", attn_implementation="eager")
    torch.manual_seed(seed)
    model = DeepseekV3ForCausalLM(cfg).to(torch.float32).eval()
    ref.D = D  # make_model_reference's init draws by the hidden size
    ref.init_weights(model, {"family": "deepseek_v3"}, torch.Generator().manual_seed(seed))
    return model


def convert(llama_cpp: Path, hf_dir: Path, out_file: Path):
    import make_gguf_kquant_models as m
    config = json.loads((hf_dir / "config.json").read_text())
    # as tools/make_gguf_models.py: the released config.json's keys transformers 5 does not write
    config.update(scoring_func="sigmoid", topk_method="noaux_tc")
    (hf_dir / "config.json").write_text(json.dumps(config, indent=2))
    sys.path.insert(0, str(llama_cpp))
    sys.path.insert(1, str(llama_cpp / "gguf-py"))
    import convert_hf_to_gguf  # noqa: F401  (registers the model classes)
    from conversion import get_model_class
    get_model_class("DeepseekV3ForCausalLM").set_vocab = m.stand_in_vocab
    sys.argv = ["convert_hf_to_gguf.py", str(hf_dir), "--outtype", "f32", "--outfile", str(out_file)]
    convert_hf_to_gguf.main()


def quantize(f32: Path, out: Path):
    import llama_cpp
    p = llama_cpp.llama_model_quantize_default_params()
    p.ftype, p.pure, p.nthread, p.token_embedding_type = FTYPE_Q4_K_M, False, 1, GGML_F16
    rc = llama_cpp.llama_model_quantize(str(f32).encode(), str(out / f"{CASE}.gguf").encode(), p)
    assert rc == 0, rc


def hf_state_from_gguf(path: Path):
    """The HF tensors of the GGUF, dequantized by gguf-py (kv_b_proj rebuilt from k_b / v_b)."""
    import numpy as np
    import torch
    from gguf import GGUFReader
    from gguf.quants import dequantize
    t = {x.name: np.array(dequantize(x.data, x.tensor_type), dtype=np.float32) for x in GGUFReader(str(path)).tensors}
    b, a, mlp = "blk.0.", "model.layers.0.self_attn.", "model.layers.0.mlp."
    sd = {"model.embed_tokens.weight": t["token_embd.weight"], "model.norm.weight": t["output_norm.weight"],
          "lm_head.weight": t["output.weight"],
          "model.layers.0.input_layernorm.weight": t[b + "attn_norm.weight"],
          "model.layers.0.post_attention_layernorm.weight": t[b + "ffn_norm.weight"],
          a + "q_a_proj.weight": t[b + "attn_q_a.weight"], a + "q_a_layernorm.weight": t[b + "attn_q_a_norm.weight"],
          a + "q_b_proj.weight": t[b + "attn_q_b.weight"],
          a + "kv_a_proj_with_mqa.weight": t[b + "attn_kv_a_mqa.weight"],
          a + "kv_a_layernorm.weight": t[b + "attn_kv_a_norm.weight"],
          a + "o_proj.weight": t[b + "attn_output.weight"],
          mlp + "gate.weight": t[b + "ffn_gate_inp.weight"], mlp + "gate.e_score_correction_bias": t[b + "exp_probs_b.bias"],
          mlp + "experts.gate_up_proj": np.concatenate([t[b + "ffn_gate_exps.weight"], t[b + "ffn_up_exps.weight"]], axis=1),
          mlp + "experts.down_proj": t[b + "ffn_down_exps.weight"]}
    for k in ("gate", "up", "down"):
        sd[mlp + f"shared_experts.{k}_proj.weight"] = t[b + f"ffn_{k}_shexp.weight"]
    k_b, v_b = t[b + "attn_k_b.weight"], t[b + "attn_v_b.weight"]  # (H, R, nope), (H, v, R)
    sd[a + "kv_b_proj.weight"] = np.concatenate([k_b.transpose(0, 2, 1), v_b], axis=1).reshape(-1, R)
    return {k: torch.from_numpy(v.copy()) for k, v in sd.items()}


def min_gap(model, seqs):
    """Smallest selection margin (biased sigmoid scores) over every token of every run, prefill and steps."""
    import torch
    from transformers import DynamicCache
    import make_model_reference as ref
    tap = ref.RouterTap(model)
    with torch.no_grad():
        for s in seqs:
            model(input_ids=torch.from_numpy(s).long().view(1, -1), use_cache=False)
        cache = DynamicCache(config=model.config)
        for t in seqs[1]:
            model(input_ids=torch.tensor([[int(t)]]), past_key_values=cache, use_cache=True)
    tap.close()
    gaps = []
    for i, runs in tap.logits.items():
        bias = tap.gates[i].gate.e_score_correction_bias.detach().float()
        for logits in runs:  # one group: the top-K of sigmoid(logits) + bias
            s = (torch.sigmoid(logits) + bias).sort(dim=-1, descending=True).values
            gaps.append(float((s[:, K - 1] - s[:, K]).min()))
    return min(gaps)


def tensor_types(path: Path) -> dict:
    from gguf import GGUFReader
    return {t.name: t.tensor_type.name for t in GGUFReader(str(path)).tensors}


def main():
    import make_gguf_kquant_models as m
    import make_gguf_mixed_models as mixed
    exec(OVERRIDES, {"m": m})
    p = argparse.ArgumentParser()
    p.add_argument("--llama-python", default=os.environ.get("LLAMA_PYTHON", sys.executable))
    p.add_argument("--llama-cpp", type=Path, default=Path(os.environ.get("LLAMA_CPP_DIR", "llama.cpp")))
    p.add_argument("--out", type=Path, default=ROOT / "tests" / "data" / "gguf_mixed_models")
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    seqs = m.tokens()  # make_gguf_kquant_models' sequences, drawn from this vocabulary (m.V)
    for seed in range(FIRST_SEED, FIRST_SEED + 50):
        with tempfile.TemporaryDirectory() as tmp:
            hf, f32 = Path(tmp) / "deepseek_v3", Path(tmp) / "deepseek_v3_f32.gguf"
            model = build(seed)
            model.save_pretrained(hf, safe_serialization=True)
            run_under(sys.executable, f"d.convert(Path({str(a.llama_cpp)!r}), Path({str(hf)!r}), Path({str(f32)!r}))")
            run_under(a.llama_python, f"d.quantize(Path({str(f32)!r}), Path({str(a.out)!r}))")
            gaps = {"f32": min_gap(model, seqs)}
            missing, unexpected = model.load_state_dict(hf_state_from_gguf(a.out / f"{CASE}.gguf"), strict=False)
            assert not unexpected and all(k.endswith("rotary_emb.inv_freq") for k in missing), (missing, unexpected)
            gaps[CASE] = min_gap(model, seqs)
            if min(gaps.values()) > MIN_GAP:
                break
            print(f"seed {seed} rejected: routing gaps {gaps}")
    else:
        raise RuntimeError("no seed with routing gaps above MIN_GAP")
    run_under(a.llama_python, f"m.llama_logits(Path({str(a.out)!r}), {seed}, {json.dumps(json.dumps(gaps))})")
    types = tensor_types(a.out / f"{CASE}.gguf")
    mixed.add_types_to_metadata(a.out / f"{CASE}.logits.safetensors", types)
    for name, t in sorted(types.items()):
        print(f"  {name}: {t}")


if __name__ == "__main__":
    main()
