// moe/models/hf_config.hpp — a checkpoint's config.json, checked against the model type that will hold it.
//
// Every field the type fixes at compile time is compared, and every run-time field (rope, norm epsilon, context
// length, sliding window, routed scaling factor) is read with its type and range checked. Nothing throws while
// reading: each problem is recorded and throw_if_mismatched() reports them all in one config_error
// ("config.json: num_experts is 64, the model type has 8; rms_norm_eps is -1, must be > 0; ...").
// Values quoted from the file go through moe::excerpt (capped, control bytes escaped); arrays and objects are
// described by their size, never dumped.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/config/attention_config.hpp"
#include "moe/error.hpp"
#include "moe/excerpt.hpp"
#include "moe/runtime/regular_file.hpp"

namespace moe {

// config.json is missing, malformed, or does not describe the model type it is loaded into.
class config_error : public error_with<std::runtime_error> {
   public:
    using error_with::error_with;
};

// The values a run-time number may take: above `low` (open) or from `low` on (closed); always finite.
struct number_range {
    double low = -std::numeric_limits<double>::infinity();
    bool open = false;

    static constexpr number_range above(double v) { return {v, true}; }
    static constexpr number_range at_least(double v) { return {v, false}; }
    bool contains(double v) const { return std::isfinite(v) && (open ? v > low : v >= low); }
    std::string text() const {
        if (low == -std::numeric_limits<double>::infinity()) return "finite";
        const bool whole = low == std::floor(low) && std::abs(low) < 1e15;  // "> 0", not "> 0.0"
        return std::string(open ? "> " : ">= ") + (whole ? std::to_string(std::int64_t(low)) : nlohmann::json(low).dump());
    }
};

class hf_config {
   public:
    // Reads and parses `path` (a config.json). Throws config_error naming the file on I/O or JSON errors.
    explicit hf_config(const std::filesystem::path& path) : file_(path.string()) {
        std::string text;  // only a regular file is read: a FIFO, device or directory is refused, never blocks
        if (auto problem = detail::read_regular_file(path, text); !problem.empty()) {
            throw config_error(file_ + ": " + problem);
        }
        *this = parse(text, file_);
    }

    // From the text of a config.json; `file` names it in errors. Throws config_error on malformed JSON.
    static hf_config parse(std::string_view text, std::string file) {
        nlohmann::json json;
        try {
            json = nlohmann::json::parse(text);
        } catch (const nlohmann::json::exception& e) {
            throw config_error(file + ": malformed JSON (" + excerpt(e.what(), 200) + ")");
        }
        return hf_config(std::move(json), std::move(file));
    }

    // From an already-parsed object (tests, in-memory configs).
    hf_config(nlohmann::json json, std::string file) : json_(std::move(json)), file_(std::move(file)) {
        if (!json_.is_object()) throw config_error(file_ + ": expected a JSON object at the top level");
    }

    const std::string& file() const { return file_; }
    const nlohmann::json& json() const { return json_; }

    // ---- compile-time fields: record a mismatch instead of throwing, so all are reported at once ----

    // The first present key among `keys` must equal `expected`. `absent` is the value implied when none is present
    // (nullopt: the field is required). JSON null counts as `null_value` when given (q_lora_rank: null = 0).
    void expect_int(std::initializer_list<std::string_view> keys, std::int64_t expected,
                    std::optional<std::int64_t> absent = std::nullopt, std::optional<std::int64_t> null_value = {}) {
        const auto [key, value] = first_present(keys);
        std::int64_t actual = 0;
        if (value == nullptr) {
            if (!absent) return missing(keys, std::to_string(expected));
            actual = *absent;
        } else if (value->is_null() && null_value) {
            actual = *null_value;
        } else if (auto v = as_int64(*value)) {
            actual = *v;
        } else {
            return wrong_type(key, "an integer", *value);
        }
        if (actual != expected) {
            record(std::string(key.empty() ? *keys.begin() : key) + " is " + std::to_string(actual) +
                   ", the model type has " + std::to_string(expected));
        }
    }

    void expect_bool(std::string_view key, bool expected, std::optional<bool> absent = std::nullopt) {
        const auto it = json_.find(key);
        bool actual = false;
        if (it == json_.end() || it->is_null()) {
            if (!absent) return missing({key}, expected ? "true" : "false");
            actual = *absent;
        } else if (it->is_boolean()) {
            actual = it->get<bool>();
        } else {
            return wrong_type(key, "true or false", *it);
        }
        if (actual != expected) {
            record(std::string(key) + " is " + (actual ? "true" : "false") + ", the model type has " +
                   (expected ? "true" : "false"));
        }
    }

    void expect_string(std::string_view key, std::string_view expected, std::optional<std::string_view> absent = {}) {
        const auto it = json_.find(key);
        std::string actual;
        if (it == json_.end() || it->is_null()) {
            if (!absent) return missing({key}, "\"" + std::string(expected) + "\"");
            actual = *absent;
        } else if (it->is_string()) {
            actual = it->get<std::string>();
        } else {
            return wrong_type(key, "a string", *it);
        }
        if (actual != expected) {
            record(std::string(key) + " is \"" + excerpt(actual) + "\", the model type has \"" +
                   std::string(expected) + "\"");
        }
    }

    // A list field that must be empty or absent (e.g. mlp_only_layers, which the family types do not model).
    void expect_empty_list(std::string_view key, std::string_view why) {
        const auto it = json_.find(key);
        if (it == json_.end() || it->is_null() || (it->is_array() && it->empty())) return;
        record(std::string(key) + " is " + describe(*it) + ", the model type supports only [] (" + std::string(why) +
               ")");
    }

    // Records a problem found by a caller (a family's own rule); reported with the rest.
    void record(std::string problem) {
        problem = with_source_names(std::move(problem));
        for (const auto& m : mismatches_)  // several layers read the same fields; each problem is reported once
            if (m == problem) return;
        mismatches_.push_back(std::move(problem));
    }

    // Throws one config_error listing every problem recorded so far.
    void throw_if_mismatched() const {
        if (mismatches_.empty()) return;
        std::string message = file_ + ": ";
        for (std::size_t i = 0; i < mismatches_.size(); ++i) message += (i ? "; " : "") + mismatches_[i];
        throw config_error(message);
    }
    const std::vector<std::string>& mismatches() const { return mismatches_; }

    // For a config built from another source (a GGUF file's metadata, models/gguf/gguf_config.hpp): the name each
    // field had there. A problem that starts with fields ("num_experts is 64, ..."; "a / b is missing";
    // "rope_scaling.factor is ...") names them by their source instead ("qwen3moe.expert_count is 64, ...").
    void set_source_names(std::vector<std::pair<std::string, std::string>> field_to_source) {
        source_names_ = std::move(field_to_source);
    }

    // ---- run-time fields: a wrong type or a value out of range is recorded and `fallback` returned ----

    // A number (absent or null: nullopt); it must lie in `range`.
    std::optional<double> optional_number(std::initializer_list<std::string_view> keys, number_range range = {}) {
        const auto [key, value] = first_present(keys);
        if (value == nullptr || value->is_null()) return std::nullopt;
        if (!value->is_number()) {
            wrong_type(key, "a number", *value);
            return std::nullopt;
        }
        const double v = value->get<double>();
        if (!range.contains(v)) {
            record(std::string(key) + " is " + describe(*value) + ", must be " + range.text());
            return std::nullopt;
        }
        return v;
    }
    double number(std::initializer_list<std::string_view> keys, double fallback, number_range range = {}) {
        return optional_number(keys, range).value_or(fallback);
    }
    // A number the computation holds as a float: it must also be finite (and as positive as `range` says) as one.
    float float_number(std::initializer_list<std::string_view> keys, double fallback, number_range range = {}) {
        const auto v = optional_number(keys, range);
        if (!v) return float(fallback);
        const float f = float(*v);
        if (!range.contains(double(f))) {  // overflows to inf, or rounds to the excluded bound (1e-50 → 0)
            const auto [key, value] = first_present(keys);
            record(std::string(key) + " is " + describe(*value) + ", must be " + range.text() + " as a 32-bit float");
            return float(fallback);
        }
        return f;
    }

    // An integer (absent or null: nullopt) of at least `minimum`. A float (64.0), a string or a number beyond
    // int64 is a wrong type.
    std::optional<std::int64_t> optional_integer(std::initializer_list<std::string_view> keys,
                                                 std::int64_t minimum = std::numeric_limits<std::int64_t>::min()) {
        const auto [key, value] = first_present(keys);
        if (value == nullptr || value->is_null()) return std::nullopt;
        const auto v = as_int64(*value);
        if (!v) {
            wrong_type(key, "an integer", *value);
            return std::nullopt;
        }
        if (*v < minimum) {
            record(std::string(key) + " is " + std::to_string(*v) + ", must be >= " + std::to_string(minimum));
            return std::nullopt;
        }
        return v;
    }
    // fallback nullopt: the field is required.
    std::int64_t integer(std::initializer_list<std::string_view> keys, std::optional<std::int64_t> fallback,
                         std::int64_t minimum = std::numeric_limits<std::int64_t>::min()) {
        const auto [key, value] = first_present(keys);
        if (!fallback && (value == nullptr || value->is_null())) {
            record(std::string(value ? key : *keys.begin()) + (value ? " is null" : " is missing") +
                   ", expected an integer >= " + std::to_string(minimum));
            return 0;
        }
        return optional_integer(keys, minimum).value_or(fallback.value_or(0));
    }

    bool boolean(std::string_view key, bool fallback) {
        const auto it = json_.find(key);
        if (it == json_.end() || it->is_null()) return fallback;
        if (!it->is_boolean()) {
            wrong_type(key, "true or false", *it);
            return fallback;
        }
        return it->get<bool>();
    }

    // The integer value of a field when it is one, without recording anything (for implied values).
    std::optional<std::int64_t> peek_integer(std::string_view key) const {
        const auto it = json_.find(key);
        return it == json_.end() ? std::nullopt : as_int64(*it);
    }

    // RoPE settings: transformers 5 writes `rope_parameters` {rope_type, rope_theta, factor, ...}; older files have
    // `rope_theta` and `rope_scaling` {type | rope_type, factor, ...}. Both are read, with transformers' priority
    // (rope_scaling over rope_parameters; a top-level original_max_position_embeddings over the nested one).
    // Supported: "default" and "yarn"; partial rotary embeddings and per-layer-type parameters are refused.
    rope_parameters rope(double default_theta = 10000.0) {
        rope_parameters rope;
        rope.theta = number({"rope_theta"}, default_theta, number_range::above(1.0));
        check_full_rotary(*this);
        const nlohmann::json* scaling = nullptr;
        std::string scaling_key;
        for (const char* key : {"rope_scaling", "rope_parameters"}) {
            const auto it = json_.find(key);
            if (it == json_.end() || it->is_null()) continue;
            if (!it->is_object()) {
                wrong_type(key, "an object", *it);
                continue;
            }
            if (scaling == nullptr && !it->empty()) scaling = &*it, scaling_key = key;
        }
        if (scaling == nullptr) return rope;
        hf_config part(*scaling, file_);
        rope = part.nested_rope(rope, *this);
        for (const auto& m : part.mismatches_) record(scaling_key + "." + m);
        return rope;
    }

   private:
    // RoPE over the whole head only (transformers' partial_rotary_factor scales the rotated width).
    static void check_full_rotary(hf_config& c) {
        if (auto f = c.optional_number({"partial_rotary_factor"}); f && *f != 1.0) {
            c.record("partial_rotary_factor is " + describe(c.json_["partial_rotary_factor"]) +
                     ", only 1 (RoPE over the whole head) is supported");
        }
    }

    // The fields of a rope_scaling / rope_parameters object; `top` is the whole config.json.
    rope_parameters nested_rope(rope_parameters rope, hf_config& top) {
        for (const char* layer_type : {"full_attention", "sliding_attention"}) {
            if (json_.contains(layer_type)) {
                record(std::string(layer_type) + " is given: RoPE parameters per layer type are not supported");
                return rope;
            }
        }
        rope.theta = number({"rope_theta"}, rope.theta, number_range::above(1.0));
        check_full_rotary(*this);
        std::string type = "default";
        if (const auto [key, value] = first_present({"rope_type", "type"}); value != nullptr && !value->is_null()) {
            if (value->is_string()) {
                type = value->get<std::string>();
            } else {
                wrong_type(key, "a string", *value);
            }
        }
        if (type == "default") return rope;
        if (type != "yarn") {
            record("rope_type is \"" + excerpt(type) + "\", supported: default, yarn");
            return rope;
        }
        rope.type = rope_type::yarn;
        const std::int64_t context = top.peek_integer("max_position_embeddings").value_or(0);
        // transformers: the top-level original_max_position_embeddings wins, then the nested one, then
        // max_position_embeddings.
        std::optional<std::int64_t> original = top.optional_integer({"original_max_position_embeddings"}, 1);
        if (!original) original = optional_integer({"original_max_position_embeddings"}, 1);
        rope.original_max_position_embeddings = original.value_or(context);
        if (rope.original_max_position_embeddings < 1) {
            record("original_max_position_embeddings is missing (and max_position_embeddings gives none): YaRN needs "
                   "the pre-training context length");
            rope.original_max_position_embeddings = 1;
        }
        // factor absent: the ratio of the context lengths (transformers); given: at least 1 (0 divides by zero).
        if (auto factor = optional_number({"factor"}, number_range::at_least(1.0))) {
            rope.factor = *factor;
        } else if (json_.contains("factor") && !json_["factor"].is_null()) {
            rope.factor = 1.0;  // out of range or not a number: recorded
        } else {
            rope.factor = double(context) / double(rope.original_max_position_embeddings);
            if (!(rope.factor >= 1.0)) {
                record("factor is missing and max_position_embeddings / original_max_position_embeddings (" +
                       std::to_string(context) + " / " + std::to_string(rope.original_max_position_embeddings) +
                       ") is below 1: give factor >= 1");
                rope.factor = 1.0;
            }
        }
        // beta_fast / beta_slow: 0 or null take the defaults (Python's `or`), as transformers reads them.
        const double beta_fast = number({"beta_fast"}, 0.0, number_range::at_least(0.0));
        const double beta_slow = number({"beta_slow"}, 0.0, number_range::at_least(0.0));
        rope.beta_fast = beta_fast > 0.0 ? beta_fast : 32.0;
        rope.beta_slow = beta_slow > 0.0 ? beta_slow : 1.0;
        rope.mscale = number({"mscale"}, 0.0, number_range::at_least(0.0));
        rope.mscale_all_dim = number({"mscale_all_dim"}, 0.0, number_range::at_least(0.0));
        rope.attention_factor = number({"attention_factor"}, 0.0, number_range::above(0.0));
        rope.truncate = boolean("truncate", true);
        return rope;
    }

    // An int64 from an integer JSON value; nullopt for other types and unsigned values above INT64_MAX.
    static std::optional<std::int64_t> as_int64(const nlohmann::json& v) {
        if (v.is_number_unsigned()) {
            const auto u = v.get<std::uint64_t>();
            if (u > std::uint64_t(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
            return std::int64_t(u);
        }
        if (v.is_number_integer()) return v.get<std::int64_t>();
        return std::nullopt;
    }

    // A JSON value as an error message shows it: numbers and literals as written, strings quoted and capped,
    // arrays and objects by size (dumping them could be megabytes, or recurse deeply).
    static std::string describe(const nlohmann::json& v) {
        if (v.is_string()) return "\"" + excerpt(v.get_ref<const std::string&>()) + "\"";
        if (v.is_array()) return "an array of " + std::to_string(v.size()) + " entries";
        if (v.is_object()) return "an object of " + std::to_string(v.size()) + " keys";
        return excerpt(v.dump());
    }

    std::pair<std::string_view, const nlohmann::json*> first_present(std::initializer_list<std::string_view> keys) const {
        for (std::string_view key : keys) {
            if (auto it = json_.find(key); it != json_.end()) return {key, &*it};
        }
        return {std::string_view{}, nullptr};
    }
    void missing(std::initializer_list<std::string_view> keys, const std::string& expected) {
        std::string names;
        for (std::string_view k : keys) names += (names.empty() ? "" : " / ") + std::string(k);
        record(names + " is missing, the model type has " + expected);
    }
    void wrong_type(std::string_view key, std::string_view want, const nlohmann::json& got) {
        std::string what = describe(got);
        if (got.is_number_unsigned() && !as_int64(got)) what += " (beyond the int64 range)";
        record(std::string(key) + " is " + what + ", expected " + std::string(want));
    }

    // The problem with its leading field names ("a / b" before " is ") replaced by their source names, if any.
    std::string with_source_names(std::string problem) const {
        if (source_names_.empty()) return problem;
        const std::size_t end = problem.find(" is ");
        if (end == std::string::npos) return problem;
        std::string renamed;
        bool any = false;
        for (std::size_t begin = 0; begin <= end;) {
            std::size_t next = problem.find(" / ", begin);
            if (next == std::string::npos || next > end) next = end;
            const std::string field = problem.substr(begin, next - begin);
            for (const auto& [from, to] : source_names_) {
                // Only the named fields: the others are config.json spellings the source does not have.
                if (from == field) renamed += (renamed.empty() ? "" : " / ") + to, any = true;
            }
            begin = next + 3;
            if (next == end) break;
        }
        return any ? renamed + problem.substr(end) : problem;
    }

    nlohmann::json json_;
    std::string file_;
    std::vector<std::string> mismatches_;
    std::vector<std::pair<std::string, std::string>> source_names_;
};

}  // namespace moe
