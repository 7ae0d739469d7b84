// The ledger as JSON: written, dumped to text, parsed and read back equal; field names as documented.
#include <catch2/catch.hpp>

#include <string>

#include "moe/ledger.hpp"
#include "moe/models/families.hpp"

namespace {
constexpr moe::qwen3_moe_config small{.vocab_size = 10, .model_width = 8, .layers = 2, .heads = 2, .kv_heads = 1,
                                      .head_dim = 4, .expert_width = 6, .experts = 4, .top_k = 2,
                                      .weights = moe::weight_format::fp32};
}  // namespace

TEST_CASE("request_ledger: JSON round trip") {
    moe::ledger::tracker t(moe::ledger::cost_of<moe::qwen3_moe<small>>(), nullptr,
                           {.joules_per_flop = 1e-11, .joules_per_byte = 3e-10}, "test note");
    t.begin(moe::ledger::phase::prompt);
    t.forward(7, 0);
    t.begin(moe::ledger::phase::thinking);
    for (int i = 0; i < 5; ++i) t.forward(1, 7 + i);
    t.begin(moe::ledger::phase::answer);
    t.forward(1, 12);
    auto r = t.finish();
    r.answer.source = moe::ledger::energy_source::nvml;  // every label must survive
    r.answer.joules = 0.125;
    r.answer.seconds = 1.0 / 3.0;

    const nlohmann::json j = r;
    CHECK(j.at("model") == "qwen3_moe");
    CHECK(j.at("energy_note") == "test note");
    CHECK(j.at("phases").at("thinking").at("tokens") == 5);
    CHECK(j.at("phases").at("answer").at("energy_source") == "nvml");
    CHECK(j.at("phases").at("prompt").at("energy_source") == "estimate");
    CHECK(j.at("estimate_constants").at("joules_per_byte") == 3e-10);
    CHECK(j.at("total").at("tokens") == 13);
    CHECK(j.at("total").at("energy_source") == "estimate");  // mixed sources: the sum is not a measurement

    const auto back = nlohmann::json::parse(j.dump()).get<moe::ledger::request_ledger>();
    CHECK(back == r);
    CHECK(nlohmann::json(back) == j);

    nlohmann::json bad = j;
    bad["phases"]["answer"]["energy_source"] = "guess";
    CHECK_THROWS_AS(bad.get<moe::ledger::request_ledger>(), std::invalid_argument);
    bad.erase("phases");
    CHECK_THROWS(bad.get<moe::ledger::request_ledger>());
}
