// moe/text/json_access.hpp — typed reads from tokenizer.json that fail with the path of the bad field.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "moe/text/error.hpp"

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

}  // namespace moe::text::detail
