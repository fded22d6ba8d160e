#include "protocol/json_fields.h"

#include <cmath>
#include <unordered_set>
#include <utility>
#include <vector>

namespace orion::protocol::detail {

namespace {

Error bad_json(const std::string& what) { return make_error("protocol.bad_json", what); }

// What a value is, for "expected X, got Y" messages.
std::string shown(const json& v) {
  if (v.is_string()) return "a string";
  if (v.is_object()) return "an object";
  if (v.is_array()) return "an array";
  if (v.is_boolean()) return "a boolean";
  return excerpt(v.dump(), 40);
}

}  // namespace

std::string excerpt(std::string_view text, size_t max) {
  std::string out(text.substr(0, max));
  for (char& ch : out) {
    const auto u = static_cast<unsigned char>(ch);
    if (u < 0x20 || u >= 0x7f) ch = '?';
  }
  if (text.size() > max) out += "...";
  return out;
}

std::string to_line(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string cut_utf8(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

bool is_one_line(std::string_view s) {
  for (char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

Result<json> parse_object(std::string_view text, size_t max_bytes, const char* size_code) {
  if (text.size() > max_bytes)
    return make_error(size_code, "message of " + std::to_string(text.size()) +
                                     " bytes exceeds the limit of " + std::to_string(max_bytes));
  // The parser reports every container start and end and every key: one set of keys per open
  // container (arrays get an unused one) finds duplicates and measures depth. Once a problem
  // is found every later value is discarded, so the rest of the text costs time, not memory.
  std::vector<std::unordered_set<std::string>> open;
  std::string problem;
  auto check = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    if (!problem.empty()) return false;
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (open.size() >= kMaxJsonDepth) {
          problem = "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels";
          return false;
        }
        open.emplace_back();
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        open.pop_back();
        break;
      case json::parse_event_t::key: {
        const auto& k = parsed.get_ref<const std::string&>();
        if (!open.back().insert(k).second) {
          problem = "duplicate key '" + excerpt(k, 40) + "'";
          return false;
        }
        break;
      }
      case json::parse_event_t::value:
        break;
    }
    return true;
  };
  json j = json::parse(text.begin(), text.end(), check, /*allow_exceptions=*/false);
  if (!problem.empty()) return bad_json(problem);
  if (j.is_discarded()) return bad_json("not valid JSON: '" + excerpt(text) + "'");
  if (!j.is_object()) return bad_json("a message must be a JSON object");
  return j;
}

FieldReader::FieldReader(const json& object, std::string prefix, std::string code)
    : object_(object), prefix_(std::move(prefix)), code_(std::move(code)) {}

void FieldReader::fail(const std::string& key, const std::string& what) {
  if (!error_) error_ = make_error(code_, "field '" + path(key) + "' " + what);
}

const json* FieldReader::find(const char* key, Need need) {
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) {
    if (need == Need::kRequired) fail(key, "is missing");
    return nullptr;
  }
  return &*it;
}

bool FieldReader::read_integer(const char* key, int64_t lo, int64_t hi, int64_t& out, Need need) {
  const json* v = find(key, need);
  if (v == nullptr) return false;
  const std::string range = " in " + std::to_string(lo) + ".." + std::to_string(hi);
  bool in_range = false;
  int64_t x = 0;
  if (v->is_number_unsigned()) {  // non-negative literals; may exceed INT64_MAX
    const uint64_t u = v->get<uint64_t>();
    in_range = hi >= 0 && u <= static_cast<uint64_t>(hi);
    x = in_range ? static_cast<int64_t>(u) : 0;
    in_range = in_range && x >= lo;
  } else if (v->is_number_integer()) {
    x = v->get<int64_t>();
    in_range = x >= lo && x <= hi;
  } else {
    fail(key, "must be an integer" + range + " (got " + shown(*v) + ")");
    return false;
  }
  if (!in_range) {
    fail(key, "must be an integer" + range + " (got " + excerpt(v->dump(), 40) + ")");
    return false;
  }
  out = x;
  return true;
}

void FieldReader::number(const char* key, double lo, double hi, double& out, Need need) {
  const json* v = find(key, need);
  if (v == nullptr) return;
  if (!v->is_number()) return fail(key, "must be a number (got " + shown(*v) + ")");
  const double x = v->get<double>();
  if (!std::isfinite(x) || x < lo || x > hi) {
    return fail(key, "must be a number in [" + excerpt(json(lo).dump()) + ", " +
                         excerpt(json(hi).dump()) + "] (got " + excerpt(v->dump(), 40) + ")");
  }
  out = x;
}

void FieldReader::number(const char* key, double lo, double hi, float& out, Need need) {
  double x = out;
  number(key, lo, hi, x, need);
  out = static_cast<float>(x);  // callers' ranges lie well inside float's
}

void FieldReader::boolean(const char* key, bool& out, Need need) {
  const json* v = find(key, need);
  if (v == nullptr) return;
  if (!v->is_boolean()) return fail(key, "must be true or false (got " + shown(*v) + ")");
  out = v->get<bool>();
}

void FieldReader::string(const char* key, size_t max_bytes, std::string& out, Text text,
                         Need need) {
  const json* v = find(key, need);
  if (v == nullptr) return;
  if (!v->is_string()) return fail(key, "must be a string (got " + shown(*v) + ")");
  const auto& s = v->get_ref<const std::string&>();
  if (s.size() > max_bytes)
    return fail(key, "is " + std::to_string(s.size()) + " bytes long (at most " +
                         std::to_string(max_bytes) + ")");
  if (text == Text::kLine && !is_one_line(s)) return fail(key, "contains a control character");
  out = s;
}

const json* FieldReader::object(const char* key, Need need) {
  const json* v = find(key, need);
  if (v == nullptr) return nullptr;
  if (!v->is_object()) {
    fail(key, "must be an object (got " + shown(*v) + ")");
    return nullptr;
  }
  return v;
}

const json* FieldReader::array(const char* key, size_t max_items, Need need) {
  const json* v = find(key, need);
  if (v == nullptr) return nullptr;
  if (!v->is_array()) {
    fail(key, "must be an array (got " + shown(*v) + ")");
    return nullptr;
  }
  if (v->size() > max_items) {
    fail(key, "has " + std::to_string(v->size()) + " elements (at most " +
                  std::to_string(max_items) + ")");
    return nullptr;
  }
  return v;
}

}  // namespace orion::protocol::detail
