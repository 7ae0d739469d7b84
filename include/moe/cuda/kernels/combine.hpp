// moe/cuda/kernels/combine.hpp — gathering tokens into expert order, and the deterministic combine.
//
// gather:  grouped_x[r] = x[pair_of_row[r] / K] converted to the weight type; grouped_row[pair_of_row[r]] = r.
// combine: y[t] = Σ_j w[t, j] · expert_y[grouped_row[t·K + j]]   (slots in order)   + gate(x[t]) · shared_y[t]
//          One block per token and no atomics: the sum order is fixed, so the output is bit-reproducible.
//          gate = moe::sigmoid(w_sg · x[t]) (Qwen2-MoE) or 1; the dot uses a fixed-shape block reduction
//          (deterministic, but another summation order than the CPU's sequential dot).
// Names as moe::routing_plan (permute.hpp lists them). Kernels are templates so the header links from several
// translation units.
#pragma once

#include <cub/block/block_reduce.cuh>

#include <cuda_runtime.h>

#include <cstdint>

#include "moe/cuda/error.hpp"
#include "moe/cuda/kernels/device_types.hpp"
#include "moe/routing/activations.hpp"

namespace moe::cuda {

inline constexpr int combine_threads = 256;

namespace kernels {

// x: (T, D) fp32; pair_of_row: (P); grouped_x: (P, D) out, type T; grouped_row: (P) out. One block per row.
template <class T>
__global__ void __launch_bounds__(256)
    gather_rows(const float* __restrict__ x, const int* __restrict__ pair_of_row, int top_k, int d,
                T* __restrict__ grouped_x, int* __restrict__ grouped_row) {
    const int r = static_cast<int>(blockIdx.x);
    const int pair = pair_of_row[r];
    if (threadIdx.x == 0) grouped_row[pair] = r;
    const float* source = x + static_cast<std::int64_t>(pair / top_k) * d;
    T* target = grouped_x + static_cast<std::int64_t>(r) * d;
    for (int i = static_cast<int>(threadIdx.x); i < d; i += static_cast<int>(blockDim.x)) target[i] = from_f32<T>(source[i]);
}

// x: (n) fp32 → out: (n) T.
template <class T>
__global__ void convert(const float* __restrict__ x, std::int64_t n, T* __restrict__ out) {
    const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i < n) out[i] = from_f32<T>(x[i]);
}

// x: (T, D); weights: (T, K); grouped_row: (T, K); expert_y: (P, D); shared_y: (T, D) or null;
// shared_expert_gate: (D) or null; y: (T, D) out. One block per token.
template <int = 0>
__global__ void __launch_bounds__(combine_threads)
    combine(const float* __restrict__ x, const float* __restrict__ weights, const int* __restrict__ grouped_row,
            const float* __restrict__ expert_y, const float* __restrict__ shared_y,
            const float* __restrict__ shared_expert_gate, int top_k, int d, float* __restrict__ y) {
    using reduce = cub::BlockReduce<float, combine_threads>;
    __shared__ typename reduce::TempStorage storage;
    __shared__ float s_gate;
    const std::int64_t t = blockIdx.x;
    if (shared_expert_gate != nullptr) {
        float partial = 0.0f;
        for (int i = static_cast<int>(threadIdx.x); i < d; i += combine_threads) {
            partial += shared_expert_gate[i] * x[t * d + i];
        }
        const float dot = reduce(storage).Sum(partial);
        if (threadIdx.x == 0) s_gate = sigmoid(dot);
        __syncthreads();
    }
    const float gate = shared_expert_gate != nullptr ? s_gate : 1.0f;
    for (int i = static_cast<int>(threadIdx.x); i < d; i += combine_threads) {
        float out = 0.0f;
        for (int j = 0; j < top_k; ++j) {
            const std::int64_t row = grouped_row[t * top_k + j];
            out += weights[t * top_k + j] * expert_y[row * d + i];
        }
        if (shared_y != nullptr) out += gate * shared_y[t * d + i];
        y[t * d + i] = out;
    }
}

}  // namespace kernels

}  // namespace moe::cuda
