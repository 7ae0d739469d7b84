#!/usr/bin/env bash
# Rebuilds the benchmarks (Release, -march=native) and rewrites their tables in docs/performance.md.
#   bench/update_performance_doc.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset default >/dev/null
cmake --build build/default --target bench_moe_layer bench_attention bench_load_checkpoint bench_e2e -j2 >/dev/null

replace_block() {  # replace_block NAME FILE: put FILE between <!-- NAME:begin --> and <!-- NAME:end -->
    python3 - "$1" "$2" <<'PY'
import sys, re
name, path = sys.argv[1], sys.argv[2]
doc = open("docs/performance.md").read()
body = open(path).read()
begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
i, j = doc.index(begin) + len(begin), doc.index(end)
open("docs/performance.md", "w").write(doc[:i] + "\n" + body + doc[j:])
PY
}

machine=$(mktemp)
{
    echo "Measured $(date -u +%Y-%m-%d) on: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores" \
         "($(grep -o -w -E 'avx512f|avx512_bf16|avx512_vnni' /proc/cpuinfo | sort -u | tr '\n' ' ')), " \
         "$(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(g++ --version | head -1)."
} > "$machine"
replace_block machine "$machine"

table=$(mktemp)
build/default/bench/bench_moe_layer --markdown "$table"
replace_block moe_layer_bench "$table"
table=$(mktemp)
build/default/bench/bench_attention --threads "$(nproc)" --markdown "$table"
replace_block attention_bench "$table"
table=$(mktemp)
build/default/bench/bench_load_checkpoint --markdown "$table"
replace_block load_bench "$table"
# Whole models next to llama.cpp (skips llama.cpp with a message when llama-cpp-python is not installed).
table=$(mktemp)
bench/run_vs_llama_cpp.sh build/default/bench/bench_e2e "$table"
replace_block e2e_bench "$table"
echo "docs/performance.md updated"
