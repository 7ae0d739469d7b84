// libFuzzer target: random bytes through the GGUF parser and every typed metadata accessor of what it accepts.
// The contract under test: any input either parses into a layout whose values and tensors all lie inside the input,
// or throws gguf_error — no crash, no out-of-bounds read (ASan), no undefined behaviour (UBSan), no allocation out
// of proportion to the input (-rss_limit_mb), no other exception. Build and run with tests/fuzz/run_fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "moe/io.hpp"

namespace {

bool inside(std::span<const std::byte> part, std::span<const std::byte> whole) {
    return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

// Checks the parser's promises itself, so a silent violation is a crash too.
void check_invariants(const moe::io::gguf_view& view, std::span<const std::byte> input) {
    const auto& layout = view.layout();
    if (layout.version < 2 || layout.version > 3) __builtin_trap();
    if (layout.alignment == 0 || (layout.alignment & (layout.alignment - 1)) != 0) __builtin_trap();
    if (layout.data_offset + layout.data_size != input.size()) __builtin_trap();
    if (layout.key_index.size() != layout.metadata.size()) __builtin_trap();
    for (const auto& entry : layout.metadata) {
        if (!inside(entry.value.bytes, input) || entry.key.empty()) __builtin_trap();
        if (view.find_value(entry.key) != &entry.value) __builtin_trap();
    }
    std::uint64_t expected_offset = 0;
    for (const auto& info : view.tensors()) {
        const auto type = moe::io::ggml_type_info_of(static_cast<std::uint32_t>(info.type));
        if (!type || info.ne.size() > 4) __builtin_trap();
        const std::int64_t ne0 = info.ne.empty() ? 1 : info.ne[0];
        if (ne0 % type->block_size != 0) __builtin_trap();
        if (info.bytes != static_cast<std::uint64_t>(info.numel() / type->block_size * type->type_size)) __builtin_trap();
        if (info.offset != expected_offset) __builtin_trap();
        const auto bytes = view.tensor_bytes(info);
        if (bytes.size() != info.bytes || !inside(bytes, input)) __builtin_trap();
        if (view.find_tensor(info.name) != &info) __builtin_trap();
        expected_offset = (info.offset + info.bytes + layout.alignment - 1) / layout.alignment * layout.alignment;
    }
}

// Every accessor on every key; type mismatches are gguf_errors, which is fine.
std::size_t read_everything(const moe::io::gguf_view& view) {
    std::size_t sink = 0;
    for (const auto& key : view.keys()) {
        const auto attempt = [&](auto&& f) {
            try {
                f();
            } catch (const moe::io::gguf_error&) {
                ++sink;
            }
        };
        attempt([&] { sink += view.string(key).size(); });
        attempt([&] { sink += static_cast<std::size_t>(view.integer(key)); });
        attempt([&] { sink += static_cast<std::size_t>(view.number(key) != 0.0); });
        attempt([&] { sink += view.boolean(key) ? 1 : 0; });
        attempt([&] { sink += view.optional_string(key)->size(); });
        attempt([&] { sink += view.string_array(key).size(); });
        attempt([&] { sink += view.integer_array(key).size(); });
        attempt([&] { sink += view.number_array(key).size(); });
        attempt([&] { sink += static_cast<std::size_t>(view.array_size(key)); });
    }
    for (const auto& info : view.tensors()) {
        for (std::byte b : view.tensor_bytes(info)) sink += std::to_integer<std::size_t>(b);
        sink += info.shape().size();
    }
    return sink;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
    try {
        const moe::io::gguf_view view(bytes, "fuzz-input.gguf");
        check_invariants(view, bytes);
        volatile std::size_t sink = read_everything(view);
        (void)sink;
    } catch (const moe::io::gguf_error&) {
        // Rejected input: the expected outcome for most random bytes.
    }
    return 0;
}
