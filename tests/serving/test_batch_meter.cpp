// moe/serving/batch_meter.hpp: the shares of one forward call add up to the call — FLOPs each step's own, the
// weights counted once, time and measured joules split by estimated joules — checked against model_cost::forward
// computed here by hand.
#include <catch2/catch.hpp>

#include <optional>
#include <vector>

#include "moe/ledger/cost.hpp"
#include "moe/ledger/ledger.hpp"
#include "moe/models/cpu.hpp"
#include "moe/serving/batch_meter.hpp"

namespace test_batch_meter {

namespace {

// A meter whose reading the test sets.
class fixed_meter final : public moe::ledger::energy_meter {
   public:
    moe::ledger::energy_source source() const override { return moe::ledger::energy_source::rapl; }
    std::optional<double> joules() override { return reading; }
    std::string description() const override { return "test meter"; }
    double reading = 0;
};

}  // namespace

TEST_CASE("batch meter: shares add up to the call, weights counted once", "[serving]") {
    const auto cost = moe::ledger::cost_of<moe::cpu::tiny_reasoner>();
    fixed_meter meter;
    moe::serving::batch_meter batch(cost, &meter);
    moe::ledger::tracker a(cost, &meter), b(cost, &meter);
    using moe::ledger::phase;
    // Request a: one branch thinking at context 40; request b: two branches answering at contexts 10 and 70.
    const std::vector<moe::serving::batch_meter::share> shares{
        {&a, phase::thinking, 1, 40, 1}, {&b, phase::answer, 1, 10, 1}, {&b, phase::answer, 1, 70, 1}};
    batch.charge(shares, /*seconds=*/0.3, /*joules=*/6.0);
    const auto la = a.finish(), lb = b.finish();

    // FLOPs: each step's own, exactly.
    CHECK(la.thinking.cost.flops == cost.forward(1, 40).flops);
    CHECK(lb.answer.cost.flops == cost.forward(1, 10).flops + cost.forward(1, 70).flops);
    // Bytes: own KV/embedding traffic + the weights of a 3-token call, once for all three.
    const auto own = [&](std::int64_t context) { return cost.forward(1, context).bytes - cost.weight_bytes(1); };
    const double total_bytes = la.thinking.cost.bytes + lb.answer.cost.bytes;
    CHECK(total_bytes == Approx(own(40) + own(10) + own(70) + cost.weight_bytes(3)).epsilon(1e-12));
    CHECK(la.thinking.cost.bytes == Approx(own(40) + cost.weight_bytes(3) / 3).epsilon(1e-12));
    // Time and joules: the whole call, split; measured by the meter.
    CHECK(la.thinking.seconds + lb.answer.seconds == Approx(0.3).epsilon(1e-12));
    CHECK(la.thinking.joules + lb.answer.joules == Approx(6.0).epsilon(1e-12));
    CHECK(la.thinking.source == moe::ledger::energy_source::rapl);
    // b has two of the three tokens and the longer contexts: more than a's share, less than all.
    CHECK(lb.answer.joules > la.thinking.joules);
    CHECK(la.thinking.tokens == 1);
    CHECK(lb.answer.tokens == 2);
    CHECK(lb.answer.calls == 2);
}

TEST_CASE("batch meter: an unmeasured call leaves the estimate", "[serving]") {
    const auto cost = moe::ledger::cost_of<moe::cpu::tiny_reasoner>();
    moe::serving::batch_meter batch(cost, nullptr);
    moe::ledger::tracker t(cost);
    const moe::serving::batch_meter::share s{&t, moe::ledger::phase::prompt, 19, 0, 1};
    batch.charge(std::span(&s, 1), 0.01, std::nullopt);
    const auto l = t.finish();
    // Alone in its call, a share costs what model_cost::forward says.
    CHECK(l.prompt.cost == cost.forward(19, 0));
    CHECK(l.prompt.joules == Approx(l.prompt.joules_estimate));
    CHECK(l.prompt.source == moe::ledger::energy_source::estimate);
}

}  // namespace test_batch_meter
