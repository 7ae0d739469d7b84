// moe/models/gguf/ledger_cost.hpp — the energy ledger's cost constants of a model loaded from a GGUF file, with the
// bytes its matrices really take there.
//
//   const moe::io::gguf_file file("Qwen3-30B-A3B-Q4_K_M.gguf");
//   moe::ledger::tracker t(moe::gguf::cost_of<Model>(file), meter, {}, note);
//
// ledger::cost_of<Model>() prices every matrix at the model's format's bytes per weight, from the type alone. For
// weight_format::gguf_mixed that is only an approximation (4.5 bits, Q4_K's): a Q4_K_M file also holds Q6_K, Q5_K,
// Q8_0 and Q5_0 matrices, chosen per tensor by llama.cpp's quantizer. This takes FLOPs, parameter counts and the KV
// cache from the type and the bytes from the file's tensors, by role:
//   routed experts     blk.N.ffn_{gate,up,down}_exps (or the split blk.N.ffn_{gate,up,down}.E of older llama files):
//                      per MoE layer, their bytes / the expert count; each expert group of the type (a run of
//                      identical MoE layers) gets its layers' mean (exact for the ledger's sums over the group)
//   token_embd         one row per token; also the head when the file has no output.weight (tied)
//   everything else    read once per forward call (attention, routers, shared experts, dense MLPs, norms, head)
// A float matrix (F32 / F16 / BF16) of a gguf_mixed model is counted as the Q8_0 matrix it becomes at load
// (34 bytes per 32 weights; DeepSeek's split attn_k_b / attn_v_b become one Q8_0 kv_b_proj of the same size);
// routers (ffn_gate_inp), biases (exp_probs_b) and 1-D tensors stay as the file has them (fp32). For the fixed
// formats, whose loaded matrices have the type's bytes whatever the file holds, cost_of<Model>() is returned as is.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "moe/io/gguf_file.hpp"
#include "moe/ledger/cost.hpp"
#include "moe/models/gguf/gguf_tensor_types.hpp"
#include "moe/models/hf_config.hpp"  // config_error
#include "moe/model/description.hpp"
#include "moe/precision/formats.hpp"

namespace moe::gguf {

namespace detail {

// The layer of "blk.N.…"; nullopt for other names and for N of more than 9 digits (a hostile name cannot overflow).
inline std::optional<std::int64_t> layer_of(std::string_view name) {
    if (!name.starts_with("blk.")) return std::nullopt;
    std::int64_t layer = 0;
    std::size_t i = 4;
    if (i >= name.size() || name[i] < '0' || name[i] > '9') return std::nullopt;
    for (; i < name.size() && name[i] >= '0' && name[i] <= '9'; ++i) {
        if (i - 4 == 9) return std::nullopt;
        layer = layer * 10 + (name[i] - '0');
    }
    return layer;
}

// A routed expert's tensor: ffn_{gate,up,down}_exps, or ffn_{gate,up,down}.E (one expert per tensor).
inline bool is_expert_tensor(std::string_view name) {
    for (std::string_view part : {".ffn_gate_exps.", ".ffn_up_exps.", ".ffn_down_exps."})
        if (name.find(part) != std::string_view::npos) return true;
    for (std::string_view part : {".ffn_gate.", ".ffn_up.", ".ffn_down."}) {
        const auto at = name.find(part);
        if (at == std::string_view::npos) continue;
        const auto rest = name.substr(at + part.size());  // "E.weight" for a split expert, "weight" otherwise
        if (!rest.empty() && rest[0] >= '0' && rest[0] <= '9') return true;
    }
    return false;
}

// Bytes the loaded model reads for one tensor: the file's, except float matrices of a gguf_mixed model (Q8_0 at load).
inline double loaded_bytes(const io::gguf_tensor_info& t, bool mixed) {
    const bool matrix = t.ne.size() >= 2;
    const bool kept_float = t.name.find("ffn_gate_inp") != std::string::npos ||
                            t.name.find("exp_probs_b") != std::string::npos;
    if (mixed && matrix && !kept_float && dtype_of(t.type).has_value())
        return double(t.numel()) * bytes_per_weight(weight_format::q8_0);
    return double(t.bytes);
}

}  // namespace detail

// The cost constants of Model (a backend's model type or a description) with the bytes of `file`'s tensors; see the
// header comment. Throws moe::config_error naming the file when its MoE layers do not match the type's expert groups.
template <class Model>
ledger::model_cost cost_of(const io::gguf_file& file) {
    ledger::model_cost cost = ledger::cost_of<Model>();
    constexpr bool mixed = model::description_of<Model>::config.weights == weight_format::gguf_mixed;
    if constexpr (!mixed) {
        return cost;
    } else {
        std::map<std::int64_t, double> expert_bytes_by_layer;  // Σ over the layer's expert tensors
        double fixed = 0, embedding = 0;
        std::int64_t vocab = 0;
        bool has_head = false;
        for (const auto& t : file.tensors()) {
            const double bytes = detail::loaded_bytes(t, mixed);
            if (t.name == "token_embd.weight") {
                embedding = bytes;
                vocab = t.ne.size() >= 2 ? t.ne[1] : 0;
            } else if (detail::is_expert_tensor(t.name)) {
                expert_bytes_by_layer[detail::layer_of(t.name).value_or(-1)] += bytes;
            } else {
                fixed += bytes;
                has_head = has_head || t.name == "output.weight";
            }
        }
        if (vocab <= 0) throw config_error(file.path() + ": no token_embd.weight matrix to price the embedding");
        if (!has_head) fixed += embedding;  // tied: the embedding is the head, read once per call
        cost.fixed_weight_bytes = static_cast<std::int64_t>(fixed + 0.5);
        cost.embedding_row_bytes = static_cast<std::int64_t>(embedding / double(vocab) + 0.5);

        std::int64_t moe_layers = 0;
        for (const auto& g : cost.experts) moe_layers += g.layers;
        if (static_cast<std::int64_t>(expert_bytes_by_layer.size()) != moe_layers || expert_bytes_by_layer.contains(-1)) {
            throw config_error(file.path() + ": " + std::to_string(expert_bytes_by_layer.size()) +
                               " layers have routed-expert tensors, the model type has " + std::to_string(moe_layers) +
                               " MoE layers");
        }
        auto layer = expert_bytes_by_layer.begin();  // MoE layers in order; the groups are runs of them in order
        for (auto& g : cost.experts) {
            double sum = 0;
            for (std::int64_t i = 0; i < g.layers; ++i, ++layer) sum += layer->second;
            g.expert_bytes = static_cast<std::int64_t>(sum / double(g.layers * g.experts) + 0.5);
        }
        return cost;
    }
}

}  // namespace moe::gguf
