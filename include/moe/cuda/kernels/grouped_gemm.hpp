// moe/cuda/kernels/grouped_gemm.hpp — one launch over all experts: C_g = A_g · B_gᵀ for each group (expert) g.
//
// Rows of A are the (token, slot) pairs grouped by expert (permute.hpp): rows [offsets[g], offsets[g+1]) belong to
// group g and are multiplied with that group's weights B_g, stored as (groups, N, K) — the nn.Linear layout
// (out_features, in_features). Two epilogues:
//   swiglu:  C = silu(A · B0ᵀ) ⊙ (A · B1ᵀ), written in the activation type (gate/up of an expert FFN, fused:
//            the (rows, 2F) intermediate never exists)
//   plain:   C = A · B0ᵀ in fp32 (down projection; router logits)
// Tiles: BM = 32 rows × BN = 64 columns per block of 4 warps. The blocks of one launch are laid out as
// grid = (N / BN, M tiles); M tile i belongs to the group g with tile_offsets[g] ≤ i < tile_offsets[g+1]
// (tile_offsets = prefix sum of ceil(rows_g / BM), made on the device by permute.hpp), so the host never needs
// the token counts and the launch is the same at decode (few rows per expert) and prefill.
//
// bf16 / fp16 weights: tensor cores through WMMA m16n16k16, fp32 accumulation; activations are converted to the
// weight type before the MMA. fp32 weights: a SIMT kernel with the same schedule (exact fp32 products).
// Loads are 16-byte vectors: K must be a multiple of 8 (16-bit) or 4 (fp32) — checked by can_implement.
// silu is moe::silu, the expression the CPU kernels use.
#pragma once

#include <cuda_runtime.h>
#include <mma.h>

#include <cstdint>
#include <type_traits>

#include "moe/cuda/error.hpp"
#include "moe/cuda/kernels/device_types.hpp"
#include "moe/routing/activations.hpp"

namespace moe::cuda {

inline constexpr int gemm_block_m = 32;  // rows (tokens) per tile: 2 WMMA rows; a decode expert fills one tile
inline constexpr int gemm_block_n = 64;  // output columns per tile
inline constexpr int gemm_threads = 128;

// Which rows belong to which group. With offsets == nullptr there is a single group of `rows` rows (dense GEMM).
struct grouped_rows {
    const int* offsets = nullptr;       // (groups + 1) device: rows of group g are [offsets[g], offsets[g+1])
    const int* tile_offsets = nullptr;  // (groups + 1) device: first M tile of group g (prefix sum of ceil(rows/BM))
    int groups = 1;
    int rows = 0;       // total rows (dense) — or an upper bound on them (grouped)
    int max_tiles = 0;  // grid.y: an upper bound on tile_offsets[groups]
};

// Upper bound on M tiles over `groups` groups holding `rows` rows in total: each non-empty group wastes < 1 tile.
constexpr int max_m_tiles(long long rows, long long groups) {
    const long long nonempty = groups < rows ? groups : rows;
    return static_cast<int>((rows + gemm_block_m - 1) / gemm_block_m + nonempty);
}

enum class gemm_epilogue { plain, swiglu };

namespace kernels {

// The group, first row and row count of this block's M tile; false when the tile is past the last group.
struct tile_position {
    int group, first_row, rows;
};
__device__ __forceinline__ bool locate_tile(const grouped_rows& g, int tile, tile_position& p) {
    if (g.offsets == nullptr) {
        p = {0, tile * gemm_block_m, min(gemm_block_m, g.rows - tile * gemm_block_m)};
        return p.rows > 0;
    }
    if (tile >= g.tile_offsets[g.groups]) return false;
    int lo = 0, hi = g.groups - 1;  // last group whose first tile ≤ tile (empty groups have equal offsets)
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (g.tile_offsets[mid] <= tile) lo = mid; else hi = mid - 1;
    }
    const int first = g.offsets[lo] + (tile - g.tile_offsets[lo]) * gemm_block_m;
    p = {lo, first, min(gemm_block_m, g.offsets[lo + 1] - first)};
    return p.rows > 0;
}

// Tensor-core grouped GEMM. T is __nv_bfloat16 or __half.
// a:        (rows, K)        activations in grouped order, type T
// b0, b1:   (groups, N, K)   weights, type T (b1: the up projection, swiglu only)
// out_act:  (rows, N)        swiglu: silu(a·b0ᵀ) ⊙ (a·b1ᵀ) in T
// out_f32:  (rows, N)        plain: a·b0ᵀ in fp32
template <class T, gemm_epilogue Epilogue>
__global__ void __launch_bounds__(gemm_threads)
    grouped_gemm_wmma(const T* __restrict__ a, const T* __restrict__ b0, const T* __restrict__ b1, grouped_rows g,
                      int n, int k, T* __restrict__ out_act, float* __restrict__ out_f32) {
    using namespace nvcuda;
    constexpr bool swiglu = Epilogue == gemm_epilogue::swiglu;
    constexpr int BM = gemm_block_m, BN = gemm_block_n, BK = 32;
    constexpr int LDS = BK + 8;       // padded shared row (elements): a multiple of 8 as WMMA needs, fewer conflicts
    constexpr int LDC = BN + 4;       // padded fp32 staging row
    constexpr int bs = swiglu ? 2 : 1;
    __shared__ __align__(128) T s_a[BM][LDS];          // (BM, BK) tile of A
    __shared__ __align__(128) T s_b[bs][BN][LDS];      // (BN, BK) tiles of B0 (and B1)
    __shared__ __align__(128) float s_c[bs][BM][LDC];  // fp32 accumulators for the epilogue

    tile_position p;
    if (!locate_tile(g, static_cast<int>(blockIdx.y), p)) return;
    const int n0 = static_cast<int>(blockIdx.x) * BN;
    const int tid = static_cast<int>(threadIdx.x), warp = tid / 32;
    const int warp_m = (warp / 2) * 16, warp_n = (warp % 2) * 32;  // each warp: 16 rows × 32 columns
    const std::int64_t weight_offset = static_cast<std::int64_t>(p.group) * n * k;

    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[bs][2];
#pragma unroll
    for (int m = 0; m < bs; ++m)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[m][j], 0.0f);

    const uint4 zero = make_uint4(0, 0, 0, 0);
    for (int k0 = 0; k0 < k; k0 += BK) {
        // A tile: BM × BK = 128 chunks of 8 elements, one per thread; rows past the group and K past the end are 0.
        {
            const int r = tid / 4, c = (tid % 4) * 8;
            const bool in = r < p.rows && k0 + c < k;
            *reinterpret_cast<uint4*>(&s_a[r][c]) =
                in ? *reinterpret_cast<const uint4*>(a + static_cast<std::int64_t>(p.first_row + r) * k + k0 + c) : zero;
        }
        // B tiles: BN × BK = 256 chunks per matrix, two per thread.
#pragma unroll
        for (int m = 0; m < bs; ++m) {
            const T* b = (m == 0 ? b0 : b1) + weight_offset;
#pragma unroll
            for (int i = 0; i < 2; ++i) {
                const int chunk = tid + i * gemm_threads, r = chunk / 4, c = (chunk % 4) * 8;
                const bool in = n0 + r < n && k0 + c < k;
                *reinterpret_cast<uint4*>(&s_b[m][r][c]) =
                    in ? *reinterpret_cast<const uint4*>(b + static_cast<std::int64_t>(n0 + r) * k + k0 + c) : zero;
            }
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> fa;
            wmma::load_matrix_sync(fa, &s_a[warp_m][kk], LDS);
#pragma unroll
            for (int m = 0; m < bs; ++m) {
#pragma unroll
                for (int j = 0; j < 2; ++j) {
                    // B is (N, K) row-major = (K, N) column-major: the layout matrix_b needs for A · Bᵀ.
                    wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> fb;
                    wmma::load_matrix_sync(fb, &s_b[m][warp_n + j * 16][kk], LDS);
                    wmma::mma_sync(acc[m][j], fa, fb, acc[m][j]);
                }
            }
        }
        __syncthreads();
    }

#pragma unroll
    for (int m = 0; m < bs; ++m)
#pragma unroll
        for (int j = 0; j < 2; ++j)
            wmma::store_matrix_sync(&s_c[m][warp_m][warp_n + j * 16], acc[m][j], LDC, wmma::mem_row_major);
    __syncthreads();
    for (int i = tid; i < BM * BN; i += gemm_threads) {
        const int r = i / BN, c = i % BN;
        if (r >= p.rows || n0 + c >= n) continue;
        const std::int64_t out = static_cast<std::int64_t>(p.first_row + r) * n + n0 + c;
        if constexpr (swiglu) {
            out_act[out] = from_f32<T>(silu(s_c[0][r][c]) * s_c[1][r][c]);
        } else {
            out_f32[out] = s_c[0][r][c];
        }
    }
}

// SIMT grouped GEMM for fp32 weights (and the fp32 router logits). Same schedule and epilogues as above.
// a: (rows, K) fp32; b0, b1: (groups, N, K) fp32; out: (rows, N) fp32 (swiglu: the activation).
template <gemm_epilogue Epilogue>
__global__ void __launch_bounds__(gemm_threads)
    grouped_gemm_simt(const float* __restrict__ a, const float* __restrict__ b0, const float* __restrict__ b1,
                      grouped_rows g, int n, int k, float* __restrict__ out) {
    constexpr bool swiglu = Epilogue == gemm_epilogue::swiglu;
    constexpr int BM = gemm_block_m, BN = gemm_block_n, BK = 16;
    constexpr int bs = swiglu ? 2 : 1;
    __shared__ float s_a[BK][BM + 4];      // transposed: a thread's 4 rows are contiguous
    __shared__ float s_b[bs][BK][BN + 4];  // transposed: a thread's 4 columns are contiguous

    tile_position p;
    if (!locate_tile(g, static_cast<int>(blockIdx.y), p)) return;
    const int n0 = static_cast<int>(blockIdx.x) * BN;
    const int tid = static_cast<int>(threadIdx.x);
    const int tm = (tid / 16) * 4, tn = (tid % 16) * 4;  // 8 × 16 threads, 4 × 4 outputs each
    const std::int64_t weight_offset = static_cast<std::int64_t>(p.group) * n * k;

    float acc[bs][4][4] = {};
    for (int k0 = 0; k0 < k; k0 += BK) {
        for (int i = tid; i < BM * BK; i += gemm_threads) {
            const int r = i / BK, c = i % BK;
            s_a[c][r] = r < p.rows && k0 + c < k ? a[static_cast<std::int64_t>(p.first_row + r) * k + k0 + c] : 0.0f;
        }
#pragma unroll
        for (int m = 0; m < bs; ++m) {
            const float* b = (m == 0 ? b0 : b1) + weight_offset;
            for (int i = tid; i < BN * BK; i += gemm_threads) {
                const int r = i / BK, c = i % BK;
                s_b[m][c][r] = n0 + r < n && k0 + c < k ? b[static_cast<std::int64_t>(n0 + r) * k + k0 + c] : 0.0f;
            }
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            float av[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) av[i] = s_a[kk][tm + i];
#pragma unroll
            for (int m = 0; m < bs; ++m)
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    const float bv = s_b[m][kk][tn + j];
#pragma unroll
                    for (int i = 0; i < 4; ++i) acc[m][i][j] += av[i] * bv;
                }
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j) {
            if (tm + i >= p.rows || n0 + tn + j >= n) continue;
            const std::int64_t o = static_cast<std::int64_t>(p.first_row + tm + i) * n + n0 + tn + j;
            if constexpr (swiglu) {
                out[o] = silu(acc[0][i][j]) * acc[1][i][j];
            } else {
                out[o] = acc[0][i][j];
            }
        }
    }
}

}  // namespace kernels

// out = epilogue(A · B0ᵀ [, A · B1ᵀ]) over the groups of `g`. A: (rows, K) in T; B: (groups, N, K) in T.
// plain writes fp32 to out_f32; swiglu writes T to out_act. T = float uses the SIMT kernel (out_act == out_f32 type).
template <gemm_epilogue Epilogue, class T>
void grouped_gemm(const T* a, const T* b0, const T* b1, const grouped_rows& g, int n, int k, T* out_act,
                  float* out_f32, cudaStream_t stream) {
    const int tiles = g.offsets == nullptr ? (g.rows + gemm_block_m - 1) / gemm_block_m : g.max_tiles;
    if (tiles == 0 || n == 0) return;
    const dim3 grid(blocks_for(n, gemm_block_n), static_cast<unsigned>(tiles));
    if constexpr (std::is_same_v<T, float>) {
        float* out = Epilogue == gemm_epilogue::swiglu ? out_act : out_f32;
        kernels::grouped_gemm_simt<Epilogue><<<grid, gemm_threads, 0, stream>>>(a, b0, b1, g, n, k, out);
    } else {
        kernels::grouped_gemm_wmma<T, Epilogue><<<grid, gemm_threads, 0, stream>>>(a, b0, b1, g, n, k, out_act, out_f32);
    }
    MOE_CUDA_CHECK_LAUNCH();
}

}  // namespace moe::cuda
