#!/usr/bin/env bash
# End-to-end prefill/decode of moe next to llama.cpp on the same random weights; prints a markdown table.
#   bench/run_vs_llama_cpp.sh BENCH_E2E_BINARY [OUTPUT.md]
# Checkpoints and GGUF files are written once under ${MOE_E2E_DIR:-/tmp/moe_e2e} (about 28 GB with the f32, bf16
# and Q8_0 GGUF files). Without llama-cpp-python + gguf (pip install llama-cpp-python gguf) only moe's rows are
# measured. MOE_E2E_PRECISIONS (default q8_0,bf16_compute,bf16,fp32; the GGUF files both engines read:
# gguf_q8_0,q4_0,q4_k,q4_k_m), MOE_E2E_MODELS (mixtral,qwen2), MOE_E2E_THREADS (1,2) select the runs.
set -euo pipefail
bench=${1:?usage: bench/run_vs_llama_cpp.sh BENCH_E2E_BINARY [OUTPUT.md]}
out=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
if ! python3 -c "import numpy" 2>/dev/null; then
    echo "run_vs_llama_cpp.sh: python3 with numpy is needed; skipping the end-to-end benchmark" >&2
    [ -n "$out" ] && echo "_Not measured: python3 with numpy is not installed._" > "$out"
    exit 0
fi
if ! python3 -c "import llama_cpp, gguf" 2>/dev/null; then
    echo "run_vs_llama_cpp.sh: llama-cpp-python/gguf not installed; measuring moe only" >&2
fi
python3 "$here/run_vs_llama_cpp.py" --bench "$bench" --work "${MOE_E2E_DIR:-/tmp/moe_e2e}" \
    --reps "${MOE_E2E_REPS:-2}" --precisions "${MOE_E2E_PRECISIONS:-q8_0,bf16_compute,bf16,fp32}" \
    --models "${MOE_E2E_MODELS:-mixtral,qwen2}" --threads "${MOE_E2E_THREADS:-1,2}" ${out:+--markdown "$out"}
