// A ledger header that reaches into a backend: check_floors must reject it.
#pragma once
#include "moe/cpu/layer.hpp"
