// bench_attention — one decode step's attention (one query token) over a long fp32 cache, the two CPU kernels side
// by side in one run: per_head_attention (one work item per query head, each reading its kv head's whole cache, the
// decode path before split_kv_attention) and split_kv_attention (items of 256 cached positions per kv head, every
// query head of the group reading them once; what causal_attention runs at decode).
//
//   bench_attention [--threads N] [--markdown FILE]   (N defaults to the hardware's thread count)
//
// Shapes: Mixtral's GQA (32 query heads, 8 kv heads of 128) and DeepSeek-V2-Lite's absorbed MLA (16 heads over one
// latent "kv head": keys of 512 + 64, values the first 512), at 1k, 4k, 16k and 32k cached positions. Figures:
// median microseconds per step, and the cache bytes one step must read (every key and value once) divided by that
// time, against the memory read bandwidth measured in the same run.
//
// A second table runs split_kv_attention over the same caches stored as fp32, bf16, fp16 and q8_0
// (precision/kv_cache_format.hpp): microseconds per step and the format's bytes read per second.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "moe/cpu/attention/causal_attention.hpp"
#include "moe/cpu/attention/kv_cache.hpp"
#include "read_bandwidth.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

struct attention_shape {
    const char* name;
    moe::cpu::attention_heads heads;
    std::int64_t key_width, value_width;  // cache columns: keys (L, key_width), values (L, value_width)
    bool values_in_keys;                  // MLA: values are the first Dv columns of the key rows (one latent row)
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

template <class Kernel>
double microseconds_per_step(Kernel&& kernel, std::int64_t context) {
    const int reps = context >= 16384 ? 15 : 40;
    kernel();  // warm-up: scratch buffers grown, pages touched
    std::vector<double> times;
    for (int r = 0; r < reps; ++r) {
        const auto start = clock_type::now();
        kernel();
        times.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - start).count());
    }
    return median(times);
}

// The same cache stored in `Format`; a decode step's split-KV attention over it, in microseconds.
template <moe::kv_cache_format Format>
double split_kv_microseconds(const moe::host_matrix<float>& q, const moe::host_matrix<float>& keys,
                             const moe::host_matrix<float>& values, const attention_shape& s, moe::host_matrix<float>& out,
                             moe::cpu::thread_pool& pool, std::int64_t context) {
    using element = moe::kv_cache_element_t<Format>;
    moe::host_matrix<element> stored_keys(keys.rows(), keys.cols()), stored_values(values.rows(), values.cols());
    moe::cpu::store_rows<Format>(keys.view(), stored_keys.view());
    moe::cpu::store_rows<Format>(values.view(), stored_values.view());
    const moe::matrix_view<const element> key_view = stored_keys.view();
    const moe::matrix_view<const element> value_view = s.values_in_keys ? key_view : stored_values.view();
    return microseconds_per_step(
        [&] {
            moe::cpu::split_kv_attention<element>(q.view(), {}, key_view, value_view, s.heads, 1.0f / 16.0f,
                                                  out.view(), pool);
        },
        context);
}

}  // namespace

int main(int argc, char** argv) {
    int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    std::string markdown_path;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--threads" && i + 1 < argc) {
            threads = std::max(1, std::atoi(argv[++i]));
        } else if (arg == "--markdown" && i + 1 < argc) {
            markdown_path = argv[++i];
        } else {
            std::fprintf(stderr, "usage: bench_attention [--threads N] [--markdown FILE]\n");
            return 2;
        }
    }
    const attention_shape shapes[] = {
        {"Mixtral GQA (32 q heads, 8 kv heads × 128)", {32, 8, 128, 128}, 8 * 128, 8 * 128, false},
        {"bench_e2e's Mixtral-shaped GQA (16 q heads, 4 kv heads × 64)", {16, 4, 64, 64}, 4 * 64, 4 * 64, false},
        {"DeepSeek-V2-Lite MLA (16 heads, latent 512 + rope 64)", {16, 1, 576, 512}, 576, 0, true},
    };
    moe::cpu::thread_pool pool(threads);
    const double bandwidth = moe_bench::measure_read_bandwidth(threads);

    std::ostringstream table;
    table << "| shape | context | per-head µs | split-KV µs | speed-up | cache GB/s per-head / split-KV (read bw "
          << std::fixed;
    table.precision(1);
    table << bandwidth << ") |\n|---|---|---|---|---|---|\n";
    std::ostringstream formats;
    formats << std::fixed << "| shape | context | fp32 µs | bf16 µs | fp16 µs | q8_0 µs | cache GB/s fp32 / bf16 / fp16 / q8_0 |\n"
            << "|---|---|---|---|---|---|---|\n";
    std::mt19937 rng(3);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (const auto& s : shapes) {
        for (const std::int64_t context : {1024, 4096, 16384, 32768}) {
            const auto& h = s.heads;
            moe::host_matrix<float> q(1, h.heads * h.key_dim), keys(context, s.key_width),
                values(s.values_in_keys ? 0 : context, s.value_width), out(1, h.heads * h.value_dim);
            for (auto* m : {&q, &keys, &values})
                for (std::int64_t i = 0; i < m->rows() * m->cols(); ++i) m->data()[i] = normal(rng);
            const moe::matrix_view<const float> value_view = s.values_in_keys ? keys.view() : values.view();
            const float scale = 1.0f / 16.0f;
            const double per_head = microseconds_per_step(
                [&] {
                    moe::cpu::per_head_attention<float>(q.view(), {}, keys.view(), value_view, h, scale, out.view(), pool);
                },
                context);
            const double split = microseconds_per_step(
                [&] {
                    moe::cpu::split_kv_attention<float>(q.view(), {}, keys.view(), value_view, h, scale, out.view(), pool);
                },
                context);
            const double bytes = double(context) * double(s.key_width + s.value_width) * sizeof(float);
            table.precision(0);
            table << "| " << s.name << " | " << context << " | " << per_head << " | " << split << " | ";
            table.precision(2);
            table << per_head / split << "× | ";
            table.precision(1);
            table << bytes / per_head / 1e3 << " / " << bytes / split / 1e3 << " |\n";

            using moe::kv_cache_format;
            const double by_format[] = {
                split_kv_microseconds<kv_cache_format::fp32>(q, keys, values, s, out, pool, context),
                split_kv_microseconds<kv_cache_format::bf16>(q, keys, values, s, out, pool, context),
                split_kv_microseconds<kv_cache_format::fp16>(q, keys, values, s, out, pool, context),
                split_kv_microseconds<kv_cache_format::q8_0>(q, keys, values, s, out, pool, context)};
            const double values_per_step = double(context) * double(s.key_width + s.value_width);
            const double format_bytes[] = {4 * values_per_step, 2 * values_per_step, 2 * values_per_step,
                                           34.0 / 32.0 * values_per_step};
            formats.precision(0);
            formats << "| " << s.name << " | " << context;
            for (const double us : by_format) formats << " | " << us;
            formats.precision(1);
            formats << " | ";
            for (int f = 0; f < 4; ++f) formats << (f ? " / " : "") << format_bytes[f] / by_format[f] / 1e3;
            formats << " |\n";
        }
    }
    table << "\nsplit_kv_attention by cache format (same caches, stored in each format):\n\n" << formats.str();
    std::printf("bench_attention: one decode step's attention, %d thread%s\n\n%s", threads,
                threads == 1 ? "" : "s", table.str().c_str());
    if (!markdown_path.empty()) {
        std::ofstream file(markdown_path);
        file << table.str();
        if (!file) {
            std::fprintf(stderr, "bench_attention: cannot write %s\n", markdown_path.c_str());
            return 1;
        }
    }
    return 0;
}
