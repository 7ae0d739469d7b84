// compile_fail/model_width_zero.cpp — .model_width = 0 — every layer needs a hidden size.
// Built with -DMOE_FAILTEST_BROKEN it must fail with the message below; without it (the twin) it must compile.
// expect: moe_layer_config: set .model_width (hidden_size) to at least 1
#include "moe/core.hpp"

#ifdef MOE_FAILTEST_BROKEN
inline constexpr moe::moe_layer_config config{.model_width = 0, .expert_width = 16, .experts = 4, .top_k = 2};
#else
inline constexpr moe::moe_layer_config config{.model_width = 1, .expert_width = 16, .experts = 4, .top_k = 2};
#endif

// Every layer type instantiates this check.
static_assert(moe::check_moe_layer_config<config>::value);
