// Strict reading of JSON messages from another process: internal to src/protocol/ (it exposes
// nlohmann::json, which is private to this module; nothing outside protocol/ includes it).
//
// parse_object() refuses, before any field is looked at: more than `max_bytes`, anything that
// is not exactly one JSON object, invalid UTF-8, nesting deeper than kMaxJsonDepth and a key
// that appears twice in one object (nlohmann would keep the last one silently; a peer that
// sends two values for one field is refused instead of being read one way here and another
// way by some other decoder).
//
// FieldReader reads the fields of one object. Each call names a field; a field that is absent
// or null keeps the caller's default, unless it is required; a field that is present but of the
// wrong type or out of range is an Error naming the field's full path ("model.input_width",
// "detections[3].box[1]") and what was expected. Only the first error is kept, so a decoder
// reads all its fields and checks ok() once.
//
// Thread-safety: parse_object() is a pure function; a FieldReader is thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace orion::protocol::detail {

using nlohmann::json;

// Deepest nesting of any message today: result → detections → one detection → box (4 levels).
// The margin leaves room for new fields; a depth bomb ("[[[[...") stops here.
inline constexpr size_t kMaxJsonDepth = 16;

// Errors: `size_code` for a text over max_bytes; "protocol.bad_json" for everything else.
Result<json> parse_object(std::string_view text, size_t max_bytes, const char* size_code);

// A printable excerpt of untrusted text for an error message: at most `max` bytes, every
// byte outside printable ASCII shown as '?'.
std::string excerpt(std::string_view text, size_t max = 80);

enum class Need { kOptional, kRequired };
// kLine: no control characters (names, paths, states: what ends up in logs and on screen).
enum class Text { kAny, kLine };

class FieldReader {
 public:
  // `prefix` is prepended to every field name in errors ("" at the top level, "model." ...).
  FieldReader(const json& object, std::string prefix, std::string code);

  // An integer (JSON integer: 3, never 3.0) in [lo, hi], stored as T (the caller picks a T
  // that holds [lo, hi]).
  template <class T>
  void integer(const char* key, int64_t lo, int64_t hi, T& out, Need need = Need::kOptional) {
    int64_t v = 0;
    if (read_integer(key, lo, hi, v, need)) out = static_cast<T>(v);
  }
  // A finite number in [lo, hi].
  void number(const char* key, double lo, double hi, double& out, Need need = Need::kOptional);
  void number(const char* key, double lo, double hi, float& out, Need need = Need::kOptional);
  void boolean(const char* key, bool& out, Need need = Need::kOptional);
  // A string of at most max_bytes bytes (UTF-8 is checked by the parser).
  void string(const char* key, size_t max_bytes, std::string& out, Text text = Text::kLine,
              Need need = Need::kOptional);
  // The field itself if it is an object (or an array of at most max_items); nullptr when it is
  // absent (an error when required) or of another type (an error).
  const json* object(const char* key, Need need = Need::kOptional);
  const json* array(const char* key, size_t max_items, Need need = Need::kOptional);

  // Records `what` about field `key` (the first error wins).
  void fail(const std::string& key, const std::string& what);
  bool ok() const { return !error_.has_value(); }
  const Error& error() const { return *error_; }
  std::string path(const std::string& key) const { return prefix_ + key; }

 private:
  // The field, or nullptr when absent or null (after recording "missing" if required).
  const json* find(const char* key, Need need);
  bool read_integer(const char* key, int64_t lo, int64_t hi, int64_t& out, Need need);

  const json& object_;
  std::string prefix_;
  std::string code_;
  std::optional<Error> error_;
};

// One message's text for the wire. Never throws on text that is not UTF-8 (an OS error message,
// a Latin-1 path): such bytes become U+FFFD.
std::string to_line(const json& j);

// `s` cut to at most `max` bytes without splitting a UTF-8 sequence.
std::string cut_utf8(const std::string& s, size_t max);

// Checks that `s` has no control character (bytes < 0x20 and 0x7f); used for Text::kLine.
bool is_one_line(std::string_view s);

}  // namespace orion::protocol::detail
