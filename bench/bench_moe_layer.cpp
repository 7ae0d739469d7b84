// bench_moe_layer — MoE layer forward on the CPU: tokens/s, GFLOP/s, and for one token the weight bytes read per
// second against the memory read bandwidth measured in the same run.
//
//   bench_moe_layer [--markdown FILE]   (writes the result table to FILE as well as stdout)
//
// Shape: Mixtral-8x7B scaled to fit (width 1024, expert width 3584, 8 experts, top-2), fp32, bf16, fp8_e4m3, q8_0,
// q4_0 and q4_k weights, 1 and 128 tokens, 1 and 2 threads. Each figure is the median of repeated runs on fresh random tokens, so the
// experts (and their weights) read vary between repetitions as in real decoding.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "moe/cpu.hpp"
#include "read_bandwidth.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

using moe_bench::measure_read_bandwidth;

struct row {
    std::string precision;
    int tokens;
    int threads;
    double seconds;
    double tokens_per_second;
    double gflops;
    double weight_gbps;  // 1-token rows only
    double bandwidth;    // measured read bandwidth at this thread count
};

template <moe::moe_layer_config C>
void bench_precision(std::vector<row>& rows, const double bandwidth[3]) {
    const auto weights = moe::owned_moe_layer_weights<C>::random(1);
    moe::cpu::moe_layer<C> layer(weights.view());
    std::mt19937 rng(2);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (int threads : {1, 2}) {
        moe::cpu::thread_pool pool(threads);
        for (int tokens : {1, 128}) {
            const int reps = tokens == 1 ? 60 : 12;
            std::vector<moe::host_matrix<float>> inputs;
            for (int r = 0; r < reps; ++r) {
                inputs.emplace_back(tokens, C.model_width);
                for (std::int64_t i = 0; i < inputs.back().rows() * inputs.back().cols(); ++i)
                    inputs.back().data()[i] = normal(rng);
            }
            moe::host_matrix<float> y(tokens, C.model_width);
            layer.forward(inputs[0].view(), y.view(), pool);  // warm-up
            std::vector<double> times;
            for (const auto& x : inputs) {
                const auto start = clock_type::now();
                layer.forward(x.view(), y.view(), pool);
                times.push_back(std::chrono::duration<double>(clock_type::now() - start).count());
            }
            const double s = median(times);
            const double flops = 2.0 * double(C.active_parameters()) * tokens;
            const double weight_bytes = double(C.top_k) * 3.0 * C.model_width * C.expert_width *
                                            double(moe::bytes_per_weight(C.weights)) +
                                        4.0 * C.experts * C.model_width;
            rows.push_back({std::string(moe::name_of(C.weights)), tokens, threads, s, tokens / s, flops / s / 1e9,
                            tokens == 1 ? weight_bytes / s / 1e9 : 0.0, bandwidth[threads]});
        }
    }
}

constexpr moe::moe_layer_config mixtral_scaled{
    .model_width = 1024, .expert_width = 3584, .experts = 8, .top_k = 2, .router = moe::routers::mixtral};

template <moe::moe_layer_config C>
constexpr moe::moe_layer_config with(moe::weight_format f) {
    auto c = C;
    c.weights = f;
    return c;
}

}  // namespace

int main(int argc, char** argv) {
    std::string markdown_path;
    for (int i = 1; i < argc; ++i) {
        if (std::string(argv[i]) == "--markdown" && i + 1 < argc) markdown_path = argv[++i];
        else {
            std::fprintf(stderr, "usage: bench_moe_layer [--markdown FILE]\n");
            return 2;
        }
    }
    const double bandwidth[3] = {0, measure_read_bandwidth(1), measure_read_bandwidth(2)};
    std::vector<row> rows;
    bench_precision<with<mixtral_scaled>(moe::weight_format::fp32)>(rows, bandwidth);
    bench_precision<with<mixtral_scaled>(moe::weight_format::bf16)>(rows, bandwidth);
    bench_precision<with<mixtral_scaled>(moe::weight_format::fp8_e4m3)>(rows, bandwidth);
    bench_precision<with<mixtral_scaled>(moe::weight_format::q8_0)>(rows, bandwidth);
    bench_precision<with<mixtral_scaled>(moe::weight_format::q4_0)>(rows, bandwidth);
    bench_precision<with<mixtral_scaled>(moe::weight_format::q4_k)>(rows, bandwidth);

    std::ostringstream out;
    char line[512];
    std::snprintf(line, sizeof line, "Measured read bandwidth: %.1f GB/s (1 thread), %.1f GB/s (2 threads).\n\n",
                  bandwidth[1], bandwidth[2]);
    out << line;
    out << "| weights | tokens | threads | time / forward | tokens/s | GFLOP/s | weight bytes read | "
           "of measured bandwidth |\n|---|---|---|---|---|---|---|---|\n";
    for (const auto& r : rows) {
        if (r.tokens == 1) {
            std::snprintf(line, sizeof line, "| %s | %d | %d | %.3f ms | %.0f | %.1f | %.1f GB/s | %.0f%% |\n",
                          r.precision.c_str(), r.tokens, r.threads, r.seconds * 1e3, r.tokens_per_second, r.gflops,
                          r.weight_gbps, 100.0 * r.weight_gbps / r.bandwidth);
        } else {
            std::snprintf(line, sizeof line, "| %s | %d | %d | %.2f ms | %.0f | %.1f | — | — |\n", r.precision.c_str(),
                          r.tokens, r.threads, r.seconds * 1e3, r.tokens_per_second, r.gflops);
        }
        out << line;
    }
    std::fputs(out.str().c_str(), stdout);
    if (!markdown_path.empty()) std::ofstream(markdown_path) << out.str();
    return 0;
}
