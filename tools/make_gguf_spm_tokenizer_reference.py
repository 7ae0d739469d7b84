#!/usr/bin/env python3
"""Build SentencePiece ("llama") tokenizer GGUFs (metadata only) for the moe::text GGUF tokenizer tests, and record
what llama.cpp, the sentencepiece library and Hugging Face `tokenizers` make of them.

Llama-2, Mistral and Mixtral repositories ship a SentencePiece tokenizer.model; llama.cpp's converter
(convert_hf_to_gguf LlamaModel.set_vocab) then takes _set_vocab_sentencepiece: every piece with its score and type
(normal, unknown, control, byte) from the model, added_tokens_decoder entries of tokenizer_config.json as control or
user-defined tokens, gguf-py's SpecialVocab for bos/eos/add_bos_token. The test tokenizers of tests/data/tokenizers/
(llama_sentencepiece, mistral_metaspace) were trained with `tokenizers` and have only a tokenizer.json, so this script
first writes the tokenizer.model SentencePiece would have for them (the inverse of transformers' LlamaConverter):
the same pieces in id order, a merged piece scored -(rank of the merge that makes it), single characters below
every merge, byte pieces <0x00>..<0xFF> as BYTE, <unk> UNKNOWN, <s> </s> CONTROL, byte_fallback, add_dummy_prefix,
no whitespace folding. It then runs the converter's own _set_vocab_sentencepiece on it. How faithful that model is
is measured, not assumed: the sentencepiece library's tokenization of it is compared with `tokenizers`' records.

  llama_spm/llama_sentencepiece.gguf  from llama_sentencepiece (Prepend+Replace normalizer: every text segment
                                      gets ▁, as llama.cpp's add_space_prefix does after each special token)
  llama_spm/mistral_metaspace.gguf    from mistral_metaspace (Metaspace prepend_scheme "first": ▁ only at the start
                                      of the input, which a GGUF cannot say; llama.cpp adds it after special tokens)
  llama_spm/llama_hf.gguf             llama_sentencepiece through the converter's other path, _set_vocab_llama_hf
                                      (a repository with tokenizer.json but no tokenizer.model): every score is
                                      -1000, so the merge order is lost and only llama.cpp's tie rule is left.

  llama_spm/tricky.gguf               a hand-made vocabulary (TRICKY_*): tied scores, tokens whose characters are
                                      not tokens, byte fallback, a user-defined token, add_space_prefix false
  llama_spm/bad_*.gguf                one defect each (scores length, a NaN score, a byte token not <0xNN>)

reference.json records, per GGUF, for the 53 corpus strings of tests/data/tokenizers/<case>/reference.json (no BOS)
and the 400 fuzz strings of fuzz_reference.json (BOS), in that order, llama.cpp's ids where they differ from
`tokenizers`' records (vocab-only load, parse_special) and llama_detokenize of llama.cpp's ids for every string; for
tricky.gguf the ids with and without BOS. sentencepiece_agreement.json: how often the sentencepiece library's
tokenization of the written tokenizer.model equals `tokenizers`' records (strings without special tokens).

Usage (two steps: the converter needs torch + transformers, the second step llama-cpp-python):
  python3 tools/make_gguf_spm_tokenizer_reference.py            # writes the GGUFs and spm_reference
  python3 tools/make_gguf_spm_tokenizer_reference.py --llama-cpp  # adds llama.cpp's ids
(needs sentencepiece + protobuf, transformers, tokenizers; the converter is imported from the llama.cpp tree.)
"""
import argparse
import json
import os
import sys
import tempfile
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_gguf_tokenizer_reference import TOKENIZERS, OUT as GGUF_OUT, import_converter  # noqa: E402

OUT = os.path.join(GGUF_OUT, "llama_spm")
CASES = {  # GGUF name -> (test tokenizer, converter path)
    "llama_sentencepiece": ("llama_sentencepiece", "sentencepiece"),
    "mistral_metaspace": ("mistral_metaspace", "sentencepiece"),
    "llama_hf": ("llama_sentencepiece", "llama_hf"),
}


def load_texts(src):
    """(text, add_bos) pairs: the corpus without BOS, the fuzz strings with BOS (as `tokenizers` recorded them)."""
    ref = json.load(open(os.path.join(TOKENIZERS, src, "reference.json"), encoding="utf-8"))
    fuzz = json.load(open(os.path.join(TOKENIZERS, "fuzz_reference.json"), encoding="utf-8"))[src]
    return ([(c["text"], c["ids_no_special"], False) for c in ref["cases"]] +
            [(c["text"], c["ids"], True) for c in fuzz])


def sentencepiece_model(tokenizer_json):
    """The SentencePiece BPE ModelProto equivalent to a `tokenizers` BPE tokenizer.json with byte_fallback."""
    from sentencepiece import sentencepiece_model_pb2 as pb
    spec = json.load(open(tokenizer_json, encoding="utf-8"))
    vocab, merges = spec["model"]["vocab"], spec["model"]["merges"]
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in merges]
    rank = {a + b: r for r, (a, b) in enumerate(merges)}
    assert len(rank) == len(merges), "two merges make the same piece: no score order can express it"
    added = {t["id"]: t for t in spec["added_tokens"]}
    m = pb.ModelProto()
    m.trainer_spec.model_type = pb.TrainerSpec.BPE
    m.trainer_spec.vocab_size = len(vocab)
    m.trainer_spec.byte_fallback = True
    m.trainer_spec.unk_id, m.trainer_spec.bos_id, m.trainer_spec.eos_id, m.trainer_spec.pad_id = 0, 1, 2, -1
    m.normalizer_spec.name = "identity"
    m.normalizer_spec.add_dummy_prefix = True
    m.normalizer_spec.remove_extra_whitespaces = False
    m.normalizer_spec.escape_whitespaces = True
    chars = 0
    for piece, i in sorted(vocab.items(), key=lambda kv: kv[1]):
        assert i == len(m.pieces)
        p = m.pieces.add()
        p.piece = piece
        if piece == spec["model"]["unk_token"]:
            p.type, p.score = pb.ModelProto.SentencePiece.UNKNOWN, 0.0
        elif i in added:
            p.type, p.score = pb.ModelProto.SentencePiece.CONTROL, 0.0
        elif len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
            p.type, p.score = pb.ModelProto.SentencePiece.BYTE, 0.0
        elif piece in rank:
            p.type, p.score = pb.ModelProto.SentencePiece.NORMAL, -float(rank[piece])
        else:  # a single character: below every merge, as SentencePiece's trainer puts them
            p.type, p.score = pb.ModelProto.SentencePiece.NORMAL, -float(len(merges) + chars)
            chars += 1
    return m


def tokenizer_config(src):
    """tokenizer_config.json like the family's: bos/eos, add_bos_token, the added tokens above the model."""
    spec = json.load(open(os.path.join(TOKENIZERS, src, "tokenizer.json"), encoding="utf-8"))
    decoder = {str(t["id"]): {"content": t["content"], "special": t["special"], "lstrip": False, "rstrip": False,
                              "normalized": False, "single_word": False} for t in spec["added_tokens"]}
    return {"tokenizer_class": "LlamaTokenizerFast", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
            "add_bos_token": True, "add_eos_token": False, "added_tokens_decoder": decoder}


def convert(gguf, base, model_dir, n_vocab, path, out_path):
    """LlamaModel.set_vocab's tokenizer steps (_set_vocab_sentencepiece or _set_vocab_llama_hf), metadata only."""
    writer = gguf.GGUFWriter(out_path, "llama")
    model = types.SimpleNamespace(dir_model=model_dir, hparams={"vocab_size": n_vocab}, gguf_writer=writer)
    for name in ("find_hparam", "does_token_look_special", "_create_vocab_sentencepiece"):
        setattr(model, name, types.MethodType(getattr(base.TextModel, name), model))
    if path == "sentencepiece":
        base.TextModel._set_vocab_sentencepiece(model)
    else:
        base.TextModel._set_vocab_llama_hf(model)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()


def write_ggufs(llama_src):
    import pathlib
    import sentencepiece as spm
    gguf, base = import_converter(llama_src)
    os.makedirs(OUT, exist_ok=True)
    report = {"sentencepiece": spm.__version__}
    for case, (src, path) in CASES.items():
        tokenizer_json = os.path.join(TOKENIZERS, src, "tokenizer.json")
        n_vocab = json.load(open(os.path.join(TOKENIZERS, src, "reference.json")))["vocab_size"]
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(tmp, "tokenizer_config.json"), "w", encoding="utf-8") as f:
                json.dump(tokenizer_config(src), f, ensure_ascii=False)
            if path == "sentencepiece":
                proto = sentencepiece_model(tokenizer_json)
                with open(os.path.join(tmp, "tokenizer.model"), "wb") as f:
                    f.write(proto.SerializeToString())
                # How faithful the SentencePiece model is: its tokenization against `tokenizers`' records.
                sp = spm.SentencePieceProcessor(model_file=os.path.join(tmp, "tokenizer.model"))
                pairs = load_texts(src)
                agree = sum(sp.encode(t, add_bos=bos) == ids for t, ids, bos in pairs
                            if "[INST]" not in t and "[/INST]" not in t and "<s>" not in t and "</s>" not in t)
                plain = sum("[INST]" not in t and "[/INST]" not in t and "<s>" not in t and "</s>" not in t
                            for t, _, _ in pairs)
                report[case] = {"sentencepiece_agrees_with_tokenizers": agree, "strings_without_special_tokens": plain}
                print(f"{case}: sentencepiece agrees with tokenizers on {agree}/{plain} strings without special tokens")
            else:
                import shutil
                shutil.copy(tokenizer_json, os.path.join(tmp, "tokenizer.json"))
            out = os.path.join(OUT, case + ".gguf")
            convert(gguf, base, pathlib.Path(tmp), n_vocab, path, out)
            print(f"{out}: {os.path.getsize(out)} bytes")
    write_tricky_and_bad(gguf)
    with open(os.path.join(OUT, "sentencepiece_agreement.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, ensure_ascii=False, indent=1)
        f.write("\n")


# A hand-made vocabulary where SentencePiece's rule and a merge list part ways: "ab" and "bc" score the same (the
# leftmost pair merges first), "xy" and "éa" are tokens although "x", "y", "é" are not (any pair that makes a token
# merges; a lone "é" falls back to bytes), a user-defined token, add_space_prefix false.
TRICKY_NORMAL = [("\u2581", -10.0), ("a", -10.0), ("b", -10.0), ("c", -10.0), ("ab", -1.0), ("bc", -1.0),
                 ("abc", -2.0), ("\u2581a", -3.0), ("\u2581ab", -0.5), ("xy", -4.0), ("\u00e9a", -5.0),
                 ("ca", -1.5), ("\u2581\u2581", -6.0)]
TRICKY_TEXTS = ["abc", "abcabc", "a b c", " ab", "  abc", "xy", "xyz", "\u00e9a", "\u00e9", "a\u00e9a", "cabc",
                "<s>abc", "ab<|u|>bc", "<|u|> ab", " ", "\n", "a\nb", "\u2581ab", "caab bc"]


def write_tricky_and_bad(gguf):
    def write(name, tokens, types_, scores, extra=()):
        w = gguf.GGUFWriter(os.path.join(OUT, name + ".gguf"), "llama")
        w.add_tokenizer_model("llama")
        w.add_token_list(tokens)
        if scores is not None:
            w.add_token_scores(scores)
        w.add_token_types(types_)
        for key, value in extra:
            (w.add_bool if isinstance(value, bool) else w.add_uint32)(key, value)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.close()

    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + [t for t, _ in TRICKY_NORMAL] + ["<|u|>"]
    types_ = [2, 3, 3] + [6] * 256 + [1] * len(TRICKY_NORMAL) + [4]
    scores = [0.0] * 259 + [sc for _, sc in TRICKY_NORMAL] + [0.0]
    write("tricky", tokens, types_, scores, [("tokenizer.ggml.add_space_prefix", False)])
    write("bad_scores_length", tokens, types_, scores[:7])
    write("bad_score_nan", tokens, types_, scores[:262] + [float("nan")] + scores[263:])
    write("bad_byte_token", tokens[:13] + ["<0xZZ>"] + tokens[14:], types_, scores)
    print(f"{OUT}: tricky.gguf and 3 bad_*.gguf")


def llama_detokenize(llm, ids):
    """llama.cpp's llama_detokenize (remove_special=False, unparse_special=True): raw bytes, shown as UTF-8 with
    U+FFFD for what is not."""
    import ctypes
    import llama_cpp
    arr = (llama_cpp.llama_token * max(1, len(ids)))(*ids)
    size = 64 + 16 * len(ids)
    buf = ctypes.create_string_buffer(size)
    n = llama_cpp.llama_detokenize(llm._model.vocab, arr, len(ids), buf, size, False, True)
    assert 0 <= n <= size
    return buf.raw[:n].decode("utf-8", errors="replace")


def llama_cpp_reference():
    """llama.cpp's ids for every string (vocab-only load) and its decoding of them; ids are stored only where they
    differ from `tokenizers`' records (the test takes those records otherwise)."""
    import llama_cpp
    report = {"llama_cpp_python": llama_cpp.__version__}
    for case, (src, _) in CASES.items():
        llm = llama_cpp.Llama(model_path=os.path.join(OUT, case + ".gguf"), vocab_only=True, verbose=False)
        differ, decoded = {}, []
        for i, (text, ids, bos) in enumerate(load_texts(src)):
            got = llm.tokenize(text.encode("utf-8"), add_bos=bos, special=True)
            if got != ids:
                differ[str(i)] = got
            decoded.append(llama_detokenize(llm, got))
        n = len(decoded)
        report[case] = {"strings": n, "llama_cpp_agrees_with_tokenizers": n - len(differ),
                        "llama_cpp_ids_where_different": differ, "llama_cpp_decoded": decoded}
        print(f"{case}: llama.cpp agrees with tokenizers on {n - len(differ)}/{n} strings")
    llm = llama_cpp.Llama(model_path=os.path.join(OUT, "tricky.gguf"), vocab_only=True, verbose=False)
    report["tricky"] = [{"text": t, "ids": llm.tokenize(t.encode("utf-8"), add_bos=False, special=True),
                         "ids_bos": llm.tokenize(t.encode("utf-8"), add_bos=True, special=True)}
                        for t in TRICKY_TEXTS]
    for c in report["tricky"]:
        c["decoded"] = llama_detokenize(llm, c["ids"])
    with open(os.path.join(OUT, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, ensure_ascii=False)
        f.write("\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--llama-cpp-src", default=os.environ.get("LLAMA_CPP_DIR", "llama.cpp"))
    parser.add_argument("--llama-cpp", action="store_true", help="record llama.cpp's tokenization instead")
    args = parser.parse_args()
    if args.llama_cpp:
        llama_cpp_reference()
    else:
        write_ggufs(args.llama_cpp_src)


if __name__ == "__main__":
    main()
