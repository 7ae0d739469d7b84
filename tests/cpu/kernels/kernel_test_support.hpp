// Shared by the perf kernel tests: random operands and a double-precision dot product to check sums against.
#pragma once

#include <cstdint>
#include <random>
#include <type_traits>
#include <vector>

#include "moe/precision/half_types.hpp"

namespace moe_test {

// n values uniform in [-1, 1), stored as Storage (float, bfloat16 or float16; rounded to nearest even).
template <class Storage>
std::vector<Storage> random_values(std::int64_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    std::vector<Storage> w(static_cast<std::size_t>(n));
    for (auto& v : w) {
        if constexpr (std::is_same_v<Storage, float>) v = dist(rng);
        else v = Storage(dist(rng));
    }
    return w;
}

// Σ x[d] · w[d] in double: a loose check that a kernel's defined order is a sum at all.
template <class Storage>
double exact_dot(const float* x, const Storage* w, std::int64_t k) {
    double s = 0;
    for (std::int64_t d = 0; d < k; ++d) s += double(x[d]) * double(moe::to_float(w[d]));
    return s;
}

}  // namespace moe_test
