// The ledger as JSON: written, dumped to text, parsed and read back equal; field names as documented.
#include <catch2/catch.hpp>

#include <string>

#include "moe/ledger.hpp"
#include "moe/models/families.hpp"

namespace test_ledger_json {  // the file's own namespace: a test group is one translation unit (moe_test_group)

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

// A ledger file from elsewhere (issue 13): a missing field, a wrong type, an unknown label or an out-of-range number
// is a ledger_format_error naming the field — never a raw nlohmann::type_error / out_of_range.
TEST_CASE("request_ledger: malformed JSON fields are named") {
    moe::ledger::tracker t(moe::ledger::cost_of<moe::qwen3_moe<small>>(), nullptr, {}, "note");
    t.begin(moe::ledger::phase::prompt);
    t.forward(3, 0);
    const nlohmann::json good = t.finish();
    auto message = [](const nlohmann::json& j) -> std::string {
        try {
            (void)j.get<moe::ledger::request_ledger>();
        } catch (const moe::ledger::ledger_format_error& e) {
            return e.what();
        } catch (const std::exception& e) {
            return std::string("foreign: ") + e.what();
        }
        return "no exception";
    };
    nlohmann::json j = good;
    j["phases"]["answer"]["tokens"] = "three";
    CHECK(message(j) == "ledger JSON: 'phases.answer.tokens' is string, expected an integer");
    j = good;
    j["phases"]["thinking"].erase("joules");
    CHECK(message(j) == "ledger JSON: missing 'phases.thinking.joules'");
    j = good;
    j["parameters"] = 5;
    CHECK(message(j) == "ledger JSON: 'parameters' is number, expected an object");
    j = good;
    j["phases"]["prompt"]["calls"] = 18446744073709551615ull;
    CHECK(message(j).find("'phases.prompt.calls' = 18446744073709551615 is too large") != std::string::npos);
    j = good;
    j["phases"]["prompt"]["energy_source"] = std::string(1000, 'x');
    const std::string m = message(j);
    CHECK(m.find("'phases.prompt.energy_source' is 'xxx") != std::string::npos);
    CHECK(m.size() < 300);
    CHECK(message(nlohmann::json::array()) == "ledger JSON: '(top level)' is array, expected an object");
    CHECK(message(good) == "no exception");
}

}  // namespace test_ledger_json
