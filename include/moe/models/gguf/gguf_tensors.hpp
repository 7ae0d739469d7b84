// moe/models/gguf/gguf_tensors.hpp — a GGUF file's tensors under their Hugging Face names, as the loader asks for
// them (moe/models/load_model.hpp, tensor_store).
//
// llama.cpp's converter (convert_hf_to_gguf.py, gguf-py tensor_mapping.py) renames and re-lays tensors; this undoes
// it, per request:
//   names     model.embed_tokens → token_embd, model.layers.L.self_attn.q_proj → blk.L.attn_q, router
//             <moe block>gate → ffn_gate_inp, e_score_correction_bias → exp_probs_b.bias, shared experts →
//             ffn_{gate,up,down}_shexp, Qwen2-MoE's shared_expert_gate → ffn_gate_inp_shexp, ... (name_in_gguf).
//   experts   merged ffn_{gate,up,down}_exps (ggml ne {D, F, E} = row-major (E, F, D)): expert e is the e-th
//             contiguous slice, used in place; older files' per-expert blk.L.ffn_gate.E.weight likewise.
//   Q and K   of architecture `llama` (Mixtral): the converter permutes each head's rows from HF's rotate-half
//             order to interleaved pairs (LlamaModel.permute); the rows are put back (a row gather, exact for any
//             type, including quantized rows).
//   MLA       kv_b_proj from attn_kv_b (older files) or from the split attn_k_b (stored transposed per head:
//             row-major (H, R, nope)) and attn_v_b ((H, v, R)): rebuilt as HF's (H·(nope+v), R) in fp32 (then
//             converted to the model's format: a quantized k_b/v_b is dequantized and, for a block format,
//             quantized again, since k_b must be transposed; Q8_0 for gguf_mixed, see mixed_q8_0).
// Tensor types: see gguf_tensor_types.hpp. Every error names the file, the GGUF tensor and the HF name asked for.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "moe/config/precision.hpp"
#include "moe/excerpt.hpp"
#include "moe/io/checkpoint_error.hpp"
#include "moe/io/finite_check.hpp"
#include "moe/io/gguf_file.hpp"
#include "moe/io/tensor_read.hpp"
#include "moe/models/checkpoint_conventions.hpp"
#include "moe/models/gguf/gguf_tensor_types.hpp"

namespace moe::gguf {

// How the file lays out what the HF names do not say.
struct tensor_layout {
    moe_tensor_names moe_names;  // the family's HF spelling of its MoE block
    bool permuted_qk = false;    // architecture `llama`: Q/K rows permuted by the converter
    std::int64_t heads = 0, kv_heads = 0;
    std::int64_t qk_nope_head_dim = 0, v_head_dim = 0;  // MLA: to rebuild kv_b_proj from k_b / v_b
};

// The HF tensor name `hf` in llama.cpp's naming: the GGUF name and, for one expert of a merged tensor, its index.
struct gguf_name {
    std::string name;
    std::int64_t expert = -1;  // >= 0: slice `expert` of the merged tensor `name`
    std::string per_expert = {};  // the older per-expert name of the same tensor (blk.L.ffn_gate.E.weight)
};

inline std::optional<gguf_name> name_in_gguf(std::string_view hf, const moe_tensor_names& n) {
    if (hf == "model.embed_tokens.weight") return gguf_name{"token_embd.weight"};
    if (hf == "model.norm.weight") return gguf_name{"output_norm.weight"};
    if (hf == "lm_head.weight") return gguf_name{"output.weight"};
    constexpr std::string_view layers = "model.layers.";
    if (!hf.starts_with(layers)) return std::nullopt;
    hf.remove_prefix(layers.size());
    const std::size_t dot = hf.find('.');
    if (dot == std::string_view::npos || dot == 0) return std::nullopt;
    const std::string blk = "blk." + std::string(hf.substr(0, dot)) + ".";
    std::string_view rest = hf.substr(dot + 1);
    struct rename {
        std::string_view hf, gguf;
    };
    static constexpr rename layer_names[] = {
        {"input_layernorm.weight", "attn_norm.weight"},
        {"post_attention_layernorm.weight", "ffn_norm.weight"},
        {"self_attn.q_proj.weight", "attn_q.weight"},
        {"self_attn.q_proj.bias", "attn_q.bias"},
        {"self_attn.k_proj.weight", "attn_k.weight"},
        {"self_attn.k_proj.bias", "attn_k.bias"},
        {"self_attn.v_proj.weight", "attn_v.weight"},
        {"self_attn.v_proj.bias", "attn_v.bias"},
        {"self_attn.o_proj.weight", "attn_output.weight"},
        {"self_attn.o_proj.bias", "attn_output.bias"},
        {"self_attn.q_norm.weight", "attn_q_norm.weight"},
        {"self_attn.k_norm.weight", "attn_k_norm.weight"},
        {"self_attn.q_a_proj.weight", "attn_q_a.weight"},
        {"self_attn.q_a_layernorm.weight", "attn_q_a_norm.weight"},
        {"self_attn.q_b_proj.weight", "attn_q_b.weight"},
        {"self_attn.kv_a_proj_with_mqa.weight", "attn_kv_a_mqa.weight"},
        {"self_attn.kv_a_layernorm.weight", "attn_kv_a_norm.weight"},
        {"self_attn.kv_b_proj.weight", "attn_kv_b.weight"},
        {"mlp.gate_proj.weight", "ffn_gate.weight"},  // dense layers
        {"mlp.up_proj.weight", "ffn_up.weight"},
        {"mlp.down_proj.weight", "ffn_down.weight"},
    };
    for (const auto& r : layer_names) {
        if (rest == r.hf) return gguf_name{blk + std::string(r.gguf)};
    }
    if (!rest.starts_with(n.block)) return std::nullopt;
    rest.remove_prefix(n.block.size());
    if (rest == "gate.weight") return gguf_name{blk + "ffn_gate_inp.weight"};
    if (rest == "gate.e_score_correction_bias") return gguf_name{blk + "exp_probs_b.bias"};
    if (rest == "shared_expert_gate.weight") return gguf_name{blk + "ffn_gate_inp_shexp.weight"};
    const std::string_view kinds[3][2] = {{"gate_proj", "gate"}, {"up_proj", "up"}, {"down_proj", "down"}};
    if (rest.starts_with(n.shared_experts)) {
        rest.remove_prefix(n.shared_experts.size());
        for (const auto& k : kinds) {
            if (rest == std::string(k[0]) + ".weight") return gguf_name{blk + "ffn_" + std::string(k[1]) + "_shexp.weight"};
        }
        return std::nullopt;
    }
    constexpr std::string_view experts = "experts.";
    if (!rest.starts_with(experts)) return std::nullopt;
    rest.remove_prefix(experts.size());
    const std::size_t end = rest.find('.');
    if (end == std::string_view::npos || end == 0 || end > 9) return std::nullopt;
    std::int64_t e = 0;
    for (char c : rest.substr(0, end)) {
        if (c < '0' || c > '9') return std::nullopt;
        e = e * 10 + (c - '0');
    }
    const std::string_view which = rest.substr(end + 1);
    const std::string_view expert_names[3] = {n.expert_gate, n.expert_up, n.expert_down};
    for (int k = 0; k < 3; ++k) {
        if (which == std::string(expert_names[k]) + ".weight") {
            const std::string kind(kinds[k][1]);
            return gguf_name{blk + "ffn_" + kind + "_exps.weight", e, blk + "ffn_" + kind + "." + std::to_string(e) + ".weight"};
        }
    }
    return std::nullopt;
}

class tensor_source {
   public:
    tensor_source(std::shared_ptr<const io::gguf_file> file, tensor_layout layout)
        : file_(std::move(file)), layout_(layout) {}

    const std::string& path() const { return file_->path(); }
    const io::gguf_file& file() const { return *file_; }

    bool contains(const std::string& hf) const {
        const auto n = name_in_gguf(hf, layout_.moe_names);
        if (!n) return false;
        if (file_->find_tensor(n->name) != nullptr) return n->expert < 0 || expert_in_range(*n);
        if (!n->per_expert.empty() && file_->find_tensor(n->per_expert) != nullptr) return true;
        return n->name.ends_with("attn_kv_b.weight") && file_->find_tensor(kv_b_part(n->name, "k")) != nullptr;
    }

    // The tensor `hf` as T, of exactly `shape` (row-major; a 1-D tensor of n matches (1, n) when `matrix`);
    // `finite`: refused when it holds NaN or infinity.
    template <class T>
    io::loaded_tensor<T> load(const std::string& hf, std::vector<std::int64_t> shape, bool matrix, bool finite) {
        const part p = resolve(hf);
        const bool same = p.shape == shape ||
                          (matrix && shape.size() == 2 && shape[0] == 1 && p.shape.size() == 1 && p.shape[0] == shape[1]);
        if (!same) {
            throw error_in(p, "has shape " + io::shape_string(p.shape) + ", expected " + io::shape_string(shape));
        }
        if constexpr (std::is_same_v<T, mixed_block>) return load_mixed(p, finite);
        if (const auto dtype = dtype_of(p.type)) {
            // F32 / F16 / BF16: exactly the safetensors path (in place, converted, or quantized at load).
            io::tensor_info info{p.label, *dtype, p.shape, 0, p.bytes.size()};
            const io::tensor_ref ref{&info, p.bytes, file_->path()};
            if (finite) io::require_finite(ref);
            return io::load_tensor<T>(ref);
        }
        if constexpr (ggml_type_of_storage<T>().has_value()) {
            if (p.type == *ggml_type_of_storage<T>()) {
                if (reinterpret_cast<std::uintptr_t>(p.bytes.data()) % alignof(T) != 0) {
                    throw error_in(p, "is not aligned to " + std::to_string(alignof(T)) + " bytes in the file");
                }
                if (finite) require_finite_dequantized(p);
                // The mapping is read-only memory with no C++ objects in it; reading it as T is the usual mmap idiom.
                return {p.shape, reinterpret_cast<const T*>(p.bytes.data()), p.label, file_->path()};
            }
        } else {
            // A float model: a quantized tensor the library reads is dequantized exactly, then converted.
            if (std::vector<float> values(static_cast<std::size_t>(numel(p.shape)));
                dequantize(p.type, p.bytes.data(), numel(p.shape), values.data())) {
                const auto& kept = own(std::as_bytes(std::span<const float>(values)));
                io::tensor_info info{p.label, io::dtype::f32, p.shape, 0, kept.size()};
                const io::tensor_ref ref{&info, kept, file_->path()};
                if (finite) io::require_finite(ref);
                return io::load_tensor<T>(ref);
            }
        }
        throw error_in(p, "is " + std::string(io::name_of(p.type)) + ", which a model of format " +
                           std::string(name_of(format_of_storage<T>)) + " cannot use (it reads " + readable_types<T>() +
                           " tensors)");
    }

   private:
    // A tensor as the loader sees it: its bytes (in the mapping or owned here), type and row-major shape.
    struct part {
        std::string label;  // "blk.0.attn_q.weight (model.layers.0.self_attn.q_proj.weight)"
        io::ggml_type type;
        std::vector<std::int64_t> shape;
        std::span<const std::byte> bytes;
    };

    static std::int64_t numel(const std::vector<std::int64_t>& shape) {
        std::int64_t n = 1;
        for (auto d : shape) n *= d;
        return n;
    }
    static std::int64_t row_bytes(const io::gguf_tensor_info& t) {
        const auto info = io::ggml_type_info_of(static_cast<std::uint32_t>(t.type));
        return t.ne.empty() ? 0 : t.ne[0] / info->block_size * info->type_size;
    }

    io::checkpoint_error error_in(const part& p, std::string_view problem) const {
        return io::detail::tensor_error(file_->path(), p.label, problem);
    }

    bool expert_in_range(const gguf_name& n) const {
        const auto* t = file_->find_tensor(n.name);
        return t->ne.size() == 3 && n.expert < t->ne[2];
    }
    static std::string kv_b_part(const std::string& kv_b, std::string_view which) {
        return kv_b.substr(0, kv_b.size() - std::string_view("kv_b.weight").size()) + std::string(which) + "_b.weight";
    }

    const std::vector<std::byte>& own(std::span<const std::byte> bytes) {
        owned_.push_back(std::make_unique<std::vector<std::byte>>(bytes.begin(), bytes.end()));
        return *owned_.back();
    }

    part whole(const io::gguf_tensor_info& t, const std::string& hf) const {
        return {t.name + " (" + hf + ")", t.type, t.shape(), file_->tensor_bytes(t)};
    }

    part resolve(const std::string& hf) {
        const auto n = name_in_gguf(hf, layout_.moe_names);
        if (!n) {
            throw io::detail::file_error(file_->path(), "has no GGUF name for tensor '" + excerpt(hf) + "'");
        }
        if (const auto* t = file_->find_tensor(n->name)) {
            if (n->expert >= 0) return expert_slice(*t, *n, hf);
            part p = whole(*t, hf);
            if (layout_.permuted_qk && (hf.ends_with("self_attn.q_proj.weight") || hf.ends_with("self_attn.k_proj.weight"))) {
                return unpermute(p, *t, hf.ends_with("q_proj.weight") ? layout_.heads : layout_.kv_heads);
            }
            return p;
        }
        if (!n->per_expert.empty()) {
            if (const auto* t = file_->find_tensor(n->per_expert)) return whole(*t, hf);
        }
        if (n->name.ends_with("attn_kv_b.weight") && file_->find_tensor(kv_b_part(n->name, "k")) != nullptr) {
            return merged_kv_b(n->name, hf);
        }
        throw io::detail::file_error(file_->path(), "missing tensor '" + n->name + "' (" + excerpt(hf) + ")");
    }

    // Expert e of a merged (E, R, C) tensor: the e-th contiguous slice, in place.
    part expert_slice(const io::gguf_tensor_info& t, const gguf_name& n, const std::string& hf) const {
        part p = whole(t, hf);
        if (t.ne.size() != 3) throw error_in(p, "has shape " + io::shape_string(p.shape) + ", expected a 3-D (experts, rows, columns) tensor");
        if (n.expert >= t.ne[2]) {
            throw error_in(p, "has " + std::to_string(t.ne[2]) + " experts, expert " + std::to_string(n.expert) + " was asked for");
        }
        const std::size_t size = static_cast<std::size_t>(row_bytes(t) * t.ne[1]);
        return {t.name + "[" + std::to_string(n.expert) + "] (" + hf + ")", t.type, {t.ne[1], t.ne[0]},
                p.bytes.subspan(static_cast<std::size_t>(n.expert) * size, size)};
    }

    // LlamaModel.permute undone: GGUF row h·hd + 2i + j holds HF row h·hd + j·hd/2 + i (hd = rows / heads).
    part unpermute(const part& p, const io::gguf_tensor_info& t, std::int64_t heads) {
        const std::int64_t rows = p.shape.empty() ? 0 : p.shape[0];
        if (p.shape.size() != 2 || heads <= 0 || rows % (2 * heads) != 0) {
            throw error_in(p, "has shape " + io::shape_string(p.shape) + ": cannot undo the Q/K row permutation for " +
                               std::to_string(heads) + " heads");
        }
        const std::int64_t hd = rows / heads, stride = row_bytes(t);
        std::vector<std::byte> rows_hf(p.bytes.size());
        for (std::int64_t h = 0; h < heads; ++h)
            for (std::int64_t i = 0; i < hd / 2; ++i)
                for (std::int64_t j = 0; j < 2; ++j)
                    std::memcpy(rows_hf.data() + (h * hd + j * hd / 2 + i) * stride,
                                p.bytes.data() + (h * hd + 2 * i + j) * stride, static_cast<std::size_t>(stride));
        return {p.label, p.type, p.shape, own(rows_hf)};
    }

    // HF's kv_b_proj (H·(nope+v), R) in fp32 from k_b (H, R, nope) and v_b (H, v, R).
    part merged_kv_b(const std::string& kv_b, const std::string& hf) {
        const auto& k = file_->require_tensor(kv_b_part(kv_b, "k"));
        const auto& v = file_->require_tensor(kv_b_part(kv_b, "v"));
        const std::int64_t H = layout_.heads, nope = layout_.qk_nope_head_dim, vd = layout_.v_head_dim;
        const part kp = whole(k, hf), vp = whole(v, hf);
        const std::int64_t R = k.ne.size() == 3 ? k.ne[1] : 0;
        if (kp.shape != std::vector<std::int64_t>{H, R, nope}) {
            throw error_in(kp, "has shape " + io::shape_string(kp.shape) + ", expected (" + std::to_string(H) +
                                ", kv_lora_rank, " + std::to_string(nope) + ")");
        }
        if (vp.shape != std::vector<std::int64_t>{H, vd, R}) {
            throw error_in(vp, "has shape " + io::shape_string(vp.shape) + ", expected " +
                                io::shape_string(std::vector<std::int64_t>{H, vd, R}));
        }
        std::vector<float> kf(static_cast<std::size_t>(H * R * nope)), vf(static_cast<std::size_t>(H * vd * R));
        if (!dequantize(k.type, kp.bytes.data(), numel(kp.shape), kf.data())) {
            throw error_in(kp, "is " + std::string(io::name_of(k.type)) + ", which the library cannot read");
        }
        if (!dequantize(v.type, vp.bytes.data(), numel(vp.shape), vf.data())) {
            throw error_in(vp, "is " + std::string(io::name_of(v.type)) + ", which the library cannot read");
        }
        std::vector<float> out(static_cast<std::size_t>(H * (nope + vd) * R));
        for (std::int64_t h = 0; h < H; ++h) {
            float* head = out.data() + h * (nope + vd) * R;
            for (std::int64_t n = 0; n < nope; ++n)
                for (std::int64_t r = 0; r < R; ++r) head[n * R + r] = kf[static_cast<std::size_t>((h * R + r) * nope + n)];
            std::memcpy(head + nope * R, vf.data() + h * vd * R, static_cast<std::size_t>(vd * R) * sizeof(float));
        }
        return {k.name + " + " + v.name + " (" + hf + ")", io::ggml_type::f32, {H * (nope + vd), R},
                own(std::as_bytes(std::span<const float>(out)))};
    }

    // gguf_mixed: the tensor in place, in the block type the file gives it (any of mixed_block_format's); a float
    // matrix (F32 / F16 / BF16, or kv_b_proj rebuilt from k_b / v_b) quantized to Q8_0 at load.
    io::loaded_tensor<mixed_block> load_mixed(const part& p, bool finite) {
        if (dtype_of(p.type)) return mixed_q8_0(p, finite);
        const auto format = mixed_block_format(p.type);
        if (!format) {
            throw error_in(p, "is " + std::string(io::name_of(p.type)) + ", which a model of format gguf_mixed cannot "
                               "use (it reads " + readable_types<mixed_block>() + " matrices)");
        }
        const mixed_layout layout = mixed_layout_of(*format);
        if (reinterpret_cast<std::uintptr_t>(p.bytes.data()) % static_cast<std::uintptr_t>(layout.block_align) != 0) {
            throw error_in(p, "is not aligned to " + std::to_string(layout.block_align) + " bytes in the file");
        }
        if (finite) require_finite_dequantized(p);
        // The mapping is read-only memory with no C++ objects in it; reading it as bytes of blocks is the mmap idiom.
        return {p.shape, reinterpret_cast<const mixed_block*>(p.bytes.data()), p.label, file_->path(), layout};
    }

    // A float matrix in a gguf_mixed model, which holds only block types: quantized to Q8_0 (the q8_0 format's
    // quantizer, ggml's quantize_row_q8_0) and owned here. Q8_0 because it is the most precise type of the mix (8
    // bits and one f16 scale per 32 weights: rounding error at most 1/254 of each block's max |w|) and the one
    // llama.cpp's quantizer itself falls back to where a K-quant cannot hold a row (Q6_K and the output). The
    // product then runs on Q8_0 activations, as the rest of the mix does; llama.cpp multiplies an F16 matrix in
    // f16. A row must be a multiple of 32 wide (llama.cpp keeps F16 exactly where it is not): refused otherwise.
    io::loaded_tensor<mixed_block> mixed_q8_0(const part& p, bool finite) {
        using q8_0 = weight_format_traits<weight_format::q8_0>;
        const std::int64_t cols = p.shape.empty() ? 1 : p.shape.back();
        if (cols % q8_0::block_width != 0) {
            throw error_in(p, "is " + std::string(io::name_of(p.type)) + " with rows " + std::to_string(cols) +
                               " wide: a model of format gguf_mixed holds a float matrix as Q8_0, whose rows are "
                               "multiples of " + std::to_string(q8_0::block_width) + " wide");
        }
        io::tensor_info info{p.label, *dtype_of(p.type), p.shape, 0, p.bytes.size()};
        const io::tensor_ref ref{&info, p.bytes, file_->path()};
        if (finite) io::require_finite(ref);
        const auto blocks = io::load_tensor_quantized<q8_0::storage>(ref);
        const auto& kept = own(std::as_bytes(blocks.span()));
        // Owned bytes (aligned by operator new), read as blocks like the mapping is.
        return {p.shape, reinterpret_cast<const mixed_block*>(kept.data()), p.label, file_->path(),
                mixed_layout_of(weight_format::q8_0)};
    }

    // A quantized embedding / LM head / router: every value dequantized and checked.
    void require_finite_dequantized(const part& p) const {
        const std::int64_t cols = p.shape.empty() ? 1 : p.shape.back(), rows = numel(p.shape) / std::max<std::int64_t>(cols, 1);
        const std::size_t stride = p.bytes.size() / static_cast<std::size_t>(std::max<std::int64_t>(rows, 1));
        std::vector<float> row(static_cast<std::size_t>(cols));
        for (std::int64_t r = 0; r < rows; ++r) {
            dequantize(p.type, p.bytes.data() + r * std::int64_t(stride), cols, row.data());
            for (std::int64_t c = 0; c < cols; ++c) {
                if (!std::isfinite(row[c])) {
                    throw error_in(p, "holds a non-finite value (row " + std::to_string(r) + ", column " + std::to_string(c) + ")");
                }
            }
        }
    }

    std::shared_ptr<const io::gguf_file> file_;
    tensor_layout layout_;
    std::vector<std::unique_ptr<std::vector<std::byte>>> owned_;  // re-laid tensors; views point into them
};

}  // namespace moe::gguf
