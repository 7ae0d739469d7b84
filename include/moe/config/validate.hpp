// moe/config/validate.hpp — compile-time checks of an moe_layer_config, each with a message saying what to change.
//
// Instantiate check_moe_layer_config<C> (every layer type does) to run them. Each check has a compile-fail test in
// tests/compile_fail/ with a twin that must compile.
#pragma once

#include "moe/config/moe_layer_config.hpp"

namespace moe {

template <moe_layer_config C>
struct check_moe_layer_config {
    static_assert(C.model_width >= 1, "moe_layer_config: set .model_width (hidden_size) to at least 1");
    static_assert(C.expert_width >= 1, "moe_layer_config: set .expert_width (moe_intermediate_size) to at least 1");
    static_assert(C.experts >= 1, "moe_layer_config: set .experts (the number of routed experts) to at least 1");
    static_assert(C.top_k >= 1, "moe_layer_config: .top_k must be at least 1 — each token needs one expert or more");
    static_assert(C.top_k <= C.experts, "moe_layer_config: .top_k exceeds .experts — lower top_k or add experts");
    static_assert(C.shared_experts >= 0, "moe_layer_config: .shared_experts cannot be negative");
    static_assert(C.shared_expert_width >= 0, "moe_layer_config: .shared_expert_width cannot be negative (0 = expert_width)");
    static_assert(!C.shared_expert_gate || C.shared_experts > 0,
                  "moe_layer_config: .shared_expert_gate needs .shared_experts >= 1 — there is no shared expert to gate");

    static_assert(C.router.groups >= 1, "router_config: .groups must be at least 1");
    static_assert(C.router.group_by != group_scoring::none || C.router.groups == 1,
                  "router_config: .groups > 1 needs a .group_by rule (sum_of_top_2 or max) — or set groups = 1");
    static_assert(C.experts % C.router.groups == 0,
                  "router_config: .groups must divide .experts evenly — change groups or the expert count");
    static_assert(C.router.top_k_groups >= 1, "router_config: .top_k_groups must be at least 1");
    static_assert(C.router.top_k_groups <= C.router.groups,
                  "router_config: .top_k_groups exceeds .groups — keep at most as many groups as there are");
    static_assert(C.router.group_by != group_scoring::sum_of_top_2 || C.experts / C.router.groups >= 2,
                  "router_config: sum_of_top_2 group scoring needs at least 2 experts per group — use fewer groups");
    static_assert(C.top_k <= C.router.top_k_groups * (C.experts / C.router.groups),
                  "moe_layer_config: .top_k exceeds the experts in the kept groups (top_k_groups × experts per group) "
                  "— raise top_k_groups or lower top_k");

    static_assert(whole_blocks<C.weights, "moe_layer_config.model_width", C.model_width> &&
                  whole_blocks<C.weights, "moe_layer_config.expert_width", C.expert_width> &&
                  whole_blocks<C.weights, "moe_layer_config.shared_width()", C.shared_width()>);
    static constexpr bool value = true;
};

}  // namespace moe
