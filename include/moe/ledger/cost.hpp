// moe/ledger/cost.hpp — what one forward call of a model type costs: FLOPs and bytes moved, for the MoE model and
// for a dense model with the same total parameters. Derived from the type alone (docs/reasoning.md has the formulas).
//
//   const auto cost = moe::ledger::cost_of<moe::qwen3_moe<moe::tiny_reasoner>>();   // a description
//   const auto same = moe::ledger::cost_of<moe::cpu::tiny_reasoner>();                // or a backend's model type
//   const auto c = cost.forward(/*tokens=*/1, /*context=*/57);   // one decoding step after 57 positions
//
// Conventions: a multiply-add is 2 FLOPs; norms, RoPE, softmax and activations are not counted (O(D) per token
// against O(D²) for the matmuls); weights are read from memory once per forward call (no reuse across calls, as in
// batch-1 decoding where they do not fit in cache); KV cache bytes are those of each layer's cache format.
// Reads only the model description (moe/model/description.hpp): no backend is included.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "moe/config/attention_config.hpp"
#include "moe/config/parameter_count.hpp"
#include "moe/config/dense_mlp_config.hpp"
#include "moe/config/moe_layer_config.hpp"
#include "moe/model/description.hpp"

namespace moe::ledger {

// FLOPs and bytes of one forward call; `dense_*` is what a dense model with the same total parameters (every expert
// on every token) would have spent on the same call.
struct call_cost {
    double flops = 0;
    double bytes = 0;
    double dense_flops = 0;
    double dense_bytes = 0;

    call_cost& operator+=(const call_cost& o) {
        flops += o.flops;
        bytes += o.bytes;
        dense_flops += o.dense_flops;
        dense_bytes += o.dense_bytes;
        return *this;
    }
    friend bool operator==(const call_cost&, const call_cost&) = default;
};

// Routed experts of a run of identical MoE layers (needed apart because a prefill touches up to min(E, T·k)).
struct expert_group {
    std::int64_t layers = 0;
    std::int64_t experts = 0;         // E
    std::int64_t top_k = 0;           // k
    std::int64_t expert_parameters = 0;  // 3·D·F, one routed expert
    std::int64_t expert_bytes = 0;       // its weights in the storage format
    friend bool operator==(const expert_group&, const expert_group&) = default;
};

// Per-token and per-call constants of a model type.
struct model_cost {
    std::string family;
    std::int64_t layers = 0;
    std::int64_t vocab_size = 0;   // V
    std::int64_t model_width = 0;  // D
    std::int64_t parameters_total = 0;   // every weight (embedding and head counted once when tied)
    std::int64_t parameters_active = 0;  // the weights one token uses (top-k routed experts only)
    // Matmul weights every token multiplies through in the layers: attention projections, routers, shared experts,
    // dense MLPs (not the routed experts, not the LM head).
    std::int64_t shared_matmul_parameters = 0;
    std::int64_t head_matmul_parameters = 0;  // V·D, per row of logits asked for
    // Σ over layers of the FLOPs one query spends per attended position (scores + weighted values):
    // GQA 4·H·Dh; MLA (absorbed, as moe::cpu runs it) 2·H·(R+Dr) + 2·H·R.
    std::int64_t attention_flops_per_position = 0;
    std::int64_t kv_bytes_per_position = 0;  // Σ over layers of the cache bytes one position holds
    // Bytes read once per forward call whatever the tokens: every non-expert weight (attention, norms, routers,
    // shared experts, dense MLPs, final norm, LM head).
    std::int64_t fixed_weight_bytes = 0;
    std::int64_t embedding_row_bytes = 0;  // D·bytes per token (embedding lookup)
    std::vector<expert_group> experts;

    // T new tokens after `context` positions already in the cache; `logit_rows` rows of logits computed (1 when
    // only the last position's are asked for, as in a prefill that feeds sampling).
    call_cost forward(std::int64_t tokens, std::int64_t context, std::int64_t logit_rows = 1) const {
        const double T = double(tokens), c = double(context);
        call_cost r;
        if (tokens <= 0) return r;
        double routed_active = 0, routed_total = 0;
        for (const auto& g : experts) {
            routed_active += double(g.layers * g.top_k * g.expert_parameters);
            routed_total += double(g.layers * g.experts * g.expert_parameters);
        }
        // Query i (1-based) of the call attends to c + i positions: Σ = T·c + T(T+1)/2.
        const double attended = T * c + T * (T + 1) / 2;
        const double attention = double(attention_flops_per_position) * attended;
        const double head = 2.0 * double(std::max<std::int64_t>(logit_rows, 0)) * double(head_matmul_parameters);
        r.flops = 2.0 * T * (double(shared_matmul_parameters) + routed_active) + head + attention;
        r.dense_flops = 2.0 * T * (double(shared_matmul_parameters) + routed_total) + head + attention;
        // KV: read every attended position once (c old + T new), write T new ones.
        const double kv = double(kv_bytes_per_position) * ((c + T) + T);
        const double own = T * double(embedding_row_bytes) + kv;
        r.bytes = own + weight_bytes(tokens);
        r.dense_bytes = own + dense_weight_bytes();
        return r;
    }

    // Weight bytes one call of `tokens` tokens reads: every non-expert weight once, and each routed expert it can
    // touch (at most E per layer, at most T·k) once. A call serving several sequences reads them once for all.
    double weight_bytes(std::int64_t tokens) const {
        double expert_read = 0;
        for (const auto& g : experts)
            expert_read += double(g.layers * std::min(g.experts, std::max<std::int64_t>(tokens, 0) * g.top_k) * g.expert_bytes);
        return double(fixed_weight_bytes) + expert_read;
    }
    // The same for the dense model of equal total parameters: every expert, whatever the tokens.
    double dense_weight_bytes() const {
        double expert_read = 0;
        for (const auto& g : experts) expert_read += double(g.layers * g.experts * g.expert_bytes);
        return double(fixed_weight_bytes) + expert_read;
    }

    friend bool operator==(const model_cost&, const model_cost&) = default;
};

namespace detail {

struct layer_cost {
    std::int64_t parameters = 0, active = 0, shared_matmul = 0, attention_per_position = 0, kv_bytes = 0,
                 fixed_bytes = 0;
    expert_group routed{};
};

inline layer_cost attention_cost(const attention_config& a) {
    const std::int64_t D = a.model_width, Q = a.q_width(), KV = a.kv_width();
    layer_cost c;
    c.parameters = c.active = parameter_count(a);
    c.shared_matmul = Q * D + 2 * KV * D + D * Q;
    c.attention_per_position = 4 * std::int64_t{a.heads} * a.head_dim;
    c.kv_bytes = a.cache_bytes_per_token();  // in the layer's cache format
    // Matrices in the storage format, biases and norm weights as vectors (fp32 for q8_0).
    c.fixed_bytes = weight_bytes(a.weights, c.shared_matmul) +
                    std::int64_t(double(c.parameters - c.shared_matmul) * bytes_per_vector_element(a.weights));
    return c;
}

inline layer_cost attention_cost(const mla_config& m) {
    const std::int64_t D = m.model_width, R = m.kv_lora_rank, Dr = m.qk_rope_head_dim, Rq = m.q_lora_rank,
                       H = m.heads;
    layer_cost c;
    c.parameters = c.active = parameter_count(m);
    c.shared_matmul = (Rq == 0 ? std::int64_t{m.q_width()} * D : Rq * D + std::int64_t{m.q_width()} * Rq) +
                      (R + Dr) * D + std::int64_t{m.kv_b_rows()} * R + D * H * m.v_head_dim;
    c.attention_per_position = 2 * H * (R + Dr) + 2 * H * R;
    c.kv_bytes = m.cache_bytes_per_token();
    c.fixed_bytes = weight_bytes(m.weights, c.shared_matmul) +
                    std::int64_t(double(c.parameters - c.shared_matmul) * bytes_per_vector_element(m.weights));
    return c;
}

inline layer_cost ffn_cost(const moe_layer_config& f) {
    const std::int64_t D = f.model_width;
    const auto b = [&f](std::int64_t weights) { return weight_bytes(f.weights, weights); };
    layer_cost c;
    c.parameters = f.total_parameters();
    c.active = f.active_parameters();
    const std::int64_t shared = f.ffn_parameters(f.shared_width()) + (f.shared_expert_gate ? D : 0);
    c.shared_matmul = f.router_parameters() - (f.router.selection_bias ? f.experts : 0) + shared;
    // Router weights are always held in fp32 (moe/config/precision.hpp).
    c.fixed_bytes = f.router_parameters() * 4 + b(shared);
    c.routed = {.layers = 1, .experts = f.experts, .top_k = f.top_k, .expert_parameters = f.ffn_parameters(f.expert_width),
                .expert_bytes = b(f.ffn_parameters(f.expert_width))};
    return c;
}

inline layer_cost ffn_cost(const dense_mlp_config& f) {
    layer_cost c;
    c.parameters = c.active = c.shared_matmul = 3 * std::int64_t{f.model_width} * f.width;
    c.fixed_bytes = weight_bytes(f.weights, c.parameters);
    return c;
}

template <class Description>
struct model_traits;

template <causal_lm_config L, class... Stacks>
struct model_traits<model::causal_lm<L, Stacks...>> {
    template <class Stack>
    static void add_stack(model_cost& m) {
        using layer = typename Stack::layer;
        const auto a = attention_cost(layer::attention::config);
        const auto f = ffn_cost(layer::feed_forward::config);
        const std::int64_t n = Stack::count, norms = 2 * m.model_width;
        const auto norm_bytes = std::int64_t(double(norms) * bytes_per_vector_element(layer::attention::config.weights));
        m.layers += n;
        m.parameters_total += n * (a.parameters + f.parameters + norms);
        m.parameters_active += n * (a.active + f.active + norms);
        m.shared_matmul_parameters += n * (a.shared_matmul + f.shared_matmul);
        m.attention_flops_per_position += n * a.attention_per_position;
        m.kv_bytes_per_position += n * a.kv_bytes;
        m.fixed_weight_bytes += n * (a.fixed_bytes + f.fixed_bytes + norm_bytes);
        if (f.routed.experts > 0) {
            expert_group g = f.routed;
            g.layers = n;
            m.experts.push_back(g);
        }
    }

    static model_cost make() {
        model_cost m;
        m.family = std::string(name_of(L.family));
        m.vocab_size = L.vocab_size;
        m.model_width = L.model_width;
        const std::int64_t VD = std::int64_t{L.vocab_size} * L.model_width;
        const auto b = [](std::int64_t weights) { return weight_bytes(L.weights, weights); };
        (add_stack<Stacks>(m), ...);
        // Embedding + final norm + LM head (the head is the embedding matrix when tied: counted once).
        const std::int64_t outer = VD + L.model_width + (L.tied_embeddings ? 0 : VD);
        m.parameters_total += outer;
        m.parameters_active += outer;  // a token reads one embedding row but multiplies through the whole head
        m.head_matmul_parameters = VD;
        m.fixed_weight_bytes += std::int64_t(double(L.model_width) * bytes_per_vector_element(L.weights)) + b(VD);  // final norm + head
        m.embedding_row_bytes = b(L.model_width);
        return m;
    }
};

}  // namespace detail

// The cost constants of a model: a description (every family in moe/models/families.hpp makes one) or a backend's
// model type (its ::description is priced).
template <class Model>
model_cost cost_of() {
    return detail::model_traits<model::description_of<Model>>::make();
}

}  // namespace moe::ledger
