// KV caches in bf16, fp16 and q8_0 (precision/kv_cache_format.hpp, cpu/attention/cache_reads.hpp):
//   - what a cache stores: bf16/fp16 round to nearest even (ties and overflow checked on known values), q8_0 is
//     ggml-cpu's x86 quantize_row_q8_0 (d = fp16(amax/127), q = round-half-even(x·127/amax)) — a plain loop here,
//     and ties that tell it from the weight quantizer's round-half-away;
//   - both attention kernels (split-KV for decode, per-head for prefill) over caches of each format against a
//     double loop over the cache's values read back by plain loops, with the queries rounded to q8_0 for a q8_0
//     cache (llama.cpp's flash attention converts Q to the K type): 2e-6 relative, like the fp32 cache; shared
//     prefixes, sliding windows and MLA's latent cache (values = the first Dv columns of the key rows) included;
//     1 and 3 threads give the same bits;
//   - bytes per token of each format, as the caches and the configs count them.
#include <catch2/catch.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "attention_by_loop.hpp"
#include "layer_test_support.hpp"
#include "moe/config/attention_config.hpp"
#include "moe/cpu/attention/causal_attention.hpp"
#include "moe/cpu/attention/kv_cache.hpp"

namespace test_kv_cache_formats {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

using moe::host_matrix;
using moe::kv_cache_format;
using moe::matrix_view;
using moe::test::attention_by_loop;
using moe::test::random_matrix;
using moe::test::relative_error;

// ---- plain references, written for this test ----

float bf16_value(std::uint16_t bits) { return std::bit_cast<float>(std::uint32_t(bits) << 16); }

// One q8_0 block as ggml-cpu's x86 quantize_row_q8_0 writes it, read back: d · q.
void q8_0_block_by_loop(const float* x, float* out) {
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float d = moe::float16::to_float(moe::float16::from_float(amax / 127.0f));
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    for (int i = 0; i < 32; ++i) out[i] = d * float(int(std::nearbyint(x[i] * id)));
}

// m (rows, W) fp32 → the values a cache of `format` holds for it, read back as fp32.
host_matrix<float> as_cached(const host_matrix<float>& m, kv_cache_format format) {
    host_matrix<float> out(m.rows(), m.cols());
    for (std::int64_t i = 0; i < m.rows() * m.cols(); ++i) {
        const float x = m.data()[i];
        switch (format) {
            case kv_cache_format::fp32: out.data()[i] = x; break;
            case kv_cache_format::bf16: out.data()[i] = float(moe::bfloat16(x)); break;
            case kv_cache_format::fp16: out.data()[i] = float(moe::float16(x)); break;
            case kv_cache_format::q8_0: break;
        }
    }
    if (format == kv_cache_format::q8_0) {
        for (std::int64_t i = 0; i < m.rows() * m.cols(); i += 32) q8_0_block_by_loop(m.data() + i, out.data() + i);
    }
    return out;
}

// m (rows, W) fp32 → a cache-format matrix holding it, written by the library's store_rows.
template <kv_cache_format Format>
host_matrix<moe::kv_cache_element_t<Format>> stored(const host_matrix<float>& m) {
    host_matrix<moe::kv_cache_element_t<Format>> out(m.rows(), m.cols());
    moe::cpu::store_rows<Format>(m.view(), out.view());
    return out;
}

template <class T>
matrix_view<const T> rows_of(const host_matrix<T>& m, std::int64_t first, std::int64_t count) {
    return {m.row(first), count, m.cols()};
}

std::vector<float> values_of(const host_matrix<float>& m) { return {m.data(), m.data() + m.rows() * m.cols()}; }

}  // namespace

TEST_CASE("a KV cache stores bf16/fp16 rounded to nearest even and q8_0 as ggml-cpu writes it", "[cache][formats]") {
    using bf16 = moe::kv_cache_format_traits<kv_cache_format::bf16>;
    using fp16 = moe::kv_cache_format_traits<kv_cache_format::fp16>;
    using q8 = moe::kv_cache_format_traits<kv_cache_format::q8_0>;

    // bf16: 1 + 2^-8 is halfway between 1 and 1 + 2^-7 (ties to the even 1.0); 1 + 3·2^-8 ties up to 1 + 2^-6.
    const float bf16_in[] = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, -2.5f, 3.0e38f};
    moe::bfloat16 bf16_row[4];
    bf16::store_row(bf16_in, 4, bf16_row);
    CHECK(bf16_value(bf16_row[0].bits) == 1.0f);
    CHECK(bf16_value(bf16_row[1].bits) == 1.0f + 0x1p-6f);
    CHECK(bf16_value(bf16_row[2].bits) == -2.5f);
    CHECK(bf16_row[3].bits == 0x7F62);  // torch.tensor([3e38]).to(torch.bfloat16): 3.00405527e38
    float back[4];
    bf16::load_row(bf16_row, 4, back);
    CHECK(back[1] == 1.0f + 0x1p-6f);

    // fp16: 65504 is the largest finite value, 65520 rounds to infinity; 1/3 → 0x3555; 2^-24 the smallest subnormal.
    const float fp16_in[] = {65504.0f, 65520.0f, 1.0f / 3.0f, 0x1p-24f};
    moe::float16 fp16_row[4];
    fp16::store_row(fp16_in, 4, fp16_row);
    CHECK(fp16_row[0].bits == 0x7BFF);
    CHECK(fp16_row[1].bits == 0x7C00);
    CHECK(fp16_row[2].bits == 0x3555);
    CHECK(fp16_row[3].bits == 0x0001);
    fp16::load_row(fp16_row, 4, back);
    CHECK(back[2] == 0.333251953125f);
    CHECK(back[3] == 0x1p-24f);
    // A row long enough for the vectorized read (F16C, 8 at a time): subnormals, ±inf, −0 read back exactly.
    const std::uint16_t special[16] = {0x0001, 0x03FF, 0x0400, 0x7BFF, 0x7C00, 0xFC00, 0x8000, 0x3C00,
                                       0x8001, 0x3555, 0xC000, 0x0200, 0x7BFE, 0x0000, 0x5640, 0x83FF};
    moe::float16 wide[16];
    for (int i = 0; i < 16; ++i) wide[i] = moe::float16::from_bits(special[i]);
    float wide_back[16];
    fp16::load_row(wide, 16, wide_back);
    for (int i = 0; i < 16; ++i) {
        CAPTURE(i);
        CHECK(std::bit_cast<std::uint32_t>(wide_back[i]) == std::bit_cast<std::uint32_t>(moe::float16::to_float(special[i])));
    }

    // q8_0: amax 127 → d = 1, 127/amax = 1: 2.5 and −2.5 tie to the even 2 and −2, 3.5 to 4 (the weight
    // quantizer, round-half-away, would store 3, −3, 4).
    float block[32] = {127.0f, 2.5f, -2.5f, 3.5f, 0.49f, -126.6f};
    moe::q8_0_block q;
    q8::store_row(block, 32, &q);
    CHECK(moe::float16::to_float(q.scale_bits) == 1.0f);
    CHECK(q.q[0] == 127);
    CHECK(q.q[1] == 2);
    CHECK(q.q[2] == -2);
    CHECK(q.q[3] == 4);
    CHECK(q.q[4] == 0);
    CHECK(q.q[5] == -127);
    // Random rows against the plain loop, value for value; a zero block stays zero.
    const auto x = random_matrix(4, 96, 7, 3.0f);
    auto zero_row = host_matrix<float>(1, 32);
    CHECK(values_of(as_cached(x, kv_cache_format::q8_0)) == [&] {
        host_matrix<float> read(4, 96);
        const auto s = stored<kv_cache_format::q8_0>(x);
        for (std::int64_t r = 0; r < 4; ++r) q8::load_row(s.row(r), 96, read.row(r));
        return values_of(read);
    }());
    moe::q8_0_block zero;
    q8::store_row(zero_row.data(), 32, &zero);
    float zero_back[32];
    q8::load_row(&zero, 32, zero_back);
    CHECK(std::count(zero_back, zero_back + 32, 0.0f) == 32);
}

TEST_CASE("bytes per cached token follow the format", "[cache][formats]") {
    moe::cpu::basic_kv_cache<kv_cache_format::bf16> bf16(10, 64);
    moe::cpu::basic_kv_cache<kv_cache_format::fp16> fp16(10, 64);
    moe::cpu::basic_kv_cache<kv_cache_format::q8_0> q8(10, 64);
    moe::cpu::basic_latent_cache<kv_cache_format::q8_0> latent(10, 512, 64);
    CHECK(bf16.bytes_per_token() == 2 * 64 * 2);
    CHECK(fp16.bytes_per_token() == 2 * 64 * 2);
    CHECK(q8.bytes_per_token() == 2 * 2 * 34);  // two 32-value blocks each for keys and values
    CHECK(latent.bytes_per_token() == 18 * 34);   // DeepSeek-V3: 576 values, 612 bytes (2304 in fp32)
    q8.require_room(5);
    CHECK(q8.bytes_allocated() == 10 * q8.bytes_per_token());  // min_growth (16) capped at the capacity
    CHECK_THROWS_AS(moe::cpu::basic_kv_cache<kv_cache_format::q8_0>(10, 48), std::invalid_argument);

    constexpr moe::attention_config mixtral{.model_width = 4096, .heads = 32, .kv_heads = 8, .head_dim = 128,
                                            .cache = kv_cache_format::q8_0};
    STATIC_REQUIRE(mixtral.cache_bytes_per_token() == 2 * 8 * 4 * 34);  // 2176 B per layer (8192 in fp32)
    constexpr moe::mla_config v3{.model_width = 7168, .heads = 128, .q_lora_rank = 1536, .kv_lora_rank = 512,
                                 .qk_nope_head_dim = 128, .qk_rope_head_dim = 64, .v_head_dim = 128,
                                 .cache = kv_cache_format::bf16};
    STATIC_REQUIRE(v3.cache_bytes_per_token() == 576 * 2);
}

namespace {

struct case_shape {
    int H, G, Dk, Dv;
    std::int64_t L, S, T, window;
    bool latent;  // values are the first Dv columns of the key rows (MLA's latent cache)
};

// Attention over a cache of `Format` holding `keys`/`values` (positions [0, S) in a shared segment), both kernels,
// against the double loop over what the cache holds.
template <kv_cache_format Format>
void check_kernels(const case_shape& c) {
    CAPTURE(moe::name_of(Format), c.H, c.G, c.Dk, c.Dv, c.L, c.S, c.T, c.window, c.latent);
    const moe::cpu::attention_heads shape{.heads = c.H, .kv_heads = c.G, .key_dim = c.Dk, .value_dim = c.Dv};
    const auto q = random_matrix(c.T, c.H * c.Dk, 61);
    const auto keys = random_matrix(c.L, c.G * c.Dk, 62, 0.5f);
    auto values = random_matrix(c.L, c.G * c.Dv, 63);
    if (c.latent) {  // the first Dv columns of each key row
        for (std::int64_t j = 0; j < c.L; ++j) {
            for (int d = 0; d < c.Dv; ++d) values(j, d) = keys(j, d);
        }
    }
    const float scale = 1.0f / std::sqrt(float(c.Dk));
    const auto q_seen = Format == kv_cache_format::q8_0 ? as_cached(q, Format) : q;
    const auto expected =
        attention_by_loop(q_seen, as_cached(keys, Format), as_cached(values, Format), shape, scale, c.window);

    using element = moe::kv_cache_element_t<Format>;
    const auto key_cache = stored<Format>(keys), value_cache = stored<Format>(values);
    const auto& value_rows = c.latent ? key_cache : value_cache;  // latent: one cache read as keys and values
    const moe::cpu::shared_kv<element> shared{rows_of(key_cache, 0, c.S), rows_of(value_rows, 0, c.S)};
    const auto own_keys = rows_of(key_cache, c.S, c.L - c.S), own_values = rows_of(value_rows, c.S, c.L - c.S);
    host_matrix<float> out(c.T, c.H * c.Dv), out3(c.T, c.H * c.Dv), per_head(c.T, c.H * c.Dv);
    moe::cpu::thread_pool one(1), three(3);
    moe::cpu::causal_attention(q.view(), shared, own_keys, own_values, shape, scale, out.view(), one, c.window);
    moe::cpu::causal_attention(q.view(), shared, own_keys, own_values, shape, scale, out3.view(), three,
                               c.window);
    moe::cpu::per_head_attention(q.view(), shared, own_keys, own_values, shape, scale, per_head.view(), three,
                                 c.window);
    CHECK(relative_error(out.view(), expected.view()) <= 2e-6);
    CHECK(relative_error(per_head.view(), expected.view()) <= 2e-6);
    CHECK(values_of(out) == values_of(out3));
}

const case_shape kernel_cases[] = {
    {8, 2, 32, 32, 700, 0, 1, 0, false},      // decode, 3 chunks, the last partial
    {8, 2, 32, 32, 700, 300, 3, 0, false},    // shared prefix ending inside chunk 2
    {8, 2, 64, 64, 1100, 600, 2, 257, false}, // window across the shared split
    {4, 4, 32, 32, 80, 0, 20, 0, false},      // prefill: 20 queries take the per-head kernel
    {4, 1, 64, 32, 40, 16, 24, 30, false},    // prefill with a shared prefix and a window
    {16, 1, 96, 64, 600, 0, 1, 0, true},      // MLA: [latent (64) | rope (32)] rows, values = the latent
    {16, 1, 96, 64, 300, 100, 18, 0, true},   // MLA prefill over a shared prompt
};

}  // namespace

TEST_CASE("attention over bf16, fp16 and q8_0 caches matches a double loop over the cached values",
          "[layers][attention][formats]") {
    for (const case_shape& c : kernel_cases) {
        check_kernels<kv_cache_format::bf16>(c);
        check_kernels<kv_cache_format::fp16>(c);
        check_kernels<kv_cache_format::q8_0>(c);
    }
}

TEST_CASE("a cache whose head width is not whole q8_0 blocks is refused with a clear error", "[layers][formats]") {
    const moe::cpu::attention_heads shape{.heads = 2, .kv_heads = 1, .key_dim = 48, .value_dim = 48};
    host_matrix<moe::q8_0_block> keys(4, 96), values(4, 96);
    const auto q = random_matrix(1, 96, 1);
    host_matrix<float> out(1, 96);
    moe::cpu::thread_pool one(1);
    CHECK_THROWS_WITH(moe::cpu::causal_attention(q.view(), moe::cpu::shared_kv<moe::q8_0_block>{},
                                                 rows_of(keys, 0, 4), rows_of(values, 0, 4), shape, 1.0f, out.view(), one),
                      Catch::Contains("multiples of the cache format's 32-value blocks"));
}

}  // namespace test_kv_cache_formats
