#!/usr/bin/env python3
"""Generate the GGUF files the C++ GGUF reader is tested against, written and read back with gguf-py.

Usage (from the repository root; needs numpy and gguf, e.g. python3):
    python3 tools/make_gguf_reference.py [--out tests/data/gguf]

Writes:
    reference.gguf        GGUF v3, little-endian, general.alignment = 64 (not the default 32): metadata of every
                          value type (uint8 … float64, bool, string) as a scalar and as an array, UTF-8 strings
                          (Cyrillic, CJK, emoji, an embedded NUL, an empty string), a UTF-8 key, edge values (int64
                          min, uint64 max, 2^53 + 1, -0.0, float32 denormal); tensors of F32, F16, BF16, Q8_0, Q4_0,
                          Q4_K, Q6_K with 1 to 4 dimensions
    reference.json        what gguf-py's GGUFReader reads back from reference.gguf: version, alignment, data offset;
                          per key (in file order) its type, element type and value; per tensor its name, ggml type id,
                          ne (ggml order), offset relative to the data section, byte count, and checksums of its
                          bytes (sum of bytes, FNV-1a 64, first and last byte); and gguf-py's GGML_QUANT_SIZES
    big_endian.gguf       a small file written by gguf-py with endianess=BIG (must be refused with a message saying so)
    README.md             this description and the gguf version used
F32/F16/BF16/Q8_0/Q4_0 data come from gguf.quants.quantize of deterministic normals; gguf-py has no Q4_K/Q6_K
quantizer, so those tensors hold deterministic random block bytes (the reader does not interpret block contents).
Python is only the generator: the files are committed and the C++ tests do not need Python.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from gguf import GGUFValueType as V

ALIGNMENT = 64


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def add_metadata(w: gguf.GGUFWriter) -> None:
    # Scalars of every type.
    w.add_uint8("test.uint8", 250)
    w.add_int8("test.int8", -128)
    w.add_uint16("test.uint16", 65535)
    w.add_int16("test.int16", -32768)
    w.add_uint32("test.uint32", 4_000_000_000)
    w.add_int32("test.int32", -2_000_000_000)
    w.add_float32("test.float32", 1e-6)
    w.add_bool("test.bool_true", True)
    w.add_bool("test.bool_false", False)
    w.add_string("test.string", "Привет, 世界! 🚀")
    w.add_uint64("test.uint64", 2**53 + 1)          # an integer a double cannot hold exactly
    w.add_uint64("test.uint64_max", 2**64 - 1)      # above the int64 range
    w.add_int64("test.int64", -(2**63))
    w.add_float64("test.float64", math.pi)
    w.add_float64("test.float64_negative_zero", -0.0)
    w.add_float32("test.float32_denormal", float(np.float32(1e-45)))
    w.add_key_value("test.string_empty", "", V.STRING)  # add_string skips empty strings
    w.add_string("test.string_nul", "a\x00b")
    w.add_string("test.ключ", "UTF-8 key")
    # Arrays of every element type.
    arrays = [
        ("test.array.uint8", V.UINT8, [0, 1, 255]),
        ("test.array.int8", V.INT8, [-128, 0, 127]),
        ("test.array.uint16", V.UINT16, [0, 65535]),
        ("test.array.int16", V.INT16, [-32768, 32767]),
        ("test.array.uint32", V.UINT32, [1, 2, 4_294_967_295]),
        ("test.array.int32", V.INT32, [-5, 0, 7, 2_147_483_647]),
        ("test.array.float32", V.FLOAT32, [0.5, -2.25, 3.4e38, 1e-30]),
        ("test.array.bool", V.BOOL, [True, False, True]),
        ("test.array.string", V.STRING, ["a", "", "ß∂ƒ", "日本語", "😀 emoji"]),
        ("test.array.uint64", V.UINT64, [0, 2**63 - 1]),
        ("test.array.int64", V.INT64, [-(2**63), 2**63 - 1, -1]),
        ("test.array.float64", V.FLOAT64, [math.e, -1e300, 5e-324]),
    ]
    for key, sub_type, values in arrays:
        w.add_key_value(key, values, V.ARRAY, sub_type=sub_type)
    # A token list shaped like the real ones.
    w.add_token_list([f"tok{i}" for i in range(40)])
    w.add_token_scores([float(-i) / 4 for i in range(40)])


def add_tensors(w: gguf.GGUFWriter) -> None:
    rng = np.random.default_rng(20250114)
    f32 = rng.standard_normal((3, 5)).astype(np.float32)
    w.add_tensor("t.f32", f32)                                             # ne = [5, 3]
    w.add_tensor("t.f32_1d", rng.standard_normal(7).astype(np.float32))    # ne = [7]
    w.add_tensor("t.f16", rng.standard_normal((2, 3, 4)).astype(np.float16))  # ne = [4, 3, 2]
    bf16_src = rng.standard_normal((2, 2, 2, 8)).astype(np.float32)
    w.add_tensor("t.bf16", gguf.quants.quantize(bf16_src, Q.BF16), raw_dtype=Q.BF16)  # ne = [8, 2, 2, 2]
    q8 = rng.standard_normal((4, 64)).astype(np.float32)
    w.add_tensor("t.q8_0", gguf.quants.quantize(q8, Q.Q8_0), raw_dtype=Q.Q8_0)  # ne = [64, 4]
    q4 = rng.standard_normal((3, 32)).astype(np.float32)
    w.add_tensor("t.q4_0", gguf.quants.quantize(q4, Q.Q4_0), raw_dtype=Q.Q4_0)  # ne = [32, 3]
    block, size = gguf.GGML_QUANT_SIZES[Q.Q4_K]
    w.add_tensor("t.q4_k", rng.integers(0, 256, (2, 512 // block * size), dtype=np.uint8), raw_dtype=Q.Q4_K)
    block, size = gguf.GGML_QUANT_SIZES[Q.Q6_K]
    w.add_tensor("t.q6_k", rng.integers(0, 256, (1, 256 // block * size), dtype=np.uint8), raw_dtype=Q.Q6_K)


def write(path: str, build, alignment: int | None = None, endianess=gguf.GGUFEndian.LITTLE) -> None:
    w = gguf.GGUFWriter(path, "test", endianess=endianess)
    if alignment is not None:
        w.add_custom_alignment(alignment)
    build(w)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def value_json(field) -> dict:
    types = field.types
    main = types[0]
    entry = {"type": main.name.lower()}
    if main == V.ARRAY:
        entry["element_type"] = types[-1].name.lower()
    value = field.contents()
    if main == V.ARRAY and types[-1] == V.BOOL:
        value = [bool(v) for v in value]
    elif main == V.BOOL:
        value = bool(value)
    entry["value"] = value
    return entry


def gguf_py_version() -> str:
    from importlib.metadata import version as package_version
    return package_version("gguf")


def read_back(path: str) -> dict:
    r = gguf.GGUFReader(path)
    out = {
        "gguf_version": gguf_py_version(),
        "version": int(r.fields["GGUF.version"].contents()),
        "alignment": int(r.alignment),
        "data_offset": int(r.data_offset),
        "metadata": [],
        "tensors": [],
        # gguf-py's table of every ggml type: id -> [name, block size, bytes per block].
        "ggml_quant_sizes": {str(int(t)): [t.name, b, s] for t, (b, s) in gguf.GGML_QUANT_SIZES.items()},
    }
    for name, field in r.fields.items():
        if name.startswith("GGUF."):  # the header counts gguf-py reports as fields
            continue
        out["metadata"].append({"key": name, **value_json(field)})
    for t in r.tensors:
        data = bytes(np.ascontiguousarray(t.data).view(np.uint8).reshape(-1))
        assert len(data) == t.n_bytes
        out["tensors"].append({
            "name": t.name,
            "type": int(t.tensor_type),
            "type_name": t.tensor_type.name,
            "ne": [int(d) for d in t.shape],
            "offset": int(t.data_offset - r.data_offset),
            "bytes": int(t.n_bytes),
            "sum": int(sum(data)),
            "fnv1a64": fnv1a64(data),
            "first": data[0],
            "last": data[-1],
        })
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="tests/data/gguf")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    reference = os.path.join(args.out, "reference.gguf")
    write(reference, lambda w: (add_metadata(w), add_tensors(w)), alignment=ALIGNMENT)
    back = read_back(reference)
    assert back["alignment"] == ALIGNMENT and back["data_offset"] % ALIGNMENT == 0
    with open(os.path.join(args.out, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(back, f, indent=1, ensure_ascii=False)
        f.write("\n")

    def small(w: gguf.GGUFWriter) -> None:
        w.add_uint32("test.uint32", 7)
        w.add_tensor("t.f32", np.arange(8, dtype=np.float32))
    write(os.path.join(args.out, "big_endian.gguf"), small, endianess=gguf.GGUFEndian.BIG)

    version = gguf_py_version()
    with open(os.path.join(args.out, "README.md"), "w", encoding="utf-8") as f:
        f.write("# GGUF reader reference files\n\n")
        f.write(f"Made by `tools/make_gguf_reference.py` with gguf-py {version} (numpy {np.__version__}); rerun it "
                "from the repository root to regenerate. The script's docstring says what each file holds.\n")
    print(f"wrote {reference} ({os.path.getsize(reference)} bytes), {len(back['metadata'])} keys, "
          f"{len(back['tensors'])} tensors, gguf-py {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
