#!/usr/bin/env python3
"""Train models/tiny-reasoner: a small Qwen3-MoE that adds two 5-digit numbers, with or without a chain of thought.

Task. The user turn is `a+b` (a, b uniform in [10000, 99999]); the answer is the decimal sum. With thinking, the model
first works through the columns from the right inside <think> … </think>, one line per column,

    <think>
    3+1+0=04        digit of a, digit of b, carry in = carry out, digit
    1+7+0=08
    ...
    </think>

    87284

and then reads the sum off its own lines (final carry first, digits bottom-up). Without thinking it must write the sum
most-significant digit first, which needs the whole carry chain before the first digit: this is where thinking helps.

Data (all rendered with the Qwen3 chat template, checked against transformers' apply_chat_template with the Jinja text
that moe::text::apply_chat_template(chat_family::qwen3, …) reproduces):
    55 %  thinking       prompt = generation prompt (enable_thinking=true); loss on <think>…</think> + answer
    35 %  no thinking    prompt = generation prompt with enable_thinking=false (empty block pre-filled); loss on answer
    10 %  cut thinking   prompt = generation prompt + a random prefix of the reasoning + "\n</think>\n\n" (what a
                         thinking budget forces); loss on the answer
so thinking is the default, and the empty block (or a forced </think>) switches it off.

Usage (from the repository root; one CPU thread so the machine stays usable):
    python3 tools/train_tiny_reasoner.py train  [--ckpt /tmp/tiny_reasoner.pt] [--log /tmp/tiny_reasoner.log]
    python3 tools/train_tiny_reasoner.py export [--ckpt ...] [--out models/tiny-reasoner]
Why the shipped checkpoint stops at step 1000 of a 3000-step schedule: measured on 500 held-out problems, at step 1000
thinking gets 93.8 % right and no thinking 0 %; trained to step 3000 the same model also learns to add without thinking
(100 % vs 96.6 %), and thinking no longer buys a clear margin on this task. `--steps 3000` reproduces that run.

`train` resumes from --ckpt when it exists (checkpoints every 250 steps, deterministic data per step). `export` writes
the checkpoint folder, evaluates greedy accuracy with and without thinking on held-out problems (HF generate) and
records transformers' logits for a fixed prompt in reference.safetensors.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import time

import torch
import transformers
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, Qwen3MoeConfig, Qwen3MoeForCausalLM

SEED = 1234
DIGITS = 5
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
SCHEDULE_STEPS = 3000  # warmup + cosine decay laid out over this many steps
STEPS = 1000  # where the shipped checkpoint stops (see the module docstring)
BATCH = 64
LR = 3e-3
WARMUP = 200
EVAL_N = 500
EVAL_SEED = 99

# The Qwen3 chat template (tool branches left out), identical to tests/data/tokenizers/chat_reference.json's.
CHAT_TEMPLATE = r"""{%- if messages[0].role == 'system' %}
    {{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}
{%- endif %}
{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {%- set content = message.content %}
        {%- set reasoning_content = '' %}
        {%- if message.reasoning_content is defined and message.reasoning_content is not none %}
            {%- set reasoning_content = message.reasoning_content %}
        {%- else %}
            {%- if '</think>' in message.content %}
                {%- set content = message.content.split('</think>')[-1].lstrip('\n') %}
                {%- set reasoning_content = message.content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') %}
            {%- endif %}
        {%- endif %}
        {%- if loop.index0 > ns.last_query_index %}
            {%- if loop.last or (not loop.last and reasoning_content) %}
                {{- '<|im_start|>' + message.role + '\n<think>\n' + reasoning_content.strip('\n') + '\n</think>\n\n' + content.lstrip('\n') }}
            {%- else %}
                {{- '<|im_start|>' + message.role + '\n' + content }}
            {%- endif %}
        {%- else %}
            {{- '<|im_start|>' + message.role + '\n' + content }}
        {%- endif %}
        {{- '<|im_end|>\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\n\n</think>\n\n' }}
    {%- endif %}
{%- endif %}"""


# ---------------------------------------------------------------------------------------------------------------- task
def reasoning(a: int, b: int) -> str:
    da, db = str(a)[::-1], str(b)[::-1]
    lines, carry = [], 0
    for x, y in zip(da, db):
        s = int(x) + int(y) + carry
        lines.append(f"{x}+{y}+{carry}={s // 10}{s % 10}")
        carry = s // 10
    return "\n".join(lines)


def question(a: int, b: int) -> str:
    return f"{a}+{b}"


def prompt_text(a: int, b: int, thinking: bool) -> str:
    # == apply_chat_template([{"role": "user", ...}], add_generation_prompt=True, enable_thinking=thinking)
    p = f"<|im_start|>user\n{question(a, b)}<|im_end|>\n<|im_start|>assistant\n"
    return p if thinking else p + "<think>\n\n</think>\n\n"


def completion_text(a: int, b: int, thinking: bool) -> str:
    # The rest of apply_chat_template(user + assistant turn) after prompt_text.
    if thinking:
        return f"<think>\n{reasoning(a, b)}\n</think>\n\n{a + b}<|im_end|>\n"
    return f"{a + b}<|im_end|>\n"


def draw(rng: random.Random) -> tuple[int, int]:
    lo, hi = 10 ** (DIGITS - 1), 10 ** DIGITS - 1
    return rng.randint(lo, hi), rng.randint(lo, hi)


def held_out() -> list[tuple[int, int]]:
    rng = random.Random(EVAL_SEED)
    return [draw(rng) for _ in range(EVAL_N)]


# ----------------------------------------------------------------------------------------------------------- tokenizer
def make_tokenizer() -> Tokenizer:
    # Byte-level BPE whose only merges spell the role names; digits, '+', '=' and '\n' stay single tokens.
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(["user", "assistant", "system"] * 8, trainer)
    return tok


def hf_tokenizer(tok: Tokenizer) -> PreTrainedTokenizerFast:
    t = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=None, eos_token="<|im_end|>",
                                pad_token="<|endoftext|>", model_max_length=256)
    t.chat_template = CHAT_TEMPLATE
    return t


def check_rendering(hf_tok: PreTrainedTokenizerFast, tok: Tokenizer) -> None:
    rng = random.Random(7)
    for _ in range(50):
        a, b = draw(rng)
        user = [{"role": "user", "content": question(a, b)}]
        for thinking in (True, False):
            p = hf_tok.apply_chat_template(user, tokenize=False, add_generation_prompt=True, enable_thinking=thinking)
            assert p == prompt_text(a, b, thinking), (p, prompt_text(a, b, thinking))
            content = f"<think>\n{reasoning(a, b)}\n</think>\n\n{a + b}" if thinking else f"{a + b}"
            full = hf_tok.apply_chat_template(user + [{"role": "assistant", "content": content}], tokenize=False)
            assert full == prompt_text(a, b, thinking) + completion_text(a, b, thinking), full
            # Token boundaries: prompt + completion encode to the concatenation of their encodings.
            ids = tok.encode(full).ids
            assert ids == tok.encode(prompt_text(a, b, thinking)).ids + tok.encode(completion_text(a, b, thinking)).ids
            assert tok.decode(ids, skip_special_tokens=False) == full


# --------------------------------------------------------------------------------------------------------------- model
def make_config(vocab: int, eos: int, pad: int) -> Qwen3MoeConfig:
    return Qwen3MoeConfig(vocab_size=vocab, hidden_size=128, num_hidden_layers=4, num_attention_heads=4,
                          num_key_value_heads=2, head_dim=32, intermediate_size=256, moe_intermediate_size=128,
                          num_experts=8, num_experts_per_tok=2, norm_topk_prob=True, decoder_sparse_step=1,
                          mlp_only_layers=[], tie_word_embeddings=False, max_position_embeddings=128,
                          use_sliding_window=False, hidden_act="silu", rms_norm_eps=1e-6,
                          rope_parameters={"rope_theta": 10000.0, "rope_type": "default"},
                          bos_token_id=None, eos_token_id=eos, pad_token_id=pad,
                          output_router_logits=False, router_aux_loss_coef=0.01)


def batch(step: int, tok: Tokenizer, pad: int, exclude: set) -> tuple[torch.Tensor, torch.Tensor]:
    rng = random.Random(SEED * 1_000_003 + step)  # data depends only on (seed, step): resuming is deterministic
    rows, masks = [], []
    while len(rows) < BATCH:
        a, b = draw(rng)
        if (a, b) in exclude:
            continue
        u = rng.random()
        if u < 0.55:
            p, c = prompt_text(a, b, True), completion_text(a, b, True)
        elif u < 0.90:
            p, c = prompt_text(a, b, False), completion_text(a, b, False)
        else:  # a thinking budget cut the reasoning short: forced "\n</think>\n\n", then the answer
            r = tok.encode(reasoning(a, b)).ids
            cut = tok.decode(r[:rng.randint(0, len(r) - 1)])
            p = prompt_text(a, b, True) + f"<think>\n{cut}\n</think>\n\n"
            c = f"{a + b}<|im_end|>\n"
        pi, ci = tok.encode(p).ids, tok.encode(c).ids
        rows.append(pi + ci)
        masks.append([0] * len(pi) + [1] * len(ci))
    n = max(len(r) for r in rows)
    ids = torch.full((BATCH, n), pad, dtype=torch.long)
    labels = torch.full((BATCH, n), -100, dtype=torch.long)
    for i, (r, m) in enumerate(zip(rows, masks)):
        ids[i, :len(r)] = torch.tensor(r)
        labels[i, :len(r)] = torch.tensor([t if k else -100 for t, k in zip(r, m)])
    return ids, labels


def lr_at(step: int) -> float:
    if step < WARMUP:
        return LR * (step + 1) / WARMUP
    t = (step - WARMUP) / max(1, SCHEDULE_STEPS - WARMUP)
    return LR * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


def train(args) -> None:
    torch.set_num_threads(1)
    tok = make_tokenizer()
    hf_tok = hf_tokenizer(tok)
    check_rendering(hf_tok, tok)
    pad, eos = tok.token_to_id("<|endoftext|>"), tok.token_to_id("<|im_end|>")
    cfg = make_config(tok.get_vocab_size(), eos, pad)
    torch.manual_seed(SEED)
    model = Qwen3MoeForCausalLM._from_config(cfg, attn_implementation="sdpa", experts_implementation=args.experts)
    model.train()
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embed" not in n]
    other = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "embed" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": other, "weight_decay": 0.0}],
                            lr=LR, betas=(0.9, 0.98), eps=1e-8)
    step, elapsed = 0, 0.0
    if os.path.exists(args.ckpt):
        st = torch.load(args.ckpt, weights_only=False)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step, elapsed = st["step"], st["elapsed"]
        print(f"resumed at step {step} ({elapsed:.0f} s trained)", flush=True)
    exclude = set(held_out())
    steps = args.steps or STEPS
    t0 = time.time()
    log = open(args.log, "a")
    run_loss = None
    while step < steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        ids, labels = batch(step, tok, pad, exclude)
        out = model(input_ids=ids, labels=labels, output_router_logits=True)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        lv = float(out.loss.detach())
        run_loss = lv if run_loss is None else 0.98 * run_loss + 0.02 * lv
        if step % 50 == 0 or step == steps:
            now = elapsed + time.time() - t0
            msg = f"step {step} loss {run_loss:.4f} lr {lr_at(step - 1):.2e} time {now:.0f}s"
            print(msg, flush=True)
            log.write(msg + "\n")
            log.flush()
        if step % 250 == 0 or step == steps:
            tmp = args.ckpt + ".tmp"
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                        "elapsed": elapsed + time.time() - t0}, tmp)
            os.replace(tmp, args.ckpt)
    log.close()


# -------------------------------------------------------------------------------------------------------------- export
def parse_answer(text: str) -> str:
    # The answer is what follows the last </think> (or everything, when no block was written), up to <|im_end|>.
    text = text.split("</think>")[-1]
    return text.split("<|im_end|>")[0].strip()


def forced_prompt(tok: Tokenizer, a: int, b: int, budget: int) -> str:
    # What a thinking budget of `budget` tokens forces: the first `budget` reasoning tokens, then "\n</think>\n\n".
    # Budget 0 gives exactly the enable_thinking=false prompt.
    r = tok.encode(reasoning(a, b)).ids[:budget]
    return prompt_text(a, b, True) + f"<think>\n{tok.decode(r)}\n</think>\n\n"


@torch.no_grad()
def evaluate(model, tok: Tokenizer, problems, thinking: bool, eos: int, pad: int, chunk: int = 100, budget=None):
    """Greedy accuracy, mean generated tokens, and the fraction of answer digits right (place by place, from the
    right, over the true sum's digits) on `problems`; `budget` forces a cut thinking block instead."""
    correct, gen_tokens, digits, digits_right = 0, 0, 0, 0
    for i in range(0, len(problems), chunk):
        part = problems[i:i + chunk]
        texts = [prompt_text(a, b, thinking) if budget is None else forced_prompt(tok, a, b, budget) for a, b in part]
        enc = [tok.encode(t).ids for t in texts]
        width = max(len(e) for e in enc)  # left padding (cut reasoning may differ in length by a token)
        ids = torch.tensor([[pad] * (width - len(e)) + e for e in enc])
        mask = torch.tensor([[0] * (width - len(e)) + [1] * len(e) for e in enc])
        out = model.generate(ids, attention_mask=mask, do_sample=False, max_new_tokens=80,
                             eos_token_id=eos, pad_token_id=pad, top_k=None, top_p=None, temperature=None)
        for (a, b), row in zip(part, out[:, width:].tolist()):
            n = row.index(eos) + 1 if eos in row else len(row)
            gen_tokens += n
            got, want = parse_answer(tok.decode(row[:n], skip_special_tokens=False)), str(a + b)
            correct += got == want
            digits += len(want)
            digits_right += sum(x == y for x, y in zip(got[::-1], want[::-1]))
    n = len(problems)
    return correct / n, gen_tokens / n, digits_right / digits


def export(args) -> None:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    tok = make_tokenizer()
    hf_tok = hf_tokenizer(tok)
    check_rendering(hf_tok, tok)
    pad, eos = tok.token_to_id("<|endoftext|>"), tok.token_to_id("<|im_end|>")
    cfg = make_config(tok.get_vocab_size(), eos, pad)
    model = Qwen3MoeForCausalLM._from_config(cfg, attn_implementation="eager", experts_implementation="eager")
    st = torch.load(args.ckpt, weights_only=False)
    model.load_state_dict(st["model"])
    model = model.to(torch.float32).eval()
    os.makedirs(args.out, exist_ok=True)
    model.save_pretrained(args.out, safe_serialization=True)
    tok.save(os.path.join(args.out, "tokenizer.json"))
    with open(os.path.join(args.out, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
                   "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 256,
                   "chat_template": CHAT_TEMPLATE}, f, indent=2, sort_keys=True)
        f.write("\n")

    # Reload exactly as a user would and evaluate that.
    model = transformers.AutoModelForCausalLM.from_pretrained(args.out, attn_implementation="eager",
                                                              experts_implementation="eager").eval()
    problems = held_out()
    n = args.eval_n or EVAL_N
    t0 = time.time()
    acc_t, tok_t, dig_t = evaluate(model, tok, problems[:n], True, eos, pad)
    acc_n, tok_n, dig_n = evaluate(model, tok, problems[:n], False, eos, pad)
    eval_s = time.time() - t0
    # Accuracy against a forced thinking budget (HF side; the C++ generation API's table is in docs/reasoning.md).
    budget_curve = {}
    for budget in (0, 9, 18, 27, 36, 44):
        acc, _, dig = evaluate(model, tok, problems[:n], True, eos, pad, budget=budget)
        budget_curve[str(budget)] = {"accuracy": acc, "digit_accuracy": dig}

    # Reference logits: a fixed thinking prompt plus the start of its reasoning, fp32, eager attention.
    a, b = 48213, 39071
    text = prompt_text(a, b, True) + "<think>\n" + reasoning(a, b)[:12]
    ids = tok.encode(text).ids
    with torch.no_grad():
        logits = model(torch.tensor([ids]), use_cache=False).logits[0].float().contiguous()
    tensors = {"tokens": torch.tensor(ids, dtype=torch.int32), "logits": logits}
    # Greedy continuations (HF generate) of both prompts of the same problem, with each step's top-1 − top-2 logit
    # margin: the C++ test decodes greedily and must produce the same tokens.
    margins = {}
    for name, thinking in (("thinking", True), ("no_thinking", False)):
        p_ids = tok.encode(prompt_text(a, b, thinking)).ids
        with torch.no_grad():
            out = model.generate(torch.tensor([p_ids]), do_sample=False, max_new_tokens=80, eos_token_id=eos,
                                 pad_token_id=pad, top_k=None, top_p=None, temperature=None, output_scores=True,
                                 return_dict_in_generate=True)
        new = out.sequences[0, len(p_ids):].tolist()
        margins[name] = min(float(v[0] - v[1]) for v in (sc[0].sort(descending=True).values for sc in out.scores))
        tensors[f"prompt_{name}"] = torch.tensor(p_ids, dtype=torch.int32)
        tensors[f"greedy_{name}"] = torch.tensor(new, dtype=torch.int32)
    meta = {"prompt": text, "transformers_version": transformers.__version__, "torch_version": torch.__version__,
            "attn_implementation": "eager", "experts_implementation": "eager",
            "question": question(a, b), "min_margin_thinking": repr(margins["thinking"]),
            "min_margin_no_thinking": repr(margins["no_thinking"])}
    save_file(tensors, os.path.join(args.out, "reference.safetensors"), metadata=meta)

    n_total = sum(p.numel() for p in model.parameters())
    c = model.config
    per_expert = 3 * c.hidden_size * c.moe_intermediate_size
    n_active = n_total - c.num_hidden_layers * (c.num_experts - c.num_experts_per_tok) * per_expert
    result = {
        "task": f"{DIGITS}-digit + {DIGITS}-digit addition", "seed": SEED, "steps": st["step"], "batch": BATCH,
        "train_seconds": round(st["elapsed"]), "eval_problems": n, "eval_seconds": round(eval_s),
        "accuracy_thinking": acc_t, "accuracy_no_thinking": acc_n,
        "generated_tokens_thinking": tok_t, "generated_tokens_no_thinking": tok_n,
        "digit_accuracy_thinking": dig_t, "digit_accuracy_no_thinking": dig_n,
        "forced_budget_tokens": budget_curve,
        "parameters_total": n_total, "parameters_active_per_token": n_active,
        "reference_prompt": text, "reference_max_abs_logit": float(logits.abs().max()),
        "reference_greedy_min_margin": margins,
        "transformers_version": transformers.__version__, "torch_version": torch.__version__,
    }
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")
    print(json.dumps(result, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["train", "export", "bench"])
    ap.add_argument("--ckpt", default="/tmp/tiny_reasoner.pt")
    ap.add_argument("--log", default="/tmp/tiny_reasoner.log")
    ap.add_argument("--out", default="models/tiny-reasoner")
    ap.add_argument("--steps", type=int, default=0,
                    help=f"stop after this many steps (default: {STEPS}; the schedule always spans {SCHEDULE_STEPS})")
    ap.add_argument("--eval-n", type=int, default=0)
    ap.add_argument("--experts", default="eager", help="transformers experts_implementation for training")
    args = ap.parse_args()
    if args.cmd == "train":
        train(args)
    else:
        export(args)


if __name__ == "__main__":
    main()
