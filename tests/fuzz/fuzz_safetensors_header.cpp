// libFuzzer target: random bytes through the safetensors parser and every typed read of what it accepts.
// The contract under test: any input either parses into a layout whose tensors all lie inside the data section,
// or throws checkpoint_error — no crash, no out-of-bounds read (ASan), no undefined behaviour (UBSan), no other
// exception. Build and run with tests/fuzz/run_fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <span>

#include "moe/io.hpp"

namespace {

// Checks the parser's promises itself, so a silent violation is a crash too.
void check_invariants(const moe::io::safetensors_view& view, std::size_t input_size) {
    const auto data = view.data();
    if (data.size() > input_size) __builtin_trap();
    for (const auto& info : view.tensors()) {
        if (info.begin > info.end || info.end > data.size()) __builtin_trap();
        if (info.byte_size() != static_cast<std::size_t>(info.numel()) * moe::io::size_of(info.dtype)) __builtin_trap();
        const auto found = view.find(info.name);
        if (!found || found->info != &info) __builtin_trap();
    }
}

// Touches every byte of every tensor through the typed readers.
float read_everything(const moe::io::safetensors_view& view) {
    float sum = 0.0f;
    for (const auto& info : view.tensors()) {
        const auto ref = view.ref(info);
        try {
            if (moe::io::is_floating(info.dtype)) {
                const auto as_float = moe::io::load_tensor<float>(ref);
                const auto as_bf16 = moe::io::load_tensor<moe::bfloat16>(ref);
                const auto as_f16 = moe::io::load_tensor<moe::float16>(ref);
                for (float v : as_float.span()) sum += v;
                for (auto v : as_bf16.span()) sum += moe::to_float(v);
                for (auto v : as_f16.span()) sum += moe::to_float(v);
                if (info.shape.size() == 3 && as_float.numel() > 0) sum += as_float.matrix(info.shape[0] - 1)(0, 0);
                if (info.shape.size() <= 2) sum += static_cast<float>(moe::io::copy_matrix<float>(ref).rows());
            } else {
                for (std::int64_t v : moe::io::read_integers(ref)) sum += static_cast<float>(v);
            }
        } catch (const moe::io::checkpoint_error&) {
            // Legitimate for U64 values above INT64_MAX; anything else escaping would abort the fuzzer.
        }
    }
    return sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
    try {
        const moe::io::safetensors_view view(bytes, "fuzz-input");
        check_invariants(view, size);
        volatile float sink = read_everything(view);
        (void)sink;
    } catch (const moe::io::checkpoint_error&) {
        // Rejected input: the expected outcome for most random bytes.
    }
    return 0;
}
