// Error types shared by every convdyn library.
//
// CONVDYN_CHECK is for caller mistakes and bad input (a one-line message that names the thing and the
// problem); CONVDYN_ASSERT is for internal invariants (a bug in convdyn). Non-convergence of a solver, and a
// numerical failure of the method itself, are results (EigResult::reason), never exceptions.
#pragma once
#include <fmt/format.h>
#include <stdexcept>
#include <string>

namespace convdyn {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
/// Invalid argument or malformed input data.
class ValueError : public Error {
 public:
  using Error::Error;
};
/// File missing, unreadable, corrupt or unwritable.
class IoError : public Error {
 public:
  using Error::Error;
};
/// Requested device unavailable or unsupported.
class DeviceError : public Error {
 public:
  using Error::Error;
};
/// Internal invariant violated: a bug in convdyn.
class InternalError : public Error {
 public:
  using Error::Error;
};

}  // namespace convdyn

#define CONVDYN_CHECK(cond, ErrorType, ...)                  \
  do {                                                       \
    if (!(cond)) throw ErrorType(fmt::format(__VA_ARGS__));  \
  } while (0)

#define CONVDYN_ASSERT(cond, ...)                                                          \
  do {                                                                                     \
    if (!(cond))                                                                           \
      throw ::convdyn::InternalError(fmt::format("internal error at {}:{}: {}", __FILE__, \
                                                 __LINE__, fmt::format(__VA_ARGS__)));     \
  } while (0)
