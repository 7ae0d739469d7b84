// moe/cpu/kernels/neon/unroll.hpp — MOE_NEON_UNROLL: fully unrolls a NEON tile's loops over rows, tokens and
// vectors so the accumulators stay in registers, as MOE_UNROLL does for the x86 tiles (dot_tiles.hpp, which
// includes the NEON headers before it defines MOE_UNROLL).
#pragma once

#if defined(__clang__)
#define MOE_NEON_UNROLL _Pragma("unroll")
#else
#define MOE_NEON_UNROLL _Pragma("GCC unroll 32")
#endif
