// moe/cuda/kernels/rotary.hpp — rotary position embedding applied in place, as moe::cpu's rope_rotate_half /
// rope_interleaved with the tables of moe::cpu::rotary_embedding:
//   angle = float(position) · inv_freq[i];  cos, sin = cos(angle) · factor, sin(angle) · factor
//   rotate_half pairs (i, i + dim/2)  (Mixtral, Qwen, OLMoE);  interleaved pairs (2i, 2i + 1)  (DeepSeek)
// inv_freq comes from moe::rope_inverse_frequencies (host, the transformers recipe) — uploaded once per model.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "moe/cuda/error.hpp"
#include "moe/cuda/kernels/device_types.hpp"

namespace moe::cuda {

enum class rope_pairing { rotate_half, interleaved };

namespace kernels {

// x: (T, stride) — head h of token t is x[t·stride + offset + h·head_stride, … + dim); inv_freq: (dim/2).
// One thread per (token, head, pair). Token t has position first_position + t.
template <rope_pairing Pairing>
__global__ void rotary(float* x, std::int64_t tokens, int heads, int stride, int offset, int head_stride, int dim,
                       const float* __restrict__ inv_freq, float attention_factor, std::int64_t first_position) {
    const int half = dim / 2;
    const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= tokens * heads * half) return;
    const int pair = static_cast<int>(i % half);
    const int h = static_cast<int>((i / half) % heads);
    const std::int64_t t = i / (std::int64_t{half} * heads);
    const float angle = float(first_position + t) * inv_freq[pair];
    const float c = std::cos(angle) * attention_factor, s = std::sin(angle) * attention_factor;
    float* head = x + t * stride + offset + std::int64_t{h} * head_stride;
    const int ia = Pairing == rope_pairing::rotate_half ? pair : 2 * pair;
    const int ib = Pairing == rope_pairing::rotate_half ? pair + half : 2 * pair + 1;
    const float a = head[ia], b = head[ib];
    head[ia] = a * c - b * s;
    head[ib] = b * c + a * s;
}

}  // namespace kernels

// Rotates `heads` heads of width `dim` per token in place (see kernels::rotary for the layout).
template <rope_pairing Pairing>
void apply_rotary(float* x, std::int64_t tokens, int heads, int stride, int offset, int head_stride, int dim,
                  const float* inv_freq, float attention_factor, std::int64_t first_position, cudaStream_t stream) {
    const std::int64_t work = tokens * heads * (dim / 2);
    if (work == 0) return;
    kernels::rotary<Pairing><<<blocks_for(work, 256), 256, 0, stream>>>(x, tokens, heads, stride, offset, head_stride,
                                                                        dim, inv_freq, attention_factor, first_position);
    MOE_CUDA_CHECK_LAUNCH();
}

}  // namespace moe::cuda
