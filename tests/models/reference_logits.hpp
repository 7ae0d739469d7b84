// tests/models/reference_logits.hpp — what the whole-model tests share: a reference's logits for three sequences
// (tokens_<s> and logits_<s>, and logits_step_1 for sequence 1 run token by token), as transformers writes them
// (tools/make_model_reference.py) and llama.cpp does (tools/make_gguf_models.py and its siblings, with
// llama-cpp-python), the model runs they are compared with, and the error measures.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <vector>

#include "moe/io.hpp"
#include "moe/models.hpp"

namespace moe_test {

struct reference_logits {
    std::vector<std::vector<std::int32_t>> tokens;  // three sequences
    std::vector<moe::host_matrix<float>> logits;    // (tokens of sequence s, V): the reference's prefill of each
    moe::host_matrix<float> logits_step;            // (tokens of sequence 1, V): the reference token by token
};

// Reads <path> (a .logits.safetensors file); `vocab` > 0 also checks the logits' width.
inline reference_logits read_reference_logits(const std::string& path, std::int64_t vocab = 0) {
    const moe::io::safetensors_file file(path);
    reference_logits r;
    for (int s = 0; s < 3; ++s) {
        const auto ids = moe::io::read_integers(file.require("tokens_" + std::to_string(s)));
        r.tokens.emplace_back(ids.begin(), ids.end());
        r.logits.push_back(moe::io::copy_matrix<float>(file.require("logits_" + std::to_string(s))));
        if (vocab > 0) REQUIRE(r.logits.back().cols() == vocab);
        REQUIRE(r.logits.back().rows() == static_cast<std::int64_t>(ids.size()));
    }
    r.logits_step = moe::io::copy_matrix<float>(file.require("logits_step_1"));
    return r;
}

inline double max_abs(moe::matrix_view<const float> m) {
    double v = 0;
    for (float f : m.span()) v = std::max(v, double(std::abs(f)));
    return v;
}

// Largest |a - b| over two matrices of the same shape.
inline double max_abs_diff(moe::matrix_view<const float> a, moe::matrix_view<const float> b) {
    REQUIRE(a.rows == b.rows);
    REQUIRE(a.cols == b.cols);
    double v = 0;
    for (std::int64_t i = 0; i < a.size(); ++i) v = std::max(v, double(std::abs(a.data[i] - b.data[i])));
    return v;
}

// tokens → logits: (tokens, V) fp32, one prefill, or one forward per token through the KV cache.
template <class Model>
moe::host_matrix<float> run_logits(Model& model, const std::vector<std::int32_t>& tokens, bool one_by_one,
                                   moe::cpu::thread_pool& pool) {
    auto seq = model.new_sequence(32);
    moe::host_matrix<float> logits(static_cast<std::int64_t>(tokens.size()), Model::V);
    if (!one_by_one) {
        model.forward(tokens, seq, logits.view(), pool);
        return logits;
    }
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        model.forward(std::span<const std::int32_t>(&tokens[i], 1), seq,
                      moe::matrix_view<float>{logits.row(static_cast<std::int64_t>(i)), 1, Model::V}, pool);
    }
    return logits;
}

// The message of what `load` throws ("no exception" when it returns).
inline std::string message_of(auto&& load) {
    try {
        load();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "no exception";
}

}  // namespace moe_test
