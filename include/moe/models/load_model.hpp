// moe/models/load_model.hpp — loads a Hugging Face checkpoint directory (config.json + safetensors) for a model
// description, and builds a backend's model from it.
//
//   auto model = moe::load_model<moe::cpu::qwen3_moe<moe::qwen3_30b_a3b>>("/models/Qwen3-30B-A3B");
//   auto weights = moe::load_weights<moe::qwen3_moe<moe::qwen3_30b_a3b>>("/models/Qwen3-30B-A3B");  // views only
//
// 1. config.json is checked against the description: every compile-time field, all mismatches in one
//    moe::config_error. Family-only fields and tensor names come from the family's checkpoint_conventions
//    (moe/models/families/*.hpp); nothing here is specific to a family.
// 2. The loader walks the description (moe/model/description.hpp) and binds tensors by their Hugging Face names
//    into backend-free weight views (moe/layers/model_weights.hpp). A tensor whose file dtype is the format's
//    storage type is used in place from the memory-mapped file (no copy); others are converted once (router
//    weights to fp32 always); weight_format::q8_0 quantizes every matrix at load (llama.cpp's Q8_0 quantizer) and
//    reads vectors as fp32. fp8 matrices (DeepSeek-V3/R1: F8_E4M3 + `<name>_scale_inv` block scales) are read
//    with their scales into any format (io/fp8_blocks.hpp). Experts are read from per-expert keys
//    (experts.E.gate_proj / Mixtral w1, w3, w2) or from the fused experts.gate_up_proj (E, 2F, D) /
//    experts.down_proj (E, D, F) tensors — whichever is there.
// 3. Any missing or mis-shaped tensor throws moe::io::checkpoint_error naming the file, the tensor and both shapes.
// GGUF files (llama.cpp's) load the same way: `load_model<Model>("model.gguf")` checks the metadata instead of
//    config.json and reads tensors through their llama.cpp names and layouts (moe/models/gguf/, docs/checkpoints.md).
// 4. load_model<Model> hands the weights to Model's constructor: any backend model type whose ::description is
//    the description and that is constructible from model_weights<description> (moe::cpu::model<D>).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "moe/io/checkpoint.hpp"
#include "moe/io/finite_check.hpp"
#include "moe/io/fp8_blocks.hpp"
#include "moe/io/tensor_read.hpp"
#include "moe/layers/model_weights.hpp"
#include "moe/model/description.hpp"
#include "moe/models/checkpoint_conventions.hpp"
#include "moe/models/families.hpp"
#include "moe/models/gguf/architectures.hpp"
#include "moe/models/hf_config.hpp"
#include "moe/models/quantization_config.hpp"

namespace moe {

struct load_options {
    // Longest sequence the loaded model accepts; 0 = config.json's max_position_embeddings. Lower it to keep
    // KV caches small; it cannot exceed max_position_embeddings.
    std::int64_t max_positions = 0;
    // How the checkpoint's bytes are held: mapped (default: in place from the file mapping, nothing read up front)
    // or huge_pages (read into 2 MiB transparent huge pages at load: faster decode when it is bound by reading
    // weights, see io/mapped_file.hpp and docs/performance.md).
    io::file_memory memory = io::file_memory::mapped;
};

namespace loading {

// Owns the open checkpoint (safetensors, or a GGUF file read through models/gguf/gguf_tensors.hpp) and every
// converted tensor; layers hold views into it. Tensors are asked for by their Hugging Face names either way.
class tensor_store {
   public:
    explicit tensor_store(const std::filesystem::path& directory, io::file_memory memory = io::file_memory::mapped)
        : checkpoint_(std::in_place, directory, memory) {}
    explicit tensor_store(std::shared_ptr<gguf::tensor_source> gguf) : gguf_(std::move(gguf)) {}

    bool contains(const std::string& name) const {
        return gguf_ ? gguf_->contains(name) : checkpoint_->find(name).has_value();
    }

    // A (rows, cols) matrix (a 1-D tensor of cols elements when rows == 1): in place when possible. Vectors
    // (norms, biases) are cheap to scan and are refused when they hold NaN or infinity (io/finite_check.hpp).
    template <class T>
    matrix_view<const T> matrix(const std::string& name, std::int64_t rows, std::int64_t cols) {
        if (gguf_) return keep(gguf_->load<T>(name, {rows, cols}, true, rows == 1)).matrix();
        const auto ref = checkpoint_->require(name);
        if (io::is_fp8(ref.dtype())) return keep(load_fp8<T>(ref, rows, cols)).matrix();
        if (rows == 1) io::require_finite(ref);
        return keep(io::load_matrix<T>(ref, rows, cols)).matrix();
    }
    // The same, scanned for NaN or infinity whatever its size: routers, the embedding, the LM head.
    template <class T>
    matrix_view<const T> finite_matrix(const std::string& name, std::int64_t rows, std::int64_t cols) {
        if (gguf_) return keep(gguf_->load<T>(name, {rows, cols}, true, true)).matrix();
        const auto ref = checkpoint_->require(name);
        if (io::is_fp8(ref.dtype())) return keep(load_fp8<T>(ref, rows, cols)).matrix();  // scanned for NaN codes
        io::expect_matrix_shape(ref, rows, cols);
        io::require_finite(ref);
        return keep(io::load_tensor<T>(ref)).matrix();
    }

    // A tensor of exactly `shape` (e.g. fused experts (E, 2F, D)): in place when possible.
    template <class T>
    const io::loaded_tensor<T>& tensor(const std::string& name, std::initializer_list<std::int64_t> shape) {
        if (gguf_) return keep(gguf_->load<T>(name, shape, false, false));
        const auto ref = checkpoint_->require(name);
        io::expect_shape(ref, shape);
        if (io::is_fp8(ref.dtype())) return keep(io::load_fp8_tensor<T>(ref, checkpoint_->find(name + "_scale_inv")));
        return keep(io::load_tensor<T>(ref));
    }

    const std::string& path() const { return gguf_ ? gguf_->path() : checkpoint_->path(); }

   private:
    // An fp8 tensor (F8_E4M3 + `<name>_scale_inv`) dequantized or copied into T (io/fp8_blocks.hpp).
    template <class T>
    io::loaded_tensor<T> load_fp8(const io::tensor_ref& ref, std::int64_t rows, std::int64_t cols) const {
        return io::load_fp8_matrix<T>(ref, checkpoint_->find(ref.name() + "_scale_inv"), rows, cols);
    }

    template <class T>
    const io::loaded_tensor<T>& keep(io::loaded_tensor<T> tensor) {
        auto owned = std::make_shared<io::loaded_tensor<T>>(std::move(tensor));
        const auto& result = *owned;
        kept_.push_back(std::move(owned));
        return result;
    }

    std::optional<io::checkpoint> checkpoint_;        // a safetensors checkpoint, or
    std::shared_ptr<gguf::tensor_source> gguf_;       // a GGUF file
    std::vector<std::shared_ptr<const void>> kept_;
};

// Everything a node loader needs: where the tensors are, the config, the layer's name prefix.
struct context {
    tensor_store& store;
    hf_config& config;
    std::string layer_prefix;  // "model.layers.<i>."
    int layer = 0;             // <i>: run-time values may differ per layer (Qwen2-MoE's sliding layers)
};

// Primary template: a description node the loader does not know.
template <class Node, class Conventions>
struct node_loader {
    static_assert(sizeof(Node) == 0, "moe::load_model: no node_loader for this description node — specialise "
                                     "moe::loading::node_loader<Node, Conventions> with check() and load()");
};

// ---- grouped-query attention: self_attn.{q,k,v,o}_proj, biases, q_norm / k_norm ----
template <attention_config A, class Conventions>
struct node_loader<model::gqa<A>, Conventions> {
    static void check(hf_config& c) {
        c.expect_int({"num_attention_heads"}, A.heads);
        // num_key_value_heads absent: the family's default (0: num_attention_heads); null: num_attention_heads.
        c.expect_int({"num_key_value_heads"}, A.kv_heads,
                     Conventions::default_kv_heads > 0 ? Conventions::default_kv_heads : A.heads, A.heads);
        // head_dim absent or null means hidden_size / num_attention_heads (of the file, not of the type).
        const std::int64_t file_heads = c.peek_integer("num_attention_heads").value_or(A.heads);
        const std::int64_t implied = file_heads > 0 ? c.peek_integer("hidden_size").value_or(0) / file_heads : 0;
        c.expect_int({"head_dim"}, A.head_dim, implied, implied);
        Conventions::check_attention(c, A);
    }

    static layer_weights<model::gqa<A>> load(context& ctx) {
        using S = storage_t<A.weights>;
        using Vec = vector_storage_t<A.weights>;
        const std::string p = ctx.layer_prefix + "self_attn.";
        layer_weights<model::gqa<A>> result;
        attention_weights<A>& w = result.tensors;
        w.q_proj = ctx.store.matrix<S>(p + "q_proj.weight", A.q_width(), A.model_width);
        w.k_proj = ctx.store.matrix<S>(p + "k_proj.weight", A.kv_width(), A.model_width);
        w.v_proj = ctx.store.matrix<S>(p + "v_proj.weight", A.kv_width(), A.model_width);
        w.o_proj = ctx.store.matrix<S>(p + "o_proj.weight", A.model_width, A.q_width());
        if constexpr (A.qkv_bias) {
            w.q_bias = ctx.store.matrix<Vec>(p + "q_proj.bias", 1, A.q_width());
            w.k_bias = ctx.store.matrix<Vec>(p + "k_proj.bias", 1, A.kv_width());
            w.v_bias = ctx.store.matrix<Vec>(p + "v_proj.bias", 1, A.kv_width());
        }
        if constexpr (A.output_bias) w.o_bias = ctx.store.matrix<Vec>(p + "o_proj.bias", 1, A.model_width);
        if constexpr (A.qk_norm != qk_norm_kind::none) {
            w.q_norm = ctx.store.matrix<Vec>(p + "q_norm.weight", 1, attention_weights<A>::q_norm_width);
            w.k_norm = ctx.store.matrix<Vec>(p + "k_norm.weight", 1, attention_weights<A>::k_norm_width);
        }
        result.runtime = attention_runtime{.rope = ctx.config.rope(Conventions::default_rope_theta),
                                           .rms_norm_eps = rms_norm_eps<Conventions>(ctx.config),
                                           .clip_qkv = Conventions::clip_qkv(ctx.config),
                                           .sliding_window = Conventions::sliding_window(ctx.config, ctx.layer)};
        return result;
    }
};

// ---- multi-head latent attention (DeepSeek-V2/V3) ----
template <mla_config M, class Conventions>
struct node_loader<model::mla<M>, Conventions> {
    static void check(hf_config& c) {
        c.expect_int({"num_attention_heads"}, M.heads);
        c.expect_int({"q_lora_rank"}, M.q_lora_rank, 0, 0);
        c.expect_int({"kv_lora_rank"}, M.kv_lora_rank);
        c.expect_int({"qk_nope_head_dim"}, M.qk_nope_head_dim);
        c.expect_int({"qk_rope_head_dim"}, M.qk_rope_head_dim);
        c.expect_int({"v_head_dim"}, M.v_head_dim);
        c.expect_bool("attention_bias", M.bias, false);
        Conventions::check_attention(c, M);
    }

    static layer_weights<model::mla<M>> load(context& ctx) {
        using S = storage_t<M.weights>;
        using Vec = vector_storage_t<M.weights>;
        const std::string p = ctx.layer_prefix + "self_attn.";
        const std::int64_t D = M.model_width, R = M.kv_lora_rank, Dr = M.qk_rope_head_dim, Rq = M.q_lora_rank;
        layer_weights<model::mla<M>> result;
        mla_weights<M>& w = result.tensors;
        if constexpr (M.q_lora_rank == 0) {
            w.q_proj = ctx.store.matrix<S>(p + "q_proj.weight", M.q_width(), D);
        } else {
            w.q_a_proj = ctx.store.matrix<S>(p + "q_a_proj.weight", Rq, D);
            if constexpr (M.bias) w.q_a_bias = ctx.store.matrix<Vec>(p + "q_a_proj.bias", 1, Rq);
            w.q_a_norm = ctx.store.matrix<Vec>(p + "q_a_layernorm.weight", 1, Rq);
            w.q_b_proj = ctx.store.matrix<S>(p + "q_b_proj.weight", M.q_width(), Rq);
        }
        w.kv_a_proj = ctx.store.matrix<S>(p + "kv_a_proj_with_mqa.weight", R + Dr, D);
        if constexpr (M.bias) w.kv_a_bias = ctx.store.matrix<Vec>(p + "kv_a_proj_with_mqa.bias", 1, R + Dr);
        w.kv_a_norm = ctx.store.matrix<Vec>(p + "kv_a_layernorm.weight", 1, R);
        w.kv_b_proj = ctx.store.matrix<S>(p + "kv_b_proj.weight", M.kv_b_rows(), R);
        w.o_proj = ctx.store.matrix<S>(p + "o_proj.weight", D, std::int64_t{M.heads} * M.v_head_dim);
        if constexpr (M.bias) w.o_bias = ctx.store.matrix<Vec>(p + "o_proj.bias", 1, D);
        result.runtime = mla_runtime{.rope = ctx.config.rope(Conventions::default_rope_theta)};
        return result;
    }
};

// ---- dense SwiGLU MLP: mlp.{gate,up,down}_proj ----
template <dense_mlp_config C, class Conventions>
struct node_loader<model::dense_ffn<C>, Conventions> {
    static void check(hf_config& c) { c.expect_int({"intermediate_size"}, C.width); }

    static layer_weights<model::dense_ffn<C>> load(context& ctx) {
        using S = storage_t<C.weights>;
        const std::string p = ctx.layer_prefix + "mlp.";
        return {swiglu_weights<S>{ctx.store.matrix<S>(p + "gate_proj.weight", C.width, C.model_width),
                                  ctx.store.matrix<S>(p + "up_proj.weight", C.width, C.model_width),
                                  ctx.store.matrix<S>(p + "down_proj.weight", C.model_width, C.width)}};
    }
};

// ---- MoE block: router, experts (per-expert keys or fused), shared experts ----
template <moe_layer_config C, class Conventions>
struct node_loader<model::moe_ffn<C>, Conventions> {
    static void check(hf_config& c) {
        Conventions::check_moe(c, C);
        c.expect_int({"num_experts_per_tok"}, C.top_k);
    }

    static layer_weights<model::moe_ffn<C>> load(context& ctx) {
        using S = storage_t<C.weights>;
        constexpr std::int64_t D = C.model_width, F = C.expert_width, E = C.experts, S_width = C.shared_width();
        constexpr moe_tensor_names names = Conventions::moe_names;
        const std::string p = ctx.layer_prefix + std::string(names.block);
        layer_weights<model::moe_ffn<C>> result;
        moe_layer_weights<C>& w = result.tensors;
        w.router = ctx.store.finite_matrix<float>(p + "gate.weight", E, D);
        if constexpr (C.router.selection_bias) {
            w.selection_bias = ctx.store.matrix<float>(p + "gate.e_score_correction_bias", 1, E);
        }
        if (ctx.store.contains(p + "experts.gate_up_proj")) {
            const auto& gate_up = ctx.store.tensor<S>(p + "experts.gate_up_proj", {E, 2 * F, D});
            const auto& down = ctx.store.tensor<S>(p + "experts.down_proj", {E, D, F});
            for (std::int64_t e = 0; e < E; ++e) {
                const auto both = gate_up.matrix(e);  // (2F, D): gate rows, then up rows
                w.experts[e].gate = sub_rows(both, 0, F);
                w.experts[e].up = sub_rows(both, F, F);
                w.experts[e].down = down.matrix(e);
            }
        } else {
            for (std::int64_t e = 0; e < E; ++e) {
                const std::string q = p + "experts." + std::to_string(e) + ".";
                w.experts[e].gate = ctx.store.matrix<S>(q + std::string(names.expert_gate) + ".weight", F, D);
                w.experts[e].up = ctx.store.matrix<S>(q + std::string(names.expert_up) + ".weight", F, D);
                w.experts[e].down = ctx.store.matrix<S>(q + std::string(names.expert_down) + ".weight", D, F);
            }
        }
        if constexpr (S_width > 0) {
            const std::string q = p + std::string(names.shared_experts);
            w.shared.gate = ctx.store.matrix<S>(q + "gate_proj.weight", S_width, D);
            w.shared.up = ctx.store.matrix<S>(q + "up_proj.weight", S_width, D);
            w.shared.down = ctx.store.matrix<S>(q + "down_proj.weight", D, S_width);
        }
        if constexpr (C.shared_expert_gate) w.shared_expert_gate = ctx.store.matrix<float>(p + "shared_expert_gate.weight", 1, D);
        result.runtime = router_runtime{.routed_scaling_factor = Conventions::routed_scaling_factor(ctx.config)};
        return result;
    }
};

// ---- a decoder layer: its two norms, attention and feed-forward ----
template <class Attention, class FeedForward, class Conventions>
struct node_loader<model::decoder<Attention, FeedForward>, Conventions> {
    static void check(hf_config& c) {
        node_loader<Attention, Conventions>::check(c);
        node_loader<FeedForward, Conventions>::check(c);
    }

    static layer_weights<model::decoder<Attention, FeedForward>> load(context& ctx) {
        using Vec = typename layer_weights<model::decoder<Attention, FeedForward>>::vector;
        constexpr std::int64_t D = Attention::config.model_width;
        return {node_loader<Attention, Conventions>::load(ctx), node_loader<FeedForward, Conventions>::load(ctx),
                ctx.store.matrix<Vec>(ctx.layer_prefix + "input_layernorm.weight", 1, D),
                ctx.store.matrix<Vec>(ctx.layer_prefix + "post_attention_layernorm.weight", 1, D),
                rms_norm_eps<Conventions>(ctx.config)};
    }
};

template <class Description>
struct model_loader {
    static_assert(model::description<Description>, "moe::load_model: not a model description");
};

template <causal_lm_config L, class... Stacks>
struct model_loader<model::causal_lm<L, Stacks...>> {
    using description = model::causal_lm<L, Stacks...>;
    using conventions = checkpoint_conventions<L.family>;
    using weights_type = model_weights<description>;

    static void check(hf_config& c) {
        c.expect_string("model_type", name_of(L.family));
        c.expect_int({"vocab_size"}, L.vocab_size);
        c.expect_int({"hidden_size"}, L.model_width);
        c.expect_int({"num_hidden_layers"}, description::layer_count);
        c.expect_bool("tie_word_embeddings", L.tied_embeddings, false);
        c.expect_string("hidden_act", "silu", "silu");  // every family's SwiGLU experts and MLPs use SiLU
        constexpr int dense = ((model::is_dense_ffn<typename Stacks::layer::feed_forward> ? Stacks::count : 0) + ...);
        conventions::check_model(c, dense, description::layer_count);
        (node_loader<typename Stacks::layer, conventions>::check(c), ...);
        check_runtime_fields<conventions>(c, description::layer_count);  // types and ranges, reported together
        check_quantization_config(c);  // absent, or DeepSeek's fp8 blocks (models/quantization_config.hpp)
        c.throw_if_mismatched();
    }

    // `path`: a checkpoint directory (config.json + safetensors) or a GGUF file (its metadata is the config).
    static hf_config read_config(const std::filesystem::path& path, const io::gguf_file* gguf_file) {
        if (gguf_file != nullptr) return gguf::config_of<L.family>(*gguf_file);
        return hf_config(std::filesystem::is_directory(path) ? path / "config.json" : path);
    }

    static weights_type load(const std::filesystem::path& directory, const load_options& options) {
        std::shared_ptr<const io::gguf_file> gguf_file;
        if (io::is_gguf_file(directory)) gguf_file = std::make_shared<const io::gguf_file>(directory, options.memory);
        if constexpr (!has_fixed_layout_v<typename weights_type::storage>) {
            // gguf_mixed keeps each matrix's GGUF block type; a safetensors checkpoint has none to keep.
            if (!gguf_file) {
                throw config_error(directory.string() + ": a model of weight_format::gguf_mixed loads a GGUF file "
                                   "(llama.cpp's Q4_K_M, Q5_K_M, …), not a safetensors checkpoint — use a fixed format "
                                   "(q4_k, q8_0, bf16, …) for it");
            }
        }
        hf_config config = read_config(directory, gguf_file.get());
        check(config);
        const std::int64_t context_limit = config.integer({"max_position_embeddings"}, std::nullopt, 1);  // checked
        if (options.max_positions > context_limit) {
            throw config_error(config.file() + ": load_options.max_positions " + std::to_string(options.max_positions) +
                               " exceeds max_position_embeddings " + std::to_string(context_limit));
        }
        std::shared_ptr<tensor_store> store =
            gguf_file ? std::make_shared<tensor_store>(gguf::tensors_of<L.family>(gguf_file))
                      : std::make_shared<tensor_store>(directory, options.memory);
        context ctx{*store, config, {}};
        weights_type w;
        int index = 0;
        load_stacks(ctx, w.layers, index, std::index_sequence_for<Stacks...>{});
        using storage = typename weights_type::storage;
        w.embedding = store->finite_matrix<storage>("model.embed_tokens.weight", L.vocab_size, L.model_width);
        w.final_norm = store->matrix<typename weights_type::vector>("model.norm.weight", 1, L.model_width);
        if constexpr (!L.tied_embeddings) w.lm_head = store->finite_matrix<storage>("lm_head.weight", L.vocab_size, L.model_width);
        w.rms_norm_eps = rms_norm_eps<conventions>(config);
        w.max_positions = options.max_positions > 0 ? options.max_positions : context_limit;
        w.keep_alive = std::move(store);
        return w;
    }

    template <std::size_t... I>
    static void load_stacks(context& ctx, typename weights_type::layers_type& layers, int& index,
                            std::index_sequence<I...>) {
        ((void)[&] {
            using stack = std::tuple_element_t<I, std::tuple<Stacks...>>;
            for (int l = 0; l < stack::count; ++l, ++index) {
                ctx.layer_prefix = "model.layers." + std::to_string(index) + ".";
                ctx.layer = index;
                std::get<I>(layers).push_back(node_loader<typename stack::layer, conventions>::load(ctx));
            }
        }(), ...);
    }
};

}  // namespace loading

// Loads `directory` (config.json + model.safetensors or a sharded index; or a .gguf file) as backend-free weight
// views for a description (or for the description of a backend's model type). The views stay valid while the returned
// value's keep_alive (or a copy of it) lives.
template <class Model>
model_weights<model::description_of<Model>> load_weights(const std::filesystem::path& directory,
                                                         const load_options& options = {}) {
    return loading::model_loader<model::description_of<Model>>::load(directory, options);
}

// Loads `directory` into a Model: a backend's model type (moe::cpu::model<D>, e.g. moe::cpu::qwen3_moe<card>).
template <class Model>
Model load_model(const std::filesystem::path& directory, const load_options& options = {}) {
    static_assert(!model::description<Model>,
                  "moe::load_model: give a backend's model type (moe::cpu::model<Description>); for the weights "
                  "of a description alone use moe::load_weights<Description>");
    return Model(load_weights<Model>(directory, options));
}

// Checks a config.json (or a GGUF file's metadata) against a model type without loading weights; throws
// config_error listing every mismatch.
template <class Model>
void check_config(const std::filesystem::path& config_json) {
    using loader = loading::model_loader<model::description_of<Model>>;
    if (io::is_gguf_file(config_json)) {
        const io::gguf_file file(config_json);
        hf_config config = loader::read_config(config_json, &file);
        loader::check(config);
        return;
    }
    hf_config config(config_json);
    loader::check(config);
}

// A list of model types for with_matching_model.
template <class... Models>
struct model_list {};

// model_list<A..., B..., …>: the lists one after the other (order kept: with_matching_model runs the first match).
template <class... Lists>
struct joined_model_lists;
template <class... A>
struct joined_model_lists<model_list<A...>> {
    using type = model_list<A...>;
};
template <class... A, class... B, class... Rest>
struct joined_model_lists<model_list<A...>, model_list<B...>, Rest...>
    : joined_model_lists<model_list<A..., B...>, Rest...> {};
template <class... Lists>
using join_model_lists = typename joined_model_lists<Lists...>::type;

// Picks the model type for a checkpoint at run time: calls `fn.template operator()<Model>()` with the first of
// Models whose compile-time configuration matches `config_json` (a config.json or a .gguf file) and returns true;
// when none matches, returns false and appends each type's mismatches (one line per type) to `mismatches`.
// Exceptions from fn propagate.
template <class... Models, class Fn>
bool with_matching_model(model_list<Models...>, const std::filesystem::path& config_json, Fn&& fn,
                         std::string& mismatches) {
    bool found = false;
    const auto try_type = [&]<class Model>() {
        if (found) return;
        try {
            check_config<Model>(config_json);
        } catch (const config_error& e) {
            mismatches += std::string("\n  ") + e.what();
            return;
        }
        found = true;
        fn.template operator()<Model>();
    };
    (try_type.template operator()<Models>(), ...);
    return found;
}

}  // namespace moe
