// moe/cpu/rotary.hpp — rotary position embeddings (RoPE) as transformers computes them.
//
// Frequencies follow transformers' modeling_rope_utils step by step in fp32 (so tables match to the last bit or
// two): "default" (Llama, Mixtral, Qwen, OLMoE, DeepSeek-V2-Lite without scaling) and "yarn" (DeepSeek-V2/V3).
//   angle(p, i) = float(p) · inv_freq[i],   cos/sin tables = cos/sin(angle) · attention_factor
// Two ways to pair the rotated dimensions of a head of width `dim`:
//   rotate_half  pairs (i, i + dim/2)  — Llama-style weights (Mixtral, Qwen2/3-MoE, OLMoE)
//   interleaved  pairs (2i, 2i + 1)    — DeepSeek weights (V2's complex multiply, V3's rope_interleave)
// Query and key use the same pairing, so attention scores do not depend on where the rotated pair is stored.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "moe/error.hpp"
#include "moe/config/attention_config.hpp"
#include "moe/tensor/matrix_view.hpp"

namespace moe {

// yarn_get_mscale: 0.1 · mscale · ln(scale) + 1 (1 when scale ≤ 1).
inline double yarn_mscale(double scale, double mscale = 1.0) {
    return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

// The factor transformers multiplies the cos/sin tables by (1 for plain RoPE).
inline double rope_attention_factor(const rope_parameters& rope) {
    if (rope.type != rope_type::yarn) return 1.0;
    if (rope.attention_factor != 0.0) return rope.attention_factor;
    if (rope.mscale != 0.0 && rope.mscale_all_dim != 0.0) {
        return yarn_mscale(rope.factor, rope.mscale) / yarn_mscale(rope.factor, rope.mscale_all_dim);
    }
    return yarn_mscale(rope.factor);
}

// DeepSeek's multiplier of the softmax scale (yarn_apply_mscale): mscale(factor, mscale_all_dim)² for YaRN with
// mscale_all_dim set, else 1. Only multi-head latent attention applies it; GQA families keep head_dim^-0.5.
inline double mla_softmax_scale_multiplier(const rope_parameters& rope) {
    if (rope.type == rope_type::plain || rope.mscale_all_dim == 0.0) return 1.0;
    const double m = yarn_mscale(rope.factor, rope.mscale_all_dim);
    return m * m;
}

// inv_freq (dim/2) exactly as the transformers rope init functions build it, in fp32.
inline std::vector<float> rope_inverse_frequencies(const rope_parameters& rope, int dim) {
    if (dim < 2 || dim % 2 != 0) throw moe::invalid_argument("rope: dim must be even and ≥ 2, got " + std::to_string(dim));
    const int half = dim / 2;
    const float base = float(rope.theta);
    std::vector<float> pos_freqs(static_cast<std::size_t>(half));  // base ** (arange(0, dim, 2) / dim)
    for (int i = 0; i < half; ++i) {
        const float exponent = float(2 * i) / float(dim);
        pos_freqs[std::size_t(i)] = float(std::pow(double(base), double(exponent)));
    }
    std::vector<float> inv_freq(static_cast<std::size_t>(half));
    if (rope.type == rope_type::plain) {
        for (int i = 0; i < half; ++i) inv_freq[std::size_t(i)] = 1.0f / pos_freqs[std::size_t(i)];
        return inv_freq;
    }
    if (rope.original_max_position_embeddings <= 0) {
        throw moe::invalid_argument("rope: yarn needs original_max_position_embeddings > 0");
    }
    // find_correction_range(beta_fast, beta_slow, dim, base, original_max_position_embeddings, truncate)
    const double pi = 3.14159265358979323846;
    auto correction_dim = [&](double rotations) {
        return (dim * std::log(double(rope.original_max_position_embeddings) / (rotations * 2 * pi))) /
               (2 * std::log(rope.theta));
    };
    double low = correction_dim(rope.beta_fast), high = correction_dim(rope.beta_slow);
    if (rope.truncate) {
        low = std::floor(low);
        high = std::ceil(high);
    }
    low = std::max(low, 0.0);
    high = std::min(high, double(dim - 1));
    if (low == high) high += 0.001;  // prevent a singular ramp, as transformers does
    const float factor = float(rope.factor);
    for (int i = 0; i < half; ++i) {
        const float extrapolation = 1.0f / pos_freqs[std::size_t(i)];
        const float interpolation = 1.0f / (factor * pos_freqs[std::size_t(i)]);
        const float ramp = std::clamp((float(i) - float(low)) / float(high - low), 0.0f, 1.0f);
        const float extrapolation_factor = 1.0f - ramp;
        inv_freq[std::size_t(i)] = interpolation * (1.0f - extrapolation_factor) + extrapolation * extrapolation_factor;
    }
    return inv_freq;
}

namespace cpu {

// Rotary tables of one head width: inv_freq and the attention factor, and cos/sin rows for positions.
class rotary_embedding {
   public:
    rotary_embedding() = default;
    rotary_embedding(const rope_parameters& rope, int dim)
        : dim_(dim), inv_freq_(rope_inverse_frequencies(rope, dim)), attention_factor_(float(rope_attention_factor(rope))) {}

    int dim() const { return dim_; }
    const std::vector<float>& inverse_frequencies() const { return inv_freq_; }  // (dim/2)
    float attention_factor() const { return attention_factor_; }

    // cos, sin: (count, dim/2) — row t holds position first_position + t.
    void tables(std::int64_t first_position, std::int64_t count, host_matrix<float>& cos, host_matrix<float>& sin) const {
        const std::int64_t half = dim_ / 2;
        cos.resize(count, half);
        sin.resize(count, half);
        for (std::int64_t t = 0; t < count; ++t) {
            const float position = float(first_position + t);  // position_ids.float()
            for (std::int64_t i = 0; i < half; ++i) {
                const float angle = position * inv_freq_[std::size_t(i)];
                cos(t, i) = std::cos(angle) * attention_factor_;
                sin(t, i) = std::sin(angle) * attention_factor_;
            }
        }
    }

   private:
    int dim_ = 0;
    std::vector<float> inv_freq_;
    float attention_factor_ = 1.0f;
};

// x: (dim) one head, rotated in place; cos, sin: (dim/2) of its position. Pairs (i, i + dim/2):
//   x'[i] = x[i]·cos − x[i+h]·sin,  x'[i+h] = x[i+h]·cos + x[i]·sin   (apply_rotary_pos_emb with rotate_half)
inline void rope_rotate_half(float* x, const float* cos, const float* sin, std::int64_t dim) {
    const std::int64_t half = dim / 2;
    for (std::int64_t i = 0; i < half; ++i) {
        const float a = x[i], b = x[i + half];
        x[i] = a * cos[i] - b * sin[i];
        x[i + half] = b * cos[i] + a * sin[i];
    }
}

// x: (dim) one head, rotated in place; pairs (2i, 2i+1) stay where they are:
//   x'[2i] = x[2i]·cos − x[2i+1]·sin,  x'[2i+1] = x[2i+1]·cos + x[2i]·sin
// (DeepSeek-V2 keeps this layout; V3's apply_rotary_pos_emb_interleave writes evens then odds — same scores.)
inline void rope_interleaved(float* x, const float* cos, const float* sin, std::int64_t dim) {
    const std::int64_t half = dim / 2;
    for (std::int64_t i = 0; i < half; ++i) {
        const float a = x[2 * i], b = x[2 * i + 1];
        x[2 * i] = a * cos[i] - b * sin[i];
        x[2 * i + 1] = b * cos[i] + a * sin[i];
    }
}

}  // namespace cpu
}  // namespace moe
