// moe/cuda.hpp — the CUDA backend: moe::cuda::moe_layer<C> and the kernels it is built from.
//
// Compile the including translation unit with nvcc (a .cu file), C++20, --expt-relaxed-constexpr, and link
// moe::cuda (CUDA::cudart; CUB ships with the toolkit). See docs/cuda.md.
// NOTE: no CUDA code of this library has run on a GPU yet (no GPU available to the developers so far).
#pragma once

#if !defined(__CUDACC__)
#error "moe/cuda.hpp contains CUDA kernels: include it from a .cu file compiled by nvcc (see docs/cuda.md)"
#endif

#include "moe/core.hpp"
#include "moe/cuda/device_weights.hpp"
#include "moe/cuda/error.hpp"
#include "moe/cuda/kernels/attention.hpp"
#include "moe/cuda/kernels/combine.hpp"
#include "moe/cuda/kernels/device_types.hpp"
#include "moe/cuda/kernels/grouped_gemm.hpp"
#include "moe/cuda/kernels/permute.hpp"
#include "moe/cuda/kernels/rms_norm.hpp"
#include "moe/cuda/kernels/rotary.hpp"
#include "moe/cuda/kernels/router.hpp"
#include "moe/cuda/kernels/sampling.hpp"
#include "moe/cuda/memory.hpp"
#include "moe/cuda/moe_layer.hpp"
#include "moe/cuda/workspace.hpp"
