// compile_fail/experts_zero.cpp — .experts = 0 — a layer without routed experts.
// Built with -DMOE_FAILTEST_BROKEN it must fail with the message below; without it (the twin) it must compile.
// expect: moe_layer_config: set .experts (the number of routed experts) to at least 1
#include "moe/core.hpp"

#ifdef MOE_FAILTEST_BROKEN
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 16, .experts = 0, .top_k = 1};
#else
inline constexpr moe::moe_layer_config config{.model_width = 8, .expert_width = 16, .experts = 1, .top_k = 1};
#endif

// Every layer type instantiates this check.
static_assert(moe::check_moe_layer_config<config>::value);
