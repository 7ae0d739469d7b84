// moe/cuda/kernels/device_types.hpp — moe's storage types as CUDA types, and fp32 conversions on the device.
//
// moe::bfloat16 / moe::float16 are bit-compatible with __nv_bfloat16 / __half (moe/precision/half_types.hpp), so
// uploaded weight bytes are reinterpreted, never converted. Conversions from fp32 round to nearest even, as the host
// types do.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

#include "moe/precision/half_types.hpp"

namespace moe::cuda {

template <class Storage>
struct device_type {
    using type = Storage;  // float
};
template <>
struct device_type<moe::bfloat16> {
    using type = __nv_bfloat16;
};
template <>
struct device_type<moe::float16> {
    using type = __half;
};
// The CUDA type a weight stored as `Storage` is read as on the device.
template <class Storage>
using device_t = typename device_type<Storage>::type;

static_assert(sizeof(__nv_bfloat16) == sizeof(moe::bfloat16) && sizeof(__half) == sizeof(moe::float16));

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }

template <class T>
__device__ __forceinline__ T from_f32(float v) {
    if constexpr (std::is_same_v<T, __nv_bfloat16>) {
        return __float2bfloat16_rn(v);
    } else if constexpr (std::is_same_v<T, __half>) {
        return __float2half_rn(v);
    } else {
        return v;
    }
}

// Number of blocks of `per_block` covering `n`.
constexpr unsigned blocks_for(long long n, long long per_block) {
    return static_cast<unsigned>((n + per_block - 1) / per_block);
}

}  // namespace moe::cuda
