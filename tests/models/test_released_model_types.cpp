// The released checkpoints' types compile, and their parameter counts — computed from the type alone — match the
// totals their authors publish. Published figures are rounded to their last digit ("2.4 B"), so the bound is
// half of that digit plus 1% (0.06 B for "2.4 B", 0.6 B for "37 B"). A wrong number in moe/models/released.hpp shows up here.
// Active counts include the embedding and LM head, as the published "active" figures do.
#include <catch2/catch.hpp>

#include <cmath>

#include "moe/models/cpu.hpp"

namespace test_released_model_types {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {
// without_embedding: the publisher's active figure leaves out the embedding table (DeepSeek-V2-Lite's does).
template <class Model>
void check(double total_billions, double active_billions, bool without_embedding = false) {
    const double active = double(Model::active_parameters() - (without_embedding ? Model::V * Model::D : 0));
    INFO("total " << Model::parameters() / 1e9 << " B, active " << active / 1e9 << " B");
    const auto bound = [](double published) { return (published >= 30 ? 0.5 : 0.05) + 0.01 * published; };
    CHECK(std::abs(Model::parameters() / 1e9 - total_billions) <= bound(total_billions));
    CHECK(std::abs(active / 1e9 - active_billions) <= bound(active_billions));
}
}  // namespace

TEST_CASE("Mixtral-8x7B: 46.7 B parameters, 12.9 B active", "[models][released]") {
    check<moe::cpu::mixtral_8x7b>(46.7, 12.9);
}
TEST_CASE("Qwen3-30B-A3B: 30.5 B parameters, 3.3 B active", "[models][released]") {
    check<moe::cpu::qwen3_30b_a3b>(30.5, 3.3);
}
TEST_CASE("OLMoE-1B-7B: 6.9 B parameters, 1.3 B active", "[models][released]") {
    check<moe::cpu::olmoe_1b_7b>(6.9, 1.3);
}
TEST_CASE("Qwen1.5-MoE-A2.7B: 14.3 B parameters, 2.7 B active", "[models][released]") {
    check<moe::cpu::qwen1_5_moe_a2_7b>(14.3, 2.7);
}
TEST_CASE("DeepSeek-V2-Lite: 15.7 B parameters, 2.4 B active", "[models][released]") {
    check<moe::cpu::deepseek_v2_lite>(15.7, 2.4, /*without_embedding=*/true);
}
TEST_CASE("DeepSeek-V3: 671 B parameters, 37 B active", "[models][released]") {
    check<moe::cpu::deepseek_v3_671b>(671.0, 37.0);
}

}  // namespace test_released_model_types
