// moe/cuda/kernels/rms_norm.hpp — RMSNorm over rows, as moe::cpu::rms_norm:
//   y = weight ⊙ (x · 1/sqrt(mean(x²) + eps)),  the mean of squares accumulated in double (as the CPU does).
// One block per row; the reduction is a fixed-shape block reduction, so results are reproducible.
#pragma once

#include <cub/block/block_reduce.cuh>

#include <cuda_runtime.h>

#include <cstdint>

#include "moe/cuda/error.hpp"
#include "moe/cuda/kernels/device_types.hpp"

namespace moe::cuda {

namespace kernels {

// x: (R, N) fp32; weight: (N) in W; y: (R, N) fp32 (may equal x).
template <class W>
__global__ void __launch_bounds__(256) rms_norm(const float* x, const W* __restrict__ weight, int n, float eps, float* y) {
    using reduce = cub::BlockReduce<double, 256>;
    __shared__ typename reduce::TempStorage storage;
    __shared__ float s_inverse;
    const std::int64_t row = blockIdx.x;
    const float* xr = x + row * n;
    double partial = 0.0;
    for (int i = static_cast<int>(threadIdx.x); i < n; i += 256) partial += double(xr[i]) * double(xr[i]);
    const double sum = reduce(storage).Sum(partial);
    if (threadIdx.x == 0) s_inverse = 1.0f / std::sqrt(float(sum / double(n)) + eps);
    __syncthreads();
    const float inverse = s_inverse;
    for (int i = static_cast<int>(threadIdx.x); i < n; i += 256) y[row * n + i] = to_f32(weight[i]) * (xr[i] * inverse);
}

}  // namespace kernels

// x, y: (rows, n) device fp32 (y may be x); weight: (n) device, fp32 / __nv_bfloat16 / __half.
template <class W>
void rms_norm(const float* x, const W* weight, std::int64_t rows, int n, float eps, float* y, cudaStream_t stream) {
    if (rows == 0) return;
    kernels::rms_norm<W><<<static_cast<unsigned>(rows), 256, 0, stream>>>(x, weight, n, eps, y);
    MOE_CUDA_CHECK_LAUNCH();
}

}  // namespace moe::cuda
