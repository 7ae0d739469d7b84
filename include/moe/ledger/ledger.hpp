// moe/ledger/ledger.hpp — the energy ledger of one request: per phase (prompt, thinking, answer) the tokens, FLOPs,
// bytes moved, wall time and joules, and what a dense model with the same total parameters would have spent.
//
//   auto opened = moe::ledger::open_meter();                       // RAPL / amd_energy / NVML, or none
//   moe::ledger::tracker t(moe::ledger::cost_of<Model>(), opened.meter.get(), {}, opened.note);
//   t.begin(moe::ledger::phase::prompt);   t.forward(prompt.size(), 0);            // prefill
//   t.begin(moe::ledger::phase::thinking); t.forward(1, context); ...              // one call per token
//   t.begin(moe::ledger::phase::answer);   t.forward(1, context); ...
//   moe::ledger::request_ledger r = t.finish();                    // r.total(), nlohmann::json(r)
//
// Time and measured energy are attributed to the phase open between two begin()/finish() calls; FLOPs and bytes to
// the phase open when forward() is called. Without a meter (or when a read fails) a phase's joules are the estimate
// from its FLOPs and bytes, and its source says "estimate".
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "moe/error.hpp"
#include "moe/ledger/cost.hpp"
#include "moe/ledger/energy.hpp"

namespace moe::ledger {

enum class phase { prompt, thinking, answer };
inline constexpr std::array<phase, 3> all_phases{phase::prompt, phase::thinking, phase::answer};

constexpr std::string_view name_of(phase p) {
    switch (p) {
        case phase::prompt: return "prompt";
        case phase::thinking: return "thinking";
        case phase::answer: return "answer";
    }
    return "?";
}

struct phase_entry {
    std::int64_t tokens = 0;  // tokens fed through the model in this phase
    std::int64_t calls = 0;   // forward calls
    call_cost cost;           // FLOPs and bytes, MoE and dense-equivalent
    double seconds = 0;       // wall time
    double joules = 0;        // measured when source is a meter, else joules_estimate
    energy_source source = energy_source::estimate;
    double joules_estimate = 0;  // from cost.flops and cost.bytes with the ledger's constants, always filled in
    // The dense model of the same total parameters: its estimate, and the measurement scaled by the estimated
    // dense/MoE ratio when joules were measured (equal to dense_joules_estimate otherwise).
    double dense_joules_estimate = 0;
    double dense_joules = 0;

    friend bool operator==(const phase_entry&, const phase_entry&) = default;
};

// Adds e into to (several requests or phases summed). The sum's energy source stays a meter's only while every
// entry with time or calls in it was measured by that same meter; otherwise it is the estimate.
inline phase_entry& operator+=(phase_entry& to, const phase_entry& e) {
    const bool was_empty = to.calls == 0 && to.seconds == 0;
    to.tokens += e.tokens;
    to.calls += e.calls;
    to.cost += e.cost;
    to.seconds += e.seconds;
    to.joules += e.joules;
    to.joules_estimate += e.joules_estimate;
    to.dense_joules_estimate += e.dense_joules_estimate;
    to.dense_joules += e.dense_joules;
    if (e.calls == 0 && e.seconds == 0) return to;
    if (was_empty) to.source = e.source;
    else if (to.source != e.source) to.source = energy_source::estimate;
    return to;
}

struct request_ledger {
    std::string model;  // family name of the model type
    std::int64_t parameters_total = 0;
    std::int64_t parameters_active = 0;
    estimate_constants constants;
    std::string energy_note;  // the meter used, or why none could be read
    phase_entry prompt, thinking, answer;

    phase_entry& operator[](phase p) { return p == phase::prompt ? prompt : p == phase::thinking ? thinking : answer; }
    const phase_entry& operator[](phase p) const {
        return p == phase::prompt ? prompt : p == phase::thinking ? thinking : answer;
    }

    // Sum of the phases; its source is a meter's only when every phase with time in it was measured by it.
    phase_entry total() const {
        phase_entry t;
        for (phase p : all_phases) t += (*this)[p];
        return t;
    }

    friend bool operator==(const request_ledger&, const request_ledger&) = default;
};

class tracker {
   public:
    using clock = std::chrono::steady_clock;

    // meter: not owned, may be null (estimate only). note: goes to request_ledger::energy_note.
    explicit tracker(model_cost cost, energy_meter* meter = nullptr, estimate_constants constants = {},
                     std::string note = {})
        : cost_(std::move(cost)), meter_(meter) {
        ledger_.model = cost_.family;
        ledger_.parameters_total = cost_.parameters_total;
        ledger_.parameters_active = cost_.parameters_active;
        ledger_.constants = constants;
        ledger_.energy_note = note.empty() && !meter ? "no energy meter: estimate" : std::move(note);
    }

    // Closes the open phase (its time and measured energy) and opens p. A phase may be opened again later (e.g.
    // answer → thinking); its numbers add up.
    void begin(phase p) {
        close();
        open_ = p;
        started_ = clock::now();
        start_joules_ = meter_ ? meter_->joules() : std::nullopt;
    }

    // Counts one forward call of `tokens` new tokens after `context` cached positions in the open phase.
    void forward(std::int64_t tokens, std::int64_t context, std::int64_t logit_rows = 1) {
        if (!open_) throw moe::logic_error("moe::ledger::tracker::forward: call begin(phase) first");
        phase_entry& e = ledger_[*open_];
        e.tokens += tokens;
        e.calls += 1;
        e.cost += cost_.forward(tokens, context, logit_rows);
    }

    // Adds a share of one forward call that ran for several requests at once (moe/serving/batch_meter.hpp) to phase p:
    // its tokens, its part of the call's cost, time and — when the call was measured by this tracker's meter — joules.
    // Independent of begin(); do not mix the two on one tracker.
    void add_share(phase p, std::int64_t tokens, const call_cost& cost, double seconds, std::optional<double> joules) {
        if (joules && !meter_) throw moe::logic_error("moe::ledger::tracker::add_share: measured joules without a meter");
        phase_entry& e = ledger_[p];
        e.tokens += tokens;
        e.calls += 1;
        e.cost += cost;
        e.seconds += seconds;
        if (!seen_[index(p)]) {
            e.source = joules ? meter_->source() : energy_source::estimate;
            seen_[index(p)] = true;
        } else if (!joules) {
            e.source = energy_source::estimate;
        }
        if (joules) measured_[index(p)] += *joules;
    }

    // Closes the open phase and returns the ledger (the tracker can be used again afterwards: it starts empty).
    request_ledger finish() {
        close();
        for (phase p : all_phases) {
            phase_entry& e = ledger_[p];
            e.joules_estimate = ledger_.constants.joules(e.cost.flops, e.cost.bytes);
            e.dense_joules_estimate = ledger_.constants.joules(e.cost.dense_flops, e.cost.dense_bytes);
            if (e.source == energy_source::estimate) {
                e.joules = e.joules_estimate;
                e.dense_joules = e.dense_joules_estimate;
            } else {
                e.joules = measured_[index(p)];
                e.dense_joules = e.joules_estimate > 0 ? e.joules * e.dense_joules_estimate / e.joules_estimate
                                                       : e.dense_joules_estimate;
            }
        }
        request_ledger out = std::move(ledger_);
        ledger_ = request_ledger{};
        ledger_.model = out.model;
        ledger_.parameters_total = out.parameters_total;
        ledger_.parameters_active = out.parameters_active;
        ledger_.constants = out.constants;
        ledger_.energy_note = out.energy_note;
        measured_ = {};
        seen_ = {};
        return out;
    }

    const model_cost& cost() const { return cost_; }

   private:
    static std::size_t index(phase p) { return static_cast<std::size_t>(p); }

    void close() {
        if (!open_) return;
        const phase p = *open_;
        phase_entry& e = ledger_[p];
        e.seconds += std::chrono::duration<double>(clock::now() - started_).count();
        const std::optional<double> end = meter_ ? meter_->joules() : std::nullopt;
        // A phase is measured only if every one of its intervals was; one failed read makes it an estimate.
        const bool ok = start_joules_ && end && *end >= *start_joules_;
        if (!seen_[index(p)]) {
            e.source = ok ? meter_->source() : energy_source::estimate;
            seen_[index(p)] = true;
        } else if (!ok) {
            e.source = energy_source::estimate;
        }
        if (ok) measured_[index(p)] += *end - *start_joules_;
        open_.reset();
    }

    model_cost cost_;
    energy_meter* meter_ = nullptr;
    request_ledger ledger_;
    std::optional<phase> open_;
    clock::time_point started_{};
    std::optional<double> start_joules_;
    std::array<double, 3> measured_{};
    std::array<bool, 3> seen_{};
};

}  // namespace moe::ledger
