// moe/serving/batch_meter.hpp — the energy ledgers of requests that share forward calls.
//
// One forward call of a running batch serves several requests (moe/serving/scheduler.hpp). Each step of the call —
// some tokens of one sequence of one request — goes to that request's tracker, in the phase its tokens are in:
//   tokens, calls  its own (a request with three branches in one call counts one call per branch)
//   FLOPs          its own: model_cost::forward of the step alone (matmuls per token, attention over its context)
//   bytes          its own KV-cache and embedding traffic, plus the call's weight bytes — read once for every
//                  sequence of the call — times its share of the call's tokens
//   time, joules   the call's (wall clock; the energy meter read before and after), times its share of the
//                  call's estimated joules (from the FLOPs and bytes above)
// so the shares of one call add up to the call: no request is charged the weights another one also read.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "moe/ledger/cost.hpp"
#include "moe/ledger/energy.hpp"
#include "moe/ledger/ledger.hpp"

namespace moe::serving {

class batch_meter {
   public:
    // One step of a forward call, as its request's ledger sees it.
    struct share {
        ledger::tracker* tracker = nullptr;  // the request's
        ledger::phase phase = ledger::phase::prompt;
        std::int64_t tokens = 0;      // tokens the step feeds
        std::int64_t context = 0;     // positions already in its sequence
        std::int64_t logit_rows = 1;  // rows of logits it asks for
    };

    // meter: not owned, may be null (estimates only); the requests' trackers must have been made with the same one.
    batch_meter(ledger::model_cost cost, ledger::energy_meter* meter, ledger::estimate_constants constants = {})
        : cost_(std::move(cost)), meter_(meter), constants_(constants) {}

    // Runs `forward` (one call serving every share), timing and metering it, then charges each share's tracker.
    template <class Forward>
    void measure(std::span<const share> shares, Forward&& forward) {
        const auto start = std::chrono::steady_clock::now();
        const std::optional<double> before = meter_ ? meter_->joules() : std::nullopt;
        std::forward<Forward>(forward)();
        const std::optional<double> after = meter_ ? meter_->joules() : std::nullopt;
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const std::optional<double> joules =
            before && after && *after >= *before ? std::optional<double>(*after - *before) : std::nullopt;
        charge(shares, seconds, joules);
    }

    // The accounting of measure(), for a call already timed (and tested on its own).
    void charge(std::span<const share> shares, double seconds, std::optional<double> joules) const {
        std::int64_t call_tokens = 0;
        for (const share& s : shares) call_tokens += s.tokens;
        if (call_tokens <= 0) return;
        const double weights = cost_.weight_bytes(call_tokens), dense_weights = cost_.dense_weight_bytes();
        std::vector<ledger::call_cost> costs;
        std::vector<double> estimate;
        double estimate_sum = 0;
        for (const share& s : shares) {
            ledger::call_cost c = cost_.forward(s.tokens, s.context, s.logit_rows);
            const double part = double(s.tokens) / double(call_tokens);
            c.bytes = c.bytes - cost_.weight_bytes(s.tokens) + part * weights;
            c.dense_bytes = c.dense_bytes - dense_weights + part * dense_weights;
            costs.push_back(c);
            estimate.push_back(constants_.joules(c.flops, c.bytes));
            estimate_sum += estimate.back();
        }
        for (std::size_t i = 0; i < shares.size(); ++i) {
            const double part = estimate_sum > 0 ? estimate[i] / estimate_sum : 1.0 / double(shares.size());
            shares[i].tracker->add_share(shares[i].phase, shares[i].tokens, costs[i], seconds * part,
                                         joules ? std::optional<double>(*joules * part) : std::nullopt);
        }
    }

    const ledger::model_cost& cost() const { return cost_; }
    ledger::energy_meter* meter() const { return meter_; }
    const ledger::estimate_constants& constants() const { return constants_; }

   private:
    ledger::model_cost cost_;
    ledger::energy_meter* meter_ = nullptr;
    ledger::estimate_constants constants_;
};

}  // namespace moe::serving
