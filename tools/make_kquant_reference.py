#!/usr/bin/env python3
"""Generate the bit-exact reference files for the C++ Q4_0 / Q5_0 / Q4_K / Q5_K / Q6_K / Q8_K test
(tests/precision/test_ggml_blocks.cpp) from llama.cpp itself.

Usage (from the repository root; needs gcc, numpy, gguf-py and a llama.cpp source tree):
    python3 tools/make_kquant_reference.py [--llama-cpp LLAMA_CPP_DIR] [--out tests/data/kquants]
        [--libggml DIR]   # optional second opinion: llama-cpp-python's lib/ with libggml-base.so, libggml-cpu.so

Writes:
    dequant_<type>.bin / dequant_<type>.f32   random blocks (varied fp16 d/dmin: zero, -0, subnormals, negatives,
                                               ±65504; every scale bit) and gguf.quants.dequantize's float32 output
    input.f32                                  (ROWS, 256) float32 rows: normal, edge cases (see ROW_CASES)
    quant_<type>.bin                           llama.cpp's quantize_row_<type>_ref(input) — ggml-quants.c compiled
                                               standalone with tools/kquant_reference_driver.c and
                                               -ffp-contract=off (every product rounded, as ISO C evaluates it)
    README.md                                  what the files are and what this run measured
The Q4_0 and Q5_0 bytes are also checked against gguf.quants.quantize (the same bytes, asserted). Q5_0's random
dequantization blocks come from their own generator (seed 1405), so adding it left the other files unchanged. With --libggml, the
quantizers exported by the library (quantize_row_*_ref of libggml-base, the CPU backend's quantize_row_q8_K) are
run on the same rows and the agreement is recorded in README.md; so is the effect of compiling ggml-quants.c with
GCC's default contraction (-std=gnu11 -march=native: a·b + c fused into FMAs). Python is only the generator: the
files are committed and the C++ tests do not need Python.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.metadata
import os
import subprocess
import sys
import tempfile

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

QK_K = 256
ROWS = 24
TYPES = {"q4_0": T.Q4_0, "q4_K": T.Q4_K, "q5_K": T.Q5_K, "q6_K": T.Q6_K}
BLOCK_BYTES = {"q4_0": 18, "q5_0": 22, "q4_K": 144, "q5_K": 176, "q6_K": 210, "q8_K": 292}
BLOCK_WIDTH = {"q4_0": 32, "q5_0": 32, "q4_K": 256, "q5_K": 256, "q6_K": 256, "q8_K": 256}

# fp16 bit patterns for d / dmin in the dequantization blocks: zero, -0, smallest and largest subnormal, a negative
# subnormal, smallest normal, ±1, ±65504 (fp16 max), then random finite values.
SPECIAL_HALVES = [0x0000, 0x8000, 0x0001, 0x03FF, 0x8123, 0x0400, 0x3C00, 0xBC00, 0x7BFF, 0xFBFF]


def random_half_bits(rng: np.random.Generator, n: int) -> np.ndarray:
    """n fp16 bit patterns: the special ones first, then random finite (exponent < 31) values of both signs."""
    out = np.array(SPECIAL_HALVES[:n], dtype=np.uint16)
    extra = n - len(out)
    if extra > 0:
        sign = rng.integers(0, 2, extra).astype(np.uint16) << 15
        exp = rng.integers(0, 31, extra).astype(np.uint16) << 10
        mant = rng.integers(0, 1024, extra).astype(np.uint16)
        out = np.concatenate([out, sign | exp | mant])
    return out


def dequant_blocks(rng: np.random.Generator, kind: str) -> np.ndarray:
    """Random blocks of one type as raw bytes (n_blocks, block_bytes)."""
    nb = {"q4_0": 16, "q5_0": 16, "q4_K": 12, "q5_K": 12, "q6_K": 12}[kind]
    raw = rng.integers(0, 256, (nb, BLOCK_BYTES[kind]), dtype=np.uint8)
    d = random_half_bits(rng, nb)
    if kind in ("q4_0", "q5_0"):
        raw[:, 0:2] = d.view(np.uint8).reshape(nb, 2)
    elif kind in ("q4_K", "q5_K"):
        dmin = random_half_bits(rng, nb)[::-1].copy()  # pair the special values differently
        raw[:, 0:2] = d.view(np.uint8).reshape(nb, 2)
        raw[:, 2:4] = dmin.view(np.uint8).reshape(nb, 2)
        raw[0, 4:16] = 0xFF  # every 6-bit scale and min 63
        raw[1, 4:16] = 0x00
        raw[2, 4:16] = [0xC0, 0x40, 0x80, 0xC0, 0x80, 0x40, 0xC0, 0x00, 0x0F, 0xF0, 0x5A, 0xA5]  # only high bits
    else:  # q6_K: ql 128, qh 64, scales 16 (int8), d
        raw[:, 208:210] = d.view(np.uint8).reshape(nb, 2)
        raw[0, 192:208] = np.array([-128, 127, -1, 0, 1, -64, 63, -127] * 2, dtype=np.int8).view(np.uint8)
    return raw


# The quantizer inputs: (description, generator of one 256-value row).
def row_cases(rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    n = lambda s: rng.standard_normal(QK_K).astype(np.float32) * np.float32(s)  # noqa: E731
    cases: list[tuple[str, np.ndarray]] = [
        ("normal, sigma 1", n(1)),
        ("normal, sigma 0.02", n(0.02)),
        ("normal, sigma 3.5", n(3.5)),
        ("normal, sigma 1e-3 (fp16 subnormal K-quant d)", n(1e-3)),
        ("uniform [0, 1): all positive (the min clamps to 0)", rng.random(QK_K, dtype=np.float32)),
        ("uniform [-1, 0): all negative", -rng.random(QK_K, dtype=np.float32)),
        ("zeros, half of them -0.0", np.where(np.arange(QK_K) % 2 == 0, np.float32(0.0), np.float32(-0.0))),
        ("constant 0.75", np.full(QK_K, 0.75, dtype=np.float32)),
        ("constant -2", np.full(QK_K, -2.0, dtype=np.float32)),
        ("normal, sigma 1e-20 (fp16 d = 0; Q6_K below GROUP_MAX_EPS)", n(1e-20)),
        ("normal, sigma 1e-6", n(1e-6)),
        ("normal, sigma 1e4", n(1e4)),
        ("normal, sigma 2e4 (values beyond fp16's 65504, scales finite)", n(2e4)),
        ("normal 0.1 with ±50 outliers", None),
        ("laplace (heavy tails)", rng.laplace(0, 1, QK_K).astype(np.float32)),
        ("groups of 16 at scales 1e-4 … 1e2", None),
        ("half-integers in [-8, 7.5] (exact ties)", (rng.integers(-16, 16, QK_K) * 0.5).astype(np.float32)),
        ("sparse: 90% zeros", None),
        ("one zero sub-block of 32, the rest normal", None),
        ("smooth sine", np.sin(np.arange(QK_K, dtype=np.float32) * np.float32(0.37)) * np.float32(0.3)),
    ]
    out = []
    for desc, row in cases:
        if desc.startswith("normal 0.1 with"):
            row = n(0.1)
            row[rng.choice(QK_K, 6, replace=False)] = rng.choice([-50.0, 50.0], 6).astype(np.float32)
        elif desc.startswith("groups of 16"):
            row = n(1) * np.repeat(np.float32(10.0) ** rng.uniform(-4, 2, QK_K // 16).astype(np.float32), 16)
        elif desc.startswith("sparse"):
            row = n(1) * (rng.random(QK_K) < 0.1)
        elif desc.startswith("one zero sub-block"):
            row = n(1)
            row[64:96] = 0
        out.append((desc, row.astype(np.float32)))
    while len(out) < ROWS:
        s = float(2.0 ** rng.integers(-10, 7))
        out.append((f"normal, sigma 2^{int(np.log2(s))}", n(s)))
    return out


def build_driver(llama: str, work: str, flags: list[str], name: str) -> str:
    exe = os.path.join(work, name)
    src = os.path.join(llama, "ggml", "src")
    here = os.path.dirname(os.path.abspath(__file__))
    cmd = ["gcc", *flags, "-I", os.path.join(llama, "ggml", "include"), "-I", src,
           os.path.join(here, "kquant_reference_driver.c"), os.path.join(src, "ggml-quants.c"), "-lm", "-o", exe]
    subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
    return exe


def run_driver(exe: str, kind: str, x: np.ndarray, work: str) -> bytes:
    src, dst = os.path.join(work, "in.f32"), os.path.join(work, "out.bin")
    x.astype("<f4").tofile(src)
    subprocess.run([exe, kind, src, dst], check=True)
    with open(dst, "rb") as f:
        return f.read()


def library_quantize(libdir: str, kind: str, x: np.ndarray) -> bytes | None:
    """The same quantizer from llama-cpp-python's shared libraries (another build of ggml)."""
    try:
        base = ctypes.CDLL(os.path.join(libdir, "libggml-base.so"))
        cpu = ctypes.CDLL(os.path.join(libdir, "libggml-cpu.so"))
    except OSError:
        return None
    fn = {"q4_0": base.quantize_row_q4_0_ref, "q5_0": base.quantize_row_q5_0_ref, "q4_K": base.quantize_row_q4_K_ref, "q5_K": base.quantize_row_q5_K_ref,
          "q6_K": base.quantize_row_q6_K_ref, "q8_K": cpu.quantize_row_q8_K}[kind]
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    fn.restype = None
    xs = np.ascontiguousarray(x, dtype=np.float32)
    out = np.zeros(xs.size // BLOCK_WIDTH[kind] * BLOCK_BYTES[kind], dtype=np.uint8)
    fn(xs.ctypes.data, out.ctypes.data, xs.size)
    return out.tobytes()


def differing_blocks(a: bytes, b: bytes, size: int) -> list[int]:
    return [i for i in range(len(a) // size) if a[i * size:(i + 1) * size] != b[i * size:(i + 1) * size]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llama-cpp", default=os.environ.get("LLAMA_CPP_DIR", "llama.cpp"))
    ap.add_argument("--out", default="tests/data/kquants")
    ap.add_argument("--libggml", default=None)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(14)
    notes: list[str] = []

    # --- dequantization: random blocks through gguf-py ---
    for kind, qtype in TYPES.items():
        raw = dequant_blocks(rng, kind)
        with np.errstate(all="ignore"):
            y = gguf.quants.dequantize(raw.reshape(-1), qtype).astype("<f4")
        assert y.size == raw.shape[0] * BLOCK_WIDTH[kind] and np.isfinite(y).all(), kind
        raw.tofile(os.path.join(args.out, f"dequant_{kind}.bin"))
        y.tofile(os.path.join(args.out, f"dequant_{kind}.f32"))
    # Q5_0 (added later) from its own generator: the files above stay as they were.
    raw = dequant_blocks(np.random.default_rng(1405), "q5_0")
    with np.errstate(all="ignore"):
        y = gguf.quants.dequantize(raw.reshape(-1), T.Q5_0).astype("<f4")
    assert y.size == raw.shape[0] * 32 and np.isfinite(y).all(), "q5_0"
    raw.tofile(os.path.join(args.out, "dequant_q5_0.bin"))
    y.tofile(os.path.join(args.out, "dequant_q5_0.f32"))

    # --- quantization: llama.cpp's reference quantizers on edge-case rows ---
    cases = row_cases(rng)
    x = np.stack([row for _, row in cases]).astype("<f4")
    x.tofile(os.path.join(args.out, "input.f32"))
    with tempfile.TemporaryDirectory() as work:
        ref = build_driver(args.llama_cpp, work, ["-std=c11", "-O2", "-ffp-contract=off"], "ref")
        fused = build_driver(args.llama_cpp, work, ["-std=gnu11", "-O2", "-march=native"], "fused")
        for kind in ["q4_0", "q5_0", "q4_K", "q5_K", "q6_K", "q8_K"]:
            got = run_driver(ref, kind, x, work)
            with open(os.path.join(args.out, f"quant_{kind}.bin"), "wb") as f:
                f.write(got)
            diff = differing_blocks(got, run_driver(fused, kind, x, work), BLOCK_BYTES[kind])
            notes.append(f"- {kind}: ggml-quants.c built with -std=gnu11 -march=native (FMA contraction) differs in "
                         f"{len(diff)} of {len(got) // BLOCK_BYTES[kind]} blocks" + (f" ({diff})" if diff else ""))
            if args.libggml:
                lib = library_quantize(args.libggml, kind, x)
                if lib is not None:
                    d = differing_blocks(got, lib, BLOCK_BYTES[kind])
                    notes.append(f"- {kind}: llama-cpp-python's libggml ({'libggml-cpu quantize_row_q8_K' if kind == 'q8_K' else 'libggml-base quantize_row_' + kind + '_ref'}) "
                                 f"differs in {len(d)} blocks" + (f" ({d})" if d else ""))
            if kind in ("q4_0", "q5_0"):
                with np.errstate(all="ignore"):
                    py = gguf.quants.quantize(x, T.Q4_0 if kind == "q4_0" else T.Q5_0).tobytes()
                d = differing_blocks(got, py, BLOCK_BYTES[kind])
                assert not d, f"gguf-py's {kind} differs from ggml's in blocks {d}"
                notes.append(f"- {kind}: gguf.quants.quantize gives the same bytes (asserted)")

    with open(os.path.join(args.out, "README.md"), "w") as f:
        f.write(README.format(
            gguf_version=importlib.metadata.version("gguf"), numpy_version=np.__version__, rows=ROWS,
            cases="\n".join(f"| {i} | {desc} |" for i, (desc, _) in enumerate(cases)), notes="\n".join(notes)))
    print("\n".join(notes))
    return 0


README = """# Q4_0 / Q5_0 / Q4_K / Q5_K / Q6_K / Q8_K reference

Written by `tools/make_kquant_reference.py` (run from the repository root:
`python3 tools/make_kquant_reference.py --libggml <llama-cpp-python>/lib`) with gguf-py {gguf_version},
numpy {numpy_version}, and llama.cpp's `ggml-quants.c` compiled standalone by
`tools/kquant_reference_driver.c` (`gcc -std=c11 -O2 -ffp-contract=off`).

| file | contents |
|---|---|
| `dequant_<type>.bin` | random blocks of `<type>` (q4_0: 16 × 18 bytes; q5_0: 16 × 22; q4_K 12 × 144, q5_K 12 × 176, q6_K 12 × 210), ggml-common.h layouts |
| `dequant_<type>.f32` | float32 = `gguf.quants.dequantize(dequant_<type>.bin, <type>)` |
| `input.f32` | ({rows}, 256) float32 rows, one K-quant super-block (eight Q4_0 / Q5_0 blocks) each |
| `quant_<type>.bin` | `quantize_row_<type>_ref(input)` of ggml-quants.c, all rows as one call (q8_K: `quantize_row_q8_K_ref`, which is what x86 llama.cpp's `quantize_row_q8_K` calls) |

Dequantization blocks: fp16 `d` (and `dmin`) cover +0, −0, the smallest and largest subnormal, a negative subnormal,
the smallest normal, ±1, ±65504, then random finite values of both signs; other bytes are random; q4_K/q5_K block 0
has every 6-bit scale and min 63, block 1 all 0, block 2 only the packed high bits set; q6_K block 0 holds the int8
scales −128, 127, −1, 0, 1, −64, 63, −127.

Quantizer rows:

| row | case |
|---|---|
{cases}

Measured when the files were written:
{notes}

Notes:
- The K-quant searches (`make_qkx2_quants`, `make_qx_quants`) compare sums of products, so a build that fuses
  a·b + c into an FMA (GCC's default in GNU C with `-march=native`) can pick another scale; the C++ quantizers turn
  contraction off and match the unfused build.
- `input.f32` row 15 (groups of 16 at scales 1e-4 … 1e2) uses numpy's float32 power, whose last bit depends on
  the SIMD path numpy picks on the machine: rerunning elsewhere may rewrite that row (and the blocks made from it).
- Q8_K: an all-zero block leaves `bsums` unwritten in ggml; the driver zeroes the output first, so they are 0 here
  (and the C++ quantizer writes 0).
"""

if __name__ == "__main__":
    sys.exit(main())
