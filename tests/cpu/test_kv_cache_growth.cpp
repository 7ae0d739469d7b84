// KV caches grow on demand (cpu/attention/kv_cache.hpp): a 1M-position capacity holds nothing until used, rows are
// added geometrically up to the capacity, rows already written survive each growth, and a shared prompt keeps
// working across a branch's growth — the logits of a branch grown past several reallocations match transformers'
// (tiny reasoner, reference.safetensors, 1e-4 · max |logit|).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

#include "moe/cpu/attention/kv_cache.hpp"
#include "moe/io.hpp"
#include "moe/models.hpp"
#include "moe/models/tiny_reasoner.hpp"

namespace test_kv_cache_growth {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

// The value written into key column c of position p (values: its negative), so every row is recognisable.
float key_value(std::int64_t p, std::int64_t c) { return float(p * 100 + c); }

}  // namespace

TEST_CASE("kv_cache: nothing allocated up front, doubling growth capped by the capacity, rows kept", "[cache]") {
    constexpr std::int64_t width = 8;
    moe::cpu::kv_cache cache(std::int64_t{1} << 20, width);
    CHECK(cache.bytes_allocated() == 0);
    std::vector<std::int64_t> allocated_rows;
    for (std::int64_t p = 0; p < 70; ++p) {
        cache.require_room(1);
        const auto k = cache.keys(p, 1);
        const auto v = cache.values(p, 1);
        for (std::int64_t c = 0; c < width; ++c) {
            k(0, c) = key_value(p, c);
            v(0, c) = -key_value(p, c);
        }
        cache.commit(1);
        allocated_rows.push_back(cache.bytes_allocated() / cache.bytes_per_token());
        // Every position written so far, compared with the formula (not with an earlier read).
        const auto keys = cache.keys();
        const auto values = cache.values();
        REQUIRE(keys.rows == p + 1);
        bool all_match = true;
        for (std::int64_t q = 0; q <= p; ++q)
            for (std::int64_t c = 0; c < width; ++c)
                all_match = all_match && keys(q, c) == key_value(q, c) && values(q, c) == -key_value(q, c);
        REQUIRE(all_match);
    }
    // 16 rows first (cache_rows::min_growth), then doubling: at most twice what is used.
    CHECK(allocated_rows[0] == 16);
    CHECK(allocated_rows[15] == 16);
    CHECK(allocated_rows[16] == 32);
    CHECK(allocated_rows[32] == 64);
    CHECK(allocated_rows[69] == 128);

    // Capped: a capacity of 20 never holds more than 20 rows.
    moe::cpu::kv_cache small(20, width);
    small.require_room(17);
    CHECK(small.bytes_allocated() == 17 * small.bytes_per_token());  // max(17, 2 × 0, 16)
    small.commit(17);
    small.require_room(1);
    CHECK(small.bytes_allocated() == 20 * small.bytes_per_token());  // 2 × 17, capped at 20
    CHECK_THROWS_AS(small.require_room(4), moe::cpu::kv_cache_full);
    // Rows not yet allocated cannot be written (a caller that skipped require_room).
    moe::cpu::kv_cache fresh(100, width);
    CHECK_THROWS_AS(fresh.keys(0, 1), std::logic_error);
}

TEST_CASE("latent_cache grows the same way", "[cache]") {
    moe::cpu::latent_cache cache(std::int64_t{1} << 20, 6, 2);
    CHECK(cache.bytes_allocated() == 0);
    cache.require_room(40);
    CHECK(cache.bytes_allocated() == 40 * cache.bytes_per_token());  // max(needed, 2 × 0, 16)
    auto rows = cache.rows(0, 40);
    for (std::int64_t p = 0; p < 40; ++p) rows(p, 7) = float(p);
    cache.commit(40);
    cache.require_room(1);
    CHECK(cache.bytes_allocated() == 80 * cache.bytes_per_token());
    const auto kept = cache.rows();
    for (std::int64_t p = 0; p < 40; ++p) CHECK(kept(p, 7) == float(p));
}

TEST_CASE("a branch of a shared prompt grows past reallocations and matches transformers", "[cache]") {
    using model_type = moe::cpu::tiny_reasoner;
    constexpr std::int64_t V = model_type::V;
    auto model = moe::load_model<model_type>(MOE_TINY_REASONER_DIR);
    const moe::io::safetensors_file ref(std::string(MOE_TINY_REASONER_DIR) + "/reference.safetensors");
    const auto ids = moe::io::read_integers(ref.require("tokens"));
    const std::vector<std::int32_t> tokens(ids.begin(), ids.end());  // 33 tokens
    const auto expected = moe::io::copy_matrix<float>(ref.require("logits"));  // (33, V) transformers' logits
    REQUIRE(expected.rows() == std::int64_t(tokens.size()));
    moe::cpu::thread_pool pool(2);
    double bound = 0;
    for (float f : expected.view().span()) bound = std::max(bound, 1e-4 * std::abs(double(f)));

    // Prompt of 5 shared; the branch appends 28 positions one by one (own rows 16 → 32), at full context capacity.
    constexpr std::int64_t P = 5;
    auto root = model.new_sequence(P);
    moe::host_matrix<float> logits(P, V);
    model.forward(std::span<const std::int32_t>(tokens.data(), P), root, logits.view(), pool);
    const auto shared = model_type::share(std::move(root));
    auto branch = model.new_sequence(model.max_positions(), shared);
    CHECK(branch.cache_bytes() == 0);
    double worst = 0;
    for (std::int64_t i = P; i < std::int64_t(tokens.size()); ++i) {
        moe::host_matrix<float> step(1, V);
        model.forward(std::span<const std::int32_t>(&tokens[std::size_t(i)], 1), branch, step.view(), pool);
        for (std::int64_t c = 0; c < V; ++c) worst = std::max(worst, double(std::abs(step(0, c) - expected(i, c))));
    }
    INFO("max |logit − transformers| = " << worst << ", bound " << bound);
    CHECK(worst <= bound);
    // 28 own positions: 32 rows held per layer, not the 123 the capacity allows.
    CHECK(branch.cache_bytes() == 32 * model.cache_bytes_per_position());
    CHECK(shared->cache_bytes() == P * model.cache_bytes_per_position());
}

}  // namespace test_kv_cache_growth
