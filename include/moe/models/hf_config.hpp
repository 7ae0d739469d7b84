// moe/models/hf_config.hpp — a checkpoint's config.json, checked against the model type that will hold it.
//
// Every field the type fixes at compile time is compared, and all mismatches are reported together in one
// config_error ("config.json: num_experts is 64, the model type has 8; num_experts_per_tok is 6, ...").
// Run-time fields (rope, norm epsilon, context length, routed scaling factor) are read from it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/config/attention_config.hpp"
#include "moe/error.hpp"
#include "moe/runtime/regular_file.hpp"

namespace moe {

// config.json is missing, malformed, or does not describe the model type it is loaded into.
class config_error : public error_with<std::runtime_error> {
   public:
    using error_with::error_with;
};

class hf_config {
   public:
    // Reads and parses `path` (a config.json). Throws config_error naming the file on I/O or JSON errors.
    explicit hf_config(const std::filesystem::path& path) : file_(path.string()) {
        std::string text;  // only a regular file is read: a FIFO, device or directory is refused, never blocks
        if (auto problem = detail::read_regular_file(path, text); !problem.empty()) {
            throw config_error(file_ + ": " + problem);
        }
        try {
            json_ = nlohmann::json::parse(text);
        } catch (const nlohmann::json::exception& e) {
            throw config_error(file_ + ": malformed JSON (" + e.what() + ")");
        }
        if (!json_.is_object()) throw config_error(file_ + ": expected a JSON object at the top level");
    }

    // From an already-parsed object (tests, in-memory configs).
    hf_config(nlohmann::json json, std::string file) : json_(std::move(json)), file_(std::move(file)) {}

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
        } else if (value->is_number_integer() || value->is_number_unsigned()) {
            actual = value->get<std::int64_t>();
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
            record(std::string(key) + " is \"" + actual + "\", the model type has \"" +
                                  std::string(expected) + "\"");
        }
    }

    // A list field that must be empty or absent (e.g. mlp_only_layers, which the family types do not model).
    void expect_empty_list(std::string_view key, std::string_view why) {
        const auto it = json_.find(key);
        if (it == json_.end() || it->is_null() || (it->is_array() && it->empty())) return;
        record(std::string(key) + " is " + it->dump() + ", the model type supports only [] (" +
                              std::string(why) + ")");
    }

    // Throws one config_error listing every mismatch recorded so far.
    void throw_if_mismatched() const {
        if (mismatches_.empty()) return;
        std::string message = file_ + ": ";
        for (std::size_t i = 0; i < mismatches_.size(); ++i) message += (i ? "; " : "") + mismatches_[i];
        throw config_error(message);
    }
    const std::vector<std::string>& mismatches() const { return mismatches_; }

   private:
    // Several layers check the same fields; each mismatch is reported once.
    void record(std::string mismatch) {
        for (const auto& m : mismatches_)
            if (m == mismatch) return;
        mismatches_.push_back(std::move(mismatch));
    }

   public:

    // ---- run-time fields ----

    double number(std::initializer_list<std::string_view> keys, double fallback) const {
        const auto [key, value] = first_present(keys);
        if (value == nullptr || value->is_null()) return fallback;
        if (!value->is_number()) {
            throw config_error(file_ + ": " + std::string(key) + " must be a number, got " + value->dump());
        }
        return value->get<double>();
    }

    std::int64_t integer(std::initializer_list<std::string_view> keys, std::int64_t fallback) const {
        const auto [key, value] = first_present(keys);
        if (value == nullptr || value->is_null()) return fallback;
        if (!value->is_number_integer() && !value->is_number_unsigned()) {
            throw config_error(file_ + ": " + std::string(key) + " must be an integer, got " + value->dump());
        }
        return value->get<std::int64_t>();
    }

    // RoPE settings: transformers 5 writes `rope_parameters` {rope_type, rope_theta, factor, ...}; older files have
    // `rope_theta` and `rope_scaling` {type | rope_type, factor, ...}. Both are read.
    rope_parameters rope(double default_theta = 10000.0) const {
        rope_parameters rope;
        rope.theta = number({"rope_theta"}, default_theta);
        const nlohmann::json* scaling = nullptr;
        if (auto it = json_.find("rope_parameters"); it != json_.end() && it->is_object()) scaling = &*it;
        if (auto it = json_.find("rope_scaling"); scaling == nullptr && it != json_.end() && it->is_object()) {
            scaling = &*it;
        }
        if (scaling == nullptr) return rope;
        const hf_config part(*scaling, file_ + " (rope parameters)");
        rope.theta = part.number({"rope_theta"}, rope.theta);
        std::string type = "default";
        for (const char* key : {"rope_type", "type"}) {
            if (auto it = scaling->find(key); it != scaling->end() && it->is_string()) {
                type = it->get<std::string>();
                break;
            }
        }
        if (type == "default") return rope;
        if (type != "yarn") {
            throw config_error(file_ + ": rope type \"" + type + "\" is not supported (supported: default, yarn)");
        }
        rope.type = rope_type::yarn;
        rope.factor = part.number({"factor"}, 1.0);
        rope.original_max_position_embeddings = part.integer(
            {"original_max_position_embeddings"}, integer({"original_max_position_embeddings"}, 0));
        rope.beta_fast = part.number({"beta_fast"}, 32.0);
        rope.beta_slow = part.number({"beta_slow"}, 1.0);
        rope.mscale = part.number({"mscale"}, 0.0);
        rope.mscale_all_dim = part.number({"mscale_all_dim"}, 0.0);
        rope.attention_factor = part.number({"attention_factor"}, 0.0);
        if (auto it = scaling->find("truncate"); it != scaling->end() && it->is_boolean()) rope.truncate = it->get<bool>();
        return rope;
    }

   private:
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
        record(std::string(key) + " is " + got.dump() + ", expected " + std::string(want));
    }

    nlohmann::json json_;
    std::string file_;
    std::vector<std::string> mismatches_;
};

}  // namespace moe
