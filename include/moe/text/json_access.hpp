// moe/text/json_access.hpp — typed reads from tokenizer.json that fail with the path of the bad field.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "moe/excerpt.hpp"
#include "moe/text/error.hpp"
#include "moe/text/limits.hpp"

namespace moe::text::detail {

using json = nlohmann::json;

inline const json& field(const json& object, const char* key, std::string_view where) {
    if (!object.is_object() || !object.contains(key)) throw error_at(where, std::string("missing field '") + key + "'");
    return object.at(key);
}

inline std::string string_field(const json& object, const char* key, std::string_view where) {
    const json& v = field(object, key, where);
    if (!v.is_string()) throw error_at(where, std::string("field '") + key + "' must be a string");
    return v.get<std::string>();
}

// An optional field with a default (absent or null gives the default).
template <class T>
T optional_field(const json& object, const char* key, T fallback, std::string_view where) {
    if (!object.is_object() || !object.contains(key) || object.at(key).is_null()) return fallback;
    if constexpr (std::is_unsigned_v<T> && !std::is_same_v<T, bool>) {  // nlohmann would wrap -1 to 2^64 - 1
        const json& v = object.at(key);
        if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<std::int64_t>() >= 0))
            throw error_at(where, std::string("field '") + key + "' must be a non-negative integer");
    }
    try {
        return object.at(key).get<T>();
    } catch (const json::exception&) {
        throw error_at(where, std::string("field '") + key + "' has the wrong type");
    }
}

inline std::string type_of(const json& object, std::string_view where) { return string_field(object, "type", where); }

// A {"String": "..."} or {"Regex": "..."} pattern.
struct pattern_spec {
    std::string text;
    bool is_regex;
};

inline pattern_spec pattern_field(const json& object, std::string_view where) {
    const json& p = field(object, "pattern", where);
    if (p.is_object() && p.contains("String") && p.at("String").is_string()) return {p.at("String").get<std::string>(), false};
    if (p.is_object() && p.contains("Regex") && p.at("Regex").is_string()) return {p.at("Regex").get<std::string>(), true};
    throw error_at(where, "pattern must be {\"String\": ...} or {\"Regex\": ...}");
}

// Parses JSON text after checking its nesting depth: nlohmann's parser is iterative, but copying a value and our
// walks of it recurse once per level, so a file of 100,000 '[' must fail here rather than overflow the stack.
inline json parse_json(std::string_view text, std::string_view where) {
    std::size_t depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\') ++i;
            else if (c == '"') in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > tokenizer_limits::max_json_depth)
                throw error_at(where, "JSON nested deeper than " + std::to_string(tokenizer_limits::max_json_depth) +
                                          " levels (at byte " + std::to_string(i) + ")");
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    try {
        return json::parse(text);
    } catch (const json::exception& e) {  // the message quotes the bytes it stopped at: cap them
        throw error_at(where, "invalid JSON: " + excerpt(e.what(), 200));
    }
}

// A Sequence one level deeper than `depth`; refused past the cap (each level recurses in the loader and the
// message path grows, so depth must stay small).
inline std::size_t nested(std::size_t depth, std::string_view where) {
    if (depth + 1 > tokenizer_limits::max_sequence_depth)
        throw error_at(where, "Sequence nested deeper than " + std::to_string(tokenizer_limits::max_sequence_depth) +
                                  " levels");
    return depth + 1;
}

// A token id: an integer in 0..max_id (ids are int32 everywhere after loading; a larger one must not wrap around
// onto another token). `token` is the token's text, quoted capped in the message.
inline std::int32_t token_id(const json& value, std::string_view token, std::string_view where) {
    const auto bad = [&](const std::string& shown) {
        return error_at(where, "token '" + excerpt(token, 64) + "' has id " + shown + ", not an integer in 0.." +
                                   std::to_string(tokenizer_limits::max_id));
    };
    if (value.is_number_unsigned()) {
        const auto id = value.get<std::uint64_t>();
        if (id > static_cast<std::uint64_t>(tokenizer_limits::max_id)) throw bad(std::to_string(id));
        return static_cast<std::int32_t>(id);
    }
    if (value.is_number_integer()) {
        const auto id = value.get<std::int64_t>();
        if (id < 0 || id > tokenizer_limits::max_id) throw bad(std::to_string(id));
        return static_cast<std::int32_t>(id);
    }
    throw bad(std::string("of type ") + value.type_name());
}

// The id space must be dense (see tokenizer_limits::id_slack); `count` tokens with largest id `max_id`.
inline void check_id_density(std::int64_t max_id, std::size_t count, std::string_view where) {
    const std::int64_t bound = 2 * static_cast<std::int64_t>(count) + tokenizer_limits::id_slack;
    if (max_id >= bound)
        throw error_at(where, "largest token id " + std::to_string(max_id) + " is far above the " +
                                  std::to_string(count) + " tokens (ids must stay below 2 * tokens + " +
                                  std::to_string(tokenizer_limits::id_slack) + " = " + std::to_string(bound) + ")");
}

}  // namespace moe::text::detail
