#!/usr/bin/env python3
"""Prefill and decode at long contexts: moe (bench_e2e --run-context) next to llama.cpp (llama-cpp-python).

    bench/run_long_context.py --bench BUILD/bench/bench_e2e [--contexts 1024,4096,16384] [--threads 2]
                              [--model mixtral] [--cache fp32|fp16|q8_0] [--work /tmp/moe_e2e] [--markdown FILE]

The weights are bench_e2e's random Mixtral-shaped (or Qwen2-MoE-shaped) bf16 checkpoint and the same values as a
BF16 GGUF (written by run_vs_llama_cpp.py's write_gguf). Ours runs bf16_compute (bf16 x bf16 products, fp32 KV
cache); llama.cpp runs the BF16 file with flash attention on and its default f16 KV cache (what `llama-cli -fa on`
does). Both, per context C, in a fresh process with the weights resident: a C-token prompt in chunks of 512
(llama.cpp's n_batch / n_ubatch), then 16 greedy decode steps at context C ... C + 15, timed separately; the two
engines alternate, and the table gives ours / llama.cpp per context.

--cache fp16 or q8_0 (mixtral) runs both engines on the same cache type: ours with that KV cache format
(moe::model::with_kv_cache), llama.cpp with -ctk/-ctv f16 (its default) or q8_0.
"""
import argparse
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_vs_llama_cpp import V, llama_decode, write_gguf  # noqa: E402

CHUNK, STEPS = 512, 16


LLAMA_CACHE_TYPES = {"fp32": 1, "fp16": 1, "q8_0": 8}  # ggml types: ours fp32 runs against llama.cpp's default f16


def llama_child(gguf_path, threads, contexts, cache):
    """Runs in a fresh process: per context, a chunked prompt then STEPS greedy decode steps; prints like bench_e2e."""
    import llama_cpp
    longest = max(contexts)
    cache_type = LLAMA_CACHE_TYPES[cache]
    llm = llama_cpp.Llama(model_path=gguf_path, n_ctx=longest + STEPS + 16, n_batch=CHUNK, n_ubatch=CHUNK,
                          n_threads=threads, n_threads_batch=threads, flash_attn=True, type_k=cache_type,
                          type_v=cache_type, verbose=False)
    ctx = llm._ctx.ctx
    mem = llama_cpp.llama_get_memory(ctx)

    def decode(ids, pos):
        llama_decode(ctx, ids, pos)

    def argmax():
        p = llama_cpp.llama_get_logits_ith(ctx, -1)
        return int(np.argmax(np.ctypeslib.as_array(p, shape=(V,))))

    decode([(i * 7919 + 13) % V for i in range(128)], 0)  # warm-up: every expert of every layer is read
    for context in contexts:
        llama_cpp.llama_memory_clear(mem, True)
        prompt = [(i * 7919 + 13) % V for i in range(context)]
        start = time.perf_counter()
        for at in range(0, context, CHUNK):
            decode(prompt[at:at + CHUNK], at)
        prefill = time.perf_counter() - start
        start = time.perf_counter()
        for i in range(STEPS):
            decode([argmax()], context + i)
        steps = time.perf_counter() - start
        print(f"{context} {context / prefill:.3f} {STEPS / steps:.3f}", flush=True)


def parse(lines):
    return {int(c): (float(p), float(d)) for c, p, d in (line.split() for line in lines.strip().splitlines())}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--contexts", default="1024,4096,16384")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default="mixtral", choices=["mixtral", "qwen2"])
    ap.add_argument("--cache", default="fp32", choices=list(LLAMA_CACHE_TYPES))
    ap.add_argument("--work", default="/tmp/moe_e2e")
    ap.add_argument("--markdown")
    ap.add_argument("--llama-child", nargs=3, metavar=("GGUF", "THREADS", "CONTEXTS"))
    args = ap.parse_args()
    if args.cache != "fp32" and args.model != "mixtral":
        ap.error("--cache fp16 / q8_0: bench_e2e builds those cache formats for --model mixtral only")
    if args.llama_child:
        return llama_child(args.llama_child[0], int(args.llama_child[1]),
                           [int(c) for c in args.llama_child[2].split(",")], args.cache)

    d = os.path.join(args.work, args.model)
    st = os.path.join(d, "model.safetensors")
    if not os.path.exists(st):
        subprocess.run([args.bench, "--write", args.model, d], check=True)
    try:
        import gguf  # noqa: F401
        import llama_cpp  # noqa: F401
        have_llama = True
    except ImportError:
        have_llama = False
        print("llama-cpp-python or gguf is not installed (pip install llama-cpp-python gguf): "
              "reporting moe's rows only", file=sys.stderr)
    g = os.path.join(d, "model-bf16.gguf")
    if have_llama and not os.path.exists(g):
        print(f"writing {g}", file=sys.stderr)
        write_gguf(args.model, st, g + ".tmp", "bf16")
        os.replace(g + ".tmp", g)

    ours, theirs = {}, {}
    for context in args.contexts.split(","):  # one context per process pair, the engines alternating
        out = subprocess.run([args.bench, "--run-context", args.model, "bf16_compute", d, str(args.threads), context,
                              args.cache], check=True, capture_output=True, text=True).stdout
        ours.update(parse(out))
        if have_llama:
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--bench", args.bench,
                                  "--cache", args.cache, "--llama-child", g, str(args.threads), context],
                                 check=True, capture_output=True, text=True).stdout
            theirs.update(parse(out))

    theirs_cache = "f16" if args.cache == "fp32" else {"fp16": "f16", "q8_0": "q8_0"}[args.cache]
    lines = [f"{args.model} bf16 (ours bf16_compute, {args.cache} cache; llama.cpp BF16 GGUF, flash attention, "
             f"{theirs_cache} cache), "
             f"{args.threads} threads, prompt in chunks of {CHUNK}, then {STEPS} decode steps:", "",
             "| context | prefill tokens/s ours / llama.cpp | decode tokens/s ours / llama.cpp |", "|---|---|---|"]
    for c in sorted(ours):
        p, dec = ours[c]
        if c in theirs:
            lp, ld = theirs[c]
            lines.append(f"| {c:,} | {p:.1f} / {lp:.1f} ({p / lp:.2f}×) | {dec:.2f} / {ld:.2f} ({dec / ld:.2f}×) |")
        else:
            lines.append(f"| {c:,} | {p:.1f} / — | {dec:.2f} / — |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)


if __name__ == "__main__":
    sys.exit(main())
