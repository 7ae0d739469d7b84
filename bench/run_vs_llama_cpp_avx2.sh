#!/usr/bin/env bash
# bench/run_vs_llama_cpp.sh with AVX2-only builds of both engines: our bench_e2e built for x86-64-v3 (AVX2 + FMA +
# F16C, no AVX-512) next to llama.cpp built with AVX-512 off, on the same weights, alternating fresh processes.
#   bench/run_vs_llama_cpp_avx2.sh [OUTPUT.md]
# It builds, when missing: build/bench-avx2 (bench_e2e, -march=x86-64-v3) and a virtual environment at
# ${MOE_LLAMA_AVX2_VENV:-/tmp/llama_avx2_venv} with numpy, gguf and llama-cpp-python compiled from source with
# GGML_NATIVE=OFF GGML_AVX2=ON GGML_AVX512=OFF (about 20 minutes on 2 cores). The run itself is
# bench/run_vs_llama_cpp.py run by that environment's python (its llama.cpp child runs under the same python).
# Environment: MOE_E2E_DIR (checkpoints and GGUF files, default /tmp/moe_e2e), MOE_E2E_REPS (default 2),
# MOE_E2E_PRECISIONS (default q8_0,bf16_compute,bf16), MOE_E2E_MODELS (default mixtral,qwen2),
# MOE_E2E_THREADS (default 1,2).
set -euo pipefail
out=${1:-}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
venv=${MOE_LLAMA_AVX2_VENV:-/tmp/llama_avx2_venv}
build="$root/build/bench-avx2"
if [ ! -x "$build/bench/bench_e2e" ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS=-march=x86-64-v3 -DMOE_NATIVE_ARCH=OFF \
        -DMOE_BUILD_TESTS=OFF -DMOE_BUILD_EXAMPLES=OFF -DMOE_BUILD_BENCHMARKS=ON -DMOE_BUILD_CUDA=OFF
    cmake --build "$build" --target bench_e2e -j2
fi
if ! "$venv/bin/python" -c "import llama_cpp, gguf, numpy" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install numpy gguf
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_AVX512=OFF -DGGML_FMA=ON -DGGML_F16C=ON" \
        "$venv/bin/pip" install llama-cpp-python --no-binary llama-cpp-python
fi
"$venv/bin/python" "$here/run_vs_llama_cpp.py" --bench "$build/bench/bench_e2e" --work "${MOE_E2E_DIR:-/tmp/moe_e2e}" \
    --reps "${MOE_E2E_REPS:-2}" --precisions "${MOE_E2E_PRECISIONS:-q8_0,bf16_compute,bf16}" \
    --models "${MOE_E2E_MODELS:-mixtral,qwen2}" --threads "${MOE_E2E_THREADS:-1,2}" ${out:+--markdown "$out"}
