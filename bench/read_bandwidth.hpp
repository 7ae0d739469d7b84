// bench/read_bandwidth.hpp — the memory read-bandwidth probe the benchmarks compare themselves against.
#pragma once

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace moe_bench {

// Read bandwidth in GB/s: sums a 1 GiB buffer (far beyond any cache) split over `threads`; best of 5. The buffer
// is advised to use transparent huge pages (as the benchmarks' weights are, see io::file_memory::huge_pages):
// with 4 KiB pages TLB misses cap one core well below what the memory delivers (19 vs 33 GB/s measured here).
inline double measure_read_bandwidth(int threads) {
    const std::size_t bytes = std::size_t{1} << 30, count = bytes / sizeof(float);
    static float* buffer = [&] {
        void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) std::abort();
#if defined(MADV_HUGEPAGE)
        ::madvise(p, bytes, MADV_HUGEPAGE);
#endif
        float* f = static_cast<float*>(p);
        std::fill(f, f + count, 1.0f);
        return f;
    }();
    double best = 0;
    for (int rep = 0; rep < 5; ++rep) {
        std::vector<float> partial(static_cast<std::size_t>(threads) * 64, 0.0f);
        const auto start = std::chrono::steady_clock::now();
        std::vector<std::thread> workers;
        for (int t = 0; t < threads; ++t) {
            workers.emplace_back([&, t] {
                const std::size_t begin = count * static_cast<std::size_t>(t) / static_cast<std::size_t>(threads);
                const std::size_t end = count * static_cast<std::size_t>(t + 1) / static_cast<std::size_t>(threads);
                float acc[64] = {};  // 4 vector registers of independent sums: not latency-bound
                for (std::size_t i = begin; i + 64 <= end; i += 64)
                    for (int l = 0; l < 64; ++l) acc[l] += buffer[i + static_cast<std::size_t>(l)];
                for (int l = 0; l < 64; ++l) partial[static_cast<std::size_t>(t) * 64 + static_cast<std::size_t>(l)] = acc[l];
            });
        }
        for (auto& w : workers) w.join();
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        volatile float sink = partial[0];
        (void)sink;
        best = std::max(best, double(count * sizeof(float)) / seconds / 1e9);
    }
    return best;
}

}  // namespace moe_bench
