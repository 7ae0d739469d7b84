// moe/cuda/kernels/permute.hpp — (token, slot) pairs grouped by expert, and the inverse map, with CUB.
//
// pair p = t·K + j (token t, slot j). A stable radix sort of the pairs by expert id (cub::DeviceRadixSort::SortPairs,
// only the ceil(log2 E) low bits) leaves, within each expert, pairs in ascending p — tokens ascending, exactly
// moe::routing_plan::group_by_expert's counting sort, so grouped rows are the CPU's rows.
// Expert offsets come from the boundaries of the sorted keys (no atomics, deterministic), then the per-expert
// M-tile prefix sum the grouped GEMM schedules from.
// Names follow moe::routing_plan where the meaning is the same (int32 here, int64 there):
//   sorted_experts: (P)      expert of grouped row r (ascending)
//   pair_of_row:    (P)      pair p of grouped row r; routing_plan::token_of_row[r] = pair_of_row[r] / K
//   grouped_row:    (P)      inverse: grouped row of pair p, as routing_plan::grouped_row (written by the gather,
//                            combine.hpp)
//   expert_offset:  (E + 1)  first grouped row of each expert, as routing_plan::expert_offset;
//                            tokens_per_expert[e] = expert_offset[e+1] − expert_offset[e]
//   tile_offsets:   (E + 1)  first M tile of each expert (grouped_gemm.hpp)
// Every kernel is a template (a defaulted dummy parameter where it has no real one), so two translation units of
// one program may include this header: a plain __global__ function would be defined in both.
#pragma once

#include <cub/block/block_scan.cuh>
#include <cub/device/device_radix_sort.cuh>

#include <cuda_runtime.h>

#include <cstddef>

#include "moe/cuda/error.hpp"
#include "moe/cuda/kernels/device_types.hpp"
#include "moe/cuda/kernels/grouped_gemm.hpp"

namespace moe::cuda {

namespace kernels {

// values: (count) out: values[i] = i
template <int = 0>
__global__ void iota(int* __restrict__ values, int count) {
    const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
    if (i < count) values[i] = i;
}

// sorted_experts: (P) ascending; expert_offset: (E + 1) out. Every expert boundary between rows r − 1 and r is
// written by the thread of row r (and the end by the last row), so every entry is written exactly once.
template <int = 0>
__global__ void expert_offsets(const int* __restrict__ sorted_experts, int pairs, int experts,
                               int* __restrict__ expert_offset) {
    const int r = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
    if (r >= pairs) return;
    const int e = sorted_experts[r];
    const int previous = r == 0 ? -1 : sorted_experts[r - 1];
    for (int x = previous + 1; x <= e; ++x) expert_offset[x] = r;
    if (r == pairs - 1) {
        for (int x = e + 1; x <= experts; ++x) expert_offset[x] = pairs;
    }
}

// expert_offset: (E + 1); tokens_per_expert: (E) out; tile_offsets_out: (E + 1) out. One block of 256 threads.
template <int = 0>
__global__ void __launch_bounds__(256)
    tile_offsets(const int* __restrict__ expert_offset, int experts, int* __restrict__ tokens_per_expert,
                 int* __restrict__ tile_offsets_out) {
    using scan = cub::BlockScan<int, 256>;
    __shared__ typename scan::TempStorage storage;
    int running = 0;  // tiles before this chunk of 256 experts
    for (int base = 0; base < experts; base += 256) {
        const int e = base + static_cast<int>(threadIdx.x);
        const int count = e < experts ? expert_offset[e + 1] - expert_offset[e] : 0;
        if (e < experts) tokens_per_expert[e] = count;
        int first = 0, chunk_total = 0;
        scan(storage).ExclusiveSum((count + gemm_block_m - 1) / gemm_block_m, first, chunk_total);
        if (e < experts) tile_offsets_out[e] = running + first;
        running += chunk_total;
        __syncthreads();  // TempStorage is reused by the next chunk
    }
    if (threadIdx.x == 0) tile_offsets_out[experts] = running;
}

}  // namespace kernels

// Device pointers of one grouping pass; sizes in the comments (P = T·K pairs, E experts).
struct permutation {
    int* pair_index = nullptr;         // (P)      scratch: 0 … P−1, the sort's input values
    int* sorted_experts = nullptr;     // (P)
    int* pair_of_row = nullptr;        // (P)
    int* expert_offset = nullptr;      // (E + 1)
    int* tokens_per_expert = nullptr;  // (E)
    int* tile_offsets = nullptr;       // (E + 1)
    void* sort_storage = nullptr;      // CUB temporary storage
    std::size_t sort_storage_bytes = 0;
};

// Bits of the expert id the radix sort needs.
constexpr int expert_bits(int experts) {
    int bits = 1;
    while ((1 << bits) < experts) ++bits;
    return bits;
}

// Phase 1 (CUB style): temporary storage the sort needs for `pairs` pairs.
inline std::size_t permutation_sort_bytes(int pairs, int experts) {
    std::size_t bytes = 0;
    MOE_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, bytes, static_cast<const int*>(nullptr),
                                                   static_cast<int*>(nullptr), static_cast<const int*>(nullptr),
                                                   static_cast<int*>(nullptr), pairs, 0, expert_bits(experts)));
    return bytes;
}

// expert_ids: (P) device. Fills every array of `p`.
inline void group_by_expert(const int* expert_ids, int pairs, int experts, const permutation& p, cudaStream_t stream) {
    if (pairs == 0) return;
    kernels::iota<><<<blocks_for(pairs, 256), 256, 0, stream>>>(p.pair_index, pairs);
    MOE_CUDA_CHECK_LAUNCH();
    std::size_t bytes = p.sort_storage_bytes;
    MOE_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(p.sort_storage, bytes, expert_ids, p.sorted_experts, p.pair_index,
                                                   p.pair_of_row, pairs, 0, expert_bits(experts), stream));
    kernels::expert_offsets<><<<blocks_for(pairs, 256), 256, 0, stream>>>(p.sorted_experts, pairs, experts,
                                                                          p.expert_offset);
    MOE_CUDA_CHECK_LAUNCH();
    kernels::tile_offsets<><<<1, 256, 0, stream>>>(p.expert_offset, experts, p.tokens_per_expert, p.tile_offsets);
    MOE_CUDA_CHECK_LAUNCH();
}

}  // namespace moe::cuda
