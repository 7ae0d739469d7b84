#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang in BUILD_DIR and runs each for SECONDS on a copy of its seed
# corpus (corpus/NAME/, with dict/NAME.dict when present). Runs every target found (fuzz_*.cpp), or only the
# TARGETs given. Exits non-zero when any fuzzer finds a crash, a sanitizer error, a leak, an out-of-memory or a
# timeout; the reproducer is left in BUILD_DIR/artifacts/NAME/ (rerun it with:
# BUILD_DIR/NAME BUILD_DIR/artifacts/NAME/crash-…).
#
#   tests/fuzz/run_fuzz.sh BUILD_DIR SECONDS-PER-TARGET [TARGET...]
#
# Needs clang with libFuzzer (on Debian: clang-14 and libclang-rt-14-dev). CXX_FUZZ overrides the compiler;
# JOBS the build parallelism (default: nproc).
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 BUILD_DIR SECONDS-PER-TARGET [TARGET...]" >&2
  exit 2
fi
build_dir=$1
seconds=$2
shift 2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
compiler=${CXX_FUZZ:-clang++}
if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  targets=()
  for source in "$here"/fuzz_*.cpp; do targets+=("$(basename "$source" .cpp)"); done
fi

cmake -S "$here" -B "$build_dir" -DCMAKE_CXX_COMPILER="$compiler" -DMOE_BUILD_FUZZERS=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
if [[ $# -gt 0 ]]; then
  cmake --build "$build_dir" --target "${targets[@]}" -j "${JOBS:-$(nproc)}"
else  # one aggregate target, so that make builds the fuzzers in parallel (a list of targets builds one at a time)
  cmake --build "$build_dir" --target moe_fuzzers -j "${JOBS:-$(nproc)}"
fi

failed=()
for name in "${targets[@]}"; do
  # Work on a copy: libFuzzer adds the inputs it finds to the corpus directory.
  corpus="$build_dir/corpus/$name"
  rm -rf "$corpus"
  mkdir -p "$corpus" "$build_dir/artifacts/$name"
  if [[ -d "$here/corpus/$name" ]]; then cp -r "$here/corpus/$name"/. "$corpus"/; fi
  dict=()
  if [[ -f "$here/dict/$name.dict" ]]; then dict=(-dict="$here/dict/$name.dict"); fi
  echo "run_fuzz.sh: $name for ${seconds}s"
  if ! "$build_dir/$name" \
    -max_total_time="$seconds" \
    -timeout=10 \
    -rss_limit_mb=2048 \
    -max_len=65536 \
    "${dict[@]}" \
    -artifact_prefix="$build_dir/artifacts/$name/" \
    -print_final_stats=1 \
    "$corpus" 2>"$build_dir/$name.log"; then
    tail -n 60 "$build_dir/$name.log" >&2
    failed+=("$name")
  else
    grep -E "^(stat::number_of_executed_units|Done)" "$build_dir/$name.log" || true
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "run_fuzz.sh: findings in: ${failed[*]} (reproducers in $build_dir/artifacts/)" >&2
  exit 1
fi
echo "run_fuzz.sh: no finding in ${#targets[@]} target(s), ${seconds}s each"
