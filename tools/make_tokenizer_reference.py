#!/usr/bin/env python3
"""Build the reference tokenizers, parity data and Unicode tables for moe::text.

Real tokenizer.json files cannot be downloaded here, so this script trains small ones with the Hugging Face
`tokenizers` library, configured exactly like the families' published files (pre-tokenizer regexes, normalizers,
decoders, post-processors, added tokens). It then records what `tokenizers` produces for a multilingual corpus
(ids with and without special tokens, decoded strings) and what `transformers.apply_chat_template` renders for a few
conversations, so the C++ tests can check token-for-token parity without Python.

Writes (all committed):
  include/moe/text/unicode_tables.hpp      general-category ranges and NFC tables (from Python's unicodedata)
  tests/data/tokenizers/corpus.json        the parity inputs
  tests/data/tokenizers/<case>/tokenizer.json, reference.json
  tests/data/tokenizers/chat_reference.json
  tests/data/tokenizers/nfc_reference.json
  tests/data/tokenizers/fuzz_reference.json   random strings of tricky pieces, ids and decoded text

Usage: python3 tools/make_tokenizer_reference.py   (pip install tokenizers transformers jinja2)
"""
import json
import os
import sys
import unicodedata

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data", "tokenizers")
TABLES = os.path.join(ROOT, "include", "moe", "text", "unicode_tables.hpp")

# The exact pattern of Qwen2/Qwen2.5/Qwen3 tokenizer.json (Split, Isolated) — GPT-4 style with single digits.
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                 r"\s*[\r\n]+|\s+(?!\S)|\s+")
# Llama-3's pattern: numbers in groups of up to three digits.
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                  r"\s*[\r\n]+|\s+(?!\S)|\s+")
# DeepSeek-V3 / R1: a Sequence of three Splits (digits, CJK runs, the main pattern) then ByteLevel.
DEEPSEEK_PATTERNS = [
    r"\p{N}{1,3}",
    "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
    r"[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|"
    r"\s*[\r\n]+|\s+(?!\S)|\s+",
]

TRAIN_TEXT = """
The quick brown fox jumps over the lazy dog. It's a test, isn't it? We'll see what they've done.
Machine learning models are trained on large datasets; mixture-of-experts layers route each token to a few experts.
Die Bären müssen über die Brücke gehen. Größe, Straße, Mädchen, schön, Übung macht den Meister.
Le garçon était très fatigué après l'école. Où est la bibliothèque? C'est déjà l'été, n'est-ce pas?
我们今天去公园散步。机器学习模型需要大量的数据。混合专家模型把每个词元分配给几个专家。
日本語のテキストも少し含めます。東京は大きな都市です。ひらがなとカタカナ、漢字。
Привет, как дела? Москва — столица России. Машинное обучение становится всё важнее.
مرحبا بالعالم. اللغة العربية جميلة. التعلم الآلي مهم جدا.
नमस्ते दुनिया। मशीन लर्निंग बहुत उपयोगी है। भारत एक बड़ा देश है।
def forward(self, x):
    h = self.norm(x)
    for expert in self.experts:
        h = h + expert(h)
    return h

#include <vector>
int main() {
    std::vector<int> values = {1, 2, 3, 42, 1000};
    for (auto v : values) { total += v; }
    return 0;
}
Numbers: 0 1 12 123 1234 12345 3.14159 2024-06-01 1,000,000 99.9% $42.50
"""

CORPUS = [
    "Hello world",
    "Hello, world! How are you doing today?",
    " leading space and trailing space ",
    "It's, isn't, we'll, they've, I'm, you'd, she's, IT'S, DON'T",
    "The quick brown fox jumps over the lazy dog.",
    "Die Bären müssen über die Brücke gehen. Größe und Straße.",
    "Le garçon était très fatigué après l'école. Où est-il?",
    "我们今天去公园散步。机器学习模型需要大量的数据。",
    "日本語のテキスト：東京は大きな都市です。カタカナ、ひらがな。",
    "Привет, как дела? Москва — столица России.",
    "مرحبا بالعالم. اللغة العربية جميلة.",
    "नमस्ते दुनिया। मशीन लर्निंग बहुत उपयोगी है।",
    "def forward(self, x):\n    h = self.norm(x)\n    for expert in self.experts:\n        h = h + expert(h)\n    return h\n",
    "#include <vector>\nint main() {\n\tstd::vector<int> v = {1, 2, 3};\n\treturn 0;\n}\n",
    "if (a && b) { x += y * 2; } else { x -= 1; }  // comment\n",
    "Emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇩🇪🇯🇵 ❤️ ✨",
    "a   b    c\t\td\n\ne\r\nf",
    "   \n\n   \t  ",
    "\n",
    " ",
    "",
    "1234567890 12345678901234567890 3.14159265358979 1e-10 0x1F",
    "Price: $1,234.56 (20% off) — 2024-06-01T12:34:56Z",
    "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
    "<think>\nLet me think about this.\n</think>\n\nThe answer is 42.",
    "<s>[INST] What is 2+2? [/INST] 4</s>",
    "text with <|endoftext|> inside and <s> and </s> tokens",
    "partial specials: <|im_start <|im_end| <think </think",
    "<｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜><think>\nok\n</think>",
    "Mojibake: Ã©tÃ© Ã¼ber â€™ â€œquotedâ€\x9d",
    "Replacement char \ufffd and zero width\u200bspace and BOM\ufeff",
    "Combining: e\u0301 a\u0308 n\u0303 \u1100\u1161\u11a8 Å Å",
    "Control chars: \x00\x01\x7f end",
    "Lots of punctuation!!! ??? ... --- *** ((())) [[[]]] {{{}}} ''' \"\"\" ```",
    "UPPER lower MiXeD snake_case camelCase kebab-case",
    "https://example.com/path?query=1&b=2#frag user@example.org",
    "Ünïcödé ñ ß ø å æ œ ł ș ț ğ ı",
    "ελληνικά γράμματα και עברית",
    "한국어 텍스트 안녕하세요",
    "ไทย ภาษา",
    "Mixed 中文English混合text123数字",
    "Tabs\tbetween\twords\tand    spaces",
    "Trailing newlines\n\n\n",
    "word" * 30,
    "ａｂｃ　全角　スペース",
    "\u00a0non-breaking\u00a0spaces\u2003em space",
    "line1\rline2\r\n\r\nline3",
    "▁already▁has▁metaspace",
    "<0x41> looks like a byte token",
    "ZWJ 👩‍💻 family 👨‍👨‍👦 keycap 1️⃣ flag 🇫🇷",
    "Math: ∑ ∫ √ ∞ ≠ ≤ ≥ ± × ÷ π",
    "'s 't 're starting with apostrophe, and ''double''",
    "x = [i**2 for i in range(10) if i % 2 == 0]",
]


# --------------------------------------------------------------------------------------------------------------
# Unicode tables
# --------------------------------------------------------------------------------------------------------------
def category_ranges(prefix):
    ranges = []
    start = None
    for cp in range(0x110000 + 1):
        inside = cp <= 0x10FFFF and unicodedata.category(chr(cp)).startswith(prefix)
        if inside and start is None:
            start = cp
        elif not inside and start is not None:
            ranges.append((start, cp - 1))
            start = None
    return ranges


def fmt_ranges(name, ranges):
    items = [f"{{0x{a:X}, 0x{b:X}}}" for a, b in ranges]
    lines = []
    for i in range(0, len(items), 8):
        lines.append("    " + ", ".join(items[i:i + 8]) + ",")
    return f"inline constexpr code_point_range {name}[] = {{\n" + "\n".join(lines) + "\n};\n"


def write_unicode_tables():
    out = [
        "// moe/text/unicode_tables.hpp — GENERATED by tools/make_tokenizer_reference.py from Python's unicodedata "
        f"(Unicode {unicodedata.unidata_version}).",
        "// Do not edit. General-category ranges for the pre-tokenizer regexes, and the canonical data NFC needs.",
        "#pragma once",
        "",
        "#include <cstdint>",
        "",
        "namespace moe::text::unicode::tables {",
        "",
        "struct code_point_range {",
        "    char32_t first;",
        "    char32_t last;",
        "};",
        "",
    ]
    for name, prefix in [("letter", "L"), ("mark", "M"), ("number", "N"), ("punctuation", "P"), ("symbol", "S")]:
        out.append(f"// \\p{{{prefix}}}")
        out.append(fmt_ranges(name, category_ranges(prefix)))
    # Canonical combining classes as (first, last, class) runs.
    runs = []
    cur = None
    for cp in range(0x110000):
        c = unicodedata.combining(chr(cp))
        if c and cur and cur[1] == cp - 1 and cur[2] == c:
            cur[1] = cp
        elif c:
            cur = [cp, cp, c]
            runs.append(cur)
    out.append("struct combining_class_run {\n    char32_t first;\n    char32_t last;\n    std::uint8_t value;\n};\n")
    items = [f"{{0x{a:X}, 0x{b:X}, {c}}}" for a, b, c in runs]
    out.append("inline constexpr combining_class_run combining_class[] = {")
    for i in range(0, len(items), 6):
        out.append("    " + ", ".join(items[i:i + 6]) + ",")
    out.append("};\n")
    # Canonical decompositions (one level; applied recursively) and primary compositions.
    decomp = []
    comp = []
    for cp in range(0x110000):
        d = unicodedata.decomposition(chr(cp))
        if not d or d.startswith("<"):
            continue
        parts = [int(x, 16) for x in d.split()]
        decomp.append((cp, parts[0], parts[1] if len(parts) > 1 else 0))
        if len(parts) == 2 and unicodedata.normalize("NFC", chr(parts[0]) + chr(parts[1])) == chr(cp):
            comp.append((parts[0], parts[1], cp))
    comp.sort()
    out.append("// Canonical decomposition: code point -> first, second (0 when a singleton). Sorted by code point.")
    out.append("struct decomposition {\n    char32_t code_point;\n    char32_t first;\n    char32_t second;\n};\n")
    items = [f"{{0x{a:X}, 0x{b:X}, 0x{c:X}}}" for a, b, c in decomp]
    out.append("inline constexpr decomposition canonical_decomposition[] = {")
    for i in range(0, len(items), 6):
        out.append("    " + ", ".join(items[i:i + 6]) + ",")
    out.append("};\n")
    out.append("// Primary composites: (first, second) -> composed, sorted by (first, second). Exclusions removed.")
    out.append("struct composition {\n    char32_t first;\n    char32_t second;\n    char32_t composed;\n};\n")
    items = [f"{{0x{a:X}, 0x{b:X}, 0x{c:X}}}" for a, b, c in comp]
    out.append("inline constexpr composition canonical_composition[] = {")
    for i in range(0, len(items), 6):
        out.append("    " + ", ".join(items[i:i + 6]) + ",")
    out.append("};\n")
    out.append("}  // namespace moe::text::unicode::tables")
    with open(TABLES, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


# --------------------------------------------------------------------------------------------------------------
# Tokenizers
# --------------------------------------------------------------------------------------------------------------
def training_lines():
    lines = [l for l in TRAIN_TEXT.split("\n")]
    # Repeat so frequent pairs clearly win; include the corpus so merges touch the parity strings.
    return lines * 20 + CORPUS * 3


def bytelevel_tokenizer(pre_tokenizer, normalizer, specials, vocab_size, ignore_merges=False):
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(training_lines(), trainer=trainer)
    return tok


def make_qwen2():
    pre = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok = bytelevel_tokenizer(pre, normalizers.NFC(), ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], 3000)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    # Qwen3 marks <think>/</think> as added but not special (they survive skip_special_tokens).
    tok.add_tokens([AddedToken("<think>", special=False, normalized=False),
                    AddedToken("</think>", special=False, normalized=False)])
    return tok


def make_deepseek_v3():
    pre = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(p), behavior="isolated", invert=False) for p in DEEPSEEK_PATTERNS] +
        [pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)])
    bos, eos = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"
    tok = bytelevel_tokenizer(pre, normalizers.Sequence([]), [bos, eos, "<｜User｜>", "<｜Assistant｜>"], 3000)
    tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                                       special_tokens=[(bos, tok.token_to_id(bos))])
    tok.add_tokens([AddedToken("<think>", special=False, normalized=True),
                    AddedToken("</think>", special=False, normalized=True)])
    return tok


def make_llama3_style():
    # Byte-level, Llama-3 regex with 1-3 digit groups, ignore_merges, ByteLevel use_regex=True on top is not used
    # by Llama-3; here the second case exercises ByteLevel's own GPT-2 regex with add_prefix_space instead.
    pre = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok = bytelevel_tokenizer(pre, None, ["<|begin_of_text|>", "<|end_of_text|>"], 2500, ignore_merges=True)
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", tok.token_to_id("<|begin_of_text|>"))])
    return tok


def make_gpt2_style():
    pre = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                   pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)])
    tok = bytelevel_tokenizer(pre, None, ["<|endoftext|>"], 2000)
    tok.add_special_tokens([AddedToken("<|sep|>", lstrip=True, rstrip=True)])
    return tok


def sentencepiece_style(metaspace_pre_tokenizer):
    """Llama-2 / Mistral style: BPE over '▁'-joined text with <0xNN> byte fallback and <unk>, <s>, </s>."""
    specials = ["<unk>", "<s>", "</s>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=True)
    # Trained without the parity corpus and with a small alphabet, so rare characters (emoji, Hindi, Thai, ...)
    # take the <0xNN> byte-fallback path.
    trainer = trainers.BpeTrainer(vocab_size=2500, special_tokens=specials, limit_alphabet=150, show_progress=False)
    tok.train_from_iterator(TRAIN_TEXT.split("\n") * 20, trainer=trainer)
    spec = json.loads(tok.to_str())
    # Put the 256 byte tokens right after the specials, like Llama's vocabulary.
    old = sorted(spec["model"]["vocab"].items(), key=lambda kv: kv[1])
    vocab = {}
    for t in specials:
        vocab[t] = len(vocab)
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for t, _ in old:
        if t not in vocab:
            vocab[t] = len(vocab)
    spec["model"]["vocab"] = vocab
    for at in spec["added_tokens"]:
        at["id"] = vocab[at["content"]]
    if metaspace_pre_tokenizer:
        # Newer Mistral files: no normalizer, a Metaspace pre-tokenizer (prepend "first", no split) and decoder.
        spec["normalizer"] = None
        spec["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}
        spec["decoder"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}
    else:
        # Llama-2 / Mixtral files: no pre-tokenizer, the decoder chain undoes the normalizer.
        spec["pre_tokenizer"] = None
        spec["decoder"] = {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    spec["post_processor"] = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {"<s>": {"id": "<s>", "ids": [vocab["<s>"]], "tokens": ["<s>"]}}}
    tok = Tokenizer.from_str(json.dumps(spec, ensure_ascii=False))
    tok.add_special_tokens(["[INST]", "[/INST]"])
    return tok


def merges_as_strings(path):
    """Rewrite merges in the older "a b" string form (Llama-2 / Mixtral files use it)."""
    with open(path, encoding="utf-8") as f:
        spec = json.load(f)
    spec["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in spec["model"]["merges"]]
    with open(path, "w", encoding="utf-8") as f:
        json.dump(spec, f, ensure_ascii=False, indent=1)


def record(name, tok, string_merges=False):
    folder = os.path.join(DATA, name)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "tokenizer.json")
    tok.save(path)
    if string_merges:
        merges_as_strings(path)
    tok = Tokenizer.from_file(path)  # record what the saved file does
    cases = []
    for text in CORPUS:
        with_special = tok.encode(text, add_special_tokens=True).ids
        without = tok.encode(text, add_special_tokens=False).ids
        cases.append({
            "text": text,
            "ids": with_special,
            "ids_no_special": without,
            "decoded": tok.decode(with_special, skip_special_tokens=False),
            "decoded_skip_special": tok.decode(with_special, skip_special_tokens=True),
        })
    with open(os.path.join(folder, "reference.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizer": name, "tokenizers_version": __import__("tokenizers").__version__,
                   "vocab_size": tok.get_vocab_size(with_added_tokens=True), "cases": cases},
                  f, ensure_ascii=False, indent=0)
    print(f"{name}: vocab {tok.get_vocab_size()} ({len(cases)} cases)")
    return tok


# --------------------------------------------------------------------------------------------------------------
# Chat templates: the families' published Jinja templates with the tool-calling branches left out.
# --------------------------------------------------------------------------------------------------------------
QWEN3_TEMPLATE = """{%- if messages[0].role == 'system' %}
    {{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}
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
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {%- set content = message.content %}
        {%- set reasoning_content = '' %}
        {%- if message.reasoning_content is defined and message.reasoning_content is not none %}
            {%- set reasoning_content = message.reasoning_content %}
        {%- else %}
            {%- if '</think>' in message.content %}
                {%- set content = message.content.split('</think>')[-1].lstrip('\\n') %}
                {%- set reasoning_content = message.content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}
            {%- endif %}
        {%- endif %}
        {%- if loop.index0 > ns.last_query_index %}
            {%- if loop.last or (not loop.last and reasoning_content) %}
                {{- '<|im_start|>' + message.role + '\\n<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n') }}
            {%- else %}
                {{- '<|im_start|>' + message.role + '\\n' + content }}
            {%- endif %}
        {%- else %}
            {{- '<|im_start|>' + message.role + '\\n' + content }}
        {%- endif %}
        {{- '<|im_end|>\\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\\n\\n</think>\\n\\n' }}
    {%- endif %}
{%- endif %}"""

DEEPSEEK_R1_TEMPLATE = """{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}\
{% set ns = namespace(system_prompt='') %}\
{%- for message in messages %}{%- if message['role'] == 'system' %}{% set ns.system_prompt = message['content'] %}{%- endif %}{%- endfor %}\
{{ bos_token }}{{ ns.system_prompt }}\
{%- for message in messages %}\
{%- if message['role'] == 'user' %}{{ '<｜User｜>' + message['content'] }}{%- endif %}\
{%- if message['role'] == 'assistant' and message['content'] is not none %}\
{%- set content = message['content'] %}\
{%- if '</think>' in content %}{%- set content = content.split('</think>')[-1] %}{%- endif %}\
{{ '<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>' }}\
{%- endif %}\
{%- endfor -%}\
{% if add_generation_prompt %}{{ '<｜Assistant｜><think>\\n' }}{% endif %}"""

MISTRAL_TEMPLATE = """{{ bos_token }}{% for message in messages %}\
{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\
{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}\
{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}\
{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}\
{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"""

CONVERSATIONS = [
    [{"role": "user", "content": "What is 2+2?"}],
    [{"role": "system", "content": "You are a helpful assistant."},
     {"role": "user", "content": "Hallo! Wie geht's?"}],
    [{"role": "user", "content": "Solve x+1=3."},
     {"role": "assistant", "content": "<think>\nx = 3 - 1.\n</think>\n\nx = 2."},
     {"role": "user", "content": "And x+2=3?"}],
    [{"role": "user", "content": "你好"},
     {"role": "assistant", "content": "你好！有什么可以帮你的？"},
     {"role": "user", "content": "讲个笑话"},
     {"role": "assistant", "content": "<think>\nA short joke.\n</think>\n\nWhy did the expert route itself? 😀"}],
    [{"role": "user", "content": "Multi-line\n  input\twith tabs"},
     {"role": "assistant", "content": "Plain answer without thinking."}],
]


def make_chat_reference():
    from transformers import PreTrainedTokenizerFast
    families = {
        "qwen3": (QWEN3_TEMPLATE, "qwen2", None, "<|im_end|>"),
        "deepseek_r1": (DEEPSEEK_R1_TEMPLATE, "deepseek_v3", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
        "mistral": (MISTRAL_TEMPLATE, "llama_sentencepiece", "<s>", "</s>"),
    }
    records = []
    for family, (template, tok_name, bos, eos) in families.items():
        fast = PreTrainedTokenizerFast(tokenizer_file=os.path.join(DATA, tok_name, "tokenizer.json"),
                                       bos_token=bos, eos_token=eos)
        fast.chat_template = template
        for conv in CONVERSATIONS:
            for add_gen in (True, False):
                for thinking in (True, False):
                    if family != "qwen3" and not thinking:
                        continue
                    try:
                        text = fast.apply_chat_template(conv, tokenize=False, add_generation_prompt=add_gen,
                                                        **({} if thinking else {"enable_thinking": False}))
                    except Exception as e:  # raise_exception in the template: the C++ renderer must throw too
                        text = None
                        print(f"  {family}: template refused a conversation: {e}")
                    records.append({"family": family, "messages": conv, "add_generation_prompt": add_gen,
                                    "enable_thinking": thinking, "text": text})
    with open(os.path.join(DATA, "chat_reference.json"), "w", encoding="utf-8") as f:
        json.dump({"templates": {"qwen3": QWEN3_TEMPLATE, "deepseek_r1": DEEPSEEK_R1_TEMPLATE,
                                 "mistral": MISTRAL_TEMPLATE}, "cases": records}, f, ensure_ascii=False, indent=1)
    print(f"chat: {len(records)} renderings")


def make_nfc_reference():
    """NFC cases: precomposed/decomposed Latin, stacked marks out of canonical order, Hangul jamo, exclusions."""
    import random
    rng = random.Random(7)
    texts = ["e\u0301", "A\u030a", "\u212b", "\u1100\u1161\u11a8", "\u1100\u1161", "\uac00\u11a8",
             "a\u0323\u0302", "a\u0302\u0323", "\u0958", "\u2126", "o\u0308\u0304", "\u0344", "\u1e9b\u0323",
             "\u0301a", "Ü\u0323", "\u05b8\u05b9\u05b1\u0591\u05c3\u05b0\u05ac\u059f", "\u0ddd\u0dca",
             "\ud55c\uad6d\uc5b4", "ﬃ", "\U0001d15e", "Ελληνικά ά", "ǖ"]
    marks = [0x300, 0x301, 0x302, 0x303, 0x308, 0x323, 0x327, 0x328, 0x331, 0x345, 0x5b0, 0x93c, 0x3099]
    bases = "aeiouAEIOUnNcCsSzZ\u03b1\u03c9\u0438\u304b\u30cf\u1100\u1161"
    for _ in range(60):
        t = ""
        for _ in range(rng.randint(1, 4)):
            t += rng.choice(bases) + "".join(chr(rng.choice(marks)) for _ in range(rng.randint(0, 3)))
        texts.append(t)
    cases = [{"text": t, "nfc": unicodedata.normalize("NFC", t)} for t in texts]
    with open(os.path.join(DATA, "nfc_reference.json"), "w", encoding="utf-8") as f:
        json.dump({"unicode_version": unicodedata.unidata_version, "cases": cases}, f, ensure_ascii=False, indent=0)


FUZZ_ALPHABET = list("aAzZ09 \t\n\r'.,!?-_()[]{}<>|/\\\"$%") + [
    "é", "ü", "ß", "中", "文", "の", "カ", "д", "ж", "ع", "न", "ि", "😀", "👍", "\u200d", "\u0301", "\u00a0", "\u3000",
    "１", "٣", "½", "▁", "<s>", "</s>", "<|im_end|>", "<think>", "'s", "'LL", "[INST]", "<|sep|>", "<0x41>",
    "<｜User｜>", "ﬃ", "\u1100\u1161", "\ufffd"]


def make_fuzz_reference(names, per_tokenizer=400):
    """Random strings over an alphabet of tricky pieces (specials, marks, ZWJ, fullwidth digits, jamo...)."""
    import random
    rng = random.Random(3)
    out = {}
    for name in names:
        tok = Tokenizer.from_file(os.path.join(DATA, name, "tokenizer.json"))
        cases = []
        for _ in range(per_tokenizer):
            text = "".join(rng.choice(FUZZ_ALPHABET) for _ in range(rng.randint(0, 25)))
            ids = tok.encode(text).ids
            cases.append({"text": text, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)})
        out[name] = cases
    with open(os.path.join(DATA, "fuzz_reference.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))


def main():
    os.makedirs(DATA, exist_ok=True)
    write_unicode_tables()
    with open(os.path.join(DATA, "corpus.json"), "w", encoding="utf-8") as f:
        json.dump(CORPUS, f, ensure_ascii=False, indent=1)
    record("qwen2", make_qwen2())
    record("deepseek_v3", make_deepseek_v3())
    record("llama3_style", make_llama3_style())
    record("gpt2_style", make_gpt2_style())
    record("llama_sentencepiece", sentencepiece_style(False), string_merges=True)
    record("mistral_metaspace", sentencepiece_style(True))
    make_chat_reference()
    make_nfc_reference()
    make_fuzz_reference(["qwen2", "deepseek_v3", "llama3_style", "gpt2_style", "llama_sentencepiece",
                         "mistral_metaspace"])


if __name__ == "__main__":
    sys.exit(main())
