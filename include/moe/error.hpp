// moe/error.hpp — the one base every exception type of the library shares.
//
//   try { ... } catch (const moe::error& e) { std::cerr << e.what(); }  // any library exception
//
// Each library exception (moe::shape_error, moe::config_error, moe::io::checkpoint_error,
// moe::text::tokenizer_error, moe::ledger::meter_unavailable, moe::cpu::invalid_input, moe::cpu::kv_cache_full,
// moe::cuda::cuda_error, moe::cuda::launch_error) derives from error_with<std::X>: from the standard class it
// always derived from (so `catch (const std::invalid_argument&)`, `std::runtime_error&`, `std::exception&` still
// catch it) and from moe::error. moe::error itself is not a std::exception: a class with two std::exception bases
// would make `catch (const std::exception&)` ambiguous, and such a handler silently does not match.
// A new exception type is `class my_error : public error_with<std::runtime_error> { using error_with::error_with; };`.
// Precondition checks throw the three general types below, so they too are caught as moe::error and as the
// standard class a caller may already catch.
#pragma once

#include <exception>
#include <stdexcept>
#include <type_traits>

namespace moe {

class error {
   public:
    virtual ~error() = default;
    virtual const char* what() const noexcept = 0;

   protected:
    error() noexcept = default;
    error(const error&) noexcept = default;
    error& operator=(const error&) noexcept = default;
};

// StdBase: the standard exception class the library type derives from (std::runtime_error, std::invalid_argument...).
template <class StdBase>
class error_with : public StdBase, public error {
    static_assert(std::is_base_of_v<std::exception, StdBase>, "error_with: StdBase must be a std::exception");

   public:
    using StdBase::StdBase;
    const char* what() const noexcept override { return StdBase::what(); }
};

// A call the API does not accept: an option out of its range, a missing state, zero threads. The message names it.
class invalid_argument : public error_with<std::invalid_argument> {
   public:
    using error_with::error_with;
};

// An index or count outside what an object holds.
class out_of_range : public error_with<std::out_of_range> {
   public:
    using error_with::error_with;
};

// Calls in an order the object does not allow (finishing twice, committing what was not reserved).
class logic_error : public error_with<std::logic_error> {
   public:
    using error_with::error_with;
};

}  // namespace moe
