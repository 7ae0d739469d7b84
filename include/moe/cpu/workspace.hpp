// moe/cpu/workspace.hpp — the CPU backend's scratch memory: where every temporary buffer of a kernel lives.
//
// Temporary memory comes in three kinds, each with one home:
//   1. State read by every work item of a parallel_for (tokens packed or prepared once per product, a layer's
//      intermediate activations): owned by the object that runs the product — swiglu_runner, the layers'
//      host_matrix members — sized by the call, grown and never shrunk.
//   2. Scratch of one work item while it runs (a row block's product before it is scattered, gate and up results,
//      weights widened to fp32): the running thread's buffer for a named slot, scratch<T>(slot, count).
//   3. Per-call state of a free function that has no owning object (linear(): x packed or prepared once, then read
//      by every item, including items on other threads): the calling thread's call_tokens slot, or
//      scratch_object<T>() when the state is an object.
// This header holds the library's only thread_local buffers of the CPU kernels. Slots are named below so that two
// buffers live at once on one thread never share one: a work item uses item slots only, so the call_tokens slot
// of a thread that runs items of its own call stays intact. Buffers are per thread and per element type, grow,
// and are freed when the thread ends. Their contents are unspecified when handed out — every user writes before
// it reads — so results never depend on which thread ran what before (bit-identical for any thread count).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace moe::cpu {

enum class scratch_slot : int {
    call_tokens,    // kind 3: a call's packed tokens (linear, small_batch_product), read by all its items
    block_product,  // kind 2: a row block's product, transposed (rows, np), before it is scattered
    gate_product,   // kind 2: a SwiGLU block's gate results
    up_product,     // kind 2: a SwiGLU block's up results
    widened_chunk,  // kind 2: a GEMM block's weight chunk widened to fp32 (kernels/gemm_tiles.hpp)
    widened_rows,   // kind 2: weight rows widened to fp32 for an Eigen product (widen_rows.hpp)
    attention_scores,  // kind 2: one head's attention weights over a block of queries (attention/causal_attention.hpp)
    attention_partials,  // kind 3: split_kv_attention's per-chunk softmax partials, merged after its items
    widened_keys,        // kind 2: cached keys of a work item widened to fp32 (attention/cache_reads.hpp)
    widened_values,      // kind 2: cached values of a work item widened to fp32
    rounded_queries,     // kind 3: a call's queries rounded as a q8_0 cache's key products see them
};
inline constexpr std::size_t scratch_slot_count = 11;

// The running thread's buffer for `slot`: at least `count` elements of T, contents unspecified. Valid until the
// thread asks for the same slot and type again.
template <class T>
T* scratch(scratch_slot slot, std::int64_t count) {
    static_assert(std::is_trivially_copyable_v<T>, "scratch buffers hold plain values");
    thread_local std::array<std::vector<T>, scratch_slot_count> buffers;
    std::vector<T>& buffer = buffers[static_cast<std::size_t>(slot)];
    if (static_cast<std::int64_t>(buffer.size()) < count) buffer.resize(static_cast<std::size_t>(count));
    return buffer.data();
}

// The calling thread's object of type T (kind 3 state that is an object, e.g. linear()'s prepared decode tokens).
// One per thread and type; it keeps its buffers between calls.
template <class T>
T& scratch_object() {
    thread_local T object;
    return object;
}

}  // namespace moe::cpu
