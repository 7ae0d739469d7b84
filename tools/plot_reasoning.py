#!/usr/bin/env python3
"""Plot bench/eval_reasoning's CSV: accuracy against tokens and against joules per answer, one point per row.

    python3 tools/plot_reasoning.py reasoning_eval.csv docs/reasoning_accuracy.png

The greedy thinking-budget rows are joined into a curve (labelled with their budget); self-consistency and
CoT-decoding rows are separate markers. Needs matplotlib (Agg backend, no display).
"""

from __future__ import annotations

import csv
import math
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLE = {  # method prefix -> (marker, colour)
    "greedy": ("o", "tab:blue"),
    "self-consistency": ("s", "tab:orange"),
    "CoT-decoding, max path": ("^", "tab:green"),
    "CoT-decoding, aggregated": ("v", "tab:red"),
}


def short_label(row: dict) -> str:
    thinking = row["thinking_budget"] != "none"
    if row["method"] == "greedy":
        return row["thinking_budget"] if thinking else "no thinking"
    if row["method"] == "self-consistency":
        return f"SC {row['paths']}" + ("" if thinking else ", no thinking")
    prompt = "plain prompt" if row["thinking_budget"] == "model decides" else "no-thinking prompt"
    return f"k={row['paths']}, {prompt}"


def annotate(ax, rows: list, key: str) -> None:
    """One label per point; points at the same place share a label ("44 / unlimited"), and labels of points close
    to each other (log x) are stacked upwards instead of printed over each other."""
    spots: dict = {}
    for r in rows:
        spot = (round(math.log10(max(r[key], 1e-30)), 3), round(100 * r["accuracy"], 1))
        spots.setdefault(spot, []).append(short_label(r))
    placed: list = []
    for (lx, y), labels in sorted(spots.items()):
        taken = {lv for px, py, lv in placed if abs(px - lx) < 0.25 and abs(py - y) < 5}
        level = next(lv for lv in range(len(taken) + 1) if lv not in taken)
        placed.append((lx, y, level))
        ax.annotate(" / ".join(dict.fromkeys(labels)), (10 ** lx, y), textcoords="offset points",
                    xytext=(4, 4 + 9 * level), fontsize=7)


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: plot_reasoning.py EVAL_CSV OUTPUT_PNG", file=sys.stderr)
        return 2
    try:
        with open(sys.argv[1], newline="") as f:
            rows = list(csv.DictReader(f))
        for r in rows:
            for key in ("accuracy", "generated_tokens", "joules"):
                r[key] = float(r[key])
    except (OSError, KeyError, ValueError) as e:
        print(f"plot_reasoning.py: cannot read {sys.argv[1]}: {e}", file=sys.stderr)
        return 1
    if not rows:
        print(f"plot_reasoning.py: {sys.argv[1]} has no rows", file=sys.stderr)
        return 1

    source = rows[0].get("energy_source", "estimate")
    problems = rows[0].get("problems", "?")
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), sharey=True)
    for ax, key, xlabel in ((axes[0], "generated_tokens", "generated tokens per answer (all paths)"),
                            (axes[1], "joules", f"joules per answer ({source})")):
        curve = [r for r in rows if r["method"] == "greedy" and r["thinking_budget"] != "none"]
        ax.plot([r[key] for r in curve], [100 * r["accuracy"] for r in curve], "-o", color="tab:blue",
                markersize=6.5, label="greedy, thinking budget (tokens)", zorder=3)
        seen = set()
        for r in rows:
            marker, colour = STYLE.get(r["method"], ("x", "gray"))
            if r["method"] == "greedy" and r["thinking_budget"] == "none":
                ax.scatter(r[key], 100 * r["accuracy"], marker="o", s=46, facecolors="white", edgecolors=colour,
                           label="greedy, no thinking", zorder=3)
            elif r["method"] != "greedy":
                label = None if r["method"] in seen else r["method"]
                seen.add(r["method"])
                ax.scatter(r[key], 100 * r["accuracy"], marker=marker, s=46, color=colour, label=label, zorder=3)
        annotate(ax, rows, key)
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("accuracy (%)")
    axes[0].set_ylim(-3, 103)
    axes[0].legend(fontsize=8, loc="center left")
    fig.suptitle(f"tiny reasoner: 5-digit addition, {problems} held-out problems — what thinking buys and costs")
    fig.tight_layout()
    try:
        fig.savefig(sys.argv[2], dpi=110)
    except OSError as e:
        print(f"plot_reasoning.py: cannot write {sys.argv[2]}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
