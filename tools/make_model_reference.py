#!/usr/bin/env python3
"""Generate tiny random whole-model checkpoints of every supported MoE family, and their transformers logits.

Usage (from the repository root):
    python3 tools/make_model_reference.py [--out tests/data/models]

For every case it builds a tiny `<Family>ForCausalLM` from its config class (fixed seed, float32, eval mode,
eager attention, eager experts), re-initialises every parameter and persistent buffer reproducibly so that logits
are O(1) and routing is well separated, and writes

    tests/data/models/<case>/config.json, generation_config.json,
        model.safetensors  (or model-0000i-of-0000n.safetensors + model.safetensors.index.json)
        reference.safetensors

with `save_pretrained(dir, safe_serialization=True)`. reference.safetensors holds `tokens_0..2` (int32; three
sequences of lengths 7, 12, 3) and `logits_0..2` (float32 (len, vocab), each sequence run alone through the full
model, no attention mask, use_cache=False), plus `logits_step_1`: sequence 1 fed token by token through a
DynamicCache, each step's logits concatenated. See the README in that folder.

Checks the script runs:
  * the configured sizes reached the modules; every parameter/persistent buffer was initialised by the script;
  * routing margins: in every MoE layer, for every token of every run (3 prefill runs, the incremental run, and
    the bf16 variant), the gap between the k-th and (k+1)-th selection score is > MIN_GAP (for DeepSeek-V3 also
    between the kept and the first dropped group); otherwise the next seed is tried;
  * the saved checkpoint reloads with `from_pretrained` (no missing / unexpected keys) and reproduces the
    reference logits bit for bit; the incremental path agrees with the full forward (max difference reported);
  * rerun determinism: every written file is byte-reproducible (save_pretrained writes a single `format` metadata
    key, and reference.safetensors is written with sorted header keys).
Python is only a generator: the produced files are committed and the C++ tests do not need Python.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import shutil
import sys

import torch
import transformers
from safetensors import safe_open
from safetensors.torch import load_file
from transformers import (AutoModelForCausalLM, DeepseekV2Config, DeepseekV2ForCausalLM, DeepseekV3Config,
                          DeepseekV3ForCausalLM, DynamicCache, MixtralConfig, MixtralForCausalLM, OlmoeConfig,
                          OlmoeForCausalLM, Qwen2MoeConfig, Qwen2MoeForCausalLM, Qwen3MoeConfig, Qwen3MoeForCausalLM)

V = 160           # vocab, all cases
D = 64            # hidden size, all cases
LENGTHS = (7, 12, 3)
STEP_SEQ = 1      # the sequence fed token by token
MIN_GAP = 2e-3    # selection margin: router-logit units (softmax routers) / biased sigmoid score units (V3)
TOKEN_SEED = 20240611

_COMMON = dict(vocab_size=V, hidden_size=D, hidden_act="silu", rms_norm_eps=1e-6,
               experts_implementation="eager", attn_implementation="eager")

# case -> spec. `seed` is the first seed tried; `variants` are extra configs built with the same seed (same
# weights) that must pass the routing check too (they become their own cases).
CASES = {
    "mixtral": dict(
        cls=MixtralForCausalLM, cfg=MixtralConfig, seed=2001, family="mixtral",
        kw=dict(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=96,
                num_local_experts=5, num_experts_per_tok=2, rope_theta=1e6, tie_word_embeddings=False,
                max_position_embeddings=64, router_jitter_noise=0.0, rms_norm_eps=1e-5),
        E=5, K=2, features="GQA 4/2 (head_dim 16 derived, not in config), rope_theta 1e6, 5 experts (non-power-of-two), "
                           "top-2 renormalised, untied lm_head"),
    # Head widths that are whole q8_0 blocks (32), so that llama.cpp can run the same file with a q8_0 KV cache
    # (tools/make_gguf_models.py records those logits; tests/models/test_kv_cache_formats_vs_llama_cpp.cpp).
    "mixtral_hd32": dict(
        cls=MixtralForCausalLM, cfg=MixtralConfig, seed=2011, family="mixtral",
        kw=dict(num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, intermediate_size=96,
                num_local_experts=4, num_experts_per_tok=2, rope_theta=1e6, tie_word_embeddings=False,
                max_position_embeddings=64, router_jitter_noise=0.0, rms_norm_eps=1e-5),
        E=4, K=2, features="GQA 2/1, head_dim 32 (one q8_0 block), 4 experts top-2"),
    "qwen2_moe": dict(
        cls=Qwen2MoeForCausalLM, cfg=Qwen2MoeConfig, seed=2002, family="qwen2_moe",
        kw=dict(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=128,
                moe_intermediate_size=48, num_experts=6, num_experts_per_tok=3, shared_expert_intermediate_size=80,
                norm_topk_prob=False, decoder_sparse_step=1, mlp_only_layers=[], qkv_bias=True,
                tie_word_embeddings=False, max_position_embeddings=64, use_sliding_window=False),
        E=6, K=3, features="GQA 4/2, q/k/v bias (no o bias), top-3 un-normalised, gated shared expert (width 80)"),
    "qwen3_moe": dict(
        cls=Qwen3MoeForCausalLM, cfg=Qwen3MoeConfig, seed=2003, family="qwen3_moe",
        kw=dict(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16, intermediate_size=128,
                moe_intermediate_size=48, num_experts=6, num_experts_per_tok=4, norm_topk_prob=True,
                decoder_sparse_step=1, mlp_only_layers=[], tie_word_embeddings=True, max_position_embeddings=64,
                use_sliding_window=False),
        E=6, K=4, features="GQA 4/2, per-head QK-norm (width head_dim), top-4 renormalised, tied embeddings"),
    "olmoe": dict(
        cls=OlmoeForCausalLM, cfg=OlmoeConfig, seed=2004, family="olmoe",
        kw=dict(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4, intermediate_size=40,
                num_experts=6, num_experts_per_tok=3, norm_topk_prob=False, clip_qkv=None,
                tie_word_embeddings=False, max_position_embeddings=64, rms_norm_eps=1e-5,
                eos_token_id=None),  # default 50279 lies outside the tiny vocab (transformers warns); pad stays 1
        variants={"olmoe_clip": dict(clip_qkv=0.5)},
        E=6, K=3, features="MHA 4/4, whole-projection QK-norm (width H*Dh), top-3 un-normalised, eps 1e-5"),
    "deepseek_v2": dict(
        cls=DeepseekV2ForCausalLM, cfg=DeepseekV2Config, seed=2005, family="deepseek_v2",
        kw=dict(num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=4, first_k_dense_replace=1,
                intermediate_size=96, moe_intermediate_size=32, n_routed_experts=8, num_experts_per_tok=3,
                n_shared_experts=2, topk_method="greedy", n_group=None, topk_group=None, norm_topk_prob=False,
                q_lora_rank=None, kv_lora_rank=32, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16,
                routed_scaling_factor=1.0, rope_theta=10000.0, tie_word_embeddings=False,
                max_position_embeddings=64),
        E=8, K=3, features="MLA without q_lora (q_proj), complex-pair RoPE, dense first layer, greedy top-3 softmax, "
                           "2 shared experts (one MLP of width 64)"),
    "deepseek_v2_kv32": dict(
        cls=DeepseekV2ForCausalLM, cfg=DeepseekV2Config, seed=2012, family="deepseek_v2",
        kw=dict(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4, first_k_dense_replace=1,
                intermediate_size=96, moe_intermediate_size=32, n_routed_experts=8, num_experts_per_tok=3,
                n_shared_experts=1, topk_method="greedy", n_group=None, topk_group=None, norm_topk_prob=False,
                q_lora_rank=None, kv_lora_rank=32, qk_nope_head_dim=16, qk_rope_head_dim=32, v_head_dim=16,
                routed_scaling_factor=1.0, rope_theta=10000.0, tie_word_embeddings=False,
                max_position_embeddings=64),
        E=8, K=3, features="MLA with latent 32 and rope key 32 (each one q8_0 block), dense first layer"),
    "deepseek_v3": dict(
        cls=DeepseekV3ForCausalLM, cfg=DeepseekV3Config, seed=2006, family="deepseek_v3", shard="400KB",
        kw=dict(num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=4, first_k_dense_replace=1,
                intermediate_size=96, moe_intermediate_size=32, n_routed_experts=12, n_group=4, topk_group=2,
                num_experts_per_tok=3, n_shared_experts=1, q_lora_rank=24, kv_lora_rank=32, qk_nope_head_dim=16,
                qk_rope_head_dim=8, v_head_dim=16, routed_scaling_factor=2.5, norm_topk_prob=True,
                rope_theta=10000.0, max_position_embeddings=64, tie_word_embeddings=False,
                # as the released V3 config.json spells it (legacy `rope_scaling` with "type"), scaled down
                rope_scaling=dict(type="yarn", factor=4.0, original_max_position_embeddings=16, beta_fast=32,
                                  beta_slow=1, mscale=1.0, mscale_all_dim=1.0)),
        E=12, K=3, features="MLA with q_lora (24), interleaved RoPE, YaRN (factor 4, mscale 1/1), dense first layer, "
                            "sigmoid + bias + 4 groups/keep 2, x2.5, 1 shared expert, sharded checkpoint"),
}


# ----------------------------------------------------------------------------------------------------------------
# deterministic safetensors writer (same as tools/make_moe_reference.py)
# ----------------------------------------------------------------------------------------------------------------
_ST_DTYPES = {torch.float32: "F32", torch.int32: "I32"}


def save_safetensors_deterministic(tensors, path, metadata):
    """Write a safetensors file byte-for-byte reproducibly (sorted header keys, tensors in name order)."""
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


# ----------------------------------------------------------------------------------------------------------------
# model construction and initialisation
# ----------------------------------------------------------------------------------------------------------------
def build(spec, seed, overrides=None):
    kw = dict(_COMMON)
    kw.update(spec["kw"])
    kw.update(overrides or {})
    kw = copy.deepcopy(kw)
    cfg = spec["cfg"](**kw)
    assert cfg._experts_implementation == "eager" and cfg._attn_implementation == "eager"
    torch.manual_seed(seed)
    model = spec["cls"](cfg).to(torch.float32).eval()
    init_weights(model, spec, torch.Generator().manual_seed(seed))
    check_model(model, spec)
    return model


def init_weights(model, spec, gen):
    """Re-initialise every parameter and persistent buffer (nothing left from torch.empty or the std-0.02 init)."""
    tied = model.config.tie_word_embeddings
    done = set()

    def normal_(t, std, mean=0.0):
        with torch.no_grad():
            t.copy_(torch.randn(t.shape, generator=gen, dtype=torch.float32) * std + mean)

    def uniform_(t, lo, hi):
        with torch.no_grad():
            t.copy_(torch.rand(t.shape, generator=gen, dtype=torch.float32) * (hi - lo) + lo)

    persistent = set(model.state_dict().keys())
    items = list(model.named_parameters()) + [(n, b) for n, b in model.named_buffers() if n in persistent]
    for name, t in items:
        if name.endswith("e_score_correction_bias"):
            normal_(t, 0.1)                                   # V3 selection bias, explicitly non-zero
        elif name.endswith("norm.weight"):                    # every RMSNorm (input/post/final/q/k/q_a/kv_a)
            uniform_(t, 0.75, 1.25)
        elif name == "model.embed_tokens.weight":
            normal_(t, 1.0 / math.sqrt(D) if tied else 1.0)   # tied: logits = h . E, keep them O(1)
        elif name == "lm_head.weight":
            normal_(t, 1.0 / math.sqrt(D))
        elif name.endswith("mlp.gate.weight"):                # router: logits of std ~2.5 (well spread)
            normal_(t, 2.5 / math.sqrt(D))
        elif name.endswith("experts.gate_up_proj"):           # (E, 2F, D)
            normal_(t, 1.0 / math.sqrt(t.shape[2]))
        elif name.endswith("experts.down_proj"):              # (E, D, F)
            normal_(t, 1.0 / math.sqrt(t.shape[2]))
        elif name.endswith(".bias"):
            uniform_(t, -0.1, 0.1)
        elif name.endswith(".weight") and t.dim() == 2:       # nn.Linear (out, in): unit-variance outputs
            normal_(t, 1.0 / math.sqrt(t.shape[1]))
        else:
            raise AssertionError(f"no init rule for {name} {tuple(t.shape)}")
        done.add(name)
    sd_names = set(model.state_dict().keys())
    if tied:
        assert model.lm_head.weight is model.model.embed_tokens.weight
        sd_names.discard("lm_head.weight")
    assert sd_names == done, sd_names ^ done


def moe_blocks(model):
    out = []
    for i, layer in enumerate(model.model.layers):
        mlp = layer.mlp
        if hasattr(mlp, "experts"):
            out.append((i, mlp))
    return out


def check_model(model, spec):
    c = model.config
    E, K = spec["E"], spec["K"]
    blocks = moe_blocks(model)
    n_dense = c.first_k_dense_replace if spec["family"].startswith("deepseek") else 0
    assert [i for i, _ in blocks] == list(range(n_dense, c.num_hidden_layers)), [i for i, _ in blocks]
    for _, b in blocks:
        assert b.gate.top_k == K and b.gate.num_experts == E and tuple(b.gate.weight.shape) == (E, D)
        assert b.experts.num_experts == E
    for p in model.parameters():
        assert p.dtype == torch.float32


# ----------------------------------------------------------------------------------------------------------------
# runs and routing margins
# ----------------------------------------------------------------------------------------------------------------
class RouterTap:
    """Collects the router logits of every MoE layer (gate modules return (logits, weights, indices))."""

    def __init__(self, model):
        self.logits = {}
        self.handles = []
        for i, b in moe_blocks(model):
            self.handles.append(b.gate.register_forward_hook(self._hook(i, b.gate)))
        self.gates = dict(moe_blocks(model))

    def _hook(self, i, gate):
        def f(_m, _inp, out):
            self.logits.setdefault(i, []).append(out[0].detach().float().clone())
        return f

    def close(self):
        for h in self.handles:
            h.remove()


def selection_gaps(family, gate, logits):
    """Per-token margin(s) of the choices the router makes. Returns a 1-D tensor of margins."""
    K = gate.top_k
    if family == "deepseek_v3":
        s = torch.sigmoid(logits) + gate.e_score_correction_bias.detach().float()
        G, E = gate.num_group, gate.num_experts
        gs = s.view(-1, G, E // G).topk(2, dim=-1).values.sum(-1)
        gsorted = gs.sort(dim=-1, descending=True).values
        ggap = gsorted[:, gate.topk_group - 1] - gsorted[:, gate.topk_group]
        gidx = torch.topk(gs, gate.topk_group, dim=-1).indices
        mask = torch.zeros_like(gs).scatter_(1, gidx, 1.0).bool().unsqueeze(-1).expand(-1, G, E // G).reshape(-1, E)
        sv = s.masked_fill(~mask, float("-inf")).sort(dim=-1, descending=True).values
        egap = sv[:, K - 1] - sv[:, K]
        return torch.cat([ggap, egap])
    # softmax is monotone: the choice is made on the logits, and their gap is what fp differences must not bridge
    sv = logits.sort(dim=-1, descending=True).values
    return sv[:, K - 1] - sv[:, K]


def forward_logits(model, ids):
    with torch.no_grad():
        out = model(input_ids=ids.view(1, -1).long(), use_cache=False)
    return out.logits[0].detach().clone()


def step_logits(model, ids):
    cache = DynamicCache(config=model.config)
    rows = []
    with torch.no_grad():
        for t in range(ids.numel()):
            out = model(input_ids=ids[t:t + 1].view(1, 1).long(), cache=cache, use_cache=True)
            rows.append(out.logits[0, -1].detach().clone())
    assert cache.get_seq_length() == ids.numel()
    return torch.stack(rows)


def run_model(model, family, tokens):
    """Prefill logits of every sequence, incremental logits of STEP_SEQ, and the minimum routing margin."""
    tap = RouterTap(model)
    logits = [forward_logits(model, t) for t in tokens]
    steps = step_logits(model, tokens[STEP_SEQ])
    tap.close()
    gaps = []
    for i, lst in tap.logits.items():
        for lg in lst:
            gaps.append(selection_gaps(family, tap.gates[i].gate, lg).min())
    return logits, steps, float(torch.stack(gaps).min())


def make_tokens():
    g = torch.Generator().manual_seed(TOKEN_SEED)
    toks = []
    for n in LENGTHS:
        t = torch.randint(0, V, (n,), generator=g)
        toks.append(t)
    # ids across the vocab, including 0 and V-1 in every sequence
    toks[0][1], toks[0][5] = 0, V - 1
    toks[1][0], toks[1][7], toks[1][10] = V - 1, 0, 0
    toks[2][0], toks[2][2] = 0, V - 1
    return [t.to(torch.int32) for t in toks]


# ----------------------------------------------------------------------------------------------------------------
# checkpoint inspection
# ----------------------------------------------------------------------------------------------------------------
def checkpoint_tensors(d):
    """name -> (dtype, shape, file) for every tensor of the checkpoint in folder d."""
    files = sorted(f for f in os.listdir(d) if f.endswith(".safetensors") and f != "reference.safetensors")
    out = {}
    for f in files:
        with safe_open(os.path.join(d, f), "pt") as g:
            for k in g.keys():
                sl = g.get_slice(k)
                out[k] = (sl.get_dtype(), tuple(sl.get_shape()), f)
    return out


def expert_layout(names):
    per = [n for n in names if ".experts.0." in n]
    fused = [n for n in names if n.endswith("experts.gate_up_proj") or n.endswith("experts.down_proj")]
    if per and not fused:
        return "per-expert"
    if fused and not per:
        return "fused"
    return "mixed" if per else "none"


def dir_files(d):
    return sorted(os.listdir(d))


# ----------------------------------------------------------------------------------------------------------------
def save_case(model, case, out_dir, shard=None):
    d = os.path.join(out_dir, case)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    kwargs = dict(safe_serialization=True)
    if shard:
        kwargs["max_shard_size"] = shard
    model.save_pretrained(d, **kwargs)
    return d


def reload(d, dtype):
    m, info = AutoModelForCausalLM.from_pretrained(d, dtype=dtype, attn_implementation="eager",
                                                   experts_implementation="eager", output_loading_info=True)
    bad = {k: v for k, v in info.items() if v}
    assert not bad, (d, bad)
    # Parameters loaded from safetensors live at the file's (unaligned) offsets, and CPU kernels then take other
    # vectorisation paths (last-bit differences, seen ~5e-7). Copy them to fresh, aligned storage so that the
    # comparison below can be bitwise.
    with torch.no_grad():
        for prm in m.parameters():
            prm.data = prm.data.clone()
        for _n, buf in m.named_buffers():
            buf.data = buf.data.clone()
    return m.eval()


def write_reference(d, case, family, hf_class, tokens, logits, steps, extra_meta):
    t = {}
    for i, (tk, lg) in enumerate(zip(tokens, logits)):
        t[f"tokens_{i}"] = tk.contiguous()
        t[f"logits_{i}"] = lg.float().contiguous()
    t[f"logits_step_{STEP_SEQ}"] = steps.float().contiguous()
    names = checkpoint_tensors(d)
    meta = dict(transformers_version=transformers.__version__, torch_version=torch.__version__, case=case,
                family=family, hf_class=hf_class, expert_layout=expert_layout(names),
                attn_implementation="eager", experts_implementation="eager")
    meta.update(extra_meta)
    save_safetensors_deterministic(t, os.path.join(d, "reference.safetensors"), meta)
    return names


def make_case(case, spec, tokens, out_dir, report, max_tries=200):
    family = spec["family"]
    variants = spec.get("variants", {})
    for seed in range(spec["seed"], spec["seed"] + max_tries):
        model = build(spec, seed)
        logits, steps, gap = run_model(model, family, tokens)
        runs = {case: (model, logits, steps, gap)}
        ok = gap > MIN_GAP
        for vcase, ov in variants.items():
            if not ok:
                break
            vm = build(spec, seed, ov)
            vl, vs, vg = run_model(vm, family, tokens)
            runs[vcase] = (vm, vl, vs, vg)
            ok = vg > MIN_GAP
        bf16 = None
        if ok and case == "qwen3_moe":
            mb = copy.deepcopy(model).to(torch.bfloat16)
            # Reference = bf16-rounded weights in fp32. Not copy.deepcopy(mb).float(): Module.to(bfloat16) also
            # rounds the rotary inv_freq buffer (non-persistent, never saved), which from_pretrained(dtype=bf16)
            # keeps in fp32. Round only what the checkpoint holds.
            mref = copy.deepcopy(model).eval()
            with torch.no_grad():
                for prm in mref.parameters():
                    prm.copy_(prm.to(torch.bfloat16).float())
            bl, bs, bg = run_model(mref, family, tokens)
            ok = bg > MIN_GAP
            bf16 = (mb, mref, bl, bs, bg)
        if ok:
            break
        print(f"  {case}: seed {seed} rejected (min routing gap {min(r[3] for r in runs.values()):.2e})")
    else:
        raise RuntimeError(f"{case}: no seed with routing gaps > {MIN_GAP}")

    for c, (m, lg, st, gp) in runs.items():
        d = save_case(m, c, out_dir, spec.get("shard") if c == case else None)
        sdiff = float((st - lg[STEP_SEQ]).abs().max())
        # sdpa (transformers' default attention on CPU) vs eager, for information
        m_sdpa = copy.deepcopy(m)
        m_sdpa.set_attn_implementation("sdpa")
        assert m_sdpa.config._attn_implementation == "sdpa" and m.config._attn_implementation == "eager"
        sd = max(float((forward_logits(m_sdpa, tk) - l).abs().max()) for tk, l in zip(tokens, lg))
        names = write_reference(d, c, family, type(m).__name__, tokens, lg, st,
                                dict(seed=str(seed), max_abs_step_minus_full=repr(sdiff)))
        # the checkpoint alone reproduces the logits
        r = reload(d, torch.float32)
        for tk, l in zip(tokens, lg):
            assert torch.equal(forward_logits(r, tk), l), (c, "reloaded model differs")
        report[c] = dict(dir=d, seed=seed, gap=gp, step_diff=sdiff, sdpa_diff=sd, names=names,
                         layout=expert_layout(names), logit_std=float(torch.cat(lg).std()),
                         logit_absmax=float(torch.cat(lg).abs().max()), cls=type(m).__name__,
                         files=dir_files(d), bytes=sum(os.path.getsize(os.path.join(d, f)) for f in dir_files(d)),
                         config=json.load(open(os.path.join(d, "config.json"))))

    if bf16 is not None:
        mb, mref, bl, bs, bg = bf16
        c = "qwen3_moe_bf16"
        d = save_case(mb, c, out_dir)
        sdiff = float((bs - bl[STEP_SEQ]).abs().max())
        names = write_reference(d, c, family, type(mb).__name__, tokens, bl, bs,
                                dict(seed=str(seed), max_abs_step_minus_full=repr(sdiff),
                                     note="checkpoint is bfloat16; logits are of the bf16-rounded weights upcast to "
                                          "float32 (model.float()), computed in float32"))
        r = reload(d, torch.bfloat16)
        assert all(p.dtype == torch.bfloat16 for p in r.parameters())
        assert r.model.rotary_emb.inv_freq.dtype == torch.float32
        # bf16-native run of the reloaded model, for information only
        native = max(float((forward_logits(r, tk).float() - l).abs().max()) for tk, l in zip(tokens, bl))
        r = r.float().eval()
        for tk, l in zip(tokens, bl):
            assert torch.equal(forward_logits(r, tk), l), (c, "reloaded model differs")
        mb_inv = copy.deepcopy(model).to(torch.bfloat16).model.rotary_emb.inv_freq
        inv_diff = float((mb_inv.float() - model.model.rotary_emb.inv_freq).abs().max())
        fp32diff = max(float((a - b).abs().max()) for a, b in zip(bl, runs[case][1]))
        report[c] = dict(dir=d, seed=seed, gap=bg, step_diff=sdiff, sdpa_diff=float("nan"), names=names,
                         layout=expert_layout(names), logit_std=float(torch.cat(bl).std()),
                         logit_absmax=float(torch.cat(bl).abs().max()), cls=type(mb).__name__,
                         files=dir_files(d), bytes=sum(os.path.getsize(os.path.join(d, f)) for f in dir_files(d)),
                         config=json.load(open(os.path.join(d, "config.json"))),
                         native_bf16_diff=native, vs_fp32_diff=fp32diff, to_bf16_inv_freq_diff=inv_diff)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "data", "models"))
    ap.add_argument("--only", nargs="*", help="cases to (re)generate (default: all)")
    ap.add_argument("--dump", help="write a JSON report (names, shapes, configs) here")
    args = ap.parse_args()
    out_dir = os.path.normpath(args.out)
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()
    tokens = make_tokens()
    report = {}
    for case, spec in CASES.items():
        if args.only and case not in args.only:
            continue
        make_case(case, spec, tokens, out_dir, report)
    total = 0
    for c, r in report.items():
        total += r["bytes"]
        print(f"{c:15s} {r['bytes']:8d} B seed={r['seed']} layout={r['layout']:10s} min_gap={r['gap']:.2e} "
              f"|step-full|={r['step_diff']:.2e} |sdpa-eager|={r['sdpa_diff']:.2e} "
              f"logits std={r['logit_std']:.2f} max={r['logit_absmax']:.2f} files={r['files']}")
        if "native_bf16_diff" in r:
            print(f"{'':15s} bf16-native vs upcast {r['native_bf16_diff']:.3e}; upcast-bf16 vs fp32 {r['vs_fp32_diff']:.3e}; "
                  f"Module.to(bf16) inv_freq error {r['to_bf16_inv_freq_diff']:.2e}")
    print(f"total {total} bytes; transformers {transformers.__version__}, torch {torch.__version__}")
    print("tokens:", [t.tolist() for t in tokens])
    if args.dump:
        with open(args.dump, "w") as f:
            json.dump({c: dict(r, names={k: [v[0], list(v[1]), v[2]] for k, v in r["names"].items()})
                       for c, r in report.items()}, f, indent=1, sort_keys=True, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
