// Error and Result<T>: the return type of expected runtime failures (camera lost, model file
// bad, shm full). Broken contracts are assertions; fatal conditions log and exit.
//
// Error carries a code (a short, stable, machine-readable string such as "timeout" or
// "model.not_onnx") and a message for humans that names what was wrong.
//
// Thread-safety: value types, thread-compatible.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace orion {

struct Error {
  std::string code;
  std::string message;

  std::string to_string() const { return code + ": " + message; }
};

inline Error make_error(std::string code, std::string message) {
  return Error{std::move(code), std::move(message)};
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok() && "Result::value() on an error"); return std::get<0>(v_); }
  const T& value() const& { assert(ok() && "Result::value() on an error"); return std::get<0>(v_); }
  T&& value() && { assert(ok() && "Result::value() on an error"); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { assert(!ok() && "Result::error() on a value"); return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success or an Error.
template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { assert(!ok_ && "Result::error() on success"); return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace orion
