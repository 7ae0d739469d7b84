#!/usr/bin/env bash
# tools/server_test_venv.sh VENV_DIR — the Python environment of moe_server's end-to-end tests
# (tests/server/test_server.py, tests/server/load_test.py): a virtual environment with the official `openai` client.
#
# Idempotent: creates VENV_DIR with `python3 -m venv` only when VENV_DIR/bin/python is missing, and pip-installs
# `openai` from PyPI only when `VENV_DIR/bin/python -c 'import openai'` fails (no network otherwise).
# Quiet on success; its last line is the venv's python, for scripts:
#   PY=$(tools/server_test_venv.sh build/server-venv | tail -n 1)
#   "$PY" tests/server/test_server.py --server build/default/examples/moe_server \
#       --cli build/default/examples/moe_cli --model models/tiny-reasoner
set -euo pipefail

if [[ $# -ne 1 || -z "$1" || "$1" == -* ]]; then
    echo "usage: $0 VENV_DIR" >&2
    exit 2
fi
venv=$1
python=$venv/bin/python

if ! command -v python3 >/dev/null 2>&1; then
    echo "server_test_venv: python3 is not installed (Debian/Ubuntu: apt-get install python3 python3-venv)" >&2
    exit 1
fi

if [[ ! -x "$python" ]]; then
    if ! log=$(python3 -m venv "$venv" 2>&1); then
        echo "$log" >&2
        echo "server_test_venv: 'python3 -m venv $venv' failed; on Debian/Ubuntu install the venv module with" \
             "'apt-get install python3-venv' (as root), then run this again" >&2
        rm -rf -- "$venv"  # a half-made venv (no pip) would otherwise look ready next time
        exit 1
    fi
fi

if ! "$python" -c 'import openai' >/dev/null 2>&1; then
    if ! "$python" -m pip --version >/dev/null 2>&1; then
        echo "server_test_venv: $venv has no pip (made without ensurepip?); remove it and run this again, after" \
             "'apt-get install python3-venv' (as root) on Debian/Ubuntu" >&2
        exit 1
    fi
    if ! log=$("$python" -m pip install --quiet --disable-pip-version-check openai 2>&1); then
        echo "$log" >&2
        echo "server_test_venv: 'pip install openai' into $venv failed (it needs PyPI: network or a pip mirror)" >&2
        exit 1
    fi
    if ! "$python" -c 'import openai' >/dev/null 2>&1; then
        echo "server_test_venv: openai was installed into $venv but 'import openai' still fails" >&2
        exit 1
    fi
fi

echo "$python"
