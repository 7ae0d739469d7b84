#!/usr/bin/env bash
# Builds the safetensors header fuzzer with clang in BUILD_DIR and runs it for SECONDS on a copy of the seed corpus.
# Exits non-zero when the fuzzer finds a crash, a sanitizer error or a timeout; the reproducer is left in
# BUILD_DIR/artifacts/ (rerun it with: BUILD_DIR/fuzz_safetensors_header BUILD_DIR/artifacts/crash-…).
#
#   tests/fuzz/run_fuzz.sh BUILD_DIR SECONDS
#
# Needs clang with libFuzzer (on Debian: clang-14 and libclang-rt-14-dev). CXX_FUZZ overrides the compiler.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 BUILD_DIR SECONDS" >&2
  exit 2
fi
build_dir=$1
seconds=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
compiler=${CXX_FUZZ:-clang++}

cmake -S "$here" -B "$build_dir" -DCMAKE_CXX_COMPILER="$compiler" -DMOE_BUILD_FUZZERS=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build_dir" --target fuzz_safetensors_header -j "$(nproc)"

# Work on a copy: libFuzzer adds the inputs it finds to the corpus directory.
corpus="$build_dir/corpus"
rm -rf "$corpus"
mkdir -p "$corpus" "$build_dir/artifacts"
cp "$here"/corpus/* "$corpus"/

"$build_dir/fuzz_safetensors_header" \
  -max_total_time="$seconds" \
  -timeout=10 \
  -rss_limit_mb=2048 \
  -max_len=65536 \
  -dict="$here/safetensors.dict" \
  -artifact_prefix="$build_dir/artifacts/" \
  -print_final_stats=1 \
  "$corpus"
echo "run_fuzz.sh: no crash in ${seconds}s"
