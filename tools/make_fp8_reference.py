#!/usr/bin/env python3
"""Reference data for weight_format::fp8_e4m3 and DeepSeek-V3/R1's fp8 checkpoints (tests/data/fp8).

Usage (from the repository root; needs torch with float8_e4m3fn on the CPU, transformers, safetensors):
    python3 tools/make_fp8_reference.py [--out tests/data/fp8]

Writes
  codec/decode.f32        (256) float32: torch.arange(256, uint8).view(float8_e4m3fn).float() — every code's value
  codec/encode_in.f32     (N) float32 inputs: every midpoint between adjacent e4m3 values and its fp32 neighbours,
                          every value and its neighbours, the saturation region (448 … inf), NaNs, fp32
                          subnormals, and random floats over 2^-14 … 2^10, both signs
  codec/encode_out.u8     (N) uint8: torch's `x.to(torch.float8_e4m3fn)` of each input (torch saturates to ±448)
  codec/quantize_in.f32   (4, 256) float32 rows, and quantize_codes.u8 (4, 256) / quantize_scales.f32 (4, 2):
                          DeepSeek-V3's act_quant rule per 128 values of a row (its inference kernels):
                          s = amax / 448 (fp32), q = (x / s).to(float8_e4m3fn)
  deepseek_v3_fp8/        a tiny DeepseekV3ForCausalLM checkpoint laid out as DeepSeek's release is:
      config.json         save_pretrained's, plus quantization_config {quant_method fp8, fmt e4m3,
                          activation_scheme dynamic, weight_block_size [128, 128]}
      model.safetensors   every attention / MLP / expert matrix F8_E4M3 + `<name>_scale_inv` F32
                          (⌈rows/128⌉, ⌈cols/128⌉), quantized per 128 × 128 block with scale = amax / 448;
                          embedding, LM head, norms and router BF16; e_score_correction_bias F32; one key per expert
      reference.safetensors
                          tokens_0..2 (int32, lengths 7, 12, 3) and, for each sequence (full forward, fp32, eager):
                          logits_dequant_i: transformers on the dequantized weights (weight.float() * scale
                            expanded, DeepSeek's weight_dequant) with the BF16 embedding / LM head as they are;
                          logits_fp8_i: the same with the embedding and LM head also quantized the way
                            weight_format::fp8_e4m3 quantizes a float matrix at load (the same rule per 128 values of
                            a row, no 128-row blocks) — what a model of that format computes, up to fp32 order.
The model is re-seeded until every MoE routing choice (sigmoid + bias, top-2 of 2 groups, top-2 experts) has a
margin above 2e-3 in both references and both make the same choices, so fp32-order differences cannot flip a route.
Python is only a generator: the files are committed and the C++ tests do not need it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import tempfile

import numpy as np
import torch
import transformers
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

FP8 = torch.float8_e4m3fn
V, D = 48, 256
LENGTHS = (7, 12, 3)
MIN_GAP = 2e-3
CFG = dict(vocab_size=V, hidden_size=D, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
           first_k_dense_replace=1, intermediate_size=128, moe_intermediate_size=128, n_routed_experts=4, n_group=2,
           topk_group=1, num_experts_per_tok=2, n_shared_experts=1, q_lora_rank=128, kv_lora_rank=128,
           qk_nope_head_dim=32, qk_rope_head_dim=16, v_head_dim=64, routed_scaling_factor=2.5, norm_topk_prob=True,
           rope_theta=10000.0, max_position_embeddings=64, tie_word_embeddings=False, hidden_act="silu",
           rms_norm_eps=1e-6, attn_implementation="eager", experts_implementation="eager")
QUANT = {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic", "weight_block_size": [128, 128]}


# ---- codec ------------------------------------------------------------------------------------------------------
def f32(values):
    return np.asarray(values, dtype=np.float32)


def neighbours(x):
    x = f32(x)
    return np.concatenate([x, np.nextafter(x, f32(np.inf)), np.nextafter(x, f32(-np.inf))])


def codec(out):
    os.makedirs(out, exist_ok=True)
    table = torch.arange(256, dtype=torch.uint8).view(FP8).float()
    table.numpy().astype("<f4").tofile(os.path.join(out, "decode.f32"))
    finite = table[:127].numpy()  # 0x00 … 0x7E, increasing
    mids = (finite[:-1].astype(np.float64) + finite[1:]) / 2  # exact in fp32: adjacent values differ in one bit
    special = f32([448, 449, 456, 463.99997, 464, 464.00003, 479, 480, 500, 1e6, 3.4028235e38, np.inf, np.nan,
                   -np.nan, 1e-45, 1e-40, 1.1754942e-38, 2.0 ** -10, 2.0 ** -11, 2.0 ** -10 * 3, 0.0, -0.0])
    rng = np.random.default_rng(8)
    rand = (2.0 ** rng.uniform(-14, 10, 2000) * rng.choice([-1.0, 1.0], 2000)).astype(np.float32)
    inputs = np.concatenate([neighbours(mids), neighbours(finite), neighbours(special[:-2]), special, rand])
    inputs = np.concatenate([inputs, -inputs]).astype(np.float32)
    codes = torch.from_numpy(inputs.copy()).to(FP8).view(torch.uint8).numpy()
    inputs.astype("<f4").tofile(os.path.join(out, "encode_in.f32"))
    codes.tofile(os.path.join(out, "encode_out.u8"))
    # DeepSeek's act_quant per 128 values of a row: wide and narrow ranges, a row with one large outlier.
    x = torch.from_numpy(np.stack([rng.normal(0, 1, 256), rng.normal(0, 1e-3, 256), rng.uniform(-300, 300, 256),
                                   np.where(np.arange(256) == 5, 1e4, rng.normal(0, 1, 256))]).astype(np.float32))
    q, s = row_block_quant(x)
    x.numpy().astype("<f4").tofile(os.path.join(out, "quantize_in.f32"))
    q.view(torch.uint8).numpy().tofile(os.path.join(out, "quantize_codes.u8"))
    s.numpy().astype("<f4").tofile(os.path.join(out, "quantize_scales.f32"))
    return len(inputs)


def row_block_quant(x):
    """DeepSeek's act_quant per 128 values of each row: s = amax / 448, q = (x / s).to(fp8). x: (R, K), K % 128 == 0."""
    blocks = x.view(x.shape[0], -1, 128)
    s = blocks.abs().amax(dim=-1) / 448.0
    q = (blocks / s.unsqueeze(-1)).to(FP8)
    return q.view(x.shape), s


def row_block_dequant(x):
    q, s = row_block_quant(x)
    return (q.float().view(x.shape[0], -1, 128) * s.unsqueeze(-1)).view(x.shape)


# ---- weights: DeepSeek's 128 x 128 block quantization ------------------------------------------------------------
def block_quant(w):
    """w: (rows, cols) fp32 → (fp8 codes, scale_inv (⌈rows/128⌉, ⌈cols/128⌉)); scale = amax / 448 per block."""
    rows, cols = w.shape
    sr, sc = -(-rows // 128), -(-cols // 128)
    scale = torch.empty(sr, sc)
    q = torch.empty(rows, cols, dtype=FP8)
    for i in range(sr):
        for j in range(sc):
            blk = w[i * 128:(i + 1) * 128, j * 128:(j + 1) * 128]
            s = blk.abs().amax() / 448.0
            scale[i, j] = s
            q[i * 128:(i + 1) * 128, j * 128:(j + 1) * 128] = (blk / s).to(FP8)
    return q, scale


def block_dequant(q, scale):
    """DeepSeek's weight_dequant: the fp8 value widened to fp32 times its block's scale."""
    s = scale.repeat_interleave(128, 0).repeat_interleave(128, 1)[:q.shape[0], :q.shape[1]]
    return q.float() * s


def is_quantized(name, t):
    keep = ("embed_tokens", "lm_head", "norm", "mlp.gate.weight", "e_score_correction_bias")
    return t.dim() == 2 and not any(k in name for k in keep)


def init_state(seed):
    cfg = DeepseekV3Config(**CFG)
    torch.manual_seed(seed)
    model = DeepseekV3ForCausalLM(cfg).float().eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(model.named_parameters()) + list(model.named_buffers()):
            if name not in model.state_dict():
                continue
            if name.endswith("e_score_correction_bias"):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            elif name.endswith("norm.weight"):
                t.copy_(torch.rand(t.shape, generator=g) * 0.5 + 0.75)
            elif name == "model.embed_tokens.weight":
                t.copy_(torch.randn(t.shape, generator=g))
            elif name == "lm_head.weight":
                t.copy_(torch.randn(t.shape, generator=g) / math.sqrt(D))
            elif name.endswith("mlp.gate.weight"):
                t.copy_(torch.randn(t.shape, generator=g) * 2.5 / math.sqrt(D))
            elif t.dim() >= 2:  # nn.Linear (out, in) or fused experts (E, out, in): unit-variance outputs
                t.copy_(torch.randn(t.shape, generator=g) / math.sqrt(t.shape[-1]))
            else:
                raise AssertionError(f"no init rule for {name}")
    return model


def per_expert_state(model, tmp):
    """The state dict with transformers' on-disk names (one key per expert), fp32."""
    model.save_pretrained(tmp, safe_serialization=True)
    out = {}
    for f in sorted(os.listdir(tmp)):
        if f.endswith(".safetensors"):
            with safe_open(os.path.join(tmp, f), "pt") as h:
                for k in h.keys():
                    out[k] = h.get_tensor(k)
    return out


def reference_model(state, tmp):
    """transformers' model on the given fp32 per-expert state (written and reloaded: the converter maps the names)."""
    cfg = DeepseekV3Config(**CFG)
    m = DeepseekV3ForCausalLM(cfg).float().eval()
    m.save_pretrained(tmp, safe_serialization=True)  # writes config.json; the weights are replaced below
    for f in os.listdir(tmp):
        if f.endswith(".safetensors") or f.endswith(".index.json"):
            os.remove(os.path.join(tmp, f))
    save_file({k: v.contiguous() for k, v in state.items()}, os.path.join(tmp, "model.safetensors"), {"format": "pt"})
    m, info = DeepseekV3ForCausalLM.from_pretrained(tmp, dtype=torch.float32, attn_implementation="eager",
                                                    experts_implementation="eager", output_loading_info=True)
    assert not any(v for v in info.values()), info
    return m.eval()


def routes(model, tokens):
    """Logits per sequence, the chosen experts per MoE layer and token, and the smallest selection margin."""
    picks, gaps = [], []
    hooks = []
    for layer in model.model.layers:
        if hasattr(layer.mlp, "experts"):
            gate = layer.mlp.gate

            def hook(_m, _inp, out, gate=gate):
                logits = out[0].detach().float()
                s = torch.sigmoid(logits) + gate.e_score_correction_bias.detach().float()
                G, E = gate.num_group, gate.num_experts
                gs = s.view(-1, G, E // G).topk(2, dim=-1).values.sum(-1)
                gsort = gs.sort(dim=-1, descending=True).values
                gaps.append((gsort[:, gate.topk_group - 1] - gsort[:, gate.topk_group]).min())
                gidx = gs.topk(gate.topk_group, dim=-1).indices
                mask = torch.zeros_like(gs).scatter_(1, gidx, 1.0).bool().unsqueeze(-1).expand(-1, G, E // G).reshape(-1, E)
                masked = s.masked_fill(~mask, float("-inf"))
                sv = masked.sort(dim=-1, descending=True).values
                gaps.append((sv[:, gate.top_k - 1] - sv[:, gate.top_k]).min())
                picks.append(masked.topk(gate.top_k, dim=-1).indices.sort(dim=-1).values)
            hooks.append(gate.register_forward_hook(hook))
    with torch.no_grad():
        logits = [model(input_ids=t.view(1, -1).long(), use_cache=False).logits[0].clone() for t in tokens]
    for h in hooks:
        h.remove()
    return logits, picks, float(torch.stack(gaps).min())


def make_tokens():
    g = torch.Generator().manual_seed(20240611)
    toks = [torch.randint(0, V, (n,), generator=g) for n in LENGTHS]
    toks[0][1], toks[0][5], toks[1][0], toks[2][2] = 0, V - 1, V - 1, 0
    return [t.to(torch.int32) for t in toks]


def checkpoint(out, seed=3001, tries=100):
    tokens = make_tokens()
    for s in range(seed, seed + tries):
        with tempfile.TemporaryDirectory() as tmp:
            state = per_expert_state(init_state(s), tmp)
        file_state, dequant = {}, {}
        for name, t in sorted(state.items()):
            if is_quantized(name, t):
                q, scale = block_quant(t)
                file_state[name], file_state[name + "_scale_inv"] = q, scale
                dequant[name] = block_dequant(q, scale)
            elif name.endswith("e_score_correction_bias"):
                file_state[name] = dequant[name] = t.float()
            else:  # BF16 in DeepSeek's release: embedding, LM head, norms, router
                file_state[name] = t.to(torch.bfloat16)
                dequant[name] = file_state[name].float()
        as_fp8 = dict(dequant)
        for name in ("model.embed_tokens.weight", "lm_head.weight"):
            as_fp8[name] = row_block_dequant(dequant[name])
        with tempfile.TemporaryDirectory() as tmp:
            logits_a, picks_a, gap_a = routes(reference_model(dequant, tmp), tokens)
        with tempfile.TemporaryDirectory() as tmp:
            logits_b, picks_b, gap_b = routes(reference_model(as_fp8, tmp), tokens)
        same = all(torch.equal(a, b) for a, b in zip(picks_a, picks_b))
        print(f"seed {s}: margins {gap_a:.2e} / {gap_b:.2e}, same routes {same}")
        if min(gap_a, gap_b) > MIN_GAP and same:
            break
    else:
        raise SystemExit("no seed with clear routing")
    d = os.path.join(out, "deepseek_v3_fp8")
    if os.path.isdir(d):
        shutil.rmtree(d)
    with tempfile.TemporaryDirectory() as tmp:
        DeepseekV3ForCausalLM(DeepseekV3Config(**CFG)).save_pretrained(tmp)
        config = json.load(open(os.path.join(tmp, "config.json")))
    config["quantization_config"] = QUANT
    config.pop("dtype", None)
    config["torch_dtype"] = "bfloat16"
    os.makedirs(d)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    save_file(file_state, os.path.join(d, "model.safetensors"), {"format": "pt"})
    ref = {}
    for i, t in enumerate(tokens):
        ref[f"tokens_{i}"] = t
        ref[f"logits_dequant_{i}"] = logits_a[i].float().contiguous()
        ref[f"logits_fp8_{i}"] = logits_b[i].float().contiguous()
    meta = dict(transformers_version=transformers.__version__, torch_version=torch.__version__, seed=str(s),
                min_routing_margin=f"{min(gap_a, gap_b):.3e}")
    save_file(ref, os.path.join(d, "reference.safetensors"), meta)
    diff = max(float((a - b).abs().max()) for a, b in zip(logits_a, logits_b))
    print(f"max |logits_fp8 - logits_dequant| = {diff:.4f} (max |logit| {max(float(a.abs().max()) for a in logits_a):.3f})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/data/fp8")
    args = ap.parse_args()
    n = codec(os.path.join(args.out, "codec"))
    print(f"codec: {n} encode cases")
    checkpoint(args.out)
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(args.out) for f in fs)
    print(f"{args.out}: {total} bytes")


if __name__ == "__main__":
    main()
