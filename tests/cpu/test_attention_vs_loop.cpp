// Checks grouped-query and multi-head latent attention on random weights against plain double-precision loops
// written here (MLA in the expanded form transformers uses, so the absorbed C++ path is checked against the
// definition): full prefill, token-by-token decoding and uneven chunks through the cache, bit-identical results for
// 1 and 2 threads, bf16 storage against fp32 on the same (rounded) weights, and a full cache that throws and stays
// usable.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "layer_test_support.hpp"
#include "moe/cpu/attention/grouped_query_attention.hpp"
#include "moe/cpu/attention/multi_head_latent_attention.hpp"

namespace test_attention_vs_loop {  // the file's own namespace: a test group is one translation unit (moe_test_group)

namespace {

using moe::host_matrix;
using moe::matrix_view;
using moe::test::random_matrix;
using moe::test::relative_error;
using moe::test::rows_of;
using dvec = std::vector<double>;

template <class Storage>
double w_at(matrix_view<const Storage> m, std::int64_t r, std::int64_t c) {
    return moe::to_float(m(r, c));
}

// y (out) = W (out, in) · x (in) + b
template <class Storage>
dvec affine(matrix_view<const Storage> w, matrix_view<const Storage> bias, const dvec& x) {
    dvec y(std::size_t(w.rows), 0.0);
    for (std::int64_t o = 0; o < w.rows; ++o) {
        double sum = bias.data != nullptr ? double(moe::to_float(bias.data[o])) : 0.0;
        for (std::int64_t i = 0; i < w.cols; ++i) sum += w_at(w, o, i) * x[std::size_t(i)];
        y[std::size_t(o)] = sum;
    }
    return y;
}

// RMSNorm of x[first, first + n) in place.
template <class Storage>
void norm(dvec& x, std::size_t first, std::size_t n, matrix_view<const Storage> w, double eps) {
    double sq = 0;
    for (std::size_t i = 0; i < n; ++i) sq += x[first + i] * x[first + i];
    const double inv = 1.0 / std::sqrt(sq / double(n) + eps);
    for (std::size_t i = 0; i < n; ++i) x[first + i] = double(moe::to_float(w.data[i])) * x[first + i] * inv;
}

// Rotates x[first, first + dim) for `position`; pairs (i, i + dim/2) or, interleaved, (2i, 2i + 1).
void rope(dvec& x, std::size_t first, std::size_t dim, double position, const std::vector<float>& inv_freq,
          double factor, bool interleaved) {
    for (std::size_t i = 0; i < dim / 2; ++i) {
        const double angle = position * inv_freq[i], c = std::cos(angle) * factor, s = std::sin(angle) * factor;
        double& a = x[first + (interleaved ? 2 * i : i)];
        double& b = x[first + (interleaved ? 2 * i + 1 : i + dim / 2)];
        const double a0 = a;
        a = a0 * c - b * s;
        b = b * c + a0 * s;
    }
}

// Causal softmax attention of one query against keys[0 … sees): returns Σ p_j values[j].
dvec attend(const dvec& q, const std::vector<dvec>& keys, const std::vector<dvec>& values, double scale) {
    std::vector<double> s(keys.size());
    double max = -1e300, sum = 0;
    for (std::size_t j = 0; j < keys.size(); ++j) {
        double dot = 0;
        for (std::size_t d = 0; d < q.size(); ++d) dot += q[d] * keys[j][d];
        s[j] = dot * scale;
        max = std::max(max, s[j]);
    }
    for (auto& v : s) sum += (v = std::exp(v - max));
    dvec out(values[0].size(), 0.0);
    for (std::size_t j = 0; j < keys.size(); ++j) {
        for (std::size_t d = 0; d < out.size(); ++d) out[d] += s[j] / sum * values[j][d];
    }
    return out;
}

dvec row(matrix_view<const float> m, std::int64_t r) { return dvec(m.row(r), m.row(r) + m.cols); }

void store(host_matrix<float>& out, std::int64_t r, const dvec& v) {
    for (std::size_t i = 0; i < v.size(); ++i) out(r, std::int64_t(i)) = float(v[i]);
}

// Plain grouped-query attention over positions 0 … T-1.
template <moe::attention_config C>
host_matrix<float> reference_gqa(const moe::attention_weights<C>& w, const moe::attention_runtime& rt,
                                 matrix_view<const float> x) {
    const std::size_t H = C.heads, G = C.kv_heads, Dh = C.head_dim;
    const auto inv_freq = moe::rope_inverse_frequencies(rt.rope, C.head_dim);
    const double factor = moe::rope_attention_factor(rt.rope);
    std::vector<dvec> q(std::size_t(x.rows)), k(q.size()), v(q.size());
    for (std::int64_t t = 0; t < x.rows; ++t) {
        const dvec xt = row(x, t);
        auto& qt = q[std::size_t(t)] = affine(w.q_proj, w.q_bias, xt);
        auto& kt = k[std::size_t(t)] = affine(w.k_proj, w.k_bias, xt);
        auto& vt = v[std::size_t(t)] = affine(w.v_proj, w.v_bias, xt);
        if constexpr (C.qk_norm == moe::qk_norm_kind::per_head) {
            for (std::size_t h = 0; h < H; ++h) norm(qt, h * Dh, Dh, w.q_norm, rt.rms_norm_eps);
            for (std::size_t g = 0; g < G; ++g) norm(kt, g * Dh, Dh, w.k_norm, rt.rms_norm_eps);
        } else if constexpr (C.qk_norm == moe::qk_norm_kind::whole_projection) {
            norm(qt, 0, H * Dh, w.q_norm, rt.rms_norm_eps);
            norm(kt, 0, G * Dh, w.k_norm, rt.rms_norm_eps);
        }
        if (rt.clip_qkv > 0) {
            for (dvec* m : {&qt, &kt, &vt}) {
                for (double& e : *m) e = std::clamp(e, -double(rt.clip_qkv), double(rt.clip_qkv));
            }
        }
        for (std::size_t h = 0; h < H; ++h) rope(qt, h * Dh, Dh, double(t), inv_freq, factor, false);
        for (std::size_t g = 0; g < G; ++g) rope(kt, g * Dh, Dh, double(t), inv_freq, factor, false);
    }
    host_matrix<float> out(x.rows, C.model_width);
    for (std::int64_t t = 0; t < x.rows; ++t) {
        dvec context;
        for (std::size_t h = 0; h < H; ++h) {
            const std::size_t g = h / (H / G);
            std::vector<dvec> keys, values;
            for (std::int64_t j = 0; j <= t; ++j) {
                keys.emplace_back(k[std::size_t(j)].begin() + long(g * Dh), k[std::size_t(j)].begin() + long((g + 1) * Dh));
                values.emplace_back(v[std::size_t(j)].begin() + long(g * Dh), v[std::size_t(j)].begin() + long((g + 1) * Dh));
            }
            const dvec qh(q[std::size_t(t)].begin() + long(h * Dh), q[std::size_t(t)].begin() + long((h + 1) * Dh));
            const dvec o = attend(qh, keys, values, 1.0 / std::sqrt(double(Dh)));
            context.insert(context.end(), o.begin(), o.end());
        }
        store(out, t, affine(w.o_proj, w.o_bias, context));
    }
    return out;
}

// Plain MLA in transformers' expanded form: per-head keys [W_uk c | k_rope] and values W_uv c.
template <moe::mla_config C>
host_matrix<float> reference_mla(const moe::mla_weights<C>& w, const moe::mla_runtime& rt, matrix_view<const float> x) {
    const std::size_t H = C.heads, R = C.kv_lora_rank, Dn = C.qk_nope_head_dim, Dr = C.qk_rope_head_dim,
                      Dv = C.v_head_dim, Dqk = Dn + Dr;
    const auto inv_freq = moe::rope_inverse_frequencies(rt.rope, C.qk_rope_head_dim);
    const double factor = moe::rope_attention_factor(rt.rope);
    const double scale = std::pow(double(Dqk), -0.5) * moe::mla_softmax_scale_multiplier(rt.rope);
    std::vector<dvec> q(std::size_t(x.rows)), keys(q.size()), values(q.size());
    for (std::int64_t t = 0; t < x.rows; ++t) {
        const dvec xt = row(x, t);
        dvec& qt = q[std::size_t(t)];
        if constexpr (C.q_lora_rank == 0) {
            qt = affine(w.q_proj, matrix_view<const typename moe::mla_weights<C>::storage>{}, xt);
        } else {
            dvec qa = affine(w.q_a_proj, w.q_a_bias, xt);
            norm(qa, 0, qa.size(), w.q_a_norm, rt.latent_norm_eps);
            qt = affine(w.q_b_proj, matrix_view<const typename moe::mla_weights<C>::storage>{}, qa);
        }
        for (std::size_t h = 0; h < H; ++h) rope(qt, h * Dqk + Dn, Dr, double(t), inv_freq, factor, C.rope_interleave);
        dvec ckv = affine(w.kv_a_proj, w.kv_a_bias, xt);
        norm(ckv, 0, R, w.kv_a_norm, rt.latent_norm_eps);
        rope(ckv, R, Dr, double(t), inv_freq, factor, C.rope_interleave);
        const dvec latent(ckv.begin(), ckv.begin() + long(R));
        const dvec kv = affine(w.kv_b_proj, matrix_view<const typename moe::mla_weights<C>::storage>{}, latent);
        dvec& kt = keys[std::size_t(t)];
        dvec& vt = values[std::size_t(t)];
        for (std::size_t h = 0; h < H; ++h) {
            kt.insert(kt.end(), kv.begin() + long(h * (Dn + Dv)), kv.begin() + long(h * (Dn + Dv) + Dn));
            kt.insert(kt.end(), ckv.begin() + long(R), ckv.end());
            vt.insert(vt.end(), kv.begin() + long(h * (Dn + Dv) + Dn), kv.begin() + long((h + 1) * (Dn + Dv)));
        }
    }
    host_matrix<float> out(x.rows, C.model_width);
    for (std::int64_t t = 0; t < x.rows; ++t) {
        dvec context;
        for (std::size_t h = 0; h < H; ++h) {
            std::vector<dvec> k, v;
            for (std::int64_t j = 0; j <= t; ++j) {
                k.emplace_back(keys[std::size_t(j)].begin() + long(h * Dqk), keys[std::size_t(j)].begin() + long((h + 1) * Dqk));
                v.emplace_back(values[std::size_t(j)].begin() + long(h * Dv), values[std::size_t(j)].begin() + long((h + 1) * Dv));
            }
            const dvec qh(q[std::size_t(t)].begin() + long(h * Dqk), q[std::size_t(t)].begin() + long((h + 1) * Dqk));
            const dvec o = attend(qh, k, v, scale);
            context.insert(context.end(), o.begin(), o.end());
        }
        store(out, t, affine(w.o_proj, w.o_bias, context));
    }
    return out;
}

std::vector<float> values_of(const host_matrix<float>& m) { return {m.data(), m.data() + m.rows() * m.cols()}; }

// Prefill, decode, uneven chunks and 1 vs 2 threads against `expected`.
template <class Layer>
void check_layer(Layer& layer, matrix_view<const float> x, const host_matrix<float>& expected) {
    const std::int64_t T = x.rows, D = x.cols;
    moe::cpu::thread_pool one(1), two(2);
    host_matrix<float> prefill(T, D), prefill2(T, D), decode(T, D), chunked(T, D);
    auto c1 = layer.make_cache(T), c2 = layer.make_cache(T), c3 = layer.make_cache(T), c4 = layer.make_cache(T + 3);
    layer.forward(x, c1, prefill.view(), one);
    layer.forward(x, c2, prefill2.view(), two);
    for (std::int64_t t = 0; t < T; ++t) layer.forward(rows_of(x, t, 1), c3, rows_of(decode.view(), t, 1), two);
    for (auto [first, count] : {std::pair{0, 5}, {5, 1}, {6, int(T) - 6}}) {
        layer.forward(rows_of(x, first, count), c4, rows_of(chunked.view(), first, count), two);
    }
    INFO("prefill " << relative_error(prefill.view(), expected.view()) << ", decode "
                    << relative_error(decode.view(), expected.view()));
    CHECK(relative_error(prefill.view(), expected.view()) <= 1e-5);
    CHECK(relative_error(decode.view(), expected.view()) <= 1e-5);
    CHECK(relative_error(chunked.view(), expected.view()) <= 1e-5);
    CHECK(values_of(prefill) == values_of(prefill2));  // thread-count independent, bit for bit
    CHECK(c4.size() == T);
    CHECK(c4.room() == 3);
}

constexpr std::int64_t tokens = 19;  // two 16-token query blocks in a prefill

// One small GQA layer in three storage formats.
constexpr moe::attention_config fp32{.model_width = 40, .heads = 4, .kv_heads = 2, .head_dim = 10, .qkv_bias = true};
constexpr moe::attention_config with_format(moe::weight_format format) {
    auto c = fp32;
    c.weights = format;
    return c;
}
constexpr moe::attention_config bf16 = with_format(moe::weight_format::bf16);
constexpr moe::attention_config fp16 = with_format(moe::weight_format::fp16);

}  // namespace

TEST_CASE("GQA with per-head QK-norm and biases matches a plain loop", "[layers][attention]") {
    constexpr moe::attention_config config{.model_width = 48, .heads = 6, .kv_heads = 2, .head_dim = 8,
                                           .qkv_bias = true, .output_bias = true,
                                           .qk_norm = moe::qk_norm_kind::per_head};
    const auto weights = moe::owned_attention_weights<config>::random(7);
    const moe::attention_runtime runtime{.rope = moe::rope_parameters::plain(1e4), .rms_norm_eps = 1e-6f};
    const auto x = random_matrix(tokens, 48, 8);
    moe::cpu::grouped_query_attention<config> layer(weights.view(), runtime);
    check_layer(layer, x.view(), reference_gqa<config>(weights.view(), runtime, x.view()));
}

TEST_CASE("GQA with whole-projection QK-norm, clip_qkv and YaRN tables matches a plain loop", "[layers][attention]") {
    constexpr moe::attention_config config{.model_width = 32, .heads = 4, .kv_heads = 1, .head_dim = 12,
                                           .qk_norm = moe::qk_norm_kind::whole_projection};
    const auto weights = moe::owned_attention_weights<config>::random(9);
    const moe::attention_runtime runtime{
        .rope = {.type = moe::rope_type::yarn, .theta = 500, .factor = 8, .original_max_position_embeddings = 64,
                 .mscale = 0.9, .mscale_all_dim = 0.5},
        .rms_norm_eps = 1e-5f,
        .clip_qkv = 1.5f};
    const auto x = random_matrix(tokens, 32, 10);
    moe::cpu::grouped_query_attention<config> layer(weights.view(), runtime);
    CHECK(layer.rotary().attention_factor() != 1.0f);
    check_layer(layer, x.view(), reference_gqa<config>(weights.view(), runtime, x.view()));
}

TEST_CASE("GQA with bf16 and fp16 weights equals fp32 on the same rounded weights", "[layers][attention]") {
    const auto low_bf16 = moe::owned_attention_weights<bf16>::random(11);
    const auto low_fp16 = moe::owned_attention_weights<fp16>::random(11);
    const moe::attention_runtime runtime{.rope = moe::rope_parameters::plain(1e4)};
    const auto x = random_matrix(9, 40, 12);

    auto widened = [](const auto& low) {
        moe::owned_attention_weights<fp32> w;
        auto copy = [](const auto& from, host_matrix<float>& to) {
            for (std::int64_t i = 0; i < from.rows() * from.cols(); ++i) to.data()[i] = moe::to_float(from.data()[i]);
        };
        copy(low.q_proj, w.q_proj), copy(low.k_proj, w.k_proj), copy(low.v_proj, w.v_proj), copy(low.o_proj, w.o_proj);
        copy(low.q_bias, w.q_bias), copy(low.k_bias, w.k_bias), copy(low.v_bias, w.v_bias);
        return w;
    };
    auto run = [&](auto& layer) {
        host_matrix<float> y(9, 40);
        auto cache = layer.make_cache(9);
        layer.forward(x.view(), cache, y.view());
        return y;
    };
    const auto w32_bf16 = widened(low_bf16), w32_fp16 = widened(low_fp16);
    moe::cpu::grouped_query_attention<bf16> layer_bf16(low_bf16.view(), runtime);
    moe::cpu::grouped_query_attention<fp16> layer_fp16(low_fp16.view(), runtime);
    moe::cpu::grouped_query_attention<fp32> ref_bf16(w32_bf16.view(), runtime), ref_fp16(w32_fp16.view(), runtime);
    const auto a = run(layer_bf16), b = run(ref_bf16), c = run(layer_fp16), d = run(ref_fp16);
    CHECK(relative_error(a.view(), b.view()) <= 1e-6);
    CHECK(relative_error(c.view(), d.view()) <= 1e-6);
}

TEST_CASE("MLA without q compression (interleaved rope) matches expanded attention", "[layers][attention][mla]") {
    constexpr moe::mla_config config{.model_width = 40, .heads = 3, .q_lora_rank = 0, .kv_lora_rank = 20,
                                     .qk_nope_head_dim = 12, .qk_rope_head_dim = 6, .v_head_dim = 10};
    const auto weights = moe::owned_mla_weights<config>::random(21);
    const moe::mla_runtime runtime{.rope = moe::rope_parameters::plain(1e4)};
    const auto x = random_matrix(tokens, 40, 22);
    moe::cpu::multi_head_latent_attention<config> layer(weights.view(), runtime);
    check_layer(layer, x.view(), reference_mla<config>(weights.view(), runtime, x.view()));
}

TEST_CASE("MLA with q_lora_rank, bias, rotate_half rope and YaRN matches expanded attention", "[layers][attention][mla]") {
    constexpr moe::mla_config config{.model_width = 40, .heads = 4, .q_lora_rank = 16, .kv_lora_rank = 24,
                                     .qk_nope_head_dim = 8, .qk_rope_head_dim = 8, .v_head_dim = 12, .bias = true,
                                     .rope_interleave = false};
    const auto weights = moe::owned_mla_weights<config>::random(23);
    const moe::mla_runtime runtime{.rope = {.type = moe::rope_type::yarn, .theta = 1e4, .factor = 40,
                                            .original_max_position_embeddings = 512, .mscale = 1.0,
                                            .mscale_all_dim = 1.0}};
    const auto x = random_matrix(tokens, 40, 24);
    moe::cpu::multi_head_latent_attention<config> layer(weights.view(), runtime);
    CHECK(layer.softmax_scale() == Approx(std::pow(16.0, -0.5) * std::pow(0.1 * std::log(40.0) + 1, 2)));
    check_layer(layer, x.view(), reference_mla<config>(weights.view(), runtime, x.view()));
}

TEST_CASE("a full cache throws before changing anything and stays usable", "[layers][attention][kv_cache]") {
    constexpr moe::attention_config gqa{.model_width = 16, .heads = 2, .kv_heads = 1, .head_dim = 8};
    constexpr moe::mla_config mla{.model_width = 16, .heads = 2, .kv_lora_rank = 8, .qk_nope_head_dim = 4,
                                  .qk_rope_head_dim = 4, .v_head_dim = 4};
    const auto gqa_weights = moe::owned_attention_weights<gqa>::random(31);
    const auto mla_weights = moe::owned_mla_weights<mla>::random(32);
    const auto x = random_matrix(5, 16, 33);
    auto check = [&](auto& layer, const host_matrix<float>& expected) {
        host_matrix<float> y(5, 16);
        auto cache = layer.make_cache(5);
        layer.forward(rows_of(x.view(), 0, 4), cache, rows_of(y.view(), 0, 4));
        CHECK_THROWS_AS(layer.forward(rows_of(x.view(), 3, 2), cache, rows_of(y.view(), 3, 2)), moe::cpu::kv_cache_full);
        CHECK(cache.size() == 4);
        layer.forward(rows_of(x.view(), 4, 1), cache, rows_of(y.view(), 4, 1));
        CHECK(relative_error(y.view(), expected.view()) <= 1e-5);
        CHECK_THROWS_WITH(layer.forward(rows_of(x.view(), 4, 1), cache, rows_of(y.view(), 4, 1)),
                          Catch::Contains("kv cache full"));
    };
    const moe::attention_runtime gqa_runtime{.rope = moe::rope_parameters::plain(1e4)};
    const moe::mla_runtime mla_runtime{.rope = moe::rope_parameters::plain(1e4)};
    moe::cpu::grouped_query_attention<gqa> gqa_layer(gqa_weights.view(), gqa_runtime);
    moe::cpu::multi_head_latent_attention<mla> mla_layer(mla_weights.view(), mla_runtime);
    check(gqa_layer, reference_gqa<gqa>(gqa_weights.view(), gqa_runtime, x.view()));
    check(mla_layer, reference_mla<mla>(mla_weights.view(), mla_runtime, x.view()));
}

TEST_CASE("cache memory per token: GQA keeps K and V, MLA only the latent and the rope key", "[layers][kv_cache]") {
    constexpr moe::attention_config mixtral{.model_width = 4096, .heads = 32, .kv_heads = 8, .head_dim = 128};
    constexpr moe::mla_config v3{.model_width = 7168, .heads = 128, .q_lora_rank = 1536, .kv_lora_rank = 512,
                                 .qk_nope_head_dim = 128, .qk_rope_head_dim = 64, .v_head_dim = 128};
    STATIC_REQUIRE(mixtral.cache_floats_per_token() == 2048);  // 8 KiB per layer in fp32
    STATIC_REQUIRE(v3.cache_floats_per_token() == 576);        // 2304 B per layer in fp32
    STATIC_REQUIRE(v3.expanded_floats_per_token() == 40960);   // what an expanded K/V cache would hold
}

}  // namespace test_attention_vs_loop
