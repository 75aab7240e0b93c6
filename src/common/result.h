// Result<T>: the error-handling currency of hsw's control paths.
//
// Setup and control code returns Result<T> (a value, or an Error with an errno
// and a message that names what is wrong).  Per-packet code never returns
// Result: it counts what it drops in named counters instead.
//
// tl::expected is Debian's libexpected-dev; it has std::expected's API, so the
// switch to std::expected is a rename once both compilers ship it.
#pragma once

#include <cerrno>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <tl/expected.hpp>

namespace hsw {

struct Error {
  int code = 0;         // errno value, or 0 when the failure has no errno
  std::string message;  // names the thing that is wrong, for a human

  std::string ToString() const {
    return code ? fmt::format("{} ({})", message, std::strerror(code)) : message;
  }
};

template <class T>
using Result = tl::expected<T, Error>;
using Status = tl::expected<void, Error>;

inline tl::unexpected<Error> MakeError(std::string message, int code = 0) {
  return tl::unexpected<Error>(Error{code, std::move(message)});
}

// Err("port {} not found", name): a formatted error with no errno.
template <class... Args>
tl::unexpected<Error> Err(fmt::format_string<Args...> format, Args&&... args) {
  return MakeError(fmt::format(format, std::forward<Args>(args)...));
}

// ErrnoErr("bind {}", path): a formatted error carrying the current errno.
template <class... Args>
tl::unexpected<Error> ErrnoErr(fmt::format_string<Args...> format, Args&&... args) {
  int saved = errno;
  return MakeError(fmt::format(format, std::forward<Args>(args)...), saved);
}

inline Status Ok() { return {}; }

}  // namespace hsw

#include <cstring>

// HSW_TRY(expr): evaluate a Result/Status, return its error from the caller on failure.
#define HSW_TRY(expr)                                          \
  do {                                                         \
    auto hsw_try_result_ = (expr);                             \
    if (!hsw_try_result_) return tl::unexpected(hsw_try_result_.error()); \
  } while (0)

// HSW_ASSIGN_OR_RETURN(auto x, expr): bind the value of a Result or return its error.
#define HSW_CONCAT_INNER_(a, b) a##b
#define HSW_CONCAT_(a, b) HSW_CONCAT_INNER_(a, b)
#define HSW_ASSIGN_OR_RETURN(decl, expr)                                       \
  auto HSW_CONCAT_(hsw_aor_, __LINE__) = (expr);                               \
  if (!HSW_CONCAT_(hsw_aor_, __LINE__))                                        \
    return tl::unexpected(HSW_CONCAT_(hsw_aor_, __LINE__).error());            \
  decl = std::move(*HSW_CONCAT_(hsw_aor_, __LINE__))
