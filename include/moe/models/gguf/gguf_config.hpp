// moe/models/gguf/gguf_config.hpp — a GGUF file's metadata as the config.json a model type is checked against.
//
// llama.cpp keeps a model's hyperparameters in `<arch>.*` metadata keys (qwen3moe.expert_count, ...). Each family's
// GGUF file (models/gguf/<arch>.hpp) maps them onto the config.json fields its checkpoint_conventions check, so
// hf_config and the node loaders check a GGUF file with the rules they check a config.json with, all mismatches
// in one config_error. Every field remembers where it came from, and the messages name that: the GGUF key
// ("model.gguf: qwen3moe.expert_count is 64, the model type has 8"), or for a value llama.cpp fixes per
// architecture, the architecture ("norm_topk_prob (fixed by llama.cpp for qwen3moe) is true, ...").
// A key llama.cpp reads with a default takes that default when absent (said at each field).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/config/model_config.hpp"
#include "moe/excerpt.hpp"
#include "moe/io/gguf_file.hpp"
#include "moe/models/hf_config.hpp"

namespace moe::gguf {

// Builds the config.json object of a GGUF file: one call per field.
class config_builder {
   public:
    config_builder(const io::gguf_file& file, std::string architecture)
        : file_(file), arch_(std::move(architecture)) {}

    const io::gguf_file& file() const { return file_; }
    const std::string& architecture() const { return arch_; }
    // "<arch>.<suffix>": the arch-prefixed key.
    std::string key(std::string_view suffix) const { return arch_ + "." + std::string(suffix); }

    // field = the integer at `key` (`absent`: the value when the key is missing, said in messages; nullopt: the
    // field is left out, so that a required field is reported missing by the checks).
    void integer(const std::string& field, const std::string& key, std::optional<std::int64_t> absent = {}) {
        read(field, key, [&] { return json_value(file_.optional_integer(key)); }, absent ? nlohmann::json(*absent) : nlohmann::json());
    }
    void number(const std::string& field, const std::string& key, std::optional<double> absent = {}) {
        read(field, key, [&] { return json_value(file_.optional_number(key)); }, absent ? nlohmann::json(*absent) : nlohmann::json());
    }
    void boolean(const std::string& field, const std::string& key, std::optional<bool> absent = {}) {
        read(field, key, [&] { return json_value(file_.optional_boolean(key)); }, absent ? nlohmann::json(*absent) : nlohmann::json());
    }
    // A value implied by the file rather than read from one key; `source` says where it comes from in messages.
    void set(const std::string& field, nlohmann::json value, std::string source) {
        json_[field] = std::move(value);
        names_.emplace_back(field, std::move(source));
    }
    // Only where a (nested) field comes from, for messages: "rope_scaling.factor".
    void source(const std::string& field, std::string source) { names_.emplace_back(field, std::move(source)); }
    // A value llama.cpp fixes for the architecture (no key in the file).
    void fixed(const std::string& field, nlohmann::json value) {
        set(field, std::move(value), field + " (fixed by llama.cpp for " + arch_ + ")");
    }
    // A problem found while mapping (a metadata value of the wrong type, an unsupported setting).
    void problem(std::string text) { problems_.push_back(std::move(text)); }

    nlohmann::json& json() { return json_; }

    // The hf_config to check: named after the GGUF file, its messages naming GGUF keys.
    hf_config build() && {
        hf_config config(std::move(json_), file_.path());
        config.set_source_names(std::move(names_));
        for (auto& p : problems_) config.record(std::move(p));
        return config;
    }

   private:
    template <class T>
    static nlohmann::json json_value(const std::optional<T>& v) {
        return v ? nlohmann::json(*v) : nlohmann::json();
    }
    template <class Read>
    void read(const std::string& field, const std::string& key, Read read_value, nlohmann::json absent) {
        nlohmann::json value;
        try {
            value = read_value();
        } catch (const io::gguf_error& e) {  // wrong metadata type: reported with the rest
            std::string text = e.what();
            if (text.starts_with(file_.path() + ": ")) text.erase(0, file_.path().size() + 2);
            problems_.push_back(std::move(text));
            return;
        }
        if (value.is_null()) {
            if (absent.is_null()) {
                names_.emplace_back(field, key);
                return;
            }
            json_[field] = std::move(absent);
            names_.emplace_back(field, key + " (absent: llama.cpp's default)");
            return;
        }
        json_[field] = std::move(value);
        names_.emplace_back(field, key);
    }

    const io::gguf_file& file_;
    std::string arch_;
    nlohmann::json json_ = nlohmann::json::object();
    std::vector<std::pair<std::string, std::string>> names_;
    std::vector<std::string> problems_;
};

// What every architecture stores alike: widths, depth, context, norm epsilon, RoPE, vocabulary, tied embeddings.
// `family` is the compiled type's (its model_type is written when the architecture matches, else a problem is
// recorded by the caller).
inline void common_fields(config_builder& b) {
    const io::gguf_file& f = b.file();
    b.integer("hidden_size", b.key("embedding_length"));
    b.integer("num_hidden_layers", b.key("block_count"));
    b.integer("max_position_embeddings", b.key("context_length"));
    b.number("rms_norm_eps", b.key("attention.layer_norm_rms_epsilon"));
    b.set("hidden_act", "silu", "the architecture " + b.architecture());
    // Vocabulary: <arch>.vocab_size, else the token list's length (llama.cpp's order).
    if (f.contains(b.key("vocab_size"))) {
        b.integer("vocab_size", b.key("vocab_size"));
    } else if (f.contains("tokenizer.ggml.tokens")) {
        try {
            b.set("vocab_size", std::int64_t(f.array_size("tokenizer.ggml.tokens")), "tokenizer.ggml.tokens (its length)");
        } catch (const io::gguf_error& e) {
            b.problem(e.what());
        }
    }
    // No output.weight: the LM head is the embedding (llama.cpp's rule).
    b.set("tie_word_embeddings", f.find_tensor("output.weight") == nullptr, "output.weight (absent: tied embeddings)");

    // RoPE: freq_base (absent: 10000); scaling type "none"/"linear" with factor 1 is no scaling, "yarn" is YaRN.
    b.number("rope_theta", b.key("rope.freq_base"), 10000.0);
    std::optional<std::string> type;
    try {
        type = f.optional_string(b.key("rope.scaling.type"));
    } catch (const io::gguf_error& e) {
        b.problem(e.what());
    }
    const double factor = f.optional_number(b.key("rope.scaling.factor")).value_or(0.0);
    if (type == "yarn") {
        nlohmann::json rope = {{"rope_type", "yarn"}};
        b.source("rope_scaling.rope_type", b.key("rope.scaling.type"));
        if (factor != 0.0) rope["factor"] = factor;
        b.source("rope_scaling.factor", b.key("rope.scaling.factor"));
        if (auto orig = f.optional_integer(b.key("rope.scaling.original_context_length"))) {
            rope["original_max_position_embeddings"] = *orig;
        }
        b.source("rope_scaling.original_max_position_embeddings", b.key("rope.scaling.original_context_length"));
        b.source("rope_scaling.beta_fast", b.key("rope.scaling.yarn_beta_fast"));
        b.source("rope_scaling.beta_slow", b.key("rope.scaling.yarn_beta_slow"));
        if (auto v = f.optional_number(b.key("rope.scaling.yarn_beta_fast"))) rope["beta_fast"] = *v;
        if (auto v = f.optional_number(b.key("rope.scaling.yarn_beta_slow"))) rope["beta_slow"] = *v;
        if (auto v = f.optional_number(b.key("rope.scaling.attn_factor"))) rope["attention_factor"] = *v;
        b.json()["rope_scaling"] = std::move(rope);
    } else if (type && *type != "none" && !(*type == "linear" && (factor == 0.0 || factor == 1.0))) {
        b.problem(b.key("rope.scaling.type") + " is \"" + excerpt(*type) + "\" (factor " + std::to_string(factor) +
                  "), supported: none, yarn");
    }
    // RoPE over the whole head only: rope.dimension_count (absent: the key width) must be the head width.
    const std::int64_t heads = f.optional_integer(b.key("attention.head_count")).value_or(0);
    const std::int64_t width = f.optional_integer(b.key("embedding_length")).value_or(0);
    const std::int64_t key_length = f.optional_integer(b.key("attention.key_length")).value_or(heads > 0 ? width / heads : 0);
    if (auto rot = f.optional_integer(b.key("rope.dimension_count")); rot && *rot != key_length && b.architecture() != "deepseek2") {
        b.problem(b.key("rope.dimension_count") + " is " + std::to_string(*rot) + ", the head width is " +
                  std::to_string(key_length) + ": only RoPE over the whole head is supported");
    }
}

// Grouped-query attention: heads, kv heads (absent: heads), head width (absent: width / heads).
inline void gqa_fields(config_builder& b) {
    const io::gguf_file& f = b.file();
    b.integer("num_attention_heads", b.key("attention.head_count"));
    const std::int64_t heads = f.optional_integer(b.key("attention.head_count")).value_or(0);
    b.integer("num_key_value_heads", b.key("attention.head_count_kv"), heads);
    const std::int64_t width = f.optional_integer(b.key("embedding_length")).value_or(0);
    b.integer("head_dim", b.key("attention.key_length"), heads > 0 ? std::optional<std::int64_t>(width / heads) : std::nullopt);
    if (auto v = f.optional_integer(b.key("attention.value_length")); v && *v != f.optional_integer(b.key("attention.key_length")).value_or(*v)) {
        b.problem(b.key("attention.value_length") + " is " + std::to_string(*v) + ", different from " +
                  b.key("attention.key_length") + ": the model types have one head width");
    }
}

// The expert width: expert_feed_forward_length, else feed_forward_length (llama.cpp's Mixtral and OLMoE store it
// there).
inline void expert_width_field(config_builder& b, const std::string& field) {
    if (b.file().contains(b.key("expert_feed_forward_length"))) {
        b.integer(field, b.key("expert_feed_forward_length"));
    } else {
        b.integer(field, b.key("feed_forward_length"));
    }
}

// Specialised per family in models/gguf/<arch>.hpp: the GGUF architecture name(s) and the family's fields.
template <model_family Family>
struct gguf_conventions {
    static_assert(Family != Family, "moe::gguf: this model family has no GGUF mapping (models/gguf/<arch>.hpp)");
};

// The config of `file` for a model type of `Family`: the architecture checked first (a wrong one is reported with
// the other mismatches, then nothing else is compared: its keys have other names).
template <model_family Family>
hf_config config_of(const io::gguf_file& file) {
    using conventions = gguf_conventions<Family>;
    std::string arch;
    try {
        arch = file.optional_string("general.architecture").value_or("");
    } catch (const io::gguf_error& e) {
        throw config_error(e.what());
    }
    config_builder b(file, arch);
    if (!conventions::matches(file, arch)) {
        b.set("model_type", "", "general.architecture");
        b.problem("general.architecture is \"" + excerpt(arch) + "\", the model type (" + std::string(name_of(Family)) +
                  ") needs " + conventions::expected_architecture(file));
        hf_config config = std::move(b).build();
        config.throw_if_mismatched();
    }
    b.set("model_type", std::string(name_of(Family)), "general.architecture");
    common_fields(b);
    conventions::fields(b);
    return std::move(b).build();
}

}  // namespace moe::gguf
