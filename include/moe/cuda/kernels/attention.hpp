// moe/cuda/kernels/attention.hpp — causal attention over a KV cache (prefill and decode), fp32, as
// moe::cpu::causal_attention: softmax((q·kᵀ)·scale + causal mask) · v, grouped-query heads (query head h reads kv
// head h / (H/G), as repeat_kv). Multi-head latent attention in absorbed form is the case G = 1 with Dk ≠ Dv.
//
// One block per (query token, head): scores of the visible keys in shared memory, a fixed-shape block max and sum
// (deterministic), then each thread owns output columns and sums keys in order. Simple and exact rather than fast:
// a flash-attention style kernel (tiles of keys, online softmax, tensor cores) is future work (docs/cuda.md).
// Limits: visible keys ≤ max_attention_keys (scores live in shared memory); no sliding window yet.
// Shared memory: 4 bytes per visible key (dynamic) plus a small static part. Beyond 48 KiB per block a kernel must
// opt in (cudaFuncAttributeMaxDynamicSharedMemorySize); causal_attention() does so for long contexts, so the
// documented limit of 12 288 keys (48 KiB of scores + the static part) launches on sm_80 and later.
#pragma once

#include <cub/block/block_reduce.cuh>

#include <cuda_runtime.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "moe/cuda/error.hpp"
#include "moe/cuda/kernels/device_types.hpp"
#include "moe/cuda/memory.hpp"

namespace moe::cuda {

inline constexpr int attention_threads = 128;
inline constexpr int max_attention_keys = 12 * 1024;  // 48 KiB of fp32 scores per block
// Dynamic shared memory from which causal_attention() opts in to more than the default 48 KiB per block: the
// kernel's static part (a CUB reduction's storage and two floats, asserted below) must fit in the remainder.
inline constexpr std::size_t attention_opt_in_bytes = 32 * 1024;

struct attention_shape {
    int heads = 0;      // H
    int kv_heads = 0;   // G (H % G == 0)
    int key_dim = 0;    // Dk
    int value_dim = 0;  // Dv
};

namespace kernels {

using attention_reduce = cub::BlockReduce<float, attention_threads>;
static_assert(sizeof(attention_reduce::TempStorage) + 2 * sizeof(float) + attention_opt_in_bytes <= 48 * 1024,
              "causal_attention: the static shared memory no longer fits next to attention_opt_in_bytes of scores");

// q: (T, H·Dk); keys: (L, key_stride ≥ G·Dk); values: (L, value_stride ≥ G·Dv); out: (T, H·Dv).
// Query t sits at position L − T + t and sees keys 0 … L − T + t. A template only so the header links from several
// translation units.
template <int = 0>
__global__ void __launch_bounds__(attention_threads)
    causal_attention(const float* __restrict__ q, const float* __restrict__ keys, int key_stride,
                     const float* __restrict__ values, int value_stride, attention_shape shape, int tokens, int length,
                     float scale, float* __restrict__ out) {
    using reduce = attention_reduce;
    __shared__ typename reduce::TempStorage storage;
    __shared__ float s_max, s_sum;
    extern __shared__ float s_scores[];  // (visible)
    const int t = static_cast<int>(blockIdx.x), h = static_cast<int>(blockIdx.y);
    const int g = h / (shape.heads / shape.kv_heads);
    const int visible = length - tokens + t + 1;
    const float* qh = q + std::int64_t{t} * shape.heads * shape.key_dim + std::int64_t{h} * shape.key_dim;

    float local_max = -INFINITY;
    for (int j = static_cast<int>(threadIdx.x); j < visible; j += attention_threads) {
        const float* k = keys + std::int64_t{j} * key_stride + std::int64_t{g} * shape.key_dim;
        float dot = 0.0f;
        for (int d = 0; d < shape.key_dim; ++d) dot += qh[d] * k[d];
        s_scores[j] = dot * scale;
        local_max = fmaxf(local_max, s_scores[j]);
    }
    const float m = reduce(storage).Reduce(local_max, [](float a, float b) { return fmaxf(a, b); });
    if (threadIdx.x == 0) s_max = m;
    __syncthreads();
    float local_sum = 0.0f;
    for (int j = static_cast<int>(threadIdx.x); j < visible; j += attention_threads) {
        s_scores[j] = std::exp(s_scores[j] - s_max);
        local_sum += s_scores[j];
    }
    const float sum = reduce(storage).Sum(local_sum);
    if (threadIdx.x == 0) s_sum = sum;
    __syncthreads();
    const float inverse_sum = 1.0f / s_sum;
    float* o = out + std::int64_t{t} * shape.heads * shape.value_dim + std::int64_t{h} * shape.value_dim;
    for (int d = static_cast<int>(threadIdx.x); d < shape.value_dim; d += attention_threads) {
        float acc = 0.0f;
        for (int j = 0; j < visible; ++j) {
            acc += (s_scores[j] * inverse_sum) * values[std::int64_t{j} * value_stride + std::int64_t{g} * shape.value_dim + d];
        }
        o[d] = acc;
    }
}

}  // namespace kernels

// All pointers device fp32; see kernels::causal_attention for the shapes. Throws launch_error before launching
// an unsupported case.
inline void causal_attention(const float* q, const float* keys, int key_stride, const float* values, int value_stride,
                             attention_shape shape, int tokens, int length, float scale, float* out,
                             cudaStream_t stream) {
    if (shape.kv_heads < 1 || shape.heads % shape.kv_heads != 0)
        throw launch_error("moe::cuda::causal_attention: heads must be a multiple of kv_heads");
    if (tokens > length) throw launch_error("moe::cuda::causal_attention: more queries than cached positions");
    if (length > max_attention_keys)
        throw launch_error("moe::cuda::causal_attention: " + std::to_string(length) + " cached positions; this kernel "
                           "supports up to " + std::to_string(max_attention_keys));
    if (key_stride < shape.kv_heads * shape.key_dim || value_stride < shape.kv_heads * shape.value_dim)
        throw launch_error("moe::cuda::causal_attention: key/value rows too narrow for the kv heads");
    if (tokens == 0) return;
    const std::size_t shared = static_cast<std::size_t>(length) * sizeof(float);
    // The opt-in is per device and cheap next to a kernel over this many keys, so it is repeated at every such call.
    if (shared > attention_opt_in_bytes) {
        MOE_CUDA_CHECK(cudaFuncSetAttribute(kernels::causal_attention<>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            static_cast<int>(shared)));
    }
    kernels::causal_attention<><<<dim3(static_cast<unsigned>(tokens), static_cast<unsigned>(shape.heads)),
                                attention_threads, shared, stream>>>(q, keys, key_stride, values, value_stride, shape,
                                                                     tokens, length, scale, out);
    MOE_CUDA_CHECK_LAUNCH();
}

// Keys and values of past positions on the device: (capacity, width) each, the first size() rows filled.
class device_kv_cache {
   public:
    device_kv_cache(std::int64_t capacity, int width)
        : capacity_(capacity), width_(width), keys_(static_cast<std::size_t>(capacity * width)),
          values_(static_cast<std::size_t>(capacity * width)) {}
    // Appends `tokens` rows of k and v (device, (tokens, width) each). Throws launch_error when full.
    void append(const float* k, const float* v, std::int64_t tokens, cudaStream_t stream) {
        if (size_ + tokens > capacity_)
            throw launch_error("moe::cuda::device_kv_cache: full (" + std::to_string(capacity_) + " positions)");
        const std::size_t bytes = static_cast<std::size_t>(tokens * width_) * sizeof(float);
        MOE_CUDA_CHECK(cudaMemcpyAsync(keys_.data() + size_ * width_, k, bytes, cudaMemcpyDeviceToDevice, stream));
        MOE_CUDA_CHECK(cudaMemcpyAsync(values_.data() + size_ * width_, v, bytes, cudaMemcpyDeviceToDevice, stream));
        size_ += tokens;
    }
    void clear() { size_ = 0; }
    std::int64_t size() const { return size_; }
    int width() const { return width_; }
    const float* keys() const { return keys_.data(); }
    const float* values() const { return values_.data(); }

   private:
    std::int64_t capacity_, size_ = 0;
    int width_;
    device_buffer<float> keys_, values_;
};

}  // namespace moe::cuda
