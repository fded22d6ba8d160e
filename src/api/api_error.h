// ApiError and Checked<T>: the outcome of every validation and service call of the API.
//
// An ApiError is what the client gets as `{"error": {"code", "message", "field"}}` with HTTP
// `status`: `code` is short and stable ("api.invalid_field", "store.version_conflict", ...),
// `message` says what was wrong in words (and names the field), `field` is the path of the
// offending field ("url", "events.min_score", "classes[3]"; "" when no one field is at fault).
// Messages never carry a password: whatever builds one redacts URLs first (api/redact.h).
//
// Codes of the API itself (the store's codes pass through, see service.h):
//   api.malformed_json (400)    the body is not JSON, or has a duplicate key or is too deep
//   api.wrong_type (400)        a field has the wrong JSON type
//   api.missing_field (400)     a required field is absent
//   api.unknown_field (400)     a field the resource does not have (a typo is never ignored)
//   api.read_only_field (400)   a field the server sets (updated_at, state, ...)
//   api.invalid_field (400)     a value out of range or of the wrong form (names, URLs, ...)
//   api.invalid_query (400)     a query parameter that is unknown or wrong
//   api.version_required (400)  PATCH without the current version (body or If-Match)
//   api.unauthorized (401)      token configured and the request lacks it or has another
//   api.no_route (404)          no such path;  api.method_not_allowed (405)
//   api.body_too_large (413)    over ServerOptions::max_body_bytes (1 MiB)
//   api.unsupported_media_type (415)  POST/PATCH body not sent as application/json
//   api.internal (500)          a bug: logged, and the request changed nothing it reports
//
// Thread-safety: value types, thread-compatible.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace orion::api {

struct ApiError {
  int status = 400;
  std::string code;
  std::string message;
  std::string field;
};

inline ApiError api_error(int status, std::string code, std::string message,
                          std::string field = "") {
  return ApiError{status, std::move(code), std::move(message), std::move(field)};
}

template <class T>
class [[nodiscard]] Checked {
 public:
  Checked(T value) : v_(std::in_place_index<0>, std::move(value)) {}         // NOLINT: implicit
  Checked(ApiError error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & {
    assert(ok() && "Checked::value() on an error");
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok() && "Checked::value() on an error");
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok() && "Checked::value() on an error");
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const ApiError& error() const {
    assert(!ok() && "Checked::error() on a value");
    return std::get<1>(v_);
  }

 private:
  std::variant<T, ApiError> v_;
};

}  // namespace orion::api
