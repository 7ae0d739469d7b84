#!/usr/bin/env python3
"""Build GGUF files that hold only a tokenizer (metadata, no tensors) for the moe::text GGUF tokenizer tests.

Each file is written by llama.cpp's own converter code (convert_hf_to_gguf's TextModel.get_vocab_base and
_set_vocab_gpt2, gguf-py's SpecialVocab) from a tokenizer.json of tests/data/tokenizers/ plus a tokenizer_config.json
like the family's published one (bos/eos, add_bos_token, the chat template of chat_reference.json). The converter
picks `tokenizer.ggml.pre` by hashing how the tokenizer splits a test string; the small tokenizers here are trained
for the tests, so no hash matches and the name the family's real model gets is given instead (get_vocab_base_pre is
the one converter step replaced).

  qwen2        -> pre "qwen2",       chat template qwen3
  deepseek_v3  -> pre "deepseek-v3", chat template deepseek_r1
  llama3_style -> pre "llama-bpe"
  gpt2         -> pre "gpt-2": gpt2_style's vocabulary and merges with GPT-2's own pre-tokenizer
                  (ByteLevel, add_prefix_space=false). gpt2_style itself (Digits + ByteLevel with a prefix space,
                  an lstrip/rstrip special token) has no GGUF equivalent: the converter refuses it.
                  The gpt2 case's reference.json records what `tokenizers` produces for that tokenizer.json on the corpus and
                  the fuzz strings (the other three compare against tests/data/tokenizers/<case>/reference.json).

Also writes bad/*.gguf: tiny files with one defect each (tokens not strings, token_type of the wrong length, a merge
naming an unknown token, bos id out of range, unknown model, unknown pre, ...) for the error tests.

When llama-cpp-python is installed, `--llama-cpp` instead tokenizes the corpus with llama.cpp
(vocab-only load of each GGUF) and writes llama_cpp_agreement.json: how often llama.cpp agrees with `tokenizers`.

Usage:
  python3 tools/make_gguf_tokenizer_reference.py [--llama-cpp-src LLAMA_CPP_DIR]
  python3 tools/make_gguf_tokenizer_reference.py --llama-cpp
(needs numpy, torch, transformers, tokenizers; the converter is imported from the llama.cpp source tree.)
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import types
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKENIZERS = os.path.join(ROOT, "tests", "data", "tokenizers")
OUT = os.path.join(ROOT, "tests", "data", "gguf_tokenizers")

BOS_DS, EOS_DS = "<\uff5cbegin\u2581of\u2581sentence\uff5c>", "<\uff5cend\u2581of\u2581sentence\uff5c>"

# case -> (source tokenizer dir, pre name, tokenizer_config.json fields, chat template family or None)
CASES = {
    "qwen2": ("qwen2", "qwen2",
              {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "add_bos_token": False},
              "qwen3"),
    "deepseek_v3": ("deepseek_v3", "deepseek-v3",
                    {"bos_token": BOS_DS, "eos_token": EOS_DS, "add_bos_token": True, "add_eos_token": False},
                    "deepseek_r1"),
    "llama3_style": ("llama3_style", "llama-bpe",
                     {"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>"}, None),
    "gpt2": ("gpt2_style", "gpt-2", {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>"}, None),
}


def gpt2_tokenizer_json(src):
    """gpt2_style with GPT-2's own pre-tokenizer and a plain special token (what a GGUF can express)."""
    spec = json.load(open(src, encoding="utf-8"))
    spec["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    for t in spec["added_tokens"]:
        t["lstrip"] = t["rstrip"] = False
    return spec


def import_converter(llama_src):
    sys.path.insert(0, os.path.join(llama_src, "gguf-py"))
    sys.path.insert(0, llama_src)
    import gguf  # noqa: E402
    from conversion import base  # noqa: E402
    assert os.path.dirname(gguf.__file__).startswith(os.path.join(llama_src, "gguf-py")), gguf.__file__
    return gguf, base


def convert(gguf, base, model_dir, pre, out_path):
    """Runs the converter's vocabulary steps for a GPT-2 style BPE tokenizer into a metadata-only GGUF."""
    writer = gguf.GGUFWriter(out_path, "llama")
    model = types.SimpleNamespace(dir_model=model_dir, hparams={}, gguf_writer=writer)
    model.get_vocab_base_pre = lambda tokenizer: pre
    model.does_token_look_special = types.MethodType(base.TextModel.does_token_look_special, model)
    model.get_vocab_base = types.MethodType(base.TextModel.get_vocab_base, model)
    base.TextModel._set_vocab_gpt2(model)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()


def record_reference(tokenizer_json_path, out_path):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(tokenizer_json_path)
    corpus = json.load(open(os.path.join(TOKENIZERS, "corpus.json"), encoding="utf-8"))
    fuzz = json.load(open(os.path.join(TOKENIZERS, "fuzz_reference.json"), encoding="utf-8"))
    texts = [c["text"] for c in fuzz["gpt2_style"]]
    cases = []
    for text in corpus:
        ids = tok.encode(text, add_special_tokens=True).ids
        cases.append({"text": text, "ids": ids,
                      "ids_no_special": tok.encode(text, add_special_tokens=False).ids,
                      "decoded": tok.decode(ids, skip_special_tokens=False),
                      "decoded_skip_special": tok.decode(ids, skip_special_tokens=True)})
    fuzz_cases = []
    for text in texts:
        ids = tok.encode(text, add_special_tokens=False).ids
        fuzz_cases.append({"text": text, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)})
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump({"tokenizer": "gpt2", "cases": cases, "fuzz": fuzz_cases}, f, ensure_ascii=False)
        f.write("\n")


def write_good(gguf, base):
    chat = json.load(open(os.path.join(TOKENIZERS, "chat_reference.json"), encoding="utf-8"))
    for case, (src, pre, config, family) in CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            tokenizer_json = os.path.join(tmp, "tokenizer.json")
            if case == "gpt2":
                spec = gpt2_tokenizer_json(os.path.join(TOKENIZERS, src, "tokenizer.json"))
                with open(tokenizer_json, "w", encoding="utf-8") as f:
                    json.dump(spec, f, ensure_ascii=False)
                os.makedirs(os.path.join(OUT, case), exist_ok=True)
                shutil.copy(tokenizer_json, os.path.join(OUT, case, "tokenizer.json"))
                record_reference(tokenizer_json, os.path.join(OUT, case, "reference.json"))
            else:
                shutil.copy(os.path.join(TOKENIZERS, src, "tokenizer.json"), tokenizer_json)
            config = dict(config, tokenizer_class="PreTrainedTokenizerFast")
            if family:
                config["chat_template"] = chat["templates"][family]
            with open(os.path.join(tmp, "tokenizer_config.json"), "w", encoding="utf-8") as f:
                json.dump(config, f, ensure_ascii=False)
            out = os.path.join(OUT, case + ".gguf")
            convert(gguf, base, __import__("pathlib").Path(tmp), pre, out)
            print(f"{out}: {os.path.getsize(out)} bytes")


def write_bad(gguf):
    """Tiny GGUFs with one defect each: a 6-token byte-level vocabulary "a", "b", "ab", "<s>", ... ."""
    bad = os.path.join(OUT, "bad")
    os.makedirs(bad, exist_ok=True)
    tokens = ["a", "b", "ab", "c", "abc", "<|end|>"]
    types_ = [1, 1, 1, 1, 1, 3]

    def write(name, edit):
        kv = {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt-2", "tokenizer.ggml.tokens": tokens,
              "tokenizer.ggml.token_type": types_, "tokenizer.ggml.merges": ["a b", "ab c"],
              "tokenizer.ggml.bos_token_id": 5, "tokenizer.ggml.eos_token_id": 5}
        edit(kv)
        w = gguf.GGUFWriter(os.path.join(bad, name + ".gguf"), "llama")
        for key, value in kv.items():
            if value is None:
                continue
            if key.endswith("_token_id"):
                w.add_uint32(key, value)
            elif isinstance(value, str):
                w.add_string(key, value)
            elif isinstance(value, list) and key.endswith("token_type"):
                w.add_array(key, value)  # int32 as the converter writes them
            else:
                w.add_array(key, value)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.close()

    write("good", lambda kv: None)
    write("tokens_not_strings", lambda kv: kv.update({"tokenizer.ggml.tokens": [1, 2, 3, 4, 5, 6]}))
    write("tokens_missing", lambda kv: kv.update({"tokenizer.ggml.tokens": None}))
    write("token_type_length", lambda kv: kv.update({"tokenizer.ggml.token_type": [1, 1, 1]}))
    write("token_type_value", lambda kv: kv.update({"tokenizer.ggml.token_type": [1, 1, 1, 1, 9, 3]}))
    write("merge_unknown_token", lambda kv: kv.update({"tokenizer.ggml.merges": ["a b", "ab zz"]}))
    write("merge_without_space", lambda kv: kv.update({"tokenizer.ggml.merges": ["a b", "abc"]}))
    write("merges_not_strings", lambda kv: kv.update({"tokenizer.ggml.merges": [1, 2]}))
    write("bos_out_of_range", lambda kv: kv.update({"tokenizer.ggml.bos_token_id": 6}))
    write("unknown_model", lambda kv: kv.update({"tokenizer.ggml.model": "bert"}))
    write("unknown_pre", lambda kv: kv.update({"tokenizer.ggml.pre": "my-new-model"}))
    write("duplicate_token", lambda kv: kv.update({"tokenizer.ggml.tokens": ["a", "b", "ab", "c", "abc", "a"]}))
    write("pre_missing", lambda kv: kv.update({"tokenizer.ggml.pre": None}))
    print(f"{bad}: {len(os.listdir(bad))} files")


def llama_cpp_agreement():
    """Tokenizes the corpus and fuzz strings with llama.cpp (vocab-only load) and counts agreement."""
    import llama_cpp
    corpus = json.load(open(os.path.join(TOKENIZERS, "corpus.json"), encoding="utf-8"))
    fuzz = json.load(open(os.path.join(TOKENIZERS, "fuzz_reference.json"), encoding="utf-8"))
    report = {"llama_cpp_python": llama_cpp.__version__}
    for case, (src, _, _, _) in CASES.items():
        ref_path = (os.path.join(OUT, case, "reference.json") if case == "gpt2"
                    else os.path.join(TOKENIZERS, src, "reference.json"))
        ref = json.load(open(ref_path, encoding="utf-8"))
        llm = llama_cpp.Llama(model_path=os.path.join(OUT, case + ".gguf"), vocab_only=True, verbose=False)
        # (text, ids, with BOS): the corpus without special tokens, the fuzz strings as recorded (BOS included).
        pairs = [(c["text"], c["ids_no_special"], False) for c in ref["cases"]]
        pairs += ([(c["text"], c["ids"], False) for c in ref["fuzz"]] if case == "gpt2"
                  else [(c["text"], c["ids"], True) for c in fuzz.get(src, [])])
        differ = []
        for text, ids, bos in pairs:
            got = llm.tokenize(text.encode("utf-8"), add_bos=bos, special=True)
            if got != ids:
                differ.append({"text": text, "tokenizers": ids, "llama_cpp": got})
        # llama.cpp does not normalize; Qwen's tokenizer.json (and moe's GGUF tokenizer for pre "qwen2") does NFC.
        not_nfc = sum(unicodedata.normalize("NFC", d["text"]) != d["text"] for d in differ)
        report[case] = {"strings": len(pairs), "agree": len(pairs) - len(differ),
                        "differ_on_text_not_in_nfc": not_nfc, "first_differences": differ[:5]}
        print(f"{case}: llama.cpp agrees with tokenizers on {len(pairs) - len(differ)}/{len(pairs)} strings "
              f"({not_nfc} of the {len(differ)} others are text not in NFC)")
    with open(os.path.join(OUT, "llama_cpp_agreement.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, ensure_ascii=False, indent=1)
        f.write("\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--llama-cpp-src", default=os.environ.get("LLAMA_CPP_DIR", "llama.cpp"))
    parser.add_argument("--llama-cpp", action="store_true", help="compare llama.cpp's tokenization instead")
    args = parser.parse_args()
    if args.llama_cpp:
        llama_cpp_agreement()
        return
    gguf, base = import_converter(args.llama_cpp_src)
    os.makedirs(OUT, exist_ok=True)
    write_good(gguf, base)
    write_bad(gguf)


if __name__ == "__main__":
    main()
