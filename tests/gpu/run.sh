#!/usr/bin/env bash
# tests/gpu/run.sh — on a machine with an NVIDIA GPU: build (Release), run every GPU test and the CUDA benchmarks,
# and write a markdown report (GPU name, driver, results).  Usage: tests/gpu/run.sh [report.md]   (default gpu_report.md)
# Budget: under 5 minutes on an H100/H200-class machine (build ≈ 2 min on 16 cores, tests < 1 min, benchmarks ≈ 1 min).
set -uo pipefail
report="$(realpath -m "${1:-gpu_report.md}")"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${MOE_GPU_BUILD_DIR:-$root/build-gpu}"
jobs="$(nproc 2>/dev/null || echo 4)"

{
  echo "# moe CUDA backend — GPU report"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "- commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "- GPU / driver: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo 'nvidia-smi not available')"
  echo "- nvcc: $(nvcc --version 2>/dev/null | tail -1)"
} > "$report"

start=$(date +%s)
if ! cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMOE_BUILD_CUDA=ON > "$build.configure.log" 2>&1 ||
   ! cmake --build "$build" -j"$jobs" --target test_cuda_moe_layer test_cuda_router test_cuda_grouped_gemm test_cuda_ops bench_cuda_moe \
       > "$build.build.log" 2>&1; then
  { echo; echo "## Build FAILED"; echo '```'; tail -40 "$build.configure.log" "$build.build.log"; echo '```'; } >> "$report"
  echo "build failed; see $report"; exit 1
fi
echo "- build: $(( $(date +%s) - start )) s" >> "$report"

status=0
{ echo; echo "## GPU tests (ctest -L gpu)"; echo; echo '```'; } >> "$report"
ctest --test-dir "$build" -L gpu --output-on-failure --timeout 240 >> "$report" 2>&1 || status=1
echo '```' >> "$report"
for t in test_cuda_moe_layer test_cuda_router test_cuda_grouped_gemm test_cuda_ops; do
  { echo; echo "### $t"; echo '```'; timeout 240 "$build/tests/cuda/$t" 2>&1 | tail -60; echo '```'; } >> "$report"
done

{ echo; echo "## Benchmarks"; } >> "$report"
timeout 180 "$build/bench/cuda/bench_cuda_moe" >> "$report" 2>&1 || { echo "(benchmark failed or timed out)" >> "$report"; status=1; }
echo; echo "- total: $(( $(date +%s) - start )) s" >> "$report"
echo "report written to $report"
exit $status
