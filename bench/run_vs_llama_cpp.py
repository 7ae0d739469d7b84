#!/usr/bin/env python3
"""End-to-end prefill/decode of moe (bench_e2e) next to llama.cpp (llama-cpp-python) on the same random weights.

    bench/run_vs_llama_cpp.py --bench BUILD/bench/bench_e2e [--work /tmp/moe_e2e] [--markdown FILE] [--reps 2]

For each model shape (mixtral, qwen2) bench_e2e writes a bf16 safetensors checkpoint once; this script writes the
same weights as GGUF (f32, bf16 and Q8_0; Q/K rows permuted for llama.cpp's interleaved rotary on the llama arch, a
dummy SentencePiece vocabulary) with the `gguf` package. Precisions and the GGUF each runs next to:
    q8_0          ours quantizes the bf16 checkpoint to Q8_0 at load; model-q8_0.gguf (the matrices quantized by
                  gguf.quants from the same bf16 values widened to fp32; norms, biases and router gates stay F32)
    bf16_compute  bf16 x bf16 products; model-bf16.gguf
    bf16          bf16 weights, fp32 activations; model-bf16.gguf
    fp32          model-fp32.gguf
and, both engines reading the SAME GGUF file (ours with bench_e2e --run-gguf; llama.cpp's quantizer makes the 4-bit
files from model-bf16.gguf through llama_cpp.llama_model_quantize, and the script prints each file's tensor-type
histogram):
    gguf_q8_0     model-q8_0.gguf above, used in place (next to q8_0's quantize-at-load: the loading-time rows)
    q4_0          model-q4_0.gguf: pure Q4_0 (every matrix; norms and routers F32)
    q4_k          model-q4_k.gguf: pure Q4_K (ftype MOSTLY_Q4_K_S with pure = True)
    q4_k_m        model-q4_k_m.gguf: llama.cpp's Q4_K_M mixture (Q4_K, Q6_K, ...), ours as weight_format::gguf_mixed
qwen2's expert down projections are 1408 wide, not whole 256-weight blocks, so llama.cpp's quantizer stores them
as Q5_0 in its K-quant files (llama-quant.cpp, tensor_type_fallback), even with pure = True: for qwen2 ours reads
both K-quant files as weight_format::gguf_mixed (each matrix in its own type, Q5_0 included). For the GGUF precisions decode bytes per token are counted from the file's own tensor sizes (every
tensor read by a decode step: top_k / experts of the merged expert tensors, one embedding row).
Then, per precision and thread count, it alternates runs of ours and llama.cpp (each in a fresh process, weights
resident and warmed before timing) with a read-bandwidth measurement, and reports ours / llama.cpp, decode bytes/s
against that bandwidth and prefill FLOP/s against a measured peak: the bf16 dot-product peak for bf16_compute, the
int8 dot-product peak (bench_e2e --int8-dot-peak, 2 ops per int8 multiply-add) for q8_0 where bench_e2e has that
probe, else the fp32 FMA peak. A second table gives, per row, what loading costs: seconds from opening the file
to loaded and to the prompt's first token (file in the page cache), peak RSS (VmHWM) against the file size, and
llama.cpp's decode bytes/s. Without llama-cpp-python it reports our rows only.
"""
import argparse
import collections
import json
import os
import struct
import subprocess
import sys
import time

import numpy as np

V, D = 32000, 1024
PROMPT, DECODE = 128, 64
SHAPES = {
    "mixtral": dict(arch="llama", layers=16, heads=16, kv_heads=4, head_dim=64, ff=4096, experts=8, top_k=2,
                    shared=0, eps=1e-5),
    "qwen2": dict(arch="qwen2moe", layers=12, heads=16, kv_heads=16, head_dim=64, ff=1408, experts=16, top_k=4,
                  shared=5632, eps=1e-6),
}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = data[a:b].view(np.uint16).reshape(info["shape"])
    return out


def bf16_to_f32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def write_gguf(model, st_path, out_path, precision):
    import gguf
    s = SHAPES[model]
    t = read_safetensors(st_path)
    w = gguf.GGUFWriter(out_path, s["arch"])
    a = s["arch"]
    w.add_name(f"moe-bench-{model}")
    w.add_context_length(65536)
    w.add_embedding_length(D)
    w.add_block_count(s["layers"])
    w.add_feed_forward_length(s["shared"] or s["ff"])
    w.add_head_count(s["heads"])
    w.add_head_count_kv(s["kv_heads"])
    w.add_rope_dimension_count(s["head_dim"])
    w.add_rope_freq_base(1e6)
    w.add_layer_norm_rms_eps(s["eps"])
    w.add_expert_count(s["experts"])
    w.add_expert_used_count(s["top_k"])
    if a == "qwen2moe":
        w.add_expert_feed_forward_length(s["ff"])
        w.add_expert_shared_feed_forward_length(s["shared"])
    # The matrices are F32, BF16 or Q8_0 (precision "fp32", "bf16", "q8_0"); norms, biases and gates are F32 always.
    qtype = {"fp32": gguf.GGMLQuantizationType.F32, "bf16": gguf.GGMLQuantizationType.BF16,
             "q8_0": gguf.GGMLQuantizationType.Q8_0}[precision]
    w.add_file_type({"fp32": gguf.LlamaFileType.ALL_F32, "bf16": gguf.LlamaFileType.MOSTLY_BF16,
                     "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[precision])
    # Dummy SentencePiece vocabulary: <unk>, <s>, </s>, the 256 byte tokens llama.cpp looks up, then plain pieces.
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)]
    tokens += [f"t{i}" for i in range(len(tokens), V)]
    types = [2, 3, 3] + [6] * 256 + [1] * (V - 259)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * V)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(False)

    tensors = []  # (gguf name, function producing the array, force f32)

    def src(name, permute_heads=0):
        def make():
            x = t[name]
            if permute_heads:  # HF rotate-half → llama.cpp interleaved pairs (convert_hf_to_gguf's permute)
                x = x.reshape(permute_heads, 2, x.shape[0] // permute_heads // 2, *x.shape[1:]).swapaxes(1, 2).reshape(x.shape)
            return x
        return make

    def stacked(names):
        return lambda: np.stack([t[n] for n in names])

    tensors.append(("token_embd.weight", src("model.embed_tokens.weight"), False))
    tensors.append(("output_norm.weight", src("model.norm.weight"), True))
    tensors.append(("output.weight", src("lm_head.weight"), False))
    for l in range(s["layers"]):
        p, b = f"model.layers.{l}.", f"blk.{l}."
        llama = a == "llama"
        tensors.append((b + "attn_norm.weight", src(p + "input_layernorm.weight"), True))
        tensors.append((b + "ffn_norm.weight", src(p + "post_attention_layernorm.weight"), True))
        tensors.append((b + "attn_q.weight", src(p + "self_attn.q_proj.weight", s["heads"] if llama else 0), False))
        tensors.append((b + "attn_k.weight", src(p + "self_attn.k_proj.weight", s["kv_heads"] if llama else 0), False))
        tensors.append((b + "attn_v.weight", src(p + "self_attn.v_proj.weight"), False))
        tensors.append((b + "attn_output.weight", src(p + "self_attn.o_proj.weight"), False))
        if not llama:
            for x in "qkv":
                tensors.append((b + f"attn_{x}.bias", src(p + f"self_attn.{x}_proj.bias"), True))
        m = p + ("block_sparse_moe." if llama else "mlp.")
        names = ("w1", "w3", "w2") if llama else ("gate_proj", "up_proj", "down_proj")
        tensors.append((b + "ffn_gate_inp.weight", src(m + "gate.weight"), True))
        for gname, hname in zip(("ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"), names):
            tensors.append((b + gname + ".weight",
                            stacked([m + f"experts.{e}.{hname}.weight" for e in range(s["experts"])]), False))
        if s["shared"]:
            tensors.append((b + "ffn_gate_inp_shexp.weight", lambda m=m: t[m + "shared_expert_gate.weight"].reshape(D), True))
            for gname, hname in zip(("ffn_gate_shexp", "ffn_up_shexp", "ffn_down_shexp"), names):
                tensors.append((b + gname + ".weight", src(m + f"shared_expert.{hname}.weight"), False))

    def kind(force_f32):
        return gguf.GGMLQuantizationType.F32 if force_f32 else qtype

    def final(make, force_f32):
        x = make()
        k = kind(force_f32)
        if k == gguf.GGMLQuantizationType.F32:
            return np.ascontiguousarray(bf16_to_f32(x))
        if k == gguf.GGMLQuantizationType.BF16:
            return np.ascontiguousarray(x)
        # Q8_0 of the bf16 values widened exactly to fp32 (ggml's reference quantizer): uint8, (..., n / 32 * 34).
        return np.ascontiguousarray(gguf.quants.quantize(bf16_to_f32(x), k))

    for name, make, force in tensors:  # tensor infos first (shapes only), then stream the data
        shape = make().shape
        k = kind(force)
        if k == gguf.GGMLQuantizationType.F32:
            w.add_tensor_info(name, shape, np.dtype(np.float32), 4 * int(np.prod(shape)))
        elif k == gguf.GGMLQuantizationType.BF16:
            w.add_tensor_info(name, shape, np.dtype(np.uint16), 2 * int(np.prod(shape)), k)
        else:  # quantized: the byte shape with uint8, which add_tensor_info turns back into the element shape
            byte_shape = gguf.quants.quant_shape_to_byte_shape(shape, k)
            w.add_tensor_info(name, byte_shape, np.dtype(np.uint8), int(np.prod(byte_shape)), k)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for name, make, force in tensors:
        w.write_tensor_data(final(make, force))
    w.close()


# GGUF precisions: ours' weight format (bench_e2e --run-gguf), the file, and the llama.cpp ftype + pure flag that
# makes it from model-bf16.gguf (None: model-q8_0.gguf, written by write_gguf).
GGUF_PRECISIONS = {
    "gguf_q8_0": ("q8_0", "model-q8_0.gguf", None, None),
    "q4_0": ("q4_0", "model-q4_0.gguf", "LLAMA_FTYPE_MOSTLY_Q4_0", True),
    "q4_k": ("q4_k", "model-q4_k.gguf", "LLAMA_FTYPE_MOSTLY_Q4_K_S", True),
    "q4_k_m": ("gguf_mixed", "model-q4_k_m.gguf", "LLAMA_FTYPE_MOSTLY_Q4_K_M", False),
}
# Shapes whose every matrix width is a whole number of 256-weight K-quant blocks: elsewhere llama.cpp's K-quant
# files hold Q5_0 too, read by ours as gguf_mixed (see the module docstring).
K_QUANT_SHAPES = ("mixtral",)


def quantize_gguf(src, out_path, ftype, pure, threads=2):
    """llama.cpp's own quantizer: src (an F32/BF16 GGUF) → out_path in `ftype` (pure: every matrix that type)."""
    import llama_cpp
    params = llama_cpp.llama_model_quantize_default_params()
    params.nthread = threads
    params.ftype = getattr(llama_cpp, ftype)
    params.pure = pure
    rc = llama_cpp.llama_model_quantize(src.encode(), out_path.encode(), params)
    if rc != 0:
        raise RuntimeError(f"llama_model_quantize({src} -> {out_path}, {ftype}) returned {rc}")


def type_histogram(path):
    """{ggml type name: tensor count} of a GGUF file (gguf-py's reader)."""
    import gguf
    return dict(collections.Counter(t.tensor_type.name for t in gguf.GGUFReader(path).tensors))


def active_bytes(path, model):
    """Bytes a decode step reads from the GGUF file: every tensor, top_k / experts of the merged expert tensors,
    one row of the embedding."""
    import gguf
    s = SHAPES[model]
    total = 0
    for t in gguf.GGUFReader(path).tensors:
        n = int(t.n_bytes)
        if t.name == "token_embd.weight":
            n //= V
        elif "_exps." in t.name:
            n = n * s["top_k"] // s["experts"]
        total += n
    return total


def peak_rss_bytes():
    """VmHWM of this process (bytes), 0 where /proc cannot tell."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def llama_decode(ctx, ids, pos):
    """Feeds tokens `ids` at positions pos, pos + 1, ... of sequence 0 to llama.cpp; logits for the last one only."""
    import llama_cpp
    batch = llama_cpp.llama_batch_init(len(ids), 0, 1)
    batch.n_tokens = len(ids)
    for i, tok in enumerate(ids):
        batch.token[i] = tok
        batch.pos[i] = pos + i
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = 0
        batch.logits[i] = 1 if i == len(ids) - 1 else 0
    rc = llama_cpp.llama_decode(ctx, batch)
    llama_cpp.llama_batch_free(batch)
    if rc != 0:
        raise RuntimeError(f"llama_decode returned {rc}")


def llama_child(gguf_path, threads, logits_path):
    """Runs in a fresh process: load, warm up, time a 128-token prefill and 64 greedy decode steps."""
    import ctypes
    import llama_cpp
    opened = time.perf_counter()
    llm = llama_cpp.Llama(model_path=gguf_path, n_ctx=PROMPT + DECODE + 16, n_batch=512, n_ubatch=512,
                          n_threads=threads, n_threads_batch=threads,
                          use_mmap=os.environ.get("MOE_LLAMA_MMAP", "1") == "1", verbose=False)
    ctx = llm._ctx.ctx
    mem = llama_cpp.llama_get_memory(ctx)
    prompt = [(i * 7919 + 13) % V for i in range(PROMPT)]

    def decode(ids, pos):
        llama_decode(ctx, ids, pos)

    def last_logits():
        p = llama_cpp.llama_get_logits_ith(ctx, -1)
        return np.ctypeslib.as_array(p, shape=(V,)).copy()

    loaded = time.perf_counter() - opened
    decode(prompt, 0)  # warm-up: every expert of every layer is read
    int(np.argmax(last_logits()))
    first_token = time.perf_counter() - opened  # open → the prompt's first token (mmap: its page faults too)
    for i in range(4):
        decode([int(np.argmax(last_logits()))], PROMPT + i)
    prefill = 1e30
    for _ in range(2):
        llama_cpp.llama_memory_clear(mem, True)
        start = time.perf_counter()
        decode(prompt, 0)
        prefill = min(prefill, time.perf_counter() - start)
    llama_cpp.llama_memory_clear(mem, True)
    decode(prompt, 0)
    logits = last_logits()
    if logits_path:
        logits.astype(np.float32).tofile(logits_path)
    generated = []
    start = time.perf_counter()
    for i in range(DECODE):
        tok = int(np.argmax(logits))
        generated.append(tok)
        decode([tok], PROMPT + i)
        logits = last_logits()
    dt = time.perf_counter() - start
    print(f"{PROMPT / prefill:.3f} {DECODE / dt:.3f} 0 0 " + " ".join(map(str, generated)))
    # As bench_e2e reports it; this python process's own RSS (interpreter, numpy) is included.
    print(f"load {loaded:.3f} {first_token:.3f} {peak_rss_bytes()}", file=sys.stderr)


def run(cmd):
    return run_with_load(cmd)[0]


def run_with_load(cmd):
    """stdout's last line split, and the [load_s, first_token_s, peak_rss_bytes] of stderr's last "load" line."""
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    load = [line.split()[1:] for line in p.stderr.splitlines() if line.startswith("load ")]
    return p.stdout.strip().splitlines()[-1].split(), (list(map(float, load[-1])) if load else None)


def optional_peak(bench, flag, threads):
    """A peak probe bench_e2e may not have: its GFLOP/s, or 0 when it exits nonzero or prints no positive number."""
    r = subprocess.run([bench, flag, str(threads)], capture_output=True, text=True)
    try:
        v = float(r.stdout.split()[-1]) if r.returncode == 0 else 0.0
    except (IndexError, ValueError):
        return 0.0
    return v if v > 0 else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--work", default="/tmp/moe_e2e")
    ap.add_argument("--markdown")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--models", default="mixtral,qwen2")
    ap.add_argument("--precisions", default="q8_0,bf16_compute,bf16,fp32")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--llama-child", nargs=3, metavar=("GGUF", "THREADS", "LOGITS"))
    args = ap.parse_args()
    if args.llama_child:
        return llama_child(args.llama_child[0], int(args.llama_child[1]), args.llama_child[2])

    try:
        import gguf  # noqa: F401
        import llama_cpp  # noqa: F401
        have_llama = True
    except ImportError:
        have_llama = False
        print("llama-cpp-python or gguf is not installed (pip install llama-cpp-python gguf): "
              "reporting moe's rows only", file=sys.stderr)

    bench = args.bench
    peaks = {t: float(run([bench, "--fma-peak", str(t)])[0]) for t in map(int, args.threads.split(","))}
    # bf16_compute's products run on vdpbf16ps: its ceiling is the bf16 dot-product peak (2x the FMA peak).
    dot_peaks = {t: float(run([bench, "--bf16-dot-peak", str(t)])[0]) for t in map(int, args.threads.split(","))}
    # q8_0's products are int8 dot products (2 ops per multiply-add): its ceiling is bench_e2e's int8 dot peak where it
    # has the --int8-dot-peak probe (checked once with 1 thread), else the FMA peak.
    int8_probe = "q8_0" in args.precisions.split(",") and optional_peak(bench, "--int8-dot-peak", 1) > 0
    int8_peaks = {t: optional_peak(bench, "--int8-dot-peak", t) if int8_probe else 0.0
                  for t in map(int, args.threads.split(","))}
    rows = []
    for model in args.models.split(","):
        d = os.path.join(args.work, model)
        st = os.path.join(d, "model.safetensors")
        if not os.path.exists(st):
            subprocess.run([bench, "--write", model, d], check=True)
        for precision in args.precisions.split(","):
            gguf_run = GGUF_PRECISIONS.get(precision)
            if gguf_run and gguf_run[2] and model not in K_QUANT_SHAPES and precision != "q4_0":
                gguf_run = ("gguf_mixed",) + gguf_run[1:]  # the K-quant file with Q5_0 expert down projections
            if gguf_run and not have_llama:
                print(f"{model} {precision}: skipped (needs gguf + llama-cpp-python to make the file)", file=sys.stderr)
                continue
            # bf16_compute (bf16 x bf16 products) runs next to llama.cpp's BF16 model, which multiplies the same way;
            # q8_0 (ours quantizes the bf16 checkpoint at load) next to model-q8_0.gguf, quantized from the same values.
            file_precision = {"bf16_compute": "bf16", "bf16": "bf16", "fp32": "fp32", "q8_0": "q8_0",
                              "gguf_q8_0": "q8_0"}.get(precision, "bf16")
            g = os.path.join(d, f"model-{file_precision}.gguf")
            if have_llama and not os.path.exists(g):
                print(f"writing {g}", file=sys.stderr)
                write_gguf(model, st, g + ".tmp", file_precision)
                os.replace(g + ".tmp", g)
            file_bytes = active = None
            if gguf_run:  # both engines read this file
                if gguf_run[2]:
                    src, g = g, os.path.join(d, gguf_run[1])
                    if not os.path.exists(g):
                        print(f"quantizing {src} -> {g} ({gguf_run[2]}, pure={gguf_run[3]})", file=sys.stderr)
                        quantize_gguf(src, g + ".tmp", gguf_run[2], gguf_run[3])
                        os.replace(g + ".tmp", g)
                print(f"{g}: tensor types {type_histogram(g)}", file=sys.stderr, flush=True)
                file_bytes, active = os.path.getsize(g), active_bytes(g, model)
            elif precision == "q8_0":
                file_bytes = os.path.getsize(st)
            for threads in map(int, args.threads.split(",")):
                best = {"ours": None, "llama": None}
                bw = []
                for rep in range(args.reps):
                    for who in (["ours", "llama"] if have_llama else ["ours"]):
                        logits = os.path.join(d, f"logits-{who}-{precision}.f32") if rep == 0 else ""
                        if who == "ours" and gguf_run:
                            cmd = [bench, "--run-gguf", model, gguf_run[0], g, str(threads)]
                        elif who == "ours":
                            cmd = [bench, "--run", model, precision, d, str(threads)]
                        else:
                            cmd = [sys.executable, os.path.abspath(__file__), "--bench", bench,
                                   "--llama-child", g, str(threads), logits]
                        if who == "ours" and logits:
                            cmd += ["--logits", logits]
                        r, load = run_with_load(cmd)
                        rec = dict(prefill=float(r[0]), decode=float(r[1]), tokens=list(map(int, r[4:])),
                                   bytes=float(active if active else r[2]), flops=float(r[3]),
                                   load=load[0] if load else None, first=load[1] if load else None,
                                   rss=load[2] if load else None)
                        b = best[who]
                        if b is None:
                            best[who] = rec
                        else:  # fastest of the repetitions; the highest RSS
                            b["prefill"] = max(b["prefill"], rec["prefill"])
                            b["decode"] = max(b["decode"], rec["decode"])
                            if load:
                                b["load"], b["first"] = min(b["load"], load[0]), min(b["first"], load[1])
                                b["rss"] = max(b["rss"], load[2])
                        bw.append(float(run([bench, "--bandwidth", str(threads)])[0]))
                        # The peaks too, next to the runs: a probe disturbed once must not set the roofline.
                        peaks[threads] = max(peaks[threads], float(run([bench, "--fma-peak", str(threads)])[0]))
                        if precision == "bf16_compute":
                            dot_peaks[threads] = max(dot_peaks[threads],
                                                     float(run([bench, "--bf16-dot-peak", str(threads)])[0]))
                        if precision == "q8_0" and int8_probe:
                            int8_peaks[threads] = max(int8_peaks[threads],
                                                      optional_peak(bench, "--int8-dot-peak", threads))
                o, l = best["ours"], best["llama"]
                peak_name = "FMA"
                if precision == "bf16_compute" and dot_peaks[threads]:
                    peak_name = "bf16 dot"
                elif precision == "q8_0" and int8_peaks[threads]:
                    peak_name = "int8 dot"
                row = dict(model=model, precision=precision, threads=threads, ours=o, llama=l, bandwidth=max(bw),
                           peak_name=peak_name, file_bytes=file_bytes)
                if l is not None and not l["flops"]:
                    l["bytes"], l["flops"] = o["bytes"], o["flops"]  # the same model
                if l is not None:
                    lo = np.fromfile(os.path.join(d, f"logits-ours-{precision}.f32"), dtype=np.float32)
                    ll = np.fromfile(os.path.join(d, f"logits-llama-{precision}.f32"), dtype=np.float32)
                    row["logit_diff"] = float(np.max(np.abs(lo - ll)))
                    row["logit_scale"] = float(np.max(np.abs(lo)))
                    same = 0
                    for a, b in zip(o["tokens"], l["tokens"]):
                        if a != b:
                            break
                        same += 1
                    row["same_tokens"] = same
                rows.append(row)
                peak = {"bf16 dot": dot_peaks, "int8 dot": int8_peaks, "FMA": peaks}[peak_name][threads]
                print(json.dumps({k: v for k, v in row.items() if k not in ("ours", "llama")} | {"peak": peak} |
                                 {"ours": [o["prefill"], o["decode"]], "llama": [l["prefill"], l["decode"]] if l else None}),
                      file=sys.stderr, flush=True)

    lines = ["| model | weights | threads | prefill tok/s: ours | llama.cpp | ours / llama.cpp | prefill GFLOP/s "
             "(% of peak) | decode tok/s: ours | llama.cpp | ours / llama.cpp | decode GB/s (% of read "
             "bandwidth) | greedy tokens equal / max logit diff |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:  # the highest peak measured during the whole run
        r["peak"] = {"bf16 dot": dot_peaks, "int8 dot": int8_peaks, "FMA": peaks}[r["peak_name"]][r["threads"]]
    for r in rows:
        o, l = r["ours"], r["llama"]
        gflops = o["prefill"] * o["flops"] / 1e9
        gbs = o["decode"] * o["bytes"] / 1e9
        lp = f"{l['prefill']:.1f}" if l else "–"
        ld = f"{l['decode']:.1f}" if l else "–"
        rp = f"**{o['prefill'] / l['prefill']:.2f}×**" if l else "–"
        rd = f"**{o['decode'] / l['decode']:.2f}×**" if l else "–"
        agree = f"{r['same_tokens']}/{DECODE} / {r['logit_diff']:.2g} (of {r['logit_scale']:.2g})" if l else "–"
        lines.append(f"| {r['model']} | {r['precision']} | {r['threads']} | {o['prefill']:.1f} | {lp} | {rp} | "
                     f"{gflops:.0f} ({100 * gflops / r['peak']:.0f}% of {r['peak_name']} {r['peak']:.0f}) | {o['decode']:.1f} | {ld} | {rd} | "
                     f"{gbs:.1f} ({100 * gbs / r['bandwidth']:.0f}% of {r['bandwidth']:.1f}) | {agree} |")
    # What loading costs and what llama.cpp reads per second: file = the safetensors for q8_0 (quantized at load),
    # the GGUF file both engines read otherwise; llama.cpp's RSS includes its python process.
    lines += ["", "| model | weights | threads | file GB | MB read per decode token | decode GB/s: ours | llama.cpp "
              "| read bandwidth GB/s | open → loaded s: ours | llama.cpp | open → first token s: ours | llama.cpp "
              "| peak RSS GB: ours (× file) | llama.cpp (× file) |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        o, l = r["ours"], r["llama"]
        fb = r["file_bytes"]

        def rss(x):
            if not x or not x.get("rss"):
                return "–"
            return f"{x['rss'] / 1e9:.2f}" + (f" ({x['rss'] / fb:.2f}×)" if fb else "")

        def secs(x, key):
            return f"{x[key]:.2f}" if x and x.get(key) is not None else "–"

        lgbs = f"{l['decode'] * o['bytes'] / 1e9:.1f} ({100 * l['decode'] * o['bytes'] / 1e9 / r['bandwidth']:.0f}%)" if l else "–"
        ogbs = f"{o['decode'] * o['bytes'] / 1e9:.1f} ({100 * o['decode'] * o['bytes'] / 1e9 / r['bandwidth']:.0f}%)"
        fbs = f"{fb / 1e9:.2f}" if fb else "–"
        lines.append(f"| {r['model']} | {r['precision']} | {r['threads']} | {fbs} | {o['bytes'] / 1e6:.0f} | {ogbs} | "
                     f"{lgbs} | {r['bandwidth']:.1f} | {secs(o, 'load')} | {secs(l, 'load')} | {secs(o, 'first')} | "
                     f"{secs(l, 'first')} | {rss(o)} | {rss(l)} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
