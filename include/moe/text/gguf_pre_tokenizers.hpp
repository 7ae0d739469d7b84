// moe/text/gguf_pre_tokenizers.hpp — what a GGUF file's `tokenizer.ggml.pre` name stands for: the pre-tokenizer
// regexes llama.cpp applies for it (llama.cpp's llama-vocab.cpp, llm_tokenizer_bpe), and the other per-name settings
// llama.cpp hard-codes (ignore_merges, whether BOS is added when the file does not say).
//
// Each regex cuts every piece of the text further, matches and the text between them both kept (tokenizer.json's
// Split with behavior Isolated); the pieces are then mapped byte-level and merged. Where llama.cpp rewrote a
// tokenizer.json pattern for its own engine (e.g. (?i:'s|...) spelled out as '[sS]...), the table holds the
// tokenizer.json original, so that a GGUF tokenizes exactly as the model's tokenizer.json does.
//
// Names llama.cpp knows but that are not listed here (their patterns use constructs moe/text/regex.hpp does not
// support, such as \p{Lu} or capturing groups, or custom code) are refused with the list of the known ones.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace moe::text::gguf_vocab {

struct pre_tokenizer_spec {
    std::vector<std::string_view> names;   // every `tokenizer.ggml.pre` value llama.cpp maps to this pre-tokenizer
    std::vector<std::string_view> regexes;  // applied in order, each as Split(Isolated)
    bool ignore_merges = false;             // a word that is a whole token is not merged (Llama-3)
    bool add_bos = false;                   // default of tokenizer.ggml.add_bos_token when absent
    bool nfc = false;                       // the family's tokenizer.json normalizes to NFC (llama.cpp does not)
};

namespace detail {

// GPT-2's pattern (tokenizer.json ByteLevel use_regex=true). llama.cpp's copy lacks the final |\s+; splitting is
// the same, since a whitespace character that \s+(?!\S) leaves unmatched is a piece of its own either way.
inline constexpr std::string_view gpt2 =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// llama.cpp's GPT-2 pattern without the final |\s+, as its families use it after a first split.
inline constexpr std::string_view gpt2_llama_cpp =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
inline constexpr std::string_view llama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view qwen2 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view qwen35 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view deepseek3_cjk = "[一-龥぀-ゟ゠-ヿ]+";
inline constexpr std::string_view deepseek3_main =
    R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view deepseek_cjk_hangul = "[一-龥ࠀ-一가-퟿]+";
// DeepSeek-LLM's \s+$ (whitespace ending the piece; regex.hpp has no anchors). The pieces reaching it hold no
// line break except as a piece of its own, so end of line (Oniguruma's $) and end of piece are the same place.
inline constexpr std::string_view trailing_space = R"(\s+(?![\s\S]))";
inline constexpr std::string_view bloom = R"( ?[^(\s|.,!?…。，、।۔،)]+)";
inline constexpr std::string_view seed_coder =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view bailingmoe =
    R"('(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+)";
inline constexpr std::string_view minicpm5 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view ufakzeka =
    R"([^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

}  // namespace detail

// The known pre-tokenizers, in llama.cpp's order.
inline const std::vector<pre_tokenizer_spec>& pre_tokenizer_specs() {
    using namespace std::string_view_literals;
    static const std::vector<pre_tokenizer_spec> specs = {
        {{"default"},
         {R"([\p{P}\$\+<=>\^~\|]+)", detail::gpt2_llama_cpp, R"(\p{N}+)", "[0-9][0-9][0-9]"}},
        {{"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"},
         {detail::llama3}, /*ignore_merges=*/true, /*add_bos=*/true},
        {{"dbrx", "smaug-bpe", "chatglm-bpe"}, {detail::llama3}},
        {{"glm4", "glm5"}, {detail::llama3}, /*ignore_merges=*/true},
        {{"deepseek-llm"},
         {"[\r\n]",
          "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
          "\\s?[!-/:-~！-／：-～‘-‟　-。]+", detail::trailing_space, detail::deepseek_cjk_hangul,
          "\\p{N}+"}},
        {{"deepseek-coder"},
         {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", detail::deepseek_cjk_hangul, "\\p{N}"}},
        {{"deepseek-v3", "hunyuan-dense", "joyai-llm", "hy_v4"},
         {"\\p{N}{1,3}", detail::deepseek3_cjk, detail::deepseek3_main}},
        {{"falcon"},
         {R"([\p{P}\$\+<=>\^~\|`]+)", detail::gpt2_llama_cpp, "[0-9][0-9][0-9]"}},
        {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2"},
         {"\\p{N}", detail::gpt2_llama_cpp}},
        {{"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
          "modern-bert", "exaone4", "mpt", "olmo", "jais", "trillion", "granite-docling"},
         {detail::gpt2}},
        {{"qwen2", "deepseek-r1-qwen"}, {detail::qwen2}, false, false, /*nfc=*/true},
        {{"kormo", "f2llmv2", "stablelm2", "megrez", "hunyuan", "solar-open"}, {detail::qwen2}},
        {{"qwen35"}, {detail::qwen35}, false, false, /*nfc=*/true},
        {{"poro-chat", "bloom", "gpt3-finnish"}, {detail::bloom}},
        {{"viking"}, {detail::bloom, "\\p{N}"}},
        {{"seed-coder"}, {detail::seed_coder}},
        {{"bailingmoe", "bailingmoe2", "llada-moe"}, {detail::bailingmoe}},
        {{"grok-2"}, {detail::qwen2}},
        {{"ufakzeka"}, {detail::ufakzeka}},
        {{"minicpm5"}, {"\\p{N}{1,3}", detail::minicpm5}, /*ignore_merges=*/true},
    };
    return specs;
}

inline const pre_tokenizer_spec* find_pre_tokenizer(std::string_view name) {
    for (const auto& spec : pre_tokenizer_specs())
        for (const auto n : spec.names)
            if (n == name) return &spec;
    return nullptr;
}

// "default, llama3, llama-v3, ..." for error messages.
inline std::string known_pre_tokenizer_names() {
    std::string out;
    for (const auto& spec : pre_tokenizer_specs())
        for (const auto n : spec.names) {
            if (!out.empty()) out += ", ";
            out += n;
        }
    return out;
}

}  // namespace moe::text::gguf_vocab
