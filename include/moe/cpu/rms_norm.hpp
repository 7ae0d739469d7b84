// moe/cpu/rms_norm.hpp — RMSNorm as transformers computes it, over rows of any width.
//
//   y = weight ⊙ (x · rsqrt(mean(x²) + eps))        (fp32 throughout; activations here are always fp32)
//
// Used for the decoder's input/post-attention norms (rows of width D), for Qwen3-MoE's per-head QK-norm
// (rows of width head_dim: view (T, H·Dh) as (T·H, Dh)), OLMoE's whole-projection QK-norm and DeepSeek's
// q_a/kv_a latent norms. The weight may be stored as fp32, bf16 or fp16.
#pragma once

#include <cmath>
#include <cstdint>

#include "moe/precision/half_types.hpp"
#include "moe/tensor/matrix_view.hpp"

namespace moe::cpu {

// x: (n) one row; weight: (n); y: (n). y may equal x (in place).
template <class Storage>
void rms_norm_row(const float* x, const Storage* weight, std::int64_t n, float eps, float* y) {
    // The mean of squares is accumulated in double: at least as accurate as torch's fp32 reduction.
    double sum = 0.0;
    for (std::int64_t i = 0; i < n; ++i) sum += double(x[i]) * double(x[i]);
    const float variance = float(sum / double(n));
    const float inverse = 1.0f / std::sqrt(variance + eps);  // torch.rsqrt(variance + eps) in fp32
    for (std::int64_t i = 0; i < n; ++i) y[i] = to_float(weight[i]) * (x[i] * inverse);
}

// x: (R, N); weight: (1, N); y: (R, N). y may be x (in place). Throws moe::shape_error on a shape mismatch.
template <class Storage>
void rms_norm(matrix_view<const float> x, matrix_view<const Storage> weight, float eps, matrix_view<float> y) {
    require_shape("rms_norm", "weight", weight, 1, x.cols);
    require_shape("rms_norm", "y", y, x.rows, x.cols);
    for (std::int64_t r = 0; r < x.rows; ++r) rms_norm_row(x.row(r), weight.data, x.cols, eps, y.row(r));
}

// In place over the rows of x: (R, N).
template <class Storage>
void rms_norm(matrix_view<float> x, matrix_view<const Storage> weight, float eps) {
    rms_norm<Storage>(matrix_view<const float>(x), weight, eps, x);
}

}  // namespace moe::cpu
