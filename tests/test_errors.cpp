// moe/error.hpp: every library exception type derives from moe::error and from the standard class it always derived
// from. Each type is thrown here through a real library call (a shape mismatch, a corrupt checkpoint, a malformed
// config.json, a bad tokenizer.json, a missing energy counter, a full KV cache, an out-of-vocabulary token id, a
// failed CUDA call) and must be caught as itself, as moe::error, as its std base and as std::exception — the last
// one is the handler a second std::exception base would silently break — with the same non-empty message.
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <fstream>
#include <string>
#include <type_traits>
#include <vector>

#include <unistd.h>

#include "moe/cpu/attention/kv_cache.hpp"
#include "moe/decoding/finite_logits.hpp"
#include "moe/decoding/memory_budget.hpp"
#include "moe/error.hpp"
#include "moe/io/safetensors_file.hpp"
#include "moe/ledger/energy.hpp"
#include "moe/ledger/json.hpp"
#include "moe/models/hf_config.hpp"
#include "moe/runtime/thread_pool.hpp"
#include "moe/tensor/matrix_view.hpp"
#include "moe/text/tokenizer.hpp"
#ifdef MOE_TINY_REASONER_DIR
#include "moe/models.hpp"
#include "moe/models/tiny_reasoner.hpp"
#endif
#ifdef MOE_TEST_CUDA_ERRORS
#include "moe/cuda/error.hpp"
#include "moe/cuda/workspace.hpp"
#endif

namespace test_errors {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace fs = std::filesystem;

namespace {

// A library exception type: derived from moe::error and, unambiguously, from StdBase and std::exception.
template <class E, class StdBase>
constexpr bool is_library_error = std::is_base_of_v<moe::error, E> && std::is_convertible_v<E*, moe::error*> &&
                                  std::is_convertible_v<E*, StdBase*> && std::is_convertible_v<E*, std::exception*> &&
                                  std::is_nothrow_copy_constructible_v<E>;

static_assert(!std::is_base_of_v<std::exception, moe::error>, "moe::error must not be a second std::exception base");
static_assert(is_library_error<moe::shape_error, std::invalid_argument>);
static_assert(is_library_error<moe::config_error, std::runtime_error>);
static_assert(is_library_error<moe::io::checkpoint_error, std::runtime_error>);
static_assert(is_library_error<moe::text::tokenizer_error, std::runtime_error>);
static_assert(is_library_error<moe::ledger::meter_unavailable, std::runtime_error>);
static_assert(is_library_error<moe::cpu::kv_cache_full, std::length_error>);
static_assert(is_library_error<moe::decoding::non_finite_logits, std::domain_error>);
static_assert(is_library_error<moe::decoding::memory_budget_error, std::runtime_error>);
static_assert(is_library_error<moe::ledger::ledger_format_error, std::invalid_argument>);
#ifdef MOE_TINY_REASONER_DIR
static_assert(is_library_error<moe::cpu::invalid_input, std::out_of_range>);
#endif
#ifdef MOE_TEST_CUDA_ERRORS
static_assert(is_library_error<moe::cuda::cuda_error, std::runtime_error>);
static_assert(is_library_error<moe::cuda::launch_error, std::invalid_argument>);
#endif

// Calls `f` once per handler; each must catch, and every handler must see the same message containing `fragment`.
template <class E, class StdBase, class F>
void check_caught_everywhere(F f, const std::string& fragment) {
    static_assert(is_library_error<E, StdBase>);
    std::string as_specific, as_library, as_std_base, as_std_exception;
    try {
        f();
        FAIL("no exception");
    } catch (const E& e) {
        as_specific = e.what();
    }
    try {
        f();
        FAIL("no exception");
    } catch (const moe::error& e) {
        as_library = e.what();
    }
    try {
        f();
        FAIL("no exception");
    } catch (const StdBase& e) {
        as_std_base = e.what();
    }
    try {
        f();
        FAIL("no exception");
    } catch (const std::exception& e) {
        as_std_exception = e.what();
        // Both what()s of the one object are the same string.
        const auto* library = dynamic_cast<const moe::error*>(&e);
        REQUIRE(library != nullptr);
        CHECK(library->what() == e.what());
    }
    INFO("message: " << as_specific);
    CHECK_THAT(as_specific, Catch::Contains(fragment));
    CHECK(as_library == as_specific);
    CHECK(as_std_base == as_specific);
    CHECK(as_std_exception == as_specific);
    // The way tests and callers already write it.
    CHECK_THROWS_AS(f(), E);
    CHECK_THROWS_AS(f(), moe::error);
    CHECK_THROWS_AS(f(), StdBase);
    CHECK_THROWS_AS(f(), std::exception);
}

struct temp_dir {
    fs::path path;
    temp_dir() {
        static int count = 0;
        path = fs::temp_directory_path() / ("moe_errors_" + std::to_string(::getpid()) + "_" + std::to_string(count++));
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ignored;
        fs::remove_all(path, ignored);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
};

void write_file(const fs::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary);
    out << bytes;
}

}  // namespace

TEST_CASE("shape_error: a tensor of the wrong shape", "[errors]") {
    const moe::host_matrix<float> w(2, 3);
    check_caught_everywhere<moe::shape_error, std::invalid_argument>(
        [&] { moe::require_shape("test", "w", w.view(), 3, 2); }, "tensor 'w' has shape (2, 3)");
}

TEST_CASE("the general precondition types: invalid_argument, out_of_range, logic_error", "[errors]") {
    check_caught_everywhere<moe::invalid_argument, std::invalid_argument>([] { moe::thread_pool pool(0); },
                                                                          "threads must be at least 1");
    check_caught_everywhere<moe::out_of_range, std::out_of_range>([] { throw moe::out_of_range("index 9 of 3"); },
                                                                  "index 9 of 3");
    check_caught_everywhere<moe::logic_error, std::logic_error>([] { throw moe::logic_error("finished twice"); },
                                                                "finished twice");
}

TEST_CASE("checkpoint_error: a corrupt safetensors file", "[errors]") {
    temp_dir dir;
    const auto path = dir.path / "short.safetensors";
    write_file(path, "abc");
    check_caught_everywhere<moe::io::checkpoint_error, std::runtime_error>(
        [&] { const moe::io::safetensors_file file(path); }, "short.safetensors");
}

TEST_CASE("config_error: a malformed config.json", "[errors]") {
    temp_dir dir;
    const auto path = dir.path / "config.json";
    write_file(path, "{\"hidden_size\": ");
    check_caught_everywhere<moe::config_error, std::runtime_error>([&] { const moe::hf_config config(path); },
                                                                   "config.json: malformed JSON");
}

TEST_CASE("tokenizer_error: a tokenizer.json that is not JSON", "[errors]") {
    check_caught_everywhere<moe::text::tokenizer_error, std::runtime_error>(
        [] { (void)moe::text::tokenizer::from_json("{", "t.json"); }, "t.json: invalid JSON");
}

TEST_CASE("meter_unavailable: no RAPL counter", "[errors]") {
    temp_dir dir;  // an empty powercap root
    check_caught_everywhere<moe::ledger::meter_unavailable, std::runtime_error>(
        [&] { const moe::ledger::rapl_meter meter(dir.path); }, dir.path.string());
}

TEST_CASE("kv_cache_full: one position more than the capacity", "[errors]") {
    moe::cpu::kv_cache cache(1, 4);
    cache.commit(1);
    check_caught_everywhere<moe::cpu::kv_cache_full, std::length_error>([&] { cache.commit(1); }, "kv cache full");
}

TEST_CASE("non_finite_logits, memory_budget_error, ledger_format_error", "[errors]") {
    const std::vector<float> logits{0.0f, std::numeric_limits<float>::quiet_NaN()};
    check_caught_everywhere<moe::decoding::non_finite_logits, std::domain_error>(
        [&] { moe::decoding::require_finite_logits(logits, "test"); }, "1 of 2 logits are not finite");
    check_caught_everywhere<moe::decoding::memory_budget_error, std::runtime_error>(
        [] { moe::decoding::check_kv_cache_budget("test", 1024, 2, 1024, 0, 1024, "given"); }, "of KV cache");
    check_caught_everywhere<moe::ledger::ledger_format_error, std::invalid_argument>(
        [] { (void)nlohmann::json::object().get<moe::ledger::request_ledger>(); }, "missing 'model'");
}

#ifdef MOE_TINY_REASONER_DIR
TEST_CASE("invalid_input: an out-of-vocabulary token id", "[errors]") {
    using model_type = moe::cpu::tiny_reasoner;
    auto model = moe::load_model<model_type>(MOE_TINY_REASONER_DIR);
    moe::thread_pool pool(1);
    auto seq = model.new_sequence(8);
    moe::host_matrix<float> logits(1, model_type::V);
    const std::vector<std::int32_t> tokens{std::int32_t{model_type::V}};
    check_caught_everywhere<moe::cpu::invalid_input, std::out_of_range>(
        [&] { model.forward(tokens, seq, logits.view(), pool); }, "outside the vocabulary");
    // The message names the index within the call and the absolute position: here the sequence is at position 4.
    const std::vector<std::int32_t> four{1, 2, 3, 4}, then{5, std::int32_t{model_type::V}};
    model.forward(four, seq, logits.view(), pool);
    check_caught_everywhere<moe::cpu::invalid_input, std::out_of_range>(
        [&] { model.forward(then, seq, logits.view(), pool); },
        "token id 276 at index 1 of the call (position 5 of the sequence)");
    check_caught_everywhere<moe::cpu::invalid_input, std::out_of_range>([&] { (void)model.new_sequence(0); },
                                                                        "a sequence capacity of 0");
}
#endif

#ifdef MOE_TEST_CUDA_ERRORS
TEST_CASE("cuda_error and launch_error", "[errors]") {
    // A failed runtime call as MOE_CUDA_CHECK reports it (needs no device: only the error's name and text).
    check_caught_everywhere<moe::cuda::cuda_error, std::runtime_error>(
        [] { MOE_CUDA_CHECK(cudaErrorInvalidValue); }, "cudaErrorInvalidValue");
    // A workspace smaller than its layout needs (host-side check; the buffer is never dereferenced).
    alignas(256) static std::byte buffer[256];
    check_caught_everywhere<moe::cuda::launch_error, std::invalid_argument>(
        [] {
            moe::cuda::workspace_layout layout(buffer, sizeof buffer);
            (void)layout.take<float>(64);
            (void)layout.take<float>(1);
        },
        "workspace too small");
}
#endif

}  // namespace test_errors
