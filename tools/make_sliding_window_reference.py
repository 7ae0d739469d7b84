#!/usr/bin/env python3
"""Reference logits for Qwen2-MoE checkpoints where only some layers use the sliding window.

Usage (from the repository root, with the versions tools/make_model_reference.py names):
    python3 tools/make_sliding_window_reference.py [--out tests/data/models]

transformers 5.24's Qwen2MoeConfig marks layer i "sliding_attention" iff use_sliding_window and i is even and
i < max_window_layers, unless config.json lists `layer_types`; only those layers get the window. Each case here is
the `qwen2_moe` case's model (same seed, so the same weights: checked tensor by tensor against the committed
tests/data/models/qwen2_moe/model.safetensors) under another config. Only config.json and reference.safetensors
are written (about 23 KB a case); the C++ test pairs them with tests/data/models/qwen2_moe/model.safetensors.

    qwen2_moe_sliding        use_sliding_window, sliding_window 4, max_window_layers 2: layer 0 slides, layer 1 not
    qwen2_moe_sliding_types  layer_types [full_attention, sliding_attention], sliding_window 3: only layer 1 slides
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import torch
import transformers
from safetensors import safe_open
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_model_reference as mmr  # noqa: E402

CASES = {
    "qwen2_moe_sliding": (dict(use_sliding_window=True, sliding_window=4, max_window_layers=2),
                          ["sliding_attention", "full_attention"]),
    "qwen2_moe_sliding_types": (dict(use_sliding_window=True, sliding_window=3,
                                     layer_types=["full_attention", "sliding_attention"]),
                                ["full_attention", "sliding_attention"]),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "data", "models"))
    args = ap.parse_args()
    out_dir = os.path.normpath(args.out)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()

    base_dir = os.path.join(out_dir, "qwen2_moe")
    with safe_open(os.path.join(base_dir, "reference.safetensors"), "pt") as f:
        seed = int(f.metadata()["seed"])
    base_weights = load_file(os.path.join(base_dir, "model.safetensors"))
    base_logits = load_file(os.path.join(base_dir, "reference.safetensors"))
    spec = mmr.CASES["qwen2_moe"]
    tokens = mmr.make_tokens()

    for case, (overrides, layer_types) in CASES.items():
        model = mmr.build(spec, seed, overrides)
        assert list(model.config.layer_types) == layer_types, (case, model.config.layer_types)
        logits, steps, gap = mmr.run_model(model, spec["family"], tokens)
        assert gap > mmr.MIN_GAP, (case, gap)
        # The window changes the longer sequences (so the test can tell the layers apart).
        change = max(float((l - base_logits[f"logits_{i}"]).abs().max()) for i, l in enumerate(logits))
        assert change > 1e-2, (case, change)
        d = os.path.join(out_dir, case)
        os.makedirs(d, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            model.save_pretrained(tmp, safe_serialization=True)
            saved = load_file(os.path.join(tmp, "model.safetensors"))
            assert saved.keys() == base_weights.keys() and all(torch.equal(saved[k], base_weights[k]) for k in saved), \
                (case, "weights differ from qwen2_moe/model.safetensors")
            mmr.write_reference(tmp, case, spec["family"], type(model).__name__, tokens, logits, steps,
                                dict(seed=str(seed), weights="qwen2_moe/model.safetensors",
                                     layer_types=",".join(layer_types)))
            r = mmr.reload(tmp, torch.float32)
            for tk, l in zip(tokens, logits):
                assert torch.equal(mmr.forward_logits(r, tk), l), (case, "reloaded model differs")
            for name in ("config.json", "reference.safetensors"):
                with open(os.path.join(tmp, name), "rb") as src, open(os.path.join(d, name), "wb") as dst:
                    dst.write(src.read())
        print(f"{case}: layer_types {layer_types}, min routing gap {gap:.2e}, max change vs no window {change:.3f}, "
              f"max |logit| {float(torch.cat(logits).abs().max()):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
