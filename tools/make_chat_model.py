#!/usr/bin/env python3
"""Make the tiny chat checkpoint of tests/data/chat_model: a byte-level BPE tokenizer with chat/thinking special
tokens, a tiny random Qwen3-MoE whose vocabulary equals the tokenizer's, and transformers' greedy generation.

Usage (from the repository root):
    python3 tools/make_chat_model.py [--out tests/data/chat_model]

Writes
    tokenizer.json, tokenizer_config.json      trained with `tokenizers` (ByteLevel, GPT-2 split regex), special
                                               tokens <|endoftext|> <|im_start|> <|im_end|> <think> </think>
    config.json, generation_config.json, model.safetensors   Qwen3MoeForCausalLM.save_pretrained (fp32, untied)
    reference.json                             prompt text, its ids, greedy continuation (model.generate,
                                               do_sample=False) and each step's top-1 − top-2 logit margin

Every greedy step must have a top-1/top-2 logit margin > MIN_MARGIN, so fp32 summation-order differences between
C++ and PyTorch cannot flip a choice, and use at least MIN_DISTINCT different tokens; seeds that fail are skipped (the seed used is recorded).
The C++ tests read these files and need no Python.
"""

from __future__ import annotations

import argparse
import json
import math
import os

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import Qwen3MoeConfig, Qwen3MoeForCausalLM

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
VOCAB = 384
D = 32
MIN_MARGIN = 2e-2
NEW_TOKENS = 32
MIN_DISTINCT = 10  # a continuation that is not one token repeated
PROMPT = "<|im_start|>user\nWhat is 12 + 30?<|im_end|>\n<|im_start|>assistant\n<think>\n"

CORPUS = [
    "What is 12 + 30? Let me think. 12 plus 30 is 42. The answer is 42.",
    "Wait, let me check again: 7 times 6 equals 42, so the answer is 42.",
    "First add the tens, then the ones. 20 + 30 = 50 and 4 + 5 = 9, so 59.",
    "Hmm, the train leaves at 3 and arrives at 5, which takes 2 hours.",
    "The user asks a question about numbers. I should answer briefly and clearly.",
    "Therefore the final answer is 17. So the result is 17.",
    "Café, naïve, über: some words with accents; 数学 means mathematics. Ünïcödé ✓ π ≈ 3.14159",
    "Okay, so we need to compute the sum. Alternatively, subtract and compare the two values.",
    "<think>\nreasoning goes here\n</think>\n\nThe answer is 8.",
]


def make_tokenizer():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 4, trainer)
    assert tok.get_vocab_size() == VOCAB, tok.get_vocab_size()
    return tok


def build(seed):
    cfg = Qwen3MoeConfig(vocab_size=VOCAB, hidden_size=D, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, head_dim=8, intermediate_size=64, moe_intermediate_size=32,
                         num_experts=4, num_experts_per_tok=2, norm_topk_prob=True, decoder_sparse_step=1,
                         mlp_only_layers=[], tie_word_embeddings=False, max_position_embeddings=256,
                         use_sliding_window=False, hidden_act="silu", rms_norm_eps=1e-6,
                         bos_token_id=None, eos_token_id=2, pad_token_id=0,
                         attn_implementation="eager", experts_implementation="eager")
    torch.manual_seed(seed)
    model = Qwen3MoeForCausalLM(cfg).to(torch.float32).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.named_parameters():
            if name.endswith("norm.weight"):
                t.copy_(torch.rand(t.shape, generator=gen) * 0.5 + 0.75)
            elif name == "model.embed_tokens.weight":
                t.copy_(torch.randn(t.shape, generator=gen))
            elif name == "lm_head.weight":  # logits of std ~2: varied but not flat continuations
                t.copy_(torch.randn(t.shape, generator=gen) * (2.0 / math.sqrt(D)))
            elif name.endswith("mlp.gate.weight"):
                t.copy_(torch.randn(t.shape, generator=gen) * (2.5 / math.sqrt(D)))
            else:  # linear (out, in) or experts (E, out, in): unit-variance outputs
                t.copy_(torch.randn(t.shape, generator=gen) / math.sqrt(t.shape[-1]))
    return model


def greedy(model, ids):
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), do_sample=False, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS,
                             output_scores=True, return_dict_in_generate=True, pad_token_id=0,
                             eos_token_id=None, top_k=None, top_p=None, temperature=None)
    new = out.sequences[0, len(ids):].tolist()
    margins = []
    for s in out.scores:
        v = s[0].sort(descending=True).values
        margins.append(float(v[0] - v[1]))
    return new, margins


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/data/chat_model")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)

    tok = make_tokenizer()
    tok.save(os.path.join(args.out, "tokenizer.json"))
    with open(os.path.join(args.out, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
                   "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 256}, f, indent=2, sort_keys=True)
        f.write("\n")
    ids = tok.encode(PROMPT).ids
    assert tok.decode(ids, skip_special_tokens=False) == PROMPT

    for seed in range(3001, 3100):
        model = build(seed)
        new, margins = greedy(model, ids)
        if min(margins) > MIN_MARGIN and len(set(new)) >= MIN_DISTINCT:
            break
    else:
        raise SystemExit("no seed gave clear greedy margins")

    model.save_pretrained(args.out, safe_serialization=True)
    ref = {
        "prompt": PROMPT, "prompt_ids": ids, "greedy_ids": new,
        "greedy_text": tok.decode(new, skip_special_tokens=False),
        "min_margin": min(margins), "seed": seed,
        "specials": {s: tok.token_to_id(s) for s in SPECIALS},
        "transformers_version": transformers.__version__, "torch_version": torch.__version__,
    }
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(ref, f, indent=1, ensure_ascii=False, sort_keys=True)
        f.write("\n")
    print(json.dumps({k: ref[k] for k in ("seed", "min_margin", "greedy_ids", "greedy_text")}, ensure_ascii=False))


if __name__ == "__main__":
    main()
