// tests/cuda/test_cuda_grouped_gemm.cu — the grouped GEMMs (WMMA bf16/fp16, SIMT fp32) against a double-precision
// host loop on the same (already rounded) inputs, with uneven groups: empty groups, one row, a partial tile, several
// tiles; N not a multiple of the 64-column tile and K not a multiple of the 32-element k-step.
// Tolerances: the inputs are identical, so only the fp32 accumulation order differs: |Δ| ≤ 1e-5 · Σ|a·b| per output
// (the fp32 rounding of a K = 40…200 term sum is ≤ K · 2⁻²⁴ ≈ 1.2e-5 of Σ|a·b| in the worst case, ≈ √K · 2⁻²⁴
// typically). The SwiGLU output is stored in the weight type: add one rounding, 2⁻⁸ (bf16) / 2⁻¹⁰ (fp16) relative.
#include <cmath>
#include <cstdint>
#include <random>
#include <type_traits>
#include <vector>

#include "gpu_test.hpp"
#include "moe/cuda/kernels/grouped_gemm.hpp"

namespace {

template <class Host>
float widen(Host v) {
    return moe::to_float(v);
}

template <class Host, moe::cuda::gemm_epilogue Epilogue>
void check_grouped_gemm(std::vector<int> rows_per_group, int n, int k, std::uint64_t seed) {
    using Device = moe::cuda::device_t<Host>;
    constexpr bool swiglu = Epilogue == moe::cuda::gemm_epilogue::swiglu;
    const int groups = static_cast<int>(rows_per_group.size());
    std::vector<int> offsets(groups + 1, 0), tile_offsets(groups + 1, 0);
    for (int g = 0; g < groups; ++g) {
        offsets[g + 1] = offsets[g] + rows_per_group[g];
        tile_offsets[g + 1] = tile_offsets[g] + (rows_per_group[g] + moe::cuda::gemm_block_m - 1) / moe::cuda::gemm_block_m;
    }
    const int rows = offsets[groups];
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    std::vector<Host> a(std::size_t(rows) * k), b0(std::size_t(groups) * n * k), b1(b0.size());
    for (auto& v : a) v = Host(uniform(rng));
    for (auto& v : b0) v = Host(uniform(rng));
    for (auto& v : b1) v = Host(uniform(rng));

    auto upload = [](const std::vector<Host>& h) {
        moe::cuda::device_buffer<Device> d(h.size());
        MOE_CUDA_CHECK(cudaMemcpy(d.data(), h.data(), h.size() * sizeof(Host), cudaMemcpyHostToDevice));
        return d;
    };
    auto d_a = upload(a), d_b0 = upload(b0), d_b1 = upload(b1);
    moe::cuda::device_buffer<int> d_offsets{std::span<const int>(offsets)}, d_tiles{std::span<const int>(tile_offsets)};
    moe::cuda::device_buffer<Device> out_act(std::size_t(rows) * n);
    moe::cuda::device_buffer<float> out_f32(std::size_t(rows) * n);
    const moe::cuda::grouped_rows g{.offsets = d_offsets.data(), .tile_offsets = d_tiles.data(), .groups = groups,
                                    .rows = rows, .max_tiles = moe::cuda::max_m_tiles(rows, groups)};
    moe::cuda::grouped_gemm<Epilogue, Device>(d_a.data(), d_b0.data(), d_b1.data(), g, n, k, out_act.data(),
                                              out_f32.data(), nullptr);
    MOE_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<float> result(std::size_t(rows) * n);
    if (swiglu) {
        std::vector<Host> h(result.size());
        MOE_CUDA_CHECK(cudaMemcpy(h.data(), out_act.data(), h.size() * sizeof(Host), cudaMemcpyDeviceToHost));
        for (std::size_t i = 0; i < h.size(); ++i) result[i] = widen(h[i]);
    } else {
        result = out_f32.to_host();
    }

    const double storage_rounding = std::is_same_v<Host, moe::bfloat16> ? 0x1p-8 : std::is_same_v<Host, moe::float16> ? 0x1p-10 : 0.0;
    int bad = 0;
    for (int grp = 0; grp < groups; ++grp) {
        for (int r = offsets[grp]; r < offsets[grp + 1]; ++r) {
            for (int c = 0; c < n; ++c) {
                double s0 = 0, s1 = 0, m0 = 0, m1 = 0;
                for (int i = 0; i < k; ++i) {
                    const double x = widen(a[std::size_t(r) * k + i]);
                    const double w0 = widen(b0[(std::size_t(grp) * n + c) * k + i]);
                    const double w1 = widen(b1[(std::size_t(grp) * n + c) * k + i]);
                    s0 += x * w0, m0 += std::fabs(x * w0);
                    s1 += x * w1, m1 += std::fabs(x * w1);
                }
                double expected = s0, bound = 1e-5 * m0 + 1e-30;
                if (swiglu) {
                    const double silu = s0 / (1.0 + std::exp(-s0));
                    expected = silu * s1;
                    bound = 1e-5 * (m0 * std::fabs(s1) + m1 * std::fabs(silu)) * 1.5 + storage_rounding * std::fabs(expected) + 1e-30;
                }
                bad += !(std::fabs(result[std::size_t(r) * n + c] - expected) <= bound);
            }
        }
    }
    GPU_CHECK(bad == 0, std::to_string(bad) + " outputs out of bounds (n=" + std::to_string(n) + ", k=" +
                            std::to_string(k) + ", swiglu=" + std::to_string(swiglu) + ")");
}

template <class Host>
void check_type(std::uint64_t seed) {
    using moe::cuda::gemm_epilogue;
    const std::vector<int> uneven{0, 1, 33, 0, 70, 32, 5};
    check_grouped_gemm<Host, gemm_epilogue::plain>(uneven, 72, 40, seed);
    check_grouped_gemm<Host, gemm_epilogue::swiglu>(uneven, 72, 40, seed + 1);
    check_grouped_gemm<Host, gemm_epilogue::plain>({3}, 200, 200, seed + 2);  // decode-like: 3 rows
    check_grouped_gemm<Host, gemm_epilogue::swiglu>({130, 0, 0, 2}, 64, 128, seed + 3);
}

}  // namespace

GPU_TEST(grouped_gemm_bf16_wmma) { check_type<moe::bfloat16>(10); }
GPU_TEST(grouped_gemm_fp16_wmma) { check_type<moe::float16>(20); }
GPU_TEST(grouped_gemm_fp32_simt) { check_type<float>(30); }
