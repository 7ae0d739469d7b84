// moe/core.hpp — the backend-independent core: configuration, precision types, routing semantics, tensor views.
// Needs only the C++20 standard library.
#pragma once

#include "moe/config/moe_layer_config.hpp"
#include "moe/config/precision.hpp"
#include "moe/config/router_config.hpp"
#include "moe/config/validate.hpp"
#include "moe/layers/moe_layer_weights.hpp"
#include "moe/precision/half_types.hpp"
#include "moe/routing/route_token.hpp"
#include "moe/routing/routing_plan.hpp"
#include "moe/routing/top_k.hpp"
#include "moe/tensor/matrix_view.hpp"
#include "moe/version.hpp"
