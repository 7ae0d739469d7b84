#!/usr/bin/env python3
"""Generate golden reference files for the C++ `moe` tests from Hugging Face transformers MoE blocks.

Usage (from the repository root):
    python3 tools/make_moe_reference.py [--out tests/data/moe_reference]

Deterministic (fixed seeds), CPU only, float32. For every case it builds the transformers MoE block from its
config class, initialises all weights reproducibly, runs a (1, T, D) input through the block in eval mode under
torch.no_grad(), and writes tests/data/moe_reference/<case>.safetensors. See the README in that folder for the
tensor list. Python is only a generator: the produced files are committed and the C++ tests do not need Python.

Besides writing the files, the script checks that:
  * the configured sizes/router settings really reached the module (config field names differ per family);
  * an independent plain-torch re-implementation of the docs/routing.md formulas, fed only the saved tensors,
    reproduces the HF output (this also pins down the fused gate_up_proj layout: gate rows first);
  * top-k and group selections are not near-ties (so C++ float differences cannot flip a choice);
  * the reduced-precision weight variants do not change routing (router stays fp32).
It also runs the DeepSeek-V3 "masked groups filled with 0.0 instead of -inf" trap comparison and prints it.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys

import torch
import torch.nn.functional as F
import transformers
from safetensors import safe_open
from safetensors.torch import load_file

from transformers.models.deepseek_v2.configuration_deepseek_v2 import DeepseekV2Config
from transformers.models.deepseek_v2.modeling_deepseek_v2 import DeepseekV2Moe
from transformers.models.deepseek_v3.configuration_deepseek_v3 import DeepseekV3Config
from transformers.models.deepseek_v3.modeling_deepseek_v3 import DeepseekV3MoE
from transformers.models.mixtral.configuration_mixtral import MixtralConfig
from transformers.models.mixtral.modeling_mixtral import MixtralSparseMoeBlock
from transformers.models.olmoe.configuration_olmoe import OlmoeConfig
from transformers.models.olmoe.modeling_olmoe import OlmoeSparseMoeBlock
from transformers.models.qwen2_moe.configuration_qwen2_moe import Qwen2MoeConfig
from transformers.models.qwen2_moe.modeling_qwen2_moe import Qwen2MoeSparseMoeBlock
from transformers.models.qwen3_moe.configuration_qwen3_moe import Qwen3MoeConfig
from transformers.models.qwen3_moe.modeling_qwen3_moe import Qwen3MoeSparseMoeBlock

T = 13          # tokens per case
D = 64          # hidden size, all cases
MIN_GAP = 2e-3  # min margin, last chosen vs first rejected: logit units (softmax) / biased score units (V3)

# Small attention/vocab settings only so the full-model config validates; the MoE block does not use them.
_COMMON = dict(hidden_size=D, num_attention_heads=4, num_key_value_heads=4, num_hidden_layers=1,
               vocab_size=160000, hidden_act="silu", experts_implementation="eager")

# case -> (config class, block class, config kwargs, description, seed)
CASES = {
    "mixtral": dict(
        cfg=MixtralConfig, block=MixtralSparseMoeBlock, seed=1001,
        kw=dict(intermediate_size=96, num_local_experts=8, num_experts_per_tok=2, router_jitter_noise=0.0),
        F=96, E=8, K=2, family="mixtral"),
    "qwen2_moe": dict(
        cfg=Qwen2MoeConfig, block=Qwen2MoeSparseMoeBlock, seed=1002,
        kw=dict(intermediate_size=128, moe_intermediate_size=48, num_experts=6, num_experts_per_tok=3,
                shared_expert_intermediate_size=80, norm_topk_prob=False),
        F=48, E=6, K=3, family="qwen2_moe"),
    "qwen3_moe": dict(
        cfg=Qwen3MoeConfig, block=Qwen3MoeSparseMoeBlock, seed=1003,
        kw=dict(intermediate_size=128, moe_intermediate_size=48, num_experts=12, num_experts_per_tok=4,
                norm_topk_prob=True),
        F=48, E=12, K=4, family="qwen3_moe"),
    "olmoe": dict(
        cfg=OlmoeConfig, block=OlmoeSparseMoeBlock, seed=1004,
        kw=dict(intermediate_size=40, num_experts=10, num_experts_per_tok=3, norm_topk_prob=False),
        F=40, E=10, K=3, family="olmoe"),
    "deepseek_v3": dict(
        cfg=DeepseekV3Config, block=DeepseekV3MoE, seed=4005,
        kw=dict(intermediate_size=128, moe_intermediate_size=32, n_routed_experts=24, num_experts_per_tok=4,
                n_group=4, topk_group=2, n_shared_experts=2, routed_scaling_factor=2.5, norm_topk_prob=True,
                first_k_dense_replace=0),
        F=32, E=24, K=4, family="deepseek_v3"),
    "deepseek_v2": dict(
        cfg=DeepseekV2Config, block=DeepseekV2Moe, seed=1006,
        kw=dict(intermediate_size=128, moe_intermediate_size=32, n_routed_experts=12, num_experts_per_tok=3,
                topk_method="group_limited_greedy", n_group=3, topk_group=2, n_shared_experts=1,
                routed_scaling_factor=1.5, norm_topk_prob=False, first_k_dense_replace=0),
        F=32, E=12, K=3, family="deepseek_v2"),
}


# ----------------------------------------------------------------------------------------------------------------
# Module access helpers (attribute names differ per family)
# ----------------------------------------------------------------------------------------------------------------
def shared_mlp(block):
    for name in ("shared_expert", "shared_experts"):
        if hasattr(block, name):
            return getattr(block, name)
    return None


def check_module(case, spec, block):
    """Assert that the configured values reached the module."""
    E, K, Fdim = spec["E"], spec["K"], spec["F"]
    kw = spec["kw"]
    g, ex = block.gate, block.experts
    assert g.top_k == K, (case, g.top_k)
    assert g.num_experts == E, (case, g.num_experts)
    assert tuple(g.weight.shape) == (E, D), (case, g.weight.shape)
    assert ex.num_experts == E and ex.hidden_dim == D and ex.intermediate_dim == Fdim, case
    assert tuple(ex.gate_up_proj.shape) == (E, 2 * Fdim, D), (case, ex.gate_up_proj.shape)
    assert tuple(ex.down_proj.shape) == (E, D, Fdim), (case, ex.down_proj.shape)
    assert ex.config._experts_implementation == "eager", (case, ex.config._experts_implementation)
    assert ex.is_concatenated and not ex.is_transposed and ex.has_gate and not ex.has_bias, case
    v = torch.linspace(-6, 6, 101)
    assert ex.config.hidden_act == "silu" and torch.equal(ex.act_fn(v), F.silu(v)), (case, ex.act_fn)
    if hasattr(g, "norm_topk_prob"):
        assert g.norm_topk_prob == kw["norm_topk_prob"], case
    if case == "mixtral":
        assert block.top_k == K and block.jitter_noise == 0.0
    if case in ("deepseek_v3", "deepseek_v2"):
        assert g.num_group == kw["n_group"] and g.topk_group == kw["topk_group"], case
        assert g.routed_scaling_factor == kw["routed_scaling_factor"], case
    if case == "deepseek_v3":
        assert tuple(g.e_score_correction_bias.shape) == (E,)
    if case == "deepseek_v2":
        assert g.topk_method == "group_limited_greedy"
    sm = shared_mlp(block)
    S = shared_width(case, spec)
    if S:
        assert sm is not None, case
        assert tuple(sm.gate_proj.weight.shape) == (S, D) and tuple(sm.up_proj.weight.shape) == (S, D)
        assert tuple(sm.down_proj.weight.shape) == (D, S)
        assert sm.gate_proj.bias is None and sm.up_proj.bias is None and sm.down_proj.bias is None
    else:
        assert sm is None, case
    if case == "qwen2_moe":
        assert tuple(block.shared_expert_gate.weight.shape) == (1, D) and block.shared_expert_gate.bias is None


def shared_width(case, spec):
    if case == "qwen2_moe":
        return spec["kw"]["shared_expert_intermediate_size"]
    if case.startswith("deepseek"):
        return spec["kw"]["n_shared_experts"] * spec["F"]
    return 0


def init_weights(case, spec, block, gen):
    """Initialise every parameter/buffer reproducibly. Returns the set of names initialised."""
    Fdim, E = spec["F"], spec["E"]
    done = set()

    def normal_(t, std):
        with torch.no_grad():
            t.copy_(torch.randn(t.shape, generator=gen, dtype=torch.float32) * std)

    # Router: std 2.5/sqrt(D) -> logits of std ~2.5 for unit inputs (well separated top-k).
    normal_(block.gate.weight, 2.5 / math.sqrt(D)); done.add("gate.weight")
    if case == "deepseek_v3":
        normal_(block.gate.e_score_correction_bias, 0.1); done.add("gate.e_score_correction_bias")
    normal_(block.experts.gate_up_proj, 1.0 / math.sqrt(D)); done.add("experts.gate_up_proj")
    normal_(block.experts.down_proj, 1.0 / math.sqrt(Fdim)); done.add("experts.down_proj")
    sm = shared_mlp(block)
    if sm is not None:
        pfx = "shared_expert" if case == "qwen2_moe" else "shared_experts"
        S = sm.gate_proj.weight.shape[0]
        normal_(sm.gate_proj.weight, 1.0 / math.sqrt(D)); done.add(f"{pfx}.gate_proj.weight")
        normal_(sm.up_proj.weight, 1.0 / math.sqrt(D)); done.add(f"{pfx}.up_proj.weight")
        normal_(sm.down_proj.weight, 1.0 / math.sqrt(S)); done.add(f"{pfx}.down_proj.weight")
    if case == "qwen2_moe":
        normal_(block.shared_expert_gate.weight, 1.0 / math.sqrt(D)); done.add("shared_expert_gate.weight")
    names = {n for n, _ in block.named_parameters()} | {n for n, _ in block.named_buffers()}
    assert names == done, (case, names ^ done)


# ----------------------------------------------------------------------------------------------------------------
# Independent plain-torch router + layer (docs/routing.md formulas), used as a cross-check of the HF output
# ----------------------------------------------------------------------------------------------------------------
def ref_route(case, spec, t, neg_fill=float("-inf")):
    """Return (ids, weights, gaps) with ids/weights in the HF order-independent form (sorted by id later).
    gaps: list of margins on the selection scale (last kept vs first rejected), for the near-tie check."""
    kw, E, K = spec["kw"], spec["E"], spec["K"]
    logits = t["x"] @ t["router.weight"].T
    gaps = []

    def margin(v, k):
        s = torch.sort(v, dim=-1, descending=True).values
        return (s[:, k - 1] - s[:, k]).min().item()

    if case in ("mixtral", "qwen2_moe", "qwen3_moe", "olmoe"):
        p = torch.softmax(logits, dim=-1)
        ids = torch.topk(p, K, dim=-1).indices
        w = p.gather(1, ids)
        gaps.append(margin(logits, K))  # softmax is monotonic: measure the margin in logit units
        if case == "mixtral" or kw.get("norm_topk_prob"):
            w = w / w.sum(-1, keepdim=True)
        return ids, w, gaps
    G, TG = kw["n_group"], kw["topk_group"]
    if case == "deepseek_v3":
        s = torch.sigmoid(logits)
        sc = s + t["router.e_score_correction_bias"]
        gs = sc.view(T, G, E // G).topk(2, dim=-1).values.sum(-1)
    else:  # deepseek_v2 group_limited_greedy
        s = torch.softmax(logits, dim=-1)
        sc = s
        gs = sc.view(T, G, E // G).max(-1).values
    if case == "deepseek_v3":
        gaps.append(margin(gs, TG))
    else:  # max-prob group ranking == max-logit group ranking; margin in logit units
        gaps.append(margin(logits.view(T, G, E // G).max(-1).values, TG))
    gidx = torch.topk(gs, TG, dim=-1).indices
    gmask = torch.zeros(T, G, dtype=torch.bool).scatter_(1, gidx, True)
    emask = gmask.unsqueeze(-1).expand(T, G, E // G).reshape(T, E)
    scm = sc.masked_fill(~emask, neg_fill)
    ids = torch.topk(scm, K, dim=-1).indices
    gaps.append(margin(scm if case == "deepseek_v3" else logits.masked_fill(~emask, float("-inf")), K))
    w = s.gather(1, ids)  # unbiased scores
    if case == "deepseek_v3" and kw["norm_topk_prob"]:
        w = w / (w.sum(-1, keepdim=True) + 1e-20)
    # NB: transformers 5.24 DeepseekV2TopkRouter ignores norm_topk_prob entirely (never renormalises).
    w = w * kw["routed_scaling_factor"]
    return ids, w, gaps


def ref_layer(t, ids, w, Fdim, shared_gate=False):
    x = t["x"]
    y = torch.zeros_like(x)
    gu, dn = t["experts.gate_up_proj"], t["experts.down_proj"]
    for n in range(x.shape[0]):
        for j in range(ids.shape[1]):
            e = int(ids[n, j])
            h = gu[e] @ x[n]
            gate, up = h[:Fdim], h[Fdim:]  # gate rows first, then up rows
            y[n] += w[n, j] * (dn[e] @ (F.silu(gate) * up))
    if "shared.gate_proj" in t:
        hs = t["shared.down_proj"] @ (F.silu(t["shared.gate_proj"] @ x.T) * (t["shared.up_proj"] @ x.T))
        hs = hs.T
        if shared_gate:
            hs = torch.sigmoid(x @ t["shared_gate.weight"].T) * hs
        y = y + hs
    return y


def canonical(ids, w):
    order = torch.argsort(ids, dim=-1)
    return ids.gather(1, order), w.gather(1, order)


# ----------------------------------------------------------------------------------------------------------------
_ST_DTYPES = {torch.float32: "F32", torch.int32: "I32"}


def save_safetensors_deterministic(tensors, path, metadata):
    """Write a safetensors file byte-for-byte reproducibly.

    safetensors' own save_file emits `__metadata__` keys in hash-map order, which changes from run to run; here
    the header is written with sorted keys, tensors in name order, little-endian, header padded with spaces to a
    multiple of 8 bytes (as the reference writer does). The result is read back and compared below."""
    header = {"__metadata__": dict(sorted(metadata.items()))}
    blobs, off = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        b = t.numpy().astype(t.numpy().dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for b in blobs:
            f.write(b)
    back = load_file(path)
    assert back.keys() == tensors.keys() and all(torch.equal(back[k], tensors[k]) for k in tensors), path
    with safe_open(path, "pt") as g:
        assert g.metadata() == metadata, path


def run_block(block, x):
    captured = {}

    def hook(_m, _inp, out):
        captured["router"] = out

    h = block.gate.register_forward_hook(hook)
    with torch.no_grad():
        y = block(x.view(1, T, D)).view(T, D).clone()
    h.remove()
    _logits, w, ids = captured["router"]
    return y, ids.clone(), w.clone()


def round_ffn_weights(case, block, dtype):
    b = copy.deepcopy(block)
    params = [b.experts.gate_up_proj, b.experts.down_proj]
    sm = shared_mlp(b)
    if sm is not None:
        params += [sm.gate_proj.weight, sm.up_proj.weight, sm.down_proj.weight]
    with torch.no_grad():
        for p in params:
            p.copy_(p.to(dtype).to(torch.float32))
    return b


def make_case(case, spec, out_dir, report):
    torch.manual_seed(spec["seed"])
    gen = torch.Generator().manual_seed(spec["seed"])
    cfg = spec["cfg"](**_COMMON, **spec["kw"])
    assert cfg._experts_implementation == "eager"
    block = spec["block"](cfg).to(torch.float32).eval()
    check_module(case, spec, block)
    init_weights(case, spec, block, gen)

    x = torch.randn(T, D, generator=gen, dtype=torch.float32)
    y, ids_hf, w_hf = run_block(block, x)
    assert ids_hf.dtype == torch.int64 and w_hf.dtype == torch.float32, (ids_hf.dtype, w_hf.dtype)
    ids_c, w_c = canonical(ids_hf, w_hf)

    E, K, Fdim = spec["E"], spec["K"], spec["F"]
    S = shared_width(case, spec)
    t = {"x": x.contiguous(), "router.weight": block.gate.weight.detach().clone()}
    if case == "deepseek_v3":
        t["router.e_score_correction_bias"] = block.gate.e_score_correction_bias.detach().clone()
    t["experts.gate_up_proj"] = block.experts.gate_up_proj.detach().clone()
    t["experts.down_proj"] = block.experts.down_proj.detach().clone()
    sm = shared_mlp(block)
    if sm is not None:
        t["shared.gate_proj"] = sm.gate_proj.weight.detach().clone()
        t["shared.up_proj"] = sm.up_proj.weight.detach().clone()
        t["shared.down_proj"] = sm.down_proj.weight.detach().clone()
    if case == "qwen2_moe":
        t["shared_gate.weight"] = block.shared_expert_gate.weight.detach().clone()

    # --- sanity checks ------------------------------------------------------------------------------------------
    assert torch.isfinite(y).all() and y.abs().max() > 1e-2, case
    assert ((ids_c >= 0) & (ids_c < E)).all(), case
    assert all(len(set(r.tolist())) == K for r in ids_c), "duplicate expert in a row"
    ids_r, w_r, gaps = ref_route(case, spec, t)
    ids_rc, w_rc = canonical(ids_r, w_r)
    assert torch.equal(ids_rc, ids_c), (case, ids_rc, ids_c)
    assert torch.allclose(w_rc, w_c, rtol=1e-5, atol=1e-6), case
    assert min(gaps) > MIN_GAP, (case, gaps)
    y_ref = ref_layer(t, ids_r, w_r, Fdim, shared_gate=(case == "qwen2_moe"))
    err = (y_ref - y).abs().max().item()
    assert err < 1e-5, (case, err)
    wsum = w_c.sum(-1)
    if case in ("mixtral", "qwen3_moe"):
        assert torch.allclose(wsum, torch.ones(T), atol=1e-6), case
    if case == "deepseek_v3":
        assert torch.allclose(wsum, torch.full((T,), 2.5), atol=1e-5), case
    if case in ("qwen2_moe", "olmoe"):
        assert (wsum < 1.0).all(), case
    if case == "deepseek_v2":
        assert (wsum < 1.5).all(), case  # softmax probs * 1.5, never renormalised

    ys = {}
    for name, dt in (("y_bf16_weights", torch.bfloat16), ("y_fp16_weights", torch.float16)):
        b2 = round_ffn_weights(case, block, dt)
        y2, ids2, w2 = run_block(b2, x)
        assert torch.equal(ids2, ids_hf) and torch.equal(w2, w_hf), (case, name, "routing changed")
        ys[name] = y2

    # --- DeepSeek-V3 trap: masked groups filled with 0.0 instead of -inf -----------------------------------------
    trap = None
    if case == "deepseek_v3":
        ids0, _w0, _ = ref_route(case, spec, t, neg_fill=0.0)
        ids0c = torch.sort(ids0, dim=-1).values
        rows = [n for n in range(T) if not torch.equal(ids0c[n], ids_c[n])]
        sc = torch.sigmoid(t["x"] @ t["router.weight"].T) + t["router.e_score_correction_bias"]
        # 0.0-fill can only change the choice if some row's K-th best kept biased score is below 0.0
        G, E_ = spec["kw"]["n_group"], spec["E"]
        gs = sc.view(T, G, E_ // G).topk(2, dim=-1).values.sum(-1)
        gidx = torch.topk(gs, spec["kw"]["topk_group"], dim=-1).indices
        emask = torch.zeros(T, G, dtype=torch.bool).scatter_(1, gidx, True).unsqueeze(-1).expand(T, G, E_ // G)
        kth_kept = sc.masked_fill(~emask.reshape(T, E_), float("-inf")).topk(K, dim=-1).values[:, -1]
        trap = dict(rows_differing=rows, num_rows_differing=len(rows),
                    min_kth_kept_biased_score=float(kth_kept.min()),
                    min_biased_score=float(sc.min()), num_negative_biased_scores=int((sc < 0).sum()))

    t["y"] = y.contiguous()
    t["topk_ids"] = ids_c.to(torch.int32).contiguous()
    t["topk_weights"] = w_c.to(torch.float32).contiguous()
    t.update({k: v.contiguous() for k, v in ys.items()})

    kw = spec["kw"]
    config = dict(family=spec["family"], hf_class=spec["block"].__name__, D=D, F=Fdim, E=E, K=K, T=T,
                  scoring="sigmoid" if case == "deepseek_v3" else "softmax",
                  norm_topk_prob=bool(kw.get("norm_topk_prob", case == "mixtral")),
                  n_group=kw.get("n_group", 1), topk_group=kw.get("topk_group", 1),
                  routed_scaling_factor=float(kw.get("routed_scaling_factor", 1.0)),
                  shared_width=S, shared_gate=(case == "qwen2_moe"),
                  e_score_correction_bias=(case == "deepseek_v3"))
    if case == "deepseek_v2":
        config["topk_method"] = kw["topk_method"]
        config["norm_topk_prob_applied_by_hf"] = False
    if case == "deepseek_v3":
        config["group_score"] = "sum_top2"
    if case == "deepseek_v2":
        config["group_score"] = "max"
    meta = dict(transformers_version=transformers.__version__, torch_version=torch.__version__, case=case,
                config=json.dumps(config, sort_keys=True))
    path = os.path.join(out_dir, f"{case}.safetensors")
    save_safetensors_deterministic(t, path, meta)

    report[case] = dict(
        path=path, bytes=os.path.getsize(path), max_abs_y=float(y.abs().max()), rms_y=float(y.pow(2).mean().sqrt()),
        ref_err=err, min_gap=min(gaps),
        bf16_diff=float((ys["y_bf16_weights"] - y).abs().max()), fp16_diff=float((ys["y_fp16_weights"] - y).abs().max()),
        wsum_range=(float(wsum.min()), float(wsum.max())), experts_used=sorted(set(ids_c.flatten().tolist())),
        trap=trap)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "data", "moe_reference"))
    args = ap.parse_args()
    out_dir = os.path.normpath(args.out)
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    report = {}
    for case, spec in CASES.items():
        make_case(case, spec, out_dir, report)
    total = 0
    for case, r in report.items():
        total += r["bytes"]
        print(f"{case:12s} {r['bytes']:7d} B  max|y|={r['max_abs_y']:.3f} rms(y)={r['rms_y']:.3f} "
              f"ref_err={r['ref_err']:.1e} min_gap={r['min_gap']:.3g} bf16Δ={r['bf16_diff']:.2e} "
              f"fp16Δ={r['fp16_diff']:.2e} Σw∈[{r['wsum_range'][0]:.4f},{r['wsum_range'][1]:.4f}] "
              f"experts_used={len(r['experts_used'])}")
        if r["trap"] is not None:
            print(f"  deepseek_v3 0.0-vs--inf trap: {json.dumps(r['trap'])}")
    print(f"total {total} bytes; transformers {transformers.__version__}, torch {torch.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
