// The up-front KV-cache budget check (decoding/memory_budget.hpp): bytes per position of a real checkpoint against
// the formula from its config (layers × 2 × kv_heads × head_dim × 4 bytes), the total for branches sharing a prompt,
// the refusal message, MemAvailable parsing, and a model whose request fits passing the check.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include <unistd.h>

#include "moe/decoding.hpp"
#include "moe/models.hpp"
#include "moe/models/tiny_reasoner.hpp"

namespace test_memory_budget {  // the file's own namespace: a test group is one translation unit (moe_test_group)

using namespace moe::decoding;

namespace {

std::string refusal(std::int64_t bytes_per_position, std::int64_t branches, std::int64_t positions,
                    std::int64_t shared, std::int64_t available) {
    try {
        check_kv_cache_budget("self-consistency", bytes_per_position, branches, positions, shared, available,
                              "MemAvailable in /proc/meminfo");
    } catch (const memory_budget_error& e) {
        return e.what();
    }
    return "no exception";
}

}  // namespace

TEST_CASE("KV-cache bytes: shared prompt once, each branch's own positions, saturating", "[decoding][memory]") {
    CHECK(kv_cache_bytes(2048, 64, 1 << 20, 0) == std::int64_t{2048} * 64 * (1 << 20));
    CHECK(kv_cache_bytes(2048, 4, 100, 30) == 2048 * (30 + 4 * 70));
    CHECK(kv_cache_bytes(std::int64_t{1} << 40, std::int64_t{1} << 20, std::int64_t{1} << 20) ==
          std::numeric_limits<std::int64_t>::max());
    CHECK_THROWS_AS(kv_cache_bytes(2048, 4, 10, 11), moe::invalid_argument);
}

TEST_CASE("the budget check refuses with branches, positions and both sizes", "[decoding][memory]") {
    // The request: 64 branches × 1048576 positions of the tiny reasoner (2048 bytes a position).
    const std::int64_t available = std::int64_t(23.4 * double(1ull << 30));
    const std::string m = refusal(2048, 64, 1 << 20, 0, available);
    INFO(m);
    CHECK(m == "self-consistency: 64 branches × 1048576 positions need 128.0 GiB of KV cache, more than the 23.4 GiB "
               "of memory available (MemAvailable in /proc/meminfo)");
    CHECK(refusal(2048, 1, 1 << 20, 0, 1 << 20).find("1 branch × 1048576 positions need 2.0 GiB") != std::string::npos);
    CHECK(refusal(2048, 64, 1 << 20, 0, std::int64_t{1} << 37) == "no exception");  // exactly 128 GiB fits
    CHECK_NOTHROW(check_kv_cache_budget("x", 2048, 64, 1 << 20, 0, std::int64_t{1} << 37, "test"));
}

TEST_CASE("MemAvailable is read from a meminfo file; missing means unknown", "[decoding][memory]") {
    const auto path = std::filesystem::temp_directory_path() / ("moe-meminfo-" + std::to_string(::getpid()));
    {
        std::ofstream f(path);
        f << "MemTotal:       24000000 kB\nMemFree:        20000000 kB\nMemAvailable:   22000000 kB\n";
    }
    CHECK(available_memory_bytes(path.string()) == std::int64_t{22000000} * 1024);
    {
        std::ofstream f(path);
        f << "MemTotal:       24000000 kB\nMemAvailable:   lots kB\n";
    }
    CHECK_FALSE(available_memory_bytes(path.string()).has_value());
    std::filesystem::remove(path);
    CHECK_FALSE(available_memory_bytes(path.string()).has_value());
    CHECK(available_memory_bytes().value_or(0) > 0);  // this machine's /proc/meminfo
}

TEST_CASE("a model's bytes per position and the generation check", "[decoding][memory]") {
    using model_type = moe::cpu::tiny_reasoner;
    auto model = moe::load_model<model_type>(MOE_TINY_REASONER_DIR);
    // config.json: 4 layers, 2 KV heads of 32, fp32 keys and values.
    CHECK(model.cache_bytes_per_position() == 4 * 2 * 2 * 32 * 4);
    // Its context is 128 positions: any number of branches of it is a few MiB and passes.
    CHECK(branch_capacity(model, 20, 1 << 20) == 128);
    CHECK(branch_capacity(model, 20, 10) == 30);
    CHECK_NOTHROW(check_generation_memory(model, 20, 64, 1 << 20, "self-consistency"));
    // A sequence of the whole context holds nothing until used.
    CHECK(model.new_sequence(128).cache_bytes() == 0);
}

}  // namespace test_memory_budget
