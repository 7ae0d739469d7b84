// moe/cuda/kernels/sampling.hpp — drawing the next token from one row of logits on the device.
//
// Chain (llama.cpp's order, as moe/decoding/sampler.hpp's default, without penalties and min-p):
//   sort descending (cub::DeviceRadixSort::SortPairsDescending: stable, so equal logits keep the lower token id
//   first) → top-k (k ≤ 0: off) → top-p (p = softmax(l); keep the shortest prefix whose Σp ≥ top_p, at least one;
//   top_p ≥ 1: off) → temperature (l / T; T ≤ 0: greedy) → draw with the caller's uniform u ∈ [0, 1):
//   the first kept token whose cumulative probability exceeds u · Σ.
// Sums are chunked block scans of fixed shape, so the same u gives the same token every time.
// Two phase like CUB: sampling_workspace_size(vocab), then sample(..., workspace, bytes, stream).
// Device functions are inline and kernels templates, so the header links from several translation units.
#pragma once

#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_radix_sort.cuh>

#include <cuda_runtime.h>

#include <cmath>
#include <cstddef>

#include "moe/cuda/error.hpp"
#include "moe/cuda/kernels/device_types.hpp"
#include "moe/cuda/kernels/permute.hpp"
#include "moe/cuda/workspace.hpp"

namespace moe::cuda {

struct sampling_config {
    float temperature = 0.8f;  // ≤ 0: greedy
    int top_k = 40;            // ≤ 0: off
    float top_p = 0.95f;       // ≥ 1: off
};

namespace kernels {

// Σ_{i < n} f(i) scanned in chunks; returns the first i with running sum (inclusive) > target, or n − 1.
// Every thread of the block returns the same value.
template <class F>
__device__ int first_exceeding(int n, float target, F f) {
    using scan = cub::BlockScan<float, 256>;
    __shared__ typename scan::TempStorage storage;
    __shared__ float s_inclusive[256];
    __shared__ int s_found;
    if (threadIdx.x == 0) s_found = -1;
    __syncthreads();
    float running = 0.0f;  // ≤ target: otherwise the previous chunk found the answer
    for (int base = 0; base < n; base += 256) {
        const int i = base + static_cast<int>(threadIdx.x);
        float inclusive = 0.0f, total = 0.0f;
        scan(storage).InclusiveSum(i < n ? f(i) : 0.0f, inclusive, total);
        s_inclusive[threadIdx.x] = running + inclusive;
        __syncthreads();
        const float before = threadIdx.x == 0 ? running : s_inclusive[threadIdx.x - 1];
        if (i < n && s_inclusive[threadIdx.x] > target && before <= target) s_found = i;  // one thread at most
        __syncthreads();
        if (s_found >= 0) break;  // block-uniform
        running = s_inclusive[255];
        __syncthreads();
    }
    return s_found >= 0 ? s_found : n - 1;
}

// Σ v over the block of 256 threads, returned to every thread.
__device__ inline float block_sum(float v) {
    using reduce = cub::BlockReduce<float, 256>;
    __shared__ typename reduce::TempStorage storage;
    __shared__ float s_total;
    const float total = reduce(storage).Sum(v);
    if (threadIdx.x == 0) s_total = total;
    __syncthreads();
    const float result = s_total;
    __syncthreads();
    return result;
}

// sorted_logits, sorted_ids: (V) descending; token: (1) out. One block of 256 threads.
template <int = 0>
__global__ void __launch_bounds__(256) draw(const float* __restrict__ sorted_logits, const int* __restrict__ sorted_ids,
                                            int vocab, sampling_config config, float u, int* __restrict__ token) {
    const float top = sorted_logits[0];
    int n = config.top_k > 0 && config.top_k < vocab ? config.top_k : vocab;
    if (config.top_p < 1.0f && n > 1) {
        float partial = 0.0f;
        for (int i = static_cast<int>(threadIdx.x); i < n; i += 256) partial += std::exp(sorted_logits[i] - top);
        const float z = block_sum(partial);
        const int last = first_exceeding(n, config.top_p * z - 1e-30f * z,
                                         [&](int i) { return std::exp(sorted_logits[i] - top); });
        n = last + 1;  // the shortest prefix with Σp ≥ top_p
    }
    if (config.temperature <= 0.0f || n == 1) {
        if (threadIdx.x == 0) *token = sorted_ids[0];
        return;
    }
    const float inverse_t = 1.0f / config.temperature;
    float partial = 0.0f;
    for (int i = static_cast<int>(threadIdx.x); i < n; i += 256) partial += std::exp((sorted_logits[i] - top) * inverse_t);
    const float z = block_sum(partial);
    const int chosen = first_exceeding(n, u * z, [&](int i) { return std::exp((sorted_logits[i] - top) * inverse_t); });
    if (threadIdx.x == 0) *token = sorted_ids[chosen];
}

}  // namespace kernels

namespace detail {
struct sampling_buffers {
    float* sorted_logits;
    int* ids;
    int* sorted_ids;
    void* sort_storage;
    std::size_t sort_bytes;
};
inline sampling_buffers carve_sampling(workspace_layout& layout, int vocab) {
    sampling_buffers b{};
    b.sorted_logits = layout.take<float>(static_cast<std::size_t>(vocab));
    b.ids = layout.take<int>(static_cast<std::size_t>(vocab));
    b.sorted_ids = layout.take<int>(static_cast<std::size_t>(vocab));
    MOE_CUDA_CHECK(cub::DeviceRadixSort::SortPairsDescending(nullptr, b.sort_bytes, static_cast<const float*>(nullptr),
                                                             static_cast<float*>(nullptr), static_cast<const int*>(nullptr),
                                                             static_cast<int*>(nullptr), vocab));
    b.sort_storage = layout.take_bytes(b.sort_bytes);
    return b;
}
}  // namespace detail

inline std::size_t sampling_workspace_size(int vocab) {
    workspace_layout layout;
    detail::carve_sampling(layout, vocab);
    return layout.bytes();
}

// logits: (V) device fp32; token: (1) device int out; u: a uniform number in [0, 1) from the caller's generator.
inline void sample(const float* logits, int vocab, const sampling_config& config, float u, int* token, void* workspace,
                   std::size_t workspace_bytes, cudaStream_t stream) {
    if (vocab < 1) throw launch_error("moe::cuda::sample: empty vocabulary");
    require_aligned(workspace, workspace_alignment, "moe::cuda::sample", "workspace");
    workspace_layout layout(workspace, workspace_bytes);
    const detail::sampling_buffers b = detail::carve_sampling(layout, vocab);
    kernels::iota<><<<blocks_for(vocab, 256), 256, 0, stream>>>(b.ids, vocab);
    MOE_CUDA_CHECK_LAUNCH();
    std::size_t bytes = b.sort_bytes;
    MOE_CUDA_CHECK(cub::DeviceRadixSort::SortPairsDescending(b.sort_storage, bytes, logits, b.sorted_logits, b.ids,
                                                             b.sorted_ids, vocab, 0, 32, stream));
    kernels::draw<><<<1, 256, 0, stream>>>(b.sorted_logits, b.sorted_ids, vocab, config, u, token);
    MOE_CUDA_CHECK_LAUNCH();
}

}  // namespace moe::cuda
