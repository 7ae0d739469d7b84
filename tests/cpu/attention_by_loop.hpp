// attention_by_loop.hpp — causal attention written as plain double loops, the reference of the attention kernel tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "moe/cpu/attention/attention_shapes.hpp"
#include "moe/tensor/matrix_view.hpp"

namespace moe::test {

// softmax(q·kᵀ·scale) · v in double over the positions each query sees: query t at position L − T + t sees j ≤ p,
// and p − window < j with a window. keys / values (L, G·Dk) / (L, G·Dv) hold all positions. Returns (T, H·Dv).
inline host_matrix<float> attention_by_loop(const host_matrix<float>& q, const host_matrix<float>& keys,
                                     const host_matrix<float>& values, moe::cpu::attention_heads shape, float scale,
                                     std::int64_t window) {
    const std::int64_t T = q.rows(), L = keys.rows(), H = shape.heads, G = shape.kv_heads;
    const std::int64_t Dk = shape.key_dim, Dv = shape.value_dim;
    host_matrix<float> expected(T, H * Dv);
    for (std::int64_t t = 0; t < T; ++t) {
        const std::int64_t position = L - T + t;
        for (std::int64_t h = 0; h < H; ++h) {
            const std::int64_t g = h / (H / G);
            std::vector<double> s(std::size_t(L), 0.0);
            double max = -1e300, sum = 0;
            auto visible = [&](std::int64_t j) { return j <= position && (window == 0 || j > position - window); };
            for (std::int64_t j = 0; j < L; ++j) {
                if (!visible(j)) continue;
                for (std::int64_t d = 0; d < Dk; ++d) s[std::size_t(j)] += double(q(t, h * Dk + d)) * keys(j, g * Dk + d);
                s[std::size_t(j)] *= scale;
                max = std::max(max, s[std::size_t(j)]);
            }
            for (std::int64_t j = 0; j < L; ++j) {
                if (visible(j)) sum += (s[std::size_t(j)] = std::exp(s[std::size_t(j)] - max));
            }
            for (std::int64_t d = 0; d < Dv; ++d) {
                double acc = 0;
                for (std::int64_t j = 0; j < L; ++j) {
                    if (visible(j)) acc += s[std::size_t(j)] / sum * values(j, g * Dv + d);
                }
                expected(t, h * Dv + d) = float(acc);
            }
        }
    }
    return expected;
}

}  // namespace moe::test
