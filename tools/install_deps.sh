#!/usr/bin/env bash
# tools/install_deps.sh — install the Debian/Ubuntu packages moe's build, tests and CI need; nothing else.
#
# Idempotent and non-interactive: it asks dpkg which packages are missing, runs `apt-get update` and
# `apt-get install` only when something is, and does nothing (no network) when all are present.
# Needs root (or sudo) only when it has something to install.
#   cmake g++ make git        the build and the consumer tests
#   libeigen3-dev             moe::cpu (Eigen 3.4)
#   nlohmann-json3-dev        moe::io (config.json / safetensors headers)
#   catch2                    the unit tests (Catch2 2.13)
#   clang libclang-rt-14-dev  the libFuzzer / sanitizer stages (clang -fsanitize=fuzzer needs libclang_rt.fuzzer,
#                             which Debian 12 ships in libclang-rt-14-dev)
#   libcpp-httplib-dev pkg-config  moe_server's HTTP (cpp-httplib; pkg-config gives the macros Debian built it with)
#   python3-venv curl         the server tests: a virtual environment for the official openai client (from PyPI),
#                             and curl requests
#   g++-aarch64-linux-gnu qemu-user  the ARM stage: the NEON kernels cross-compiled for aarch64 and their tests run
#                             under qemu-aarch64 (cmake --workflow --preset test-arm64)
set -euo pipefail

packages=(cmake g++ make git libeigen3-dev nlohmann-json3-dev catch2 clang libclang-rt-14-dev
          libcpp-httplib-dev pkg-config python3-venv curl g++-aarch64-linux-gnu qemu-user)

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "install_deps: this script needs a Debian-like system (dpkg, apt-get); install by hand: ${packages[*]}" >&2
    exit 1
fi

missing=()
for package in "${packages[@]}"; do
    if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)" != "installed" ]]; then
        missing+=("$package")
    fi
done

if ((${#missing[@]} == 0)); then
    echo "install_deps: all ${#packages[@]} packages present (${packages[*]})"
    exit 0
fi

echo "install_deps: installing ${missing[*]}"
sudo=()
if ((EUID != 0)); then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "install_deps: must run as root (or with sudo) to install: ${missing[*]}" >&2
        exit 1
    fi
fi
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install_deps: done"
