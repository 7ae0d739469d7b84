// moe_card — a checkpoint's model type as C++: the family's card (designated initialisers) and its CPU alias, read
// from config.json, with the weight format chosen from the safetensors dtypes; or from a llama.cpp GGUF file's
// metadata, with the format chosen from its matrices' tensor types.
//
//   moe_card CHECKPOINT_DIR|FILE.gguf [--name NAME] [--weights FORMAT]
//       constexpr moe::qwen3_moe_config my_model{.vocab_size = 276, ...};
//       using my_model_type = moe::cpu::qwen3_moe<my_model>;
//   moe_card --header HEADER_PATH [--released] [--weights FORMAT] CHECKPOINT_DIR|FILE.gguf...
//       a header defining moe_models::checkpoint_models = moe::model_list<one type per distinct card>
//       (joined with moe::cpu::released_models with --released); examples/moe_cli.cpp includes it through
//       MOE_MODELS_HEADER (cmake/moe_models.cmake: moe_add_model_executable).
//
// This is the one place that maps config.json to a card; the loader checks the card against the same config.json
// when the model loads (moe::check_config), so a wrong mapping fails loudly. It reads config.json with the
// library's hf_config (regular files only, clear errors) and the safetensors headers with moe::io::checkpoint.
// A GGUF file goes through the loader's own mapping first: its family from general.architecture
// (gguf::family_of), its metadata as a config.json (gguf::config_of), whose fields are then read as above, with
// messages naming the GGUF keys.
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "moe/excerpt.hpp"
#include "moe/io/checkpoint.hpp"
#include "moe/io/gguf_file.hpp"
#include "moe/models/families.hpp"
#include "moe/models/gguf/architectures.hpp"
#include "moe/models/hf_config.hpp"

namespace {

namespace fs = std::filesystem;
using moe::config_error;
using moe::hf_config;

// One card: the family's config struct name, its CPU alias template and its fields in declaration order.
struct card {
    std::string family;  // "qwen3_moe": moe::qwen3_moe_config, moe::cpu::qwen3_moe<...>
    std::vector<std::pair<std::string, std::string>> fields;
    std::string note;    // a GGUF file: what the family and format were chosen from (a comment line)

    std::string initialisers() const {
        std::string s;
        for (const auto& [name, value] : fields) s += (s.empty() ? "." : ", .") + name + " = " + value;
        return s;
    }
};

// Reads the fields of one config.json; every problem names the file and the field.
struct reader {
    hf_config& c;
    card out;

    // An integer field (first present key of `keys`); `absent` when missing (nullopt: required), `null` when JSON
    // null (default: as absent) — the same conventions as hf_config::expect_int.
    // Throws the problem, named after the file; a field of a GGUF file is named by its key (hf_config::record).
    [[noreturn]] void refuse(const std::string& what) {
        c.record(what);
        c.throw_if_mismatched();
        throw config_error(c.file() + ": " + what);  // not reached: record() keeps every problem
    }

    long integer(std::initializer_list<std::string_view> keys, std::optional<long> absent = std::nullopt,
                 std::optional<long> null = std::nullopt) {
        const nlohmann::json* value = nullptr;
        std::string_view key = *keys.begin();
        for (std::string_view k : keys)
            if (auto it = c.json().find(k); it != c.json().end()) {
                value = &*it, key = k;
                break;
            }
        if (value != nullptr && value->is_null() && null) return *null;
        if (value == nullptr || value->is_null()) {
            if (!absent) refuse(std::string(key) + " is missing");
            return *absent;
        }
        if (!value->is_number_integer() && !value->is_number_unsigned())
            refuse(std::string(key) + " must be an integer, got " + moe::excerpt(value->dump()));
        // Card fields are int; a value outside [0, INT_MAX] cannot be a size.
        if (value->is_number_unsigned() ? value->get<unsigned long long>() > INT_MAX
                                        : (value->get<long long>() < 0 || value->get<long long>() > INT_MAX))
            refuse(std::string(key) + " is " + moe::excerpt(value->dump()) + ", outside [0, " + std::to_string(INT_MAX) + "]");
        return static_cast<long>(value->get<long long>());
    }
    bool boolean(std::string_view key, bool absent) {
        const auto it = c.json().find(key);
        if (it == c.json().end() || it->is_null()) return absent;
        if (!it->is_boolean())
            refuse(std::string(key) + " must be true or false, got " + moe::excerpt(it->dump()));
        return it->get<bool>();
    }
    std::string string(std::string_view key, std::string_view absent) {
        const auto it = c.json().find(key);
        if (it == c.json().end() || it->is_null()) return std::string(absent);
        if (!it->is_string())
            refuse(std::string(key) + " must be a string, got " + moe::excerpt(it->dump()));
        return it->get<std::string>();
    }

    void put(std::string name, long v) { out.fields.emplace_back(std::move(name), std::to_string(v)); }
    void put(std::string name, bool v) { out.fields.emplace_back(std::move(name), v ? "true" : "false"); }
    void put_text(std::string name, std::string v) { out.fields.emplace_back(std::move(name), std::move(v)); }

    // vocab_size, hidden_size, num_hidden_layers, num_attention_heads (+ GQA's kv heads and head_dim). Absent
    // fields take the defaults the library's checkpoint_conventions give them (transformers' config classes).
    template <moe::model_family F>
    void common(bool gqa) {
        using conventions = moe::checkpoint_conventions<F>;
        put("vocab_size", integer({"vocab_size"}));
        put("model_width", integer({"hidden_size"}));
        put("layers", integer({"num_hidden_layers"}));
        const long heads = integer({"num_attention_heads"});
        put("heads", heads);
        if (!gqa) return;
        if (heads == 0) refuse("num_attention_heads is 0");
        put("kv_heads", integer({"num_key_value_heads"}, conventions::default_kv_heads ? conventions::default_kv_heads : heads));
        put("head_dim", integer({"head_dim"}, integer({"hidden_size"}) / heads));  // absent / null: hidden / heads
    }
    // Qwen2/3-MoE types make every layer an MoE layer.
    void qwen_layers() {
        if (const long step = integer({"decoder_sparse_step"}, 1); step != 1)
            refuse("decoder_sparse_step is " + std::to_string(step) + ": the qwen family types have an MoE block in every layer (1)");
        if (auto it = c.json().find("mlp_only_layers"); it != c.json().end() && !it->is_null() && !(it->is_array() && it->empty()))
            refuse("mlp_only_layers is " + moe::excerpt(it->dump()) + ": the qwen family types support only []");
    }
    template <moe::deepseek_detail::config_defaults Defaults>
    void mla() {
        put("q_lora_rank", integer({"q_lora_rank"}, 0));  // null: no query compression (V2-Lite)
        put("kv_lora_rank", integer({"kv_lora_rank"}));
        put("qk_nope_head_dim", integer({"qk_nope_head_dim"}));
        put("qk_rope_head_dim", integer({"qk_rope_head_dim"}));
        put("v_head_dim", integer({"v_head_dim"}));
        put("dense_layers", integer({"first_k_dense_replace"}, Defaults.first_k_dense_replace));
        put("dense_width", integer({"intermediate_size"}));
        put("expert_width", integer({"moe_intermediate_size"}));
        put("experts", integer({"n_routed_experts", "num_local_experts"}));
        put("top_k", integer({"num_experts_per_tok"}));
        put("shared_experts", integer({"n_shared_experts"}, Defaults.n_shared_experts, 0));
    }

    card read(const std::string& weights) {
        const std::string type = string("model_type", "");
        out.family = type;
        using F = moe::model_family;
        if (type == "mixtral") {
            common<F::mixtral>(true);
            put("expert_width", integer({"intermediate_size"}));
            put("experts", integer({"num_local_experts", "num_experts"}));
            put("top_k", integer({"num_experts_per_tok"}));
        } else if (type == "qwen3_moe" || type == "qwen2_moe") {
            if (type == "qwen3_moe") common<F::qwen3_moe>(true);
            else common<F::qwen2_moe>(true);
            qwen_layers();
            put("expert_width", integer({"moe_intermediate_size"}));
            put("experts", integer({"num_experts", "num_local_experts"}));
            put("top_k", integer({"num_experts_per_tok"}));
            if (type == "qwen2_moe") put("shared_expert_width", integer({"shared_expert_intermediate_size"}));
            put("norm_topk_prob", boolean("norm_topk_prob", false));
            if (type == "qwen3_moe") put("attention_bias", boolean("attention_bias", false));
        } else if (type == "olmoe") {
            common<F::olmoe>(true);
            put("expert_width", integer({"intermediate_size"}));
            put("experts", integer({"num_experts", "num_local_experts"}));
            put("top_k", integer({"num_experts_per_tok"}));
            put("norm_topk_prob", boolean("norm_topk_prob", false));
            put("attention_bias", boolean("attention_bias", false));
        } else if (type == "deepseek_v2") {
            constexpr auto defaults = moe::deepseek_detail::v2_defaults;
            common<F::deepseek_v2>(false);
            mla<defaults>();
            const std::string method = string("topk_method", "greedy");
            if (method != "greedy" && method != "group_limited_greedy")
                refuse("topk_method is \"" + moe::excerpt(method) + "\" (deepseek_v2 supports greedy, group_limited_greedy)");
            put_text("topk_method", "moe::deepseek_v2_topk::" + method);
            put("groups", integer({"n_group"}, defaults.n_group, 1));
            put("top_k_groups", integer({"topk_group"}, defaults.topk_group, 1));
            put("attention_bias", boolean("attention_bias", false));
        } else if (type == "deepseek_v3") {
            constexpr auto defaults = moe::deepseek_detail::v3_defaults;
            common<F::deepseek_v3>(false);
            mla<defaults>();
            if (const auto f = string("scoring_func", "sigmoid"); f != "sigmoid")
                refuse("scoring_func is \"" + moe::excerpt(f) + "\" (deepseek_v3 supports sigmoid)");
            if (const auto m = string("topk_method", "noaux_tc"); m != "noaux_tc")
                refuse("topk_method is \"" + moe::excerpt(m) + "\" (deepseek_v3 supports noaux_tc)");
            put("groups", integer({"n_group"}, defaults.n_group, 1));
            put("top_k_groups", integer({"topk_group"}, defaults.topk_group, 1));
            put("norm_topk_prob", boolean("norm_topk_prob", true));
            put("attention_bias", boolean("attention_bias", false));
            put("rope_interleave", boolean("rope_interleave", true));
        } else {
            refuse("model_type \"" + moe::excerpt(type) +
                   "\" is not a supported family (mixtral, qwen2_moe, qwen3_moe, olmoe, deepseek_v2, deepseek_v3)");
        }
        put("tied_embeddings", boolean("tie_word_embeddings", false));
        put_text("weights", "moe::weight_format::" + weights);
        return out;
    }
};

const std::set<std::string> weight_formats{"fp32", "bf16", "fp16", "bf16_compute", "q8_0",
                                           "q4_0", "q5_0", "q4_k", "q5_k", "q6_k", "gguf_mixed"};

// The format the checkpoint's matrices are stored in, so they are used in place: the dtype most 2-D tensors have.
std::string weights_of(const fs::path& dir) {
    const moe::io::checkpoint ckpt(dir);
    std::map<moe::io::dtype, long> count;
    for (const auto& shard : ckpt.shards())
        for (const auto& t : shard.tensors())
            if (t.shape.size() >= 2) ++count[t.dtype];
    if (count.empty()) throw config_error(dir.string() + ": the checkpoint has no matrices");
    auto most = count.begin();
    for (auto it = count.begin(); it != count.end(); ++it)
        if (it->second > most->second) most = it;
    switch (most->first) {
        case moe::io::dtype::f32: return "fp32";
        case moe::io::dtype::bf16: return "bf16";
        case moe::io::dtype::f16: return "fp16";
        default:
            throw config_error(dir.string() + ": most matrices are " + std::string(moe::io::name_of(most->first)) +
                               "; moe reads F32, BF16 or F16 checkpoints (give --weights FORMAT to choose one)");
    }
}

// ---- GGUF files ----

// The tensor types of a GGUF file's matrices: how many tensors have each, and the first one (for messages). 1-D
// tensors (norms, biases) and the routers (ffn_gate_inp, ffn_gate_inp_shexp: read as fp32 whatever their type) are
// not matrices of the weight format.
struct matrix_type {
    long tensors = 0;
    std::string first;
};
using matrix_types = std::map<moe::io::ggml_type, matrix_type>;

matrix_types matrix_types_of(const moe::io::gguf_file& file) {
    matrix_types types;
    for (const auto& t : file.tensors()) {
        if (t.ne.size() < 2 || t.name.find("ffn_gate_inp") != std::string::npos) continue;
        auto& m = types[t.type];
        if (m.tensors++ == 0) m.first = t.name;
    }
    return types;
}

// "3 Q4_K, 2 Q6_K": the types in ggml's order.
std::string describe(const matrix_types& types) {
    std::string s;
    for (const auto& [type, m] : types)
        s += (s.empty() ? "" : ", ") + std::to_string(m.tensors) + " " + std::string(moe::io::name_of(type));
    return s;
}

// The format that uses the file's matrices as they are: one block type → its format (float matrices besides it are
// quantized at load); several of the block types moe multiplies → gguf_mixed (each matrix keeps its type); floats
// only → the type most matrices have (F32 → fp32, F16 → fp16, BF16 → bf16). Anything else names a tensor and the
// way out.
std::string gguf_weights_of(const moe::io::gguf_file& file, const matrix_types& types) {
    if (types.empty()) throw config_error(file.path() + ": the file has no matrices (2-D tensors besides the routers)");
    std::vector<std::string> blocks;  // the block formats, e.g. "q4_k"
    const matrix_types::value_type* most_float = nullptr;
    for (const auto& entry : types) {
        const auto& [type, m] = entry;
        if (moe::gguf::dtype_of(type)) {
            if (!most_float || m.tensors > most_float->second.tensors) most_float = &entry;
        } else if (const auto format = moe::gguf::mixed_block_format(type)) {
            blocks.emplace_back(moe::name_of(*format));
        } else {
            throw config_error(file.path() + ": " + moe::excerpt(m.first) + " is " + std::string(moe::io::name_of(type)) +
                               (m.tensors > 1 ? " (and " + std::to_string(m.tensors - 1) + " more matrices)" : "") +
                               "; moe reads F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q4_K, Q5_K and Q6_K matrices");
        }
    }
    if (blocks.size() == 1) return blocks[0];
    if (blocks.size() > 1) {
        if (most_float != nullptr) {
            throw config_error(file.path() + ": the matrices mix block types with floats (" + describe(types) + "; " +
                               moe::excerpt(most_float->second.first) + " is " +
                               std::string(moe::io::name_of(most_float->first)) +
                               "): weight_format::gguf_mixed keeps block types only; --weights fp32 dequantizes every "
                               "matrix at load (4 bytes per weight)");
        }
        return "gguf_mixed";
    }
    switch (*moe::gguf::dtype_of(most_float->first)) {
        case moe::io::dtype::f32: return "fp32";
        case moe::io::dtype::f16: return "fp16";
        default: return "bf16";
    }
}

// The config of a file's family, read by the family's own GGUF mapping (a run-time family, a compile-time mapping).
hf_config gguf_config_of(const moe::io::gguf_file& file, moe::model_family family) {
    using F = moe::model_family;
    switch (family) {
        case F::mixtral: return moe::gguf::config_of<F::mixtral>(file);
        case F::qwen2_moe: return moe::gguf::config_of<F::qwen2_moe>(file);
        case F::qwen3_moe: return moe::gguf::config_of<F::qwen3_moe>(file);
        case F::olmoe: return moe::gguf::config_of<F::olmoe>(file);
        case F::deepseek_v2: return moe::gguf::config_of<F::deepseek_v2>(file);
        case F::deepseek_v3: return moe::gguf::config_of<F::deepseek_v3>(file);
    }
    throw config_error(file.path() + ": no GGUF mapping for this family");
}

card gguf_card_of(const fs::path& path, const std::optional<std::string>& weights) {
    const moe::io::gguf_file file(path);  // the header and tensor table, checked; no tensor data is read
    const moe::model_family family = moe::gguf::family_of(file);
    hf_config config = gguf_config_of(file, family);
    config.throw_if_mismatched();  // what the mapping refused (an unsupported RoPE scaling, a wrong metadata type)
    const matrix_types types = matrix_types_of(file);
    const std::string format = weights ? *weights : gguf_weights_of(file, types);
    card k = reader{config, {}}.read(format);
    k.note = "general.architecture " + moe::excerpt(file.optional_string("general.architecture").value_or("")) +
             "; matrices: " + describe(types) + " (routers and vectors aside) → " +
             (weights ? "--weights " + format : "weight_format::" + format);
    return k;
}

// A GGUF file (any regular file, or a missing *.gguf: the GGUF reader refuses a wrong one, naming it) or a checkpoint
// directory.
bool is_file(const fs::path& path) {
    std::error_code ec;
    return fs::is_regular_file(path, ec) || (path.extension() == ".gguf" && !fs::is_directory(path, ec));
}

card card_of(const fs::path& path, const std::optional<std::string>& weights) {
    if (is_file(path)) return gguf_card_of(path, weights);
    hf_config config(path / "config.json");
    return reader{config, {}}.read(weights ? *weights : weights_of(path));
}

// "tiny-reasoner" → "tiny_reasoner"; a C++ identifier whatever the directory is called.
std::string identifier(std::string name) {
    for (char& ch : name)
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))) ch = '_';
    if (name.empty() || (name[0] >= '0' && name[0] <= '9')) name = "m_" + name;
    return name.size() > 64 ? name.substr(0, 64) : name;
}

std::string declaration(const std::string& name, const card& k, const char* indent = "") {
    return std::string(indent) + "inline constexpr moe::" + k.family + "_config " + name + "{" + k.initialisers() + "};\n" +
           indent + "using " + name + "_type = moe::cpu::" + k.family + "<" + name + ">;\n";
}

// The directory's name (the last non-empty component), e.g. "/models/a/" → "a"; a file's without its extension
// ("/models/Qwen3-30B-A3B-Q4_K_M.gguf" → "Qwen3-30B-A3B-Q4_K_M").
std::string directory_name(const fs::path& dir) {
    auto p = dir.lexically_normal();
    if (p.filename().empty()) p = p.parent_path();
    return is_file(p) ? p.stem().string() : p.filename().string();
}

constexpr std::size_t max_checkpoints = 256;  // one compiled type each: more is a build, not a list

void write_header(const fs::path& out, const std::vector<fs::path>& dirs, const std::optional<std::string>& weights,
                  bool released) {
    if (dirs.size() > max_checkpoints)
        throw moe::invalid_argument("moe_card: " + std::to_string(dirs.size()) + " checkpoints, at most " +
                                    std::to_string(max_checkpoints) + " per header");
    std::string body, list;
    std::map<std::string, std::string> seen;  // initialisers + family → name: identical cards share one type
    std::set<std::string> names;
    for (const auto& dir : dirs) {
        const card k = card_of(dir, weights);
        const std::string key = k.family + "{" + k.initialisers() + "}";
        if (auto it = seen.find(key); it != seen.end()) {
            body += "// " + dir.string() + ": the same card as " + it->second + "\n";
            continue;
        }
        std::string name = identifier(directory_name(dir));
        for (int n = 2; names.count(name); ++n) name = identifier(directory_name(dir)) + "_" + std::to_string(n);
        names.insert(name);
        seen.emplace(key, name);
        body += "// " + dir.string() + (k.note.empty() ? "" : ": " + k.note) + "\n" + declaration(name, k, "");
        list += (list.empty() ? "" : ", ") + name + "_type";
    }
    // The checkpoints' types, then (--released) moe::cpu::released_models.
    std::string models = "moe::model_list<" + list + ">";
    if (released) models = "moe::join_model_lists<" + models + ", moe::cpu::released_models>";
    const std::string text =
        "// Generated by moe_card (tools/moe_card.cpp) from the checkpoints' config.json or GGUF metadata — do not edit.\n"
        "#pragma once\n\n#include \"moe/models/cpu.hpp\"\n#include \"moe/models/load_model.hpp\"  // moe::model_list\n\nnamespace moe_models {\n\n" +
        body + "\n// The types moe_cli / next_token try, in order (the first whose card matches the checkpoint runs).\n" +
        "using checkpoint_models = " + models + ";\n\n}  // namespace moe_models\n";
    // Rewritten only when it changes, so an unchanged checkpoint list does not rebuild the executables.
    std::string old;
    if (std::ifstream in(out, std::ios::binary); in) old.assign(std::istreambuf_iterator<char>(in), {});
    if (old == text) return;
    std::ofstream file(out, std::ios::binary | std::ios::trunc);
    file << text;
    if (!file.flush()) throw moe::invalid_argument("moe_card: cannot write " + out.string());
}

[[noreturn]] void usage(const std::string& problem) {
    std::fprintf(stderr,
                 "moe_card: %s\n"
                 "usage: moe_card CHECKPOINT_DIR|FILE.gguf [--name NAME] [--weights FORMAT]  (prints the card and its type)\n"
                 "       moe_card --header OUT.hpp [--released] [--weights FORMAT] CHECKPOINT_DIR|FILE.gguf...\n"
                 "  FORMAT: fp32, bf16, fp16, bf16_compute, q8_0, q4_0, q5_0, q4_k, q5_k, q6_k or gguf_mixed\n"
                 "          (default: the checkpoint's matrix dtype; a GGUF file's matrix types)\n",
                 problem.c_str());
    std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<fs::path> dirs;
    std::optional<std::string> name, weights, header;
    bool released = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(a + " needs a value");
            return argv[++i];
        };
        if (a == "--name") name = value();
        else if (a == "--weights") {
            weights = value();
            if (!weight_formats.count(*weights)) usage("unknown weight format '" + moe::excerpt(*weights) + "'");
        } else if (a == "--header") header = value();
        else if (a == "--released") released = true;
        else if (a == "-h" || a == "--help") usage("help");
        else if (!a.empty() && a[0] == '-') usage("unknown flag '" + moe::excerpt(a) + "'");
        else dirs.emplace_back(a);
    }
    try {
        if (header) {
            if (dirs.empty() && !released) usage("give at least one checkpoint directory or GGUF file");
            write_header(*header, dirs, weights, released);
            return 0;
        }
        if (dirs.size() != 1) usage("give one checkpoint directory or GGUF file (or --header OUT.hpp and several)");
        if (name && identifier(*name) != *name) usage("--name must be a C++ identifier, got '" + moe::excerpt(*name) + "'");
        const card k = card_of(dirs[0], weights);
        const std::string note = k.note.empty() ? "" : "// " + dirs[0].filename().string() + ": " + k.note + "\n";
        std::printf("#include \"moe/models/cpu.hpp\"\n\n%s%s", note.c_str(),
                    declaration(name ? *name : identifier(directory_name(dirs[0])), k).c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "moe_card: %s\n", e.what());
        return 1;
    }
    return 0;
}
