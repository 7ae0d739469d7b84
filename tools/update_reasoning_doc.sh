#!/usr/bin/env bash
# Regenerates the evaluation of the tiny reasoner in docs/reasoning.md (between <!-- evaluation:begin --> and
# <!-- evaluation:end -->) and docs/reasoning_accuracy.png: builds Release, runs bench/eval_reasoning on the
# held-out split of tools/train_tiny_reasoner.py, plots with tools/plot_reasoning.py (needs matplotlib).
#   tools/update_reasoning_doc.sh [--problems N] [--threads N]     (default: the whole held-out split, 1 thread)
set -euo pipefail
cd "$(dirname "$0")/.."

problems=""
threads=1
while [ $# -gt 0 ]; do
    case "$1" in
        --problems) problems="${2:?--problems needs a value}"; shift 2 ;;
        --threads) threads="${2:?--threads needs a value}"; shift 2 ;;
        *) echo "usage: tools/update_reasoning_doc.sh [--problems N] [--threads N]" >&2; exit 2 ;;
    esac
done
python3 -c 'import matplotlib' 2>/dev/null || { echo "update_reasoning_doc.sh: needs matplotlib (pip install matplotlib)" >&2; exit 1; }
grep -q '<!-- evaluation:begin -->' docs/reasoning.md && grep -q '<!-- evaluation:end -->' docs/reasoning.md || {
    echo "update_reasoning_doc.sh: docs/reasoning.md lacks the <!-- evaluation:begin/end --> markers" >&2; exit 1; }

# The held-out split exactly as the training script defines it (training skips those pairs).
seed=$(sed -n 's/^EVAL_SEED = \([0-9]*\).*/\1/p' tools/train_tiny_reasoner.py)
split=$(sed -n 's/^EVAL_N = \([0-9]*\).*/\1/p' tools/train_tiny_reasoner.py)
[ -n "$seed" ] && [ -n "$split" ] || { echo "update_reasoning_doc.sh: EVAL_SEED / EVAL_N not found in tools/train_tiny_reasoner.py" >&2; exit 1; }

cmake --preset default >/dev/null
cmake --build build/default --target eval_reasoning -j2 >/dev/null
out=build/default/reasoning_eval
mkdir -p "$out"
build/default/bench/eval_reasoning --seed "$seed" --held-out "$split" ${problems:+--problems "$problems"} \
    --threads "$threads" --csv "$out/eval.csv" --markdown "$out/table.md"
python3 tools/plot_reasoning.py "$out/eval.csv" docs/reasoning_accuracy.png

python3 - "$out/table.md" <<'PY'
import sys, subprocess
table = open(sys.argv[1]).read()
model = subprocess.run(["git", "log", "-1", "--format=%h %cs", "--", "models/tiny-reasoner"], capture_output=True,
                       text=True).stdout.strip() or "not committed"
body = f"""
## Evaluation: accuracy against what it costs

`bench/eval_reasoning` (C++: `moe::decoding` on `moe::cpu::tiny_reasoner`, the ledger attached to every request),
regenerated with `tools/update_reasoning_doc.sh`. Checkpoint: models/tiny-reasoner at commit {model}.

- **Problems**: the held-out split of `tools/train_tiny_reasoner.py` (`held_out()`: Python's `random.Random(EVAL_SEED)`,
  reproduced bit for bit in C++), which training skips.
- **Prompts**: *no thinking* is Qwen3's `enable_thinking=false` prompt (empty block pre-filled). *Thinking* rows add
  `<think>\\n` to the generation prompt, so a budget of n stops after exactly n reasoning tokens and forces
  `\\n</think>` — the cut-thinking format of training; one reasoning line (`3+1+0=04\\n`) is 9 tokens, the full
  chain 45. Answers: the last number of the answer text, compared with the true sum.
- **Self-consistency**: m paths at temperature 0.7 (pure temperature sampling, as the paper), majority vote.
  **CoT-decoding**: the top-10 first tokens, each continued greedily, answer chosen by the confidence Δ on the
  answer tokens (max path) or Σ Δ per answer (aggregated) — on the no-thinking prompt (as the method: no reasoning
  prompt) and on the plain generation prompt, where the model itself may open `<think>`.
- **Cost per answer**: tokens summed over all paths; FLOPs, bytes and joules from the ledger (`moe/ledger.hpp`),
  which prices each path as a batch-1 request — the paths really run batched over one shared prompt, so bytes and
  estimated joules of multi-path rows are the unbatched cost. Joules are labelled with their source; `estimate`
  means no RAPL / amd_energy counter could be read. Time is measured wall time on this machine (2 cores, shared).

![accuracy against tokens and joules per answer](reasoning_accuracy.png)

{table}"""
doc = open("docs/reasoning.md").read()
begin, end = "<!-- evaluation:begin -->", "<!-- evaluation:end -->"
i, j = doc.index(begin) + len(begin), doc.index(end)
open("docs/reasoning.md", "w").write(doc[:i] + body + doc[j:])
PY
echo "docs/reasoning.md and docs/reasoning_accuracy.png updated"
