// moe/cpu/kernels/avx2/unroll.hpp — MOE_AVX2_UNROLL: fully unrolls an AVX2 tile's loops over rows, tokens and
// vectors so the accumulators stay in registers, as MOE_UNROLL does for the AVX-512 tiles (dot_tiles.hpp, which
// includes the AVX2 headers before it defines MOE_UNROLL).
#pragma once

#if defined(__clang__)
#define MOE_AVX2_UNROLL _Pragma("unroll")
#else
#define MOE_AVX2_UNROLL _Pragma("GCC unroll 32")
#endif
