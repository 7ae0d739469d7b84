#!/usr/bin/env python3
"""Generate golden reference files for the C++ attention-layer tests from Hugging Face transformers modules.

Usage (from the repository root):
    python3 tools/make_layer_reference.py [--out tests/data/layer_reference]

For every case it builds the transformers attention module of the family (MixtralAttention, Qwen2MoeAttention,
Qwen3MoeAttention, OlmoeAttention, DeepseekV2Attention, DeepseekV3Attention) from a tiny config with a fixed seed,
random weights (norm weights around 1, biases small), runs a (1, T, D) input in fp32 with the family's own rotary
embedding module and the causal mask from transformers.masking_utils.create_causal_mask (eager attention), and
writes tests/data/layer_reference/<case>.safetensors with:
    <module parameter names>   the weights, as HF names them (q_proj.weight, kv_a_layernorm.weight, ...)
    x                          (T, D)  input
    position_ids               (1, T)  positions 0 … T-1 (fp32)
    rope.inv_freq              (Dr/2)  the rotary module's inv_freq buffer
    rope.attention_scaling     (1)     the factor its cos/sin carry
    rope.cos, rope.sin         (T, Dr/2) the rotary angles' cos/sin as the module returns them (first half)
    scaling                    (1)     the module's softmax scale
    output                     (T, D)  attention output
    output_decode              (T, D)  the same module run token by token through a transformers DynamicCache
The config, a note, T and the transformers/torch versions are stored as one JSON string in the file
metadata ("reference"), so the bytes are the same on every run. Python is only the generator: the files are committed
and the C++ tests do not need Python.
"""

from __future__ import annotations

import argparse
import json
import os

import torch
import transformers
from safetensors.torch import save_file
from transformers.cache_utils import DynamicCache
from transformers.masking_utils import create_causal_mask, create_sliding_window_causal_mask

from transformers.models.deepseek_v2.configuration_deepseek_v2 import DeepseekV2Config
from transformers.models.deepseek_v2 import modeling_deepseek_v2 as ds2
from transformers.models.deepseek_v3.configuration_deepseek_v3 import DeepseekV3Config
from transformers.models.deepseek_v3 import modeling_deepseek_v3 as ds3
from transformers.models.mixtral.configuration_mixtral import MixtralConfig
from transformers.models.mixtral import modeling_mixtral as mixtral
from transformers.models.olmoe.configuration_olmoe import OlmoeConfig
from transformers.models.olmoe import modeling_olmoe as olmoe
from transformers.models.qwen2_moe.configuration_qwen2_moe import Qwen2MoeConfig
from transformers.models.qwen2_moe import modeling_qwen2_moe as qwen2
from transformers.models.qwen3_moe.configuration_qwen3_moe import Qwen3MoeConfig
from transformers.models.qwen3_moe import modeling_qwen3_moe as qwen3

T = 7   # tokens per case
D = 64  # hidden size

_COMMON = dict(hidden_size=D, num_attention_heads=4, num_key_value_heads=2, num_hidden_layers=1,
               vocab_size=128, max_position_embeddings=4096)

_DEEPSEEK_MLA = dict(num_key_value_heads=4, kv_lora_rank=32, qk_nope_head_dim=16, qk_rope_head_dim=8,
                     v_head_dim=16, first_k_dense_replace=1, n_routed_experts=4, num_experts_per_tok=2,
                     n_group=1, topk_group=1, moe_intermediate_size=32, intermediate_size=64)

# case -> config class, attention module, rotary module, extra config, seed, what it covers
CASES = {
    "mixtral": dict(
        cfg=MixtralConfig, attn=mixtral.MixtralAttention, rope=mixtral.MixtralRotaryEmbedding, seed=2001,
        kwargs=dict(rope_parameters={"rope_type": "default", "rope_theta": 1e6}),
        note="GQA 4 heads / 2 kv heads, head_dim 16, no bias, rope_theta 1e6"),
    "mixtral_sliding": dict(
        cfg=MixtralConfig, attn=mixtral.MixtralAttention, rope=mixtral.MixtralRotaryEmbedding, seed=2007,
        kwargs=dict(sliding_window=3, rope_parameters={"rope_type": "default", "rope_theta": 1e6}),
        note="Mixtral with sliding_window 3 (query p sees keys p-2 .. p), create_sliding_window_causal_mask"),
    "qwen2_moe": dict(
        cfg=Qwen2MoeConfig, attn=qwen2.Qwen2MoeAttention, rope=qwen2.Qwen2MoeRotaryEmbedding, seed=2002,
        kwargs=dict(qkv_bias=True, rope_parameters={"rope_type": "default", "rope_theta": 1e6}),
        note="GQA with q/k/v bias (o_proj has none)"),
    "qwen3_moe": dict(
        cfg=Qwen3MoeConfig, attn=qwen3.Qwen3MoeAttention, rope=qwen3.Qwen3MoeRotaryEmbedding, seed=2003,
        kwargs=dict(head_dim=16, attention_bias=True, rms_norm_eps=1e-6,
                    rope_parameters={"rope_type": "default", "rope_theta": 1e6}),
        note="GQA with per-head QK-norm (q_norm/k_norm of width head_dim) and attention_bias on all projections"),
    "olmoe": dict(
        cfg=OlmoeConfig, attn=olmoe.OlmoeAttention, rope=olmoe.OlmoeRotaryEmbedding, seed=2004,
        kwargs=dict(clip_qkv=2.0, rms_norm_eps=1e-5, eos_token_id=None, pad_token_id=None, rope_parameters={"rope_type": "default", "rope_theta": 1e4}),
        note="GQA with whole-projection QK-norm (widths H*Dh and G*Dh), clip_qkv 2.0, eps 1e-5"),
    "deepseek_v2": dict(
        cfg=DeepseekV2Config, attn=ds2.DeepseekV2Attention, rope=ds2.DeepseekV2RotaryEmbedding, seed=2005,
        kwargs=dict(_DEEPSEEK_MLA, q_lora_rank=None,
                    rope_parameters={"rope_type": "yarn", "rope_theta": 1e4, "factor": 40.0,
                                     "original_max_position_embeddings": 4096, "beta_fast": 32, "beta_slow": 1,
                                     "mscale": 0.707, "mscale_all_dim": 0.707}),
        note="MLA without q compression (V2-Lite), interleaved rope via complex multiply, YaRN as V2-Lite"),
    "deepseek_v3": dict(
        cfg=DeepseekV3Config, attn=ds3.DeepseekV3Attention, rope=ds3.DeepseekV3RotaryEmbedding, seed=2006,
        kwargs=dict(_DEEPSEEK_MLA, q_lora_rank=24, attention_bias=True, rope_interleave=True,
                    rope_parameters={"rope_type": "yarn", "rope_theta": 1e4, "factor": 4.0,
                                     "original_max_position_embeddings": 4096, "beta_fast": 32, "beta_slow": 1,
                                     "mscale": 1.0, "mscale_all_dim": 0.8}),
        note="MLA with q_lora_rank, attention_bias, rope_interleave, YaRN with mscale != mscale_all_dim "
             "(attention factor != 1 and softmax scale * mscale^2)"),
}


def randomize(module: torch.nn.Module, generator: torch.Generator) -> None:
    """nn.Linear-range weights, biases in ±0.1, RMSNorm weights in [0.5, 1.5] (so they matter)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("norm.weight") or "layernorm" in name:
                p.copy_(0.5 + torch.rand(p.shape, generator=generator))
            elif name.endswith(".bias"):
                p.copy_((torch.rand(p.shape, generator=generator) * 2 - 1) * 0.1)
            else:
                bound = 1.0 / p.shape[-1] ** 0.5
                p.copy_((torch.rand(p.shape, generator=generator) * 2 - 1) * bound)


def rope_tables(rope_module, x, position_ids):
    out = rope_module(x, position_ids)
    if isinstance(out, tuple):  # cos, sin of cat(freqs, freqs): keep the first half
        cos, sin = out
        half = cos.shape[-1] // 2
        return cos[0, :, :half], sin[0, :, :half]
    return out[0].real.contiguous(), out[0].imag.contiguous()  # DeepSeek-V2: complex freqs_cis


def call(attn, hidden, embeddings, mask, cache=None):
    if isinstance(attn, ds2.DeepseekV2Attention):
        return attn(hidden_states=hidden, attention_mask=mask, cache=cache, position_embeddings=embeddings)[0]
    return attn(hidden_states=hidden, position_embeddings=embeddings, attention_mask=mask, cache=cache)[0]


def make_mask(config, x, cache, position_ids):
    # As MixtralModel does: the sliding-window mask when the config has a window.
    make = create_sliding_window_causal_mask if getattr(config, "sliding_window", None) else create_causal_mask
    return make(config=config, inputs_embeds=x, attention_mask=None, cache=cache, position_ids=position_ids,
                allow_is_causal_skip=False)


def run_case(name: str, case: dict) -> dict[str, torch.Tensor]:
    config = case["cfg"](**_COMMON | case["kwargs"])
    config._attn_implementation = "eager"
    generator = torch.Generator().manual_seed(case["seed"])
    attn = case["attn"](config, layer_idx=0).eval()
    rope = case["rope"](config)
    randomize(attn, generator)

    x = torch.randn(1, T, D, generator=generator)
    position_ids = torch.arange(T).unsqueeze(0)
    with torch.no_grad():
        embeddings = rope(x, position_ids)
        mask = make_mask(config, x, None, position_ids)
        output = call(attn, x, embeddings, mask)

        # Token by token through transformers' own cache, to check the reference itself.
        cache = DynamicCache(config=config)
        decoded = []
        for t in range(T):
            xt, pt = x[:, t:t + 1], position_ids[:, t:t + 1]
            mask_t = make_mask(config, xt, cache, pt)
            decoded.append(call(attn, xt, rope(xt, pt), mask_t, cache))
        output_decode = torch.cat(decoded, dim=1)
        cos, sin = rope_tables(rope, x, position_ids)

    if getattr(config, "clip_qkv", None):  # the clamp must really cut something, or the case proves nothing
        with torch.no_grad():
            q = attn.q_norm(attn.q_proj(x))
        clipped = (q.abs() > config.clip_qkv).float().mean().item()
        print(f"{name:12s} clip_qkv {config.clip_qkv}: {clipped:.1%} of q clipped")
        assert clipped > 0.01, name

    gap = (output - output_decode).abs().max().item() / output.abs().max().item()
    print(f"{name:12s} max|out| {output.abs().max().item():.4f}  HF decode vs prefill rel {gap:.2e}  "
          f"scaling {attn.scaling:.6f}  attention_scaling {rope.attention_scaling:.6f}")
    assert gap < 1e-5, name

    tensors = {k: v.detach().clone().contiguous() for k, v in attn.state_dict().items()}
    tensors |= {
        "x": x[0].contiguous(),
        "position_ids": position_ids.float(),
        "rope.inv_freq": rope.inv_freq.clone(),
        "rope.attention_scaling": torch.tensor([float(rope.attention_scaling)]),
        "rope.cos": cos.contiguous(),
        "rope.sin": sin.contiguous(),
        "scaling": torch.tensor([float(attn.scaling)]),
        "output": output[0].contiguous(),
        "output_decode": output_decode[0].contiguous(),
    }
    return tensors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="tests/data/layer_reference")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    for name, case in CASES.items():
        tensors = run_case(name, case)
        # One metadata key: safetensors writes several keys in hash order, which would change the bytes per run.
        metadata = {"reference": json.dumps({"config": _COMMON | case["kwargs"], "note": case["note"], "tokens": T,
                                             "transformers": transformers.__version__, "torch": torch.__version__},
                                            sort_keys=True)}
        save_file(tensors, os.path.join(args.out, f"{name}.safetensors"), metadata=metadata)
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")


if __name__ == "__main__":
    main()
