// moe/precision/kv_cache_format.hpp — how a KV cache stores its keys and values: fp32, bf16, fp16 or Q8_0.
//
// The cache format is part of the model type (attention_config::cache, mla_config::cache; model/with_kv_cache.hpp
// sets it for a whole description), so the kernels that read a cache are compiled for its storage. Every format
// is written from fp32 rows (store_row) and read back as fp32 (load_row); attention computes in fp32.
//
//   fp32  the reference: 4 bytes a value, exact.
//   bf16  2 bytes, round to nearest even (torch's .to(torch.bfloat16)).
//   fp16  2 bytes, round to nearest even (torch's .to(torch.float16)); values beyond ±65504 become ±inf, so a cache
//         of fp16 keys is only as safe as the model's key range (llama.cpp's default cache type has the same limit).
//   q8_0  34 bytes a block of 32 values: llama.cpp's `-ctk q8_0 -ctv q8_0`. Rows are written as ggml-cpu writes a
//         q8_0 cache (set_rows → the CPU type's from_float, the x86 quantize_row_q8_0: d = amax/127 as fp16,
//         q = round-half-even(x · 127/amax)), and query rows are rounded the same way before their dot products
//         with the keys, as llama.cpp's flash attention converts Q to the K type's vec_dot type (rounds_queries).
//         A cache row (one kv head's keys, or MLA's latent and rope key) must be a whole number of blocks.
#pragma once

#include <cstdint>
#include <string_view>

#include "moe/precision/half_types.hpp"
#include "moe/precision/q8_0.hpp"

#if defined(__F16C__) && !defined(__CUDACC__)
#include <immintrin.h>
#define MOE_KV_CACHE_F16C 1
#endif

namespace moe {

enum class kv_cache_format { fp32, bf16, fp16, q8_0 };

template <kv_cache_format Format>
struct kv_cache_format_traits;

template <>
struct kv_cache_format_traits<kv_cache_format::fp32> {
    using element = float;
    static constexpr std::string_view name = "fp32";
    static constexpr std::int64_t block_width = 1;
    static constexpr bool rounds_queries = false;
    // x: (k) fp32 → row: (k / block_width) elements; row: … → out: (k) fp32.
    static void store_row(const float* x, std::int64_t k, float* row) {
        for (std::int64_t i = 0; i < k; ++i) row[i] = x[i];
    }
    static void load_row(const float* row, std::int64_t k, float* out) {
        for (std::int64_t i = 0; i < k; ++i) out[i] = row[i];
    }
};

template <>
struct kv_cache_format_traits<kv_cache_format::bf16> {
    using element = bfloat16;
    static constexpr std::string_view name = "bf16";
    static constexpr std::int64_t block_width = 1;
    static constexpr bool rounds_queries = false;
    static void store_row(const float* x, std::int64_t k, bfloat16* row) {
        for (std::int64_t i = 0; i < k; ++i) row[i].bits = bfloat16::from_float(x[i]);
    }
    static void load_row(const bfloat16* row, std::int64_t k, float* out) {
        for (std::int64_t i = 0; i < k; ++i) out[i] = bfloat16::to_float(row[i].bits);
    }
};

template <>
struct kv_cache_format_traits<kv_cache_format::fp16> {
    using element = float16;
    static constexpr std::string_view name = "fp16";
    static constexpr std::int64_t block_width = 1;
    static constexpr bool rounds_queries = false;
    static void store_row(const float* x, std::int64_t k, float16* row) {
        for (std::int64_t i = 0; i < k; ++i) row[i].bits = float16::from_float(x[i]);
    }
    // Exact either way; F16C's vcvtph2ps turns 8 values at once (the portable conversion branches on subnormals).
    static void load_row(const float16* row, std::int64_t k, float* out) {
        std::int64_t i = 0;
#ifdef MOE_KV_CACHE_F16C
        for (; i + 8 <= k; i += 8) {
            const __m128i half = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + i));
            _mm256_storeu_ps(out + i, _mm256_cvtph_ps(half));
        }
#endif
        for (; i < k; ++i) out[i] = float16::to_float(row[i].bits);
    }
};

template <>
struct kv_cache_format_traits<kv_cache_format::q8_0> {
    using element = q8_0_block;
    static constexpr std::string_view name = "q8_0";
    static constexpr std::int64_t block_width = q8_0_block_size;
    static constexpr bool rounds_queries = true;
    // x: (k) fp32, k a multiple of 32 → row: (k/32) blocks, ggml-cpu's quantize_row_q8_0 (see the header comment).
    static void store_row(const float* x, std::int64_t k, q8_0_block* row) {
        for (std::int64_t b = 0; b < k / q8_0_block_size; ++b) {
            float scale = 0.0f;
            quantize_q8_0_activations(x + b * q8_0_block_size, q8_0_block_size, row[b].q, &scale);
            row[b].scale_bits = float16::from_float(scale);  // exact: scale is an fp16 value already
        }
    }
    static void load_row(const q8_0_block* row, std::int64_t k, float* out) { dequantize_q8_0_row(row, k, out); }
};

// A query row rounded as the K type's dot product sees it: x (k) → out (k); a copy unless rounds_queries.
template <kv_cache_format Format>
void round_query_row(const float* x, std::int64_t k, float* out) {
    using traits = kv_cache_format_traits<Format>;
    if constexpr (traits::rounds_queries) {
        typename traits::element block;
        for (std::int64_t b = 0; b < k / traits::block_width; ++b) {
            traits::store_row(x + b * traits::block_width, traits::block_width, &block);
            traits::load_row(&block, traits::block_width, out + b * traits::block_width);
        }
    } else {
        for (std::int64_t i = 0; i < k; ++i) out[i] = x[i];
    }
}

template <kv_cache_format Format>
using kv_cache_element_t = typename kv_cache_format_traits<Format>::element;

// The format whose element type is Element (the kernels are written over element types).
template <class Element>
inline constexpr kv_cache_format kv_cache_format_of = kv_cache_format::fp32;
template <>
inline constexpr kv_cache_format kv_cache_format_of<bfloat16> = kv_cache_format::bf16;
template <>
inline constexpr kv_cache_format kv_cache_format_of<float16> = kv_cache_format::fp16;
template <>
inline constexpr kv_cache_format kv_cache_format_of<q8_0_block> = kv_cache_format::q8_0;

// Calls f(kv_cache_format_traits<F>{}) for the format's F: the runtime figures below read the traits, so a format is
// described in one place.
template <class F>
constexpr auto with_kv_cache_traits(kv_cache_format format, F&& f) {
    switch (format) {
        case kv_cache_format::bf16: return f(kv_cache_format_traits<kv_cache_format::bf16>{});
        case kv_cache_format::fp16: return f(kv_cache_format_traits<kv_cache_format::fp16>{});
        case kv_cache_format::q8_0: return f(kv_cache_format_traits<kv_cache_format::q8_0>{});
        case kv_cache_format::fp32: break;
    }
    return f(kv_cache_format_traits<kv_cache_format::fp32>{});
}

constexpr std::string_view name_of(kv_cache_format format) {
    return with_kv_cache_traits(format, [](auto traits) { return decltype(traits)::name; });
}

// Values per storage element (32 for q8_0): a cache row's width must be a multiple of it.
constexpr std::int64_t block_width_of(kv_cache_format format) {
    return with_kv_cache_traits(format, [](auto traits) { return decltype(traits)::block_width; });
}

// Bytes `values` cached values take (whole blocks: values is a multiple of the block width).
constexpr std::int64_t cache_bytes(kv_cache_format format, std::int64_t values) {
    return with_kv_cache_traits(format, [values](auto traits) {
        using traits_type = decltype(traits);
        return values / traits_type::block_width * std::int64_t{sizeof(typename traits_type::element)};
    });
}

}  // namespace moe
