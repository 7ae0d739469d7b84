// bench/cuda/bench_cuda_moe.cu — CUDA backend benchmarks, printed as markdown tables.
//   1. grouped GEMM (WMMA, bf16, 64 groups) TFLOP/s vs a cuBLAS bf16 dense GEMM of the same FLOPs (fp32 accumulate)
//   2. moe::cuda::moe_layer latency, Mixtral-8x7B- and DeepSeek-V3-shaped layers (random bf16 weights), 1/64/1024 tokens
//   3. router kernel bandwidth (logits read + ids/weights written), 256 experts top-8 DeepSeek-V3 router
// Without a CUDA device it prints "SKIPPED: no CUDA device (...)" and exits 0.
#include <cublas_v2.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "moe/cuda.hpp"

namespace {

#define BENCH_CUBLAS_CHECK(call)                                                                    \
    do {                                                                                            \
        const cublasStatus_t status_ = (call);                                                      \
        if (status_ != CUBLAS_STATUS_SUCCESS) {                                                     \
            std::fprintf(stderr, "%s failed: %d\n", #call, static_cast<int>(status_));             \
            std::exit(1);                                                                           \
        }                                                                                           \
    } while (0)

template <class F>
float time_ms(F&& f, cudaStream_t s, int repeats = 20) {
    f();  // warm up
    moe::cuda::event start, stop;
    start.record(s);
    for (int i = 0; i < repeats; ++i) f();
    stop.record(s);
    stop.synchronize();
    return stop.elapsed_ms_since(start) / float(repeats);
}

void fill_random_bf16(moe::cuda::device_buffer<__nv_bfloat16>& d, std::uint64_t seed) {
    std::vector<moe::bfloat16> h(d.size());
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> u(-0.05f, 0.05f);
    for (auto& v : h) v = moe::bfloat16(u(rng));
    MOE_CUDA_CHECK(cudaMemcpy(d.data(), h.data(), h.size() * 2, cudaMemcpyHostToDevice));
}

void bench_grouped_gemm(cudaStream_t s) {
    std::printf("\n### Grouped GEMM (bf16 WMMA, fp32 accumulate) vs cuBLAS dense bf16 GEMM of the same FLOPs\n\n");
    std::printf("| groups | rows/group | N | K | grouped ms | grouped TFLOP/s | cuBLAS ms | cuBLAS TFLOP/s |\n|---|---|---|---|---|---|---|---|\n");
    cublasHandle_t handle;
    BENCH_CUBLAS_CHECK(cublasCreate(&handle));
    BENCH_CUBLAS_CHECK(cublasSetStream(handle, s));
    for (int rows_per_group : {16, 128, 512}) {
        const int groups = 64, n = 2048, k = 4096, rows = groups * rows_per_group;
        moe::cuda::device_buffer<__nv_bfloat16> a(std::size_t(rows) * k), b(std::size_t(groups) * n * k);
        moe::cuda::device_buffer<float> c(std::size_t(rows) * n);
        fill_random_bf16(a, 1);
        fill_random_bf16(b, 2);
        std::vector<int> offsets(groups + 1), tiles(groups + 1);
        for (int g = 0; g <= groups; ++g) {
            offsets[g] = g * rows_per_group;
            tiles[g] = g * ((rows_per_group + moe::cuda::gemm_block_m - 1) / moe::cuda::gemm_block_m);
        }
        moe::cuda::device_buffer<int> d_offsets{std::span<const int>(offsets)}, d_tiles{std::span<const int>(tiles)};
        const moe::cuda::grouped_rows g{.offsets = d_offsets.data(), .tile_offsets = d_tiles.data(), .groups = groups,
                                        .rows = rows, .max_tiles = tiles[groups]};
        const float grouped = time_ms([&] {
            moe::cuda::grouped_gemm<moe::cuda::gemm_epilogue::plain, __nv_bfloat16>(a.data(), b.data(), nullptr, g, n, k,
                                                                                  nullptr, c.data(), s);
        }, s);
        // Dense GEMM with the same FLOPs: (rows × k) · (k × n), one weight matrix.
        const float alpha = 1.0f, beta = 0.0f;
        const float dense = time_ms([&] {
            BENCH_CUBLAS_CHECK(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, n, rows, k, &alpha, b.data(), CUDA_R_16BF, k,
                                            a.data(), CUDA_R_16BF, k, &beta, c.data(), CUDA_R_32F, n, CUBLAS_COMPUTE_32F,
                                            CUBLAS_GEMM_DEFAULT));
        }, s);
        const double flops = 2.0 * rows * n * k;
        std::printf("| %d | %d | %d | %d | %.3f | %.1f | %.3f | %.1f |\n", groups, rows_per_group, n, k, grouped,
                    flops / grouped / 1e9, dense, flops / dense / 1e9);
    }
    BENCH_CUBLAS_CHECK(cublasDestroy(handle));
}

template <moe::moe_layer_config C>
void bench_layer(const char* name, cudaStream_t s) {
    // One random expert on the host, viewed by every expert slot: the upload still makes E distinct device copies
    // (so the kernels read E experts' worth of memory), without generating 11 G random host numbers for DeepSeek-V3.
    using storage = moe::storage_t<C.weights>;
    constexpr std::int64_t D = C.model_width, F = C.expert_width, E = C.experts, S = C.shared_width();
    std::mt19937_64 rng(7);
    auto random_matrix = [&]<class T>(std::int64_t rows, std::int64_t cols, T) {
        moe::host_matrix<T> m(rows, cols);
        std::uniform_real_distribution<float> u(-1.0f / std::sqrt(float(cols)), 1.0f / std::sqrt(float(cols)));
        for (std::int64_t i = 0; i < rows * cols; ++i) m.data()[i] = T(u(rng));
        return m;
    };
    const auto router = random_matrix(E, D, 0.0f), bias = random_matrix(1, E, 0.0f);
    const auto gate = random_matrix(F, D, storage{}), up = random_matrix(F, D, storage{}), down = random_matrix(D, F, storage{});
    const auto shared_gate = random_matrix(S, D, storage{}), shared_up = random_matrix(S, D, storage{});
    const auto shared_down = random_matrix(S > 0 ? D : 0, S, storage{});
    moe::moe_layer_weights<C> w;
    w.router = router.view();
    if constexpr (C.router.selection_bias) w.selection_bias = bias.view();
    for (auto& e : w.experts) e = {gate.view(), up.view(), down.view()};
    if constexpr (S > 0) w.shared = {shared_gate.view(), shared_up.view(), shared_down.view()};
    moe::cuda::moe_layer<C> layer(w, {.routed_scaling_factor = 2.5f});
    for (int tokens : {1, 64, 1024}) {
        std::vector<float> x(std::size_t(tokens) * C.model_width);
        std::mt19937_64 rng(tokens);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        for (float& v : x) v = normal(rng);
        moe::cuda::device_buffer<float> d_x{std::span<const float>(x)}, d_y(x.size());
        const std::size_t bytes = layer.get_workspace_size(tokens);
        moe::cuda::device_buffer<std::byte> ws(bytes);
        const float ms = time_ms([&] { layer.forward(d_x.data(), d_y.data(), tokens, ws.data(), bytes, s); }, s, 10);
        std::printf("| %s | %d | %.3f | %.1f |\n", name, tokens, ms, ms * 1000.0 / tokens);
    }
}

// The real layer shapes (one layer each): Mixtral-8x7B 2.8 GB, DeepSeek-V3 22.6 GB of bf16 expert weights on the device.
constexpr moe::moe_layer_config mixtral_8x7b_layer{
    .model_width = 4096, .expert_width = 14336, .experts = 8, .top_k = 2, .router = moe::routers::mixtral,
    .weights = moe::weight_format::bf16};
constexpr moe::moe_layer_config deepseek_v3_layer{
    .model_width = 7168, .expert_width = 2048, .experts = 256, .top_k = 8, .shared_experts = 1,
    .router = moe::routers::deepseek_v3(8, 4), .weights = moe::weight_format::bf16};

void bench_router(cudaStream_t s) {
    std::printf("\n### Router kernel (DeepSeek-V3: 256 experts, 8 groups, top-8, bias)\n\n| tokens | µs | GB/s |\n|---|---|---|\n");
    constexpr int E = 256, K = 8;
    for (int tokens : {1, 1024, 65536}) {
        moe::cuda::device_buffer<float> logits(std::size_t(tokens) * E), bias(E), w(std::size_t(tokens) * K);
        moe::cuda::device_buffer<int> ids(std::size_t(tokens) * K);
        MOE_CUDA_CHECK(cudaMemset(logits.data(), 0, logits.bytes()));
        MOE_CUDA_CHECK(cudaMemset(bias.data(), 0, bias.bytes()));
        const float ms = time_ms([&] {
            moe::cuda::route_tokens<moe::routers::deepseek_v3(8, 4), E, K>(logits.data(), bias.data(), 2.5f, tokens,
                                                                          ids.data(), w.data(), s);
        }, s);
        const double bytes = double(tokens) * (E * 4 + K * 8);
        std::printf("| %d | %.2f | %.1f |\n", tokens, ms * 1000.0, bytes / ms / 1e6);
    }
}

}  // namespace

int main() {
    const char* why = "";
    if (moe::cuda::device_count(&why) == 0) {
        std::printf("SKIPPED: no CUDA device (%s)\n", why);
        return 0;
    }
    cudaDeviceProp prop{};
    MOE_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    std::printf("## CUDA backend benchmarks — %s\n", prop.name);
    moe::cuda::stream s;
    bench_grouped_gemm(s);
    std::printf("\n### MoE layer latency (bf16 weights, random; forward() only, workspace preallocated)\n\n");
    std::printf("| layer | tokens | ms | µs / token |\n|---|---|---|---|\n");
    bench_layer<mixtral_8x7b_layer>("Mixtral-8x7B", s);
    bench_layer<deepseek_v3_layer>("DeepSeek-V3", s);
    bench_router(s);
    return 0;
}
