// moe/decoding/memory_budget.hpp — will the KV caches of a generation fit in memory? Checked before anything runs.
//
//   moe::decoding::check_generation_memory(model, prompt.size(), options.branches, options.max_tokens,
//                                          "self-consistency");
//   // throws memory_budget_error: "self-consistency: 64 branches × 1048576 positions need 128.0 GiB of KV cache,
//   //   more than the 21.9 GiB of memory available (MemAvailable in /proc/meminfo)"
//
// Caches grow on demand (cpu/attention/kv_cache.hpp), so a generation that stops early never holds its whole
// capacity; this check is about the worst case, every branch running to its capacity: the shared prompt once plus
// each branch's own positions, × the model's cache_bytes_per_position(). A model without that member (the tests'
// stub) and a system without /proc/meminfo are not checked. Calling it is the caller's choice (moe_cli does): a
// caller that expects early stops may skip it.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "moe/decoding/language_model.hpp"
#include "moe/error.hpp"

namespace moe::decoding {

// The KV caches of a request would not fit in the memory available.
class memory_budget_error : public error_with<std::runtime_error> {
   public:
    using error_with::error_with;
};

// Memory the kernel can still give without swapping: MemAvailable of /proc/meminfo, in bytes; nullopt when unknown
// (`meminfo`: another file in that format, for tests).
inline std::optional<std::int64_t> available_memory_bytes(const std::string& meminfo = "/proc/meminfo") {
    std::ifstream in(meminfo);
    std::string key;
    long long kib = 0;
    while (in >> key) {
        if (key == "MemAvailable:") {
            if (!(in >> kib) || kib < 0 || kib > std::numeric_limits<std::int64_t>::max() / 1024) return std::nullopt;
            return std::int64_t{kib} * 1024;
        }
        in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
    }
    return std::nullopt;
}

// Bytes of KV cache for `branches` sequences of `positions` each whose first `shared` positions are one shared
// prompt (counted once); saturates at INT64_MAX instead of overflowing.
inline std::int64_t kv_cache_bytes(std::int64_t bytes_per_position, std::int64_t branches, std::int64_t positions,
                                   std::int64_t shared = 0) {
    if (bytes_per_position < 0 || branches < 0 || positions < 0 || shared < 0 || shared > positions) {
        throw moe::invalid_argument("kv_cache_bytes: negative sizes or a shared prompt longer than the sequence");
    }
    const long double total = static_cast<long double>(bytes_per_position) *
                              (static_cast<long double>(shared) + static_cast<long double>(branches) * (positions - shared));
    const auto most = std::numeric_limits<std::int64_t>::max();
    return total >= static_cast<long double>(most) ? most : static_cast<std::int64_t>(total);
}

inline std::string gib_string(std::int64_t bytes) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f GiB", static_cast<double>(bytes) / double(1ull << 30));
    return text;
}

// Throws memory_budget_error naming `what`, the request and both sizes when its caches need more than `available`
// bytes; `source` says where `available` came from.
inline void check_kv_cache_budget(std::string_view what, std::int64_t bytes_per_position, std::int64_t branches,
                                  std::int64_t positions, std::int64_t shared, std::int64_t available,
                                  std::string_view source) {
    const std::int64_t need = kv_cache_bytes(bytes_per_position, branches, positions, shared);
    if (need <= available) return;
    throw memory_budget_error(std::string(what) + ": " + std::to_string(branches) +
                              (branches == 1 ? " branch × " : " branches × ") + std::to_string(positions) +
                              " positions need " + gib_string(need) + " of KV cache, more than the " +
                              gib_string(available) + " of memory available (" + std::string(source) + ")");
}

// The same for a model: its cache_bytes_per_position() against MemAvailable. No check when either is unknown.
template <class Model>
void check_kv_cache_budget(const Model& model, std::string_view what, std::int64_t branches, std::int64_t positions,
                           std::int64_t shared = 0) {
    if constexpr (requires { { model.cache_bytes_per_position() } -> std::convertible_to<std::int64_t>; }) {
        if (const auto available = available_memory_bytes()) {
            check_kv_cache_budget(what, model.cache_bytes_per_position(), branches, positions, shared, *available,
                                  "MemAvailable in /proc/meminfo");
        }
    }
}

// Positions each branch of generate() may reach: the prompt plus max_tokens (at least 1), within the context.
template <language_model Model>
std::int64_t branch_capacity(const Model& model, std::int64_t prompt_tokens, int max_tokens) {
    return std::min<std::int64_t>(model.max_positions(), prompt_tokens + std::max(max_tokens, 1));
}

// generate() / self_consistency() with these options: options.branches branches sharing the prompt, each up to
// branch_capacity positions. For cot_decoding, pass branches = k.
template <language_model Model>
void check_generation_memory(const Model& model, std::int64_t prompt_tokens, int branches, int max_tokens,
                             std::string_view what) {
    check_kv_cache_budget(model, what, branches, branch_capacity(model, prompt_tokens, max_tokens),
                          std::min<std::int64_t>(prompt_tokens, model.max_positions()));
}

}  // namespace moe::decoding
