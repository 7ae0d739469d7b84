// moe/ledger/json.hpp — the ledger as JSON (nlohmann), both ways: nlohmann::json j = ledger; j.get<request_ledger>().
//
// {"model": "qwen3_moe", "parameters": {"total": …, "active": …},
//  "estimate_constants": {"joules_per_flop": …, "joules_per_byte": …}, "energy_note": "…",
//  "phases": {"prompt": {...}, "thinking": {...}, "answer": {...}}, "total": {...}}
// with each phase {"tokens", "calls", "flops", "bytes", "dense_flops", "dense_bytes", "seconds", "joules",
// "energy_source", "joules_estimate", "dense_joules_estimate", "dense_joules"}. "total" is written for readers and
// recomputed (not read) on the way back.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "moe/ledger/ledger.hpp"

namespace moe::ledger {

inline void to_json(nlohmann::json& j, const estimate_constants& c) {
    j = {{"joules_per_flop", c.joules_per_flop}, {"joules_per_byte", c.joules_per_byte}};
}
inline void from_json(const nlohmann::json& j, estimate_constants& c) {
    j.at("joules_per_flop").get_to(c.joules_per_flop);
    j.at("joules_per_byte").get_to(c.joules_per_byte);
}

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
inline void from_json(const nlohmann::json& j, phase_entry& e) {
    j.at("tokens").get_to(e.tokens);
    j.at("calls").get_to(e.calls);
    j.at("flops").get_to(e.cost.flops);
    j.at("bytes").get_to(e.cost.bytes);
    j.at("dense_flops").get_to(e.cost.dense_flops);
    j.at("dense_bytes").get_to(e.cost.dense_bytes);
    j.at("seconds").get_to(e.seconds);
    j.at("joules").get_to(e.joules);
    e.source = energy_source_from(j.at("energy_source").get<std::string>());
    j.at("joules_estimate").get_to(e.joules_estimate);
    j.at("dense_joules_estimate").get_to(e.dense_joules_estimate);
    j.at("dense_joules").get_to(e.dense_joules);
}

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
    j.at("model").get_to(r.model);
    j.at("parameters").at("total").get_to(r.parameters_total);
    j.at("parameters").at("active").get_to(r.parameters_active);
    j.at("estimate_constants").get_to(r.constants);
    j.at("energy_note").get_to(r.energy_note);
    for (phase p : all_phases) j.at("phases").at(std::string(name_of(p))).get_to(r[p]);
}

}  // namespace moe::ledger
