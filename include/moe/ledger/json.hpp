// moe/ledger/json.hpp — the ledger as JSON (nlohmann), both ways: nlohmann::json j = ledger; j.get<request_ledger>().
//
// {"model": "qwen3_moe", "parameters": {"total": …, "active": …},
//  "estimate_constants": {"joules_per_flop": …, "joules_per_byte": …}, "energy_note": "…",
//  "phases": {"prompt": {...}, "thinking": {...}, "answer": {...}}, "total": {...}}
// with each phase {"tokens", "calls", "flops", "bytes", "dense_flops", "dense_bytes", "seconds", "joules",
// "energy_source", "joules_estimate", "dense_joules_estimate", "dense_joules"}. "total" is written for readers and
// recomputed (not read) on the way back. Reading checks every field's presence and type and throws
// ledger_format_error naming it ("ledger JSON: 'phases.answer.tokens' is a string, expected an integer").
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

#include "moe/error.hpp"
#include "moe/excerpt.hpp"
#include "moe/ledger/ledger.hpp"

namespace moe::ledger {

// A ledger JSON document without a field the ledger needs, or with one of the wrong type or value.
class ledger_format_error : public error_with<std::invalid_argument> {
   public:
    using error_with::error_with;
};

namespace json_detail {

inline std::string joined(std::string_view path, std::string_view key) {
    return path.empty() ? std::string(key) : std::string(path) + "." + std::string(key);
}

// j[key] where j must be an object holding it; path names j in messages.
inline const nlohmann::json& member(const nlohmann::json& j, std::string_view path, std::string_view key) {
    if (!j.is_object()) {
        throw ledger_format_error("ledger JSON: '" + std::string(path.empty() ? "(top level)" : path) + "' is " +
                                  j.type_name() + ", expected an object");
    }
    const auto it = j.find(key);
    if (it == j.end()) throw ledger_format_error("ledger JSON: missing '" + joined(path, key) + "'");
    return *it;
}

template <class T>
void read(const nlohmann::json& j, std::string_view path, std::string_view key, T& out) {
    const nlohmann::json& v = member(j, path, key);
    auto wrong = [&](const char* expected) {
        return ledger_format_error("ledger JSON: '" + joined(path, key) + "' is " + v.type_name() + ", expected " + expected);
    };
    if constexpr (std::is_same_v<T, std::string>) {
        if (!v.is_string()) throw wrong("a string");
        out = v.get<std::string>();
    } else if constexpr (std::is_integral_v<T>) {
        if (!v.is_number_integer()) throw wrong("an integer");
        if (v.is_number_unsigned() && v.get<std::uint64_t>() > std::uint64_t(std::numeric_limits<T>::max()))
            throw ledger_format_error("ledger JSON: '" + joined(path, key) + "' = " + v.dump() + " is too large");
        out = v.get<T>();
    } else {
        if (!v.is_number()) throw wrong("a number");
        out = v.get<T>();
    }
}

inline void read_constants(const nlohmann::json& j, std::string_view path, estimate_constants& c) {
    read(j, path, "joules_per_flop", c.joules_per_flop);
    read(j, path, "joules_per_byte", c.joules_per_byte);
}

inline void read_phase(const nlohmann::json& j, std::string_view path, phase_entry& e) {
    read(j, path, "tokens", e.tokens);
    read(j, path, "calls", e.calls);
    read(j, path, "flops", e.cost.flops);
    read(j, path, "bytes", e.cost.bytes);
    read(j, path, "dense_flops", e.cost.dense_flops);
    read(j, path, "dense_bytes", e.cost.dense_bytes);
    read(j, path, "seconds", e.seconds);
    read(j, path, "joules", e.joules);
    std::string source;
    read(j, path, "energy_source", source);
    try {
        e.source = energy_source_from(source);
    } catch (const moe::invalid_argument&) {
        throw ledger_format_error("ledger JSON: '" + joined(path, "energy_source") + "' is '" + moe::excerpt(source) +
                                  "', expected rapl, amd_energy, nvml or estimate");
    }
    read(j, path, "joules_estimate", e.joules_estimate);
    read(j, path, "dense_joules_estimate", e.dense_joules_estimate);
    read(j, path, "dense_joules", e.dense_joules);
}

}  // namespace json_detail

inline void to_json(nlohmann::json& j, const estimate_constants& c) {
    j = {{"joules_per_flop", c.joules_per_flop}, {"joules_per_byte", c.joules_per_byte}};
}
inline void from_json(const nlohmann::json& j, estimate_constants& c) { json_detail::read_constants(j, "", c); }

inline void to_json(nlohmann::json& j, const phase_entry& e) {
    j = {{"tokens", e.tokens},
         {"calls", e.calls},
         {"flops", e.cost.flops},
         {"bytes", e.cost.bytes},
         {"dense_flops", e.cost.dense_flops},
         {"dense_bytes", e.cost.dense_bytes},
         {"seconds", e.seconds},
         {"joules", e.joules},
         {"energy_source", std::string(name_of(e.source))},
         {"joules_estimate", e.joules_estimate},
         {"dense_joules_estimate", e.dense_joules_estimate},
         {"dense_joules", e.dense_joules}};
}
inline void from_json(const nlohmann::json& j, phase_entry& e) { json_detail::read_phase(j, "", e); }

inline void to_json(nlohmann::json& j, const request_ledger& r) {
    nlohmann::json phases = nlohmann::json::object();
    for (phase p : all_phases) phases[std::string(name_of(p))] = r[p];
    j = {{"model", r.model},
         {"parameters", {{"total", r.parameters_total}, {"active", r.parameters_active}}},
         {"estimate_constants", r.constants},
         {"energy_note", r.energy_note},
         {"phases", phases},
         {"total", r.total()}};
}
inline void from_json(const nlohmann::json& j, request_ledger& r) {
    using namespace json_detail;
    read(j, "", "model", r.model);
    read(member(j, "", "parameters"), "parameters", "total", r.parameters_total);
    read(member(j, "", "parameters"), "parameters", "active", r.parameters_active);
    read_constants(member(j, "", "estimate_constants"), "estimate_constants", r.constants);
    read(j, "", "energy_note", r.energy_note);
    const nlohmann::json& phases = member(j, "", "phases");
    for (phase p : all_phases) {
        const std::string name(name_of(p));
        read_phase(member(phases, "phases", name), "phases." + name, r[p]);
    }
}

}  // namespace moe::ledger
