#!/usr/bin/env python3
"""Generate the bit-exact reference files for the C++ Q8_0 quantizer test with gguf-py (llama.cpp's Python package).

Usage (from the repository root):
    python3 tools/make_q8_0_reference.py [--out tests/data/q8_0]

Writes, for a deterministic (12, 96) float32 matrix (3 Q8_0 blocks of 32 per row, 36 blocks):
    input.f32          (12, 96) float32, little-endian, row-major
    q8_0.bin           (12, 102) bytes: gguf.quants.quantize(input, Q8_0); per block 34 bytes = fp16 d (LE) + 32 int8
    dequantized.f32    (12, 96) float32: gguf.quants.dequantize(q8_0.bin, Q8_0)
    README.md          what the files are, the formula, the gguf version
Rows are standard normals (numpy default_rng(7)) times a per-row scale; some blocks are replaced by edge cases (see
EDGE_CASES). The script checks gguf's bytes against an independent per-element implementation of the ggml reference
quantizer (quantize_row_q8_0_ref) and reports which tempting variants (round-half-even, x / d, x * 127 / amax, ...)
the data tells apart. Python is only the generator: the files are committed and the C++ tests do not need Python.
"""

from __future__ import annotations

import argparse
import math
import os
import struct
import sys

import numpy as np
import gguf

ROWS, COLS, QK = 12, 96, 32
SCALES = [1.0, 0.02, 3.5, 1e-3, 250.0, 0.5, 0.07, 1000.0, 0.9, 40.0, 0.01, 6.0]
f32 = np.float32


def edge_cases(rng):
    """(row, block, values, description) — every values array is float32 and exact as written."""
    cases = []
    z = np.zeros(QK, f32)
    z[1::3] = -0.0
    cases.append((1, 0, z, "all zero (some -0.0): d = 0, id = 0, q = 0"))

    # Exact ties with d = 1 (amax 127): x * id = k + 0.5 exactly; half away from zero: 0.5 -> 1, 2.5 -> 3, -2.5 -> -3.
    k = np.array([0, 1, 2, 3, 4, 5, 10, 41, 62, 63, 99, 125, 126, 0, 1, 2], f32)
    t = np.concatenate([[127.0], k + 0.5, -(k[:15] + 0.5)]).astype(f32)
    cases.append((2, 1, t, "exact ties, d = 1 (amax 127): x*id = k + 0.5 exactly"))

    # Exact ties with d = 0.25 (amax 31.75, id = 4 exactly), negative amax.
    k = np.arange(31, dtype=f32)
    t = np.concatenate([[-31.75], (k + 0.5) * f32(0.25) * np.where(np.arange(31) % 2, -1, 1).astype(f32)]).astype(f32)
    cases.append((3, 2, t, "exact ties, d = 0.25 (amax -31.75, id = 4)"))

    # Near ties: (k + 0.5) * amax / 127 with amax = 1: d = 1/127 is not a power of two, so x * id lands within an ulp
    # of k + 0.5 on either side — decides between id = 1/d (the reference) and 127/amax or x/d.
    k = np.arange(31, dtype=f32) * 4
    t = np.concatenate([[1.0], (k + f32(0.5)) * f32(1.0) / f32(127)]).astype(f32)
    t[2::2] *= -1
    cases.append((9, 2, t, "near ties: (k + 0.5) * amax / 127, amax = 1 (d = 1/127 inexact)"))

    # Near ties chosen to separate the reference from id = 127/amax and from x / d: amax = 1 + 2^-10, where
    # 1/(amax/127) and 127/amax differ by an ulp; values within 3 ulps of (k + 0.5) * d whose roundf(x * id) differs.
    amax = f32(1 + 2.0 ** -10)
    d = f32(amax / f32(127))
    ids = (f32(f32(1) / d), f32(f32(127) / amax))
    assert ids[0] != ids[1]

    def roundf(p):
        return math.floor(abs(float(p)) + 0.5) * (1 if p >= 0 else -1)

    split_div, split_127 = [], []
    for k in range(127):
        x = f32((k + 0.5) * float(d))
        for step in (-3, -2, -1, 0, 1, 2, 3):
            v = x
            for _ in range(abs(step)):
                v = np.nextafter(v, f32(math.copysign(1e9, step)), dtype=f32)
            if v >= amax:
                continue
            r = roundf(f32(v * ids[0]))
            if r != roundf(f32(v / d)):
                split_div.append(v)
            elif r != roundf(f32(v * ids[1])):
                split_127.append(v)
    vals = split_div[:8] + split_127[:31 - len(split_div[:8])]
    assert len(split_div) > 0 and len(vals) == 31
    t = np.array([amax] + vals, f32)
    t[2::2] *= -1
    cases.append((11, 0, t, "near ties, amax = 1 + 2^-10: values where x*(1/d), x*(127/amax) and x/d round apart"))

    # One huge value, tiny others: all tiny ones round to 0.
    t = (rng.standard_normal(QK) * 1e-3).astype(f32)
    t[17] = 1e4
    cases.append((4, 0, t, "one huge value (1e4), the others ~1e-3: q = 0 except 127"))

    # Negative amax dominant.
    t = (rng.uniform(-40, 40, QK)).astype(f32)
    t[5] = -50.0
    cases.append((5, 1, t, "negative amax dominant (-50, others in ±40): q = -127 there, never -128"))

    # Denormal-size values next to normal ones (the block's amax is normal, so they quantize to 0).
    t = (rng.standard_normal(QK)).astype(f32)
    t[::4] = f32(1e-40)
    t[2::4] = f32(-1e-40)
    cases.append((6, 2, t, "fp32 denormals (±1e-40) among normal values: they quantize to 0"))

    # Large but finite: amax = 127 * 65504 -> d = 65504 exactly (the fp16 maximum).
    t = (rng.standard_normal(QK) * 2e6).astype(f32)
    t[3] = -127.0 * 65504.0
    cases.append((7, 0, t, "amax = 127*65504 (negative): d = 65504 = fp16 max exactly"))

    # d = 65519 in fp32 rounds down to fp16 65504 (65520 would round to inf).
    t = (rng.standard_normal(QK) * 3e6).astype(f32)
    t[30] = 127.0 * 65519.0
    cases.append((7, 1, t, "amax = 127*65519: d = 65519 rounds to fp16 65504 (largest d with a finite fp16 scale)"))

    # fp16 subnormal scale: amax 1e-3 -> d = 7.87e-6 < 6.1e-5 (the smallest normal fp16).
    t = (rng.uniform(-1e-3, 1e-3, QK)).astype(f32)
    t[9] = 1e-3
    cases.append((8, 0, t, "amax 1e-3: d = 7.9e-6 is an fp16 subnormal (fewer significant bits)"))

    # fp16 scale underflow: amax 1e-30 -> d = 7.9e-33 (normal fp32), fp16(d) = 0; q is still nonzero.
    t = (rng.uniform(-1e-30, 1e-30, QK)).astype(f32)
    t[0] = -1e-30
    cases.append((8, 1, t, "amax 1e-30: d normal in fp32 but fp16(d) = 0; q nonzero, dequantizes to 0"))

    # fp16 rounding tie of d: d = 1 + 2^-11 (halfway between 1 and 1 + 2^-10) -> even (1.0) on RNE.
    t = (rng.uniform(-1, 1, QK) * 100).astype(f32)
    t[4] = f32(127 * 2049) / f32(2048)
    cases.append((10, 0, t, "d = 1 + 2^-11 exactly: an fp16 rounding tie, RNE gives 1.0"))
    t = (rng.uniform(-1, 1, QK) * 100).astype(f32)
    t[11] = -f32(127 * 2051) / f32(2048)
    cases.append((10, 1, t, "d = 1 + 3*2^-11 exactly: an fp16 rounding tie, RNE gives 1 + 2^-9"))
    return cases


def make_input():
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((ROWS, COLS)) * np.array(SCALES)[:, None]).astype(f32)
    cases = edge_cases(rng)
    for row, block, values, _ in cases:
        assert values.dtype == f32 and values.shape == (QK,)
        x[row, block * QK:(block + 1) * QK] = values
    return x, cases


def f32_to_f16_bits(v):
    # struct's "e" rounds a double to nearest even; fp32 -> double is exact, so this is fp32 -> fp16 RNE.
    return struct.unpack("<H", struct.pack("<e", float(v)))[0]


def reference_block(b):
    """ggml quantize_row_q8_0_ref, one element at a time, with explicit fp32 rounding after every operation."""
    amax = f32(0)
    for v in b:
        amax = max(amax, abs(v))
    d = f32(amax / f32(127))
    id_ = f32(f32(1) / d) if d != 0 else f32(0)
    out = struct.pack("<H", f32_to_f16_bits(d))
    for v in b:
        p = float(f32(v * id_))
        q = math.floor(abs(p) + 0.5) * (1 if p >= 0 else -1)  # roundf: half away from zero (exact: p has 24 bits)
        out += struct.pack("<b", q)
    return out


def variants(blocks):
    """Bytes from plausible-but-wrong formulas, to report which ones the data tells apart from the reference."""
    amax = np.abs(blocks).max(axis=1, keepdims=True)
    d = amax / f32(127)
    with np.errstate(divide="ignore", invalid="ignore"):
        ids = {
            "id = 127/amax": np.where(amax == 0, f32(0), f32(127) / amax),
            "x / d": None,
            "id = 1/fp16(d)": np.where(d == 0, f32(0), f32(1) / d.astype(np.float16).astype(f32)),
            "round half to even": np.where(d == 0, f32(0), f32(1) / d),
            "id = 1/d as double": np.where(d == 0, 0.0, 1.0 / d.astype(np.float64)),
        }
        out = {}
        for name, id_ in ids.items():
            p = np.where(d == 0, f32(0), blocks / d) if id_ is None else blocks * id_
            q = np.rint(p) if name == "round half to even" else np.sign(p) * np.floor(np.abs(p) + 0.5)
            out[name] = np.concatenate([d.astype(np.float16).view(np.uint8), q.astype(np.int8).view(np.uint8)], axis=1)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/data/q8_0")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    x, cases = make_input()
    q = gguf.quants.quantize(x, gguf.GGMLQuantizationType.Q8_0)
    assert q.dtype == np.uint8 and q.shape == (ROWS, COLS // QK * 34), q.shape
    dq = gguf.quants.dequantize(q, gguf.GGMLQuantizationType.Q8_0)
    assert dq.dtype == f32 and dq.shape == (ROWS, COLS)

    blocks = x.reshape(-1, QK)
    ref = b"".join(reference_block(b) for b in blocks)
    assert ref == q.tobytes(), "gguf's Q8_0 bytes differ from the element-by-element ggml reference"
    # Dequantization is exact: |q| <= 127 (7 bits) times an fp16 d (11 bits) fits float32's 24 bits.
    qb = q.reshape(-1, 34)
    d16 = qb[:, :2].copy().view(np.float16).astype(np.float64)
    exact = (qb[:, 2:].view(np.int8).astype(np.float64) * d16).astype(f32).reshape(ROWS, COLS)
    assert np.array_equal(exact, dq)

    separated = []  # which plausible-but-wrong quantizers the data catches, for the README
    for name, v in variants(blocks).items():
        separated.append((name, np.flatnonzero((v != qb).any(axis=1)).tolist()))
    trunc = qb.copy()  # fp16(d) by truncation, subnormals flushed (a common hand-written converter)
    bits = (np.abs(blocks).max(axis=1) / f32(127)).astype(f32).view(np.uint32)
    e = ((bits >> 23) & 0xFF).astype(np.int32) - 127 + 15
    h = np.where(e <= 0, 0, np.where(e >= 31, 0x7C00, (e << 10) | ((bits >> 13) & 0x3FF))).astype(np.uint16)
    trunc[:, :2] = h.view(np.uint8).reshape(-1, 2)
    separated.append(("fp16(d) by truncation, subnormals flushed", np.flatnonzero((trunc != qb).any(axis=1)).tolist()))
    up = qb.copy()  # fp16(d) rounded half up (add half an fp16 ulp, truncate) where d is a normal fp16
    d16 = (np.abs(blocks).max(axis=1) / f32(127)).astype(f32)
    normal = (d16 >= f32(2.0 ** -14)) & (d16 < f32(65504))
    hu = (((bits + 0x1000) >> 13) - ((127 - 15) << 10)).astype(np.uint16)
    up[normal, :2] = hu[normal].view(np.uint8).reshape(-1, 2)
    separated.append(("fp16(d) rounded half up", np.flatnonzero((up != qb).any(axis=1)).tolist()))
    for name, diff in separated:
        print(f"variant {name!r}: differs in blocks {diff}", file=sys.stderr)
        assert diff, f"the data does not separate the reference from {name!r}"

    x.astype("<f4").tofile(os.path.join(args.out, "input.f32"))
    q.tofile(os.path.join(args.out, "q8_0.bin"))
    dq.astype("<f4").tofile(os.path.join(args.out, "dequantized.f32"))

    ver = gguf_version()
    lines = [f"| {r} | {b} | {r * 3 + b} | {desc} |" for r, b, _, desc in sorted(cases, key=lambda c: (c[0], c[1]))]
    caught = "\n".join(f"- {name}: blocks {', '.join(map(str, diff))}" for name, diff in separated)
    readme = README.format(ver=ver, numpy=np.__version__, cases="\n".join(lines), caught=caught,
                           scales=", ".join(f"{s:g}" for s in SCALES))
    with open(os.path.join(args.out, "README.md"), "w") as f:
        f.write(readme)
    total = sum(os.path.getsize(os.path.join(args.out, n)) for n in os.listdir(args.out))
    print(f"wrote {args.out} ({total} bytes), gguf {ver}", file=sys.stderr)


def gguf_version():
    try:
        from importlib.metadata import version
        return version("gguf")
    except Exception:
        return "unknown"


README = """# Q8_0 quantizer reference

Written by `tools/make_q8_0_reference.py` (run from the repository root:
`python3 tools/make_q8_0_reference.py`) with **gguf {ver}** (gguf-py, llama.cpp's Python package), numpy {numpy}.

| file | contents |
|---|---|
| `input.f32` | (12, 96) float32, little-endian, row-major: 3 blocks of 32 per row, 36 blocks |
| `q8_0.bin` | (12, 102) bytes = `gguf.quants.quantize(input, GGMLQuantizationType.Q8_0)`, rows concatenated; per block 34 bytes: fp16 `d` (little-endian) then 32 `int8` |
| `dequantized.f32` | (12, 96) float32 = `gguf.quants.dequantize(q8_0.bin, Q8_0)` |

Rows: `numpy.random.default_rng(7).standard_normal((12, 96))` times a per-row scale ({scales}), with these blocks
replaced by edge cases (block index = row * 3 + block):

| row | block in row | block | case |
|---|---|---|---|
{cases}

## The formula (gguf-py `quants.py`, class `Q8_0`; the same as ggml's `quantize_row_q8_0_ref`)

Per block of 32 float32 values `x`, every operation in float32:

    amax = max |x|
    d    = amax / 127                      (float32 division)
    id   = d == 0 ? 0 : 1 / d              (float32 reciprocal of the *unrounded* float32 d)
    q[j] = roundf(x[j] * id)               (float32 product, then round half away from zero)
    store fp16(d), q as int8               (fp16 by IEEE round-to-nearest-even: numpy's astype(float16))

Dequantization: `x'[j] = q[j] * float(fp16 d)` — exact in float32 (7-bit × 11-bit significands).
The generator checks gguf's bytes against an independent per-element implementation of that formula, and that
the data tells these plausible variants apart from it (blocks whose bytes would differ):

{caught}

Notes:
- The rounding is `np_roundf(n) = sign(n) * (floor(|n|) + floor(2 * (|n| - floor(|n|))))`: half away from zero
  (C `roundf`), not numpy's `rint`/`round` (half to even). Blocks 7 and 11 hold exact `.5` ties.
- `q` is computed with the float32 `d` before it is rounded to fp16: the stored scale is not the one that was
  divided by, so `q * fp16(d)` is not necessarily the nearest grid point of the stored scale.
- `id` is `1 / (amax / 127)`, not `127 / amax`; the two differ by an ulp for some amax, which moves near ties
  (blocks 29, 33; block 33 also separates `x / d`). llama.cpp's AVX activation quantizer (`quantize_row_q8_0`
  in ggml-cpu) uses `127 / amax` and round-half-to-even; model files use the reference formula above.
- `d` rounds to fp16 with round-to-nearest-even: fp16 subnormals are kept (block 24), values below half the
  smallest subnormal become 0 while `q` stays nonzero (block 25), d = 65519 rounds to 65504 (block 22), and
  exact fp16 ties go to even (blocks 30, 31). A `d` ≥ 65520 (amax ≥ 127 × 65520) would store +inf.
- The all-zero block stores d = +0 and q = 0 (-0.0 inputs included).
- Not covered on purpose: a block whose amax is below about 3.7e-37 (e.g. only fp32 denormals) makes
  `1 / d` overflow to inf, `x * id` inf or NaN, and the int8 cast undefined (numpy warns and gives 0 on x86-64);
  its fp16 d is 0, so it dequantizes to 0 whatever q is. Flush-to-zero/denormals-are-zero arithmetic also changes
  `d` when `amax / 127` is a float32 denormal.
- The file's 36 block indices above count blocks in file order (row-major, 3 per row).
"""


if __name__ == "__main__":
    main()
