#include "api/resources.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <set>

#include "api/redact.h"
#include "core/device.h"
#include "media/source_url.h"

namespace orion::api {

namespace {

using nlohmann::json;
using Err = std::optional<ApiError>;

#define ORION_API_TRY(expr)          \
  do {                               \
    if (Err e_ = (expr)) return *e_; \
  } while (0)

// Field paths: "url", "events.min_score", "classes[3]", with the Source's prefix in front.
std::string join(const std::string& where, const std::string& key) {
  if (where.empty()) return key;
  if (key.empty()) return where;
  return key[0] == '[' ? where + key : where + "." + key;
}

std::string full_path(const Source& src, const std::string& field) {
  return join(src.prefix, field);
}

ApiError bad(const Source& src, const char* code, const std::string& field, const std::string& why,
             int status = 400) {
  const std::string path = full_path(src, field);
  std::string message = src.label.empty() ? "" : src.label + ": ";
  if (!path.empty()) message += path + ": ";
  message += why;
  return api_error(status, code, redact_text(message), path);
}

// A value shown inside a message: printable, bounded, redacted.
std::string shown(std::string_view text, size_t max = 80) {
  std::string out;
  for (size_t i = 0; i < text.size() && out.size() < max; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (out.size() >= max) out += "...";
  return redact_text(out);
}

std::string shown_json(const json& v) {
  if (v.is_string()) return "'" + shown(v.get_ref<const std::string&>()) + "'";
  return shown(v.dump(-1, ' ', false, json::error_handler_t::replace));
}

// Fields the server sets: present in answers, refused in bodies.
constexpr std::array<std::string_view, 8> kReadOnly = {"version",      "updated_at", "state",
                                                       "owner_engine", "output_url", "last_error",
                                                       "status",       "epoch"};

bool is_read_only(std::string_view key) {
  return std::find(kReadOnly.begin(), kReadOnly.end(), key) != kReadOnly.end();
}

std::string listed(std::initializer_list<std::string_view> keys) {
  std::string s;
  for (auto k : keys) s += (s.empty() ? "" : ", ") + std::string(k);
  return s;
}

// `j` must be an object whose keys are all in `known`.
Err check_object(const json& j, std::initializer_list<std::string_view> known, const Source& src,
                 const std::string& where, const char* what) {
  if (!j.is_object()) {
    return bad(src, "api.wrong_type", where,
               std::string("must be a JSON object (") + what + "), not " + j.type_name());
  }
  for (const auto& [key, value] : j.items()) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    if (where.empty() && is_read_only(key)) {
      return bad(
          src, "api.read_only_field", join(where, key),
          "is set by the server and cannot be given" +
              std::string(key == "version" ? " here (PATCH takes the version you read)" : ""));
    }
    return bad(src, "api.unknown_field", join(where, shown(key, 64)),
               "unknown field (expected " + listed(known) + ")");
  }
  return std::nullopt;
}

Err wrong_type(const Source& src, const std::string& field, const char* expected, const json& v) {
  return bad(
      src, "api.wrong_type", field,
      std::string("must be ") + expected + " (got " + v.type_name() + " " + shown_json(v) + ")");
}

Err read_bool(const json& obj, const char* key, const std::string& where, const Source& src,
              bool& out) {
  auto it = obj.find(key);
  if (it == obj.end()) return std::nullopt;
  if (!it->is_boolean()) return wrong_type(src, join(where, key), "true or false", *it);
  out = it->get<bool>();
  return std::nullopt;
}

std::optional<std::string> control_char_problem(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "contains a control character (0x%02x at byte %zu)", c, i);
      return std::string(buf);
    }
  }
  return std::nullopt;
}

Err no_control_chars(std::string_view s, const Source& src, const std::string& field) {
  if (auto why = control_char_problem(s)) return bad(src, "api.invalid_field", field, *why);
  return std::nullopt;
}

// A string field: present (when required), a string, 1..max bytes, no control characters.
Err read_text(const json& obj, const char* key, const std::string& where, const Source& src,
              std::string& out, bool required, size_t max) {
  const std::string field = join(where, key);
  auto it = obj.find(key);
  if (it == obj.end()) {
    if (required) return bad(src, "api.missing_field", field, "missing (required)");
    return std::nullopt;
  }
  if (!it->is_string()) return wrong_type(src, field, "a string", *it);
  const auto& s = it->get_ref<const std::string&>();
  if (s.empty()) return bad(src, "api.invalid_field", field, "must not be empty");
  if (s.size() > max) {
    return bad(src, "api.invalid_field", field,
               "is " + std::to_string(s.size()) + " bytes long; at most " + std::to_string(max));
  }
  ORION_API_TRY(no_control_chars(s, src, field));
  out = s;
  return std::nullopt;
}

std::string range_text(double lo, double hi) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "[%g, %g]", lo, hi);
  return buf;
}

Err read_number(const json& obj, const char* key, const std::string& where, const Source& src,
                double& out, double lo, double hi) {
  const std::string field = join(where, key);
  auto it = obj.find(key);
  if (it == obj.end()) return std::nullopt;
  if (!it->is_number()) return wrong_type(src, field, "a number", *it);
  const double v = it->get<double>();
  if (!std::isfinite(v) || v < lo || v > hi) {
    return bad(src, "api.invalid_field", field,
               "must be in " + range_text(lo, hi) + " (got " + shown_json(*it) + ")");
  }
  out = v;
  return std::nullopt;
}

Err read_integer(const json& obj, const char* key, const std::string& where, const Source& src,
                 int64_t& out, int64_t lo, int64_t hi, const char* range_words = nullptr) {
  const std::string field = join(where, key);
  auto it = obj.find(key);
  if (it == obj.end()) return std::nullopt;
  if (!it->is_number_integer()) return wrong_type(src, field, "an integer", *it);
  const std::string range =
      range_words ? range_words : std::to_string(lo) + ".." + std::to_string(hi);
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(hi)) {
    return bad(src, "api.invalid_field", field,
               "must be " + range + " (got " + shown_json(*it) + ")");
  }
  const int64_t v = it->get<int64_t>();
  if (v < lo || v > hi) {
    return bad(src, "api.invalid_field", field,
               "must be " + range + " (got " + shown_json(*it) + ")");
  }
  out = v;
  return std::nullopt;
}

// A list of short labels (class names or ids). Integers are taken as ids, kept as text.
Err read_labels(const json& obj, const char* key, const std::string& where, const Source& src,
                std::vector<std::string>& out, bool allow_ids) {
  const std::string field = join(where, key);
  auto it = obj.find(key);
  if (it == obj.end()) return std::nullopt;
  if (!it->is_array()) {
    return wrong_type(src, field, allow_ids ? "a list of class names or ids" : "a list of strings",
                      *it);
  }
  if (it->size() > kMaxClasses) {
    return bad(
        src, "api.invalid_field", field,
        "has " + std::to_string(it->size()) + " entries; at most " + std::to_string(kMaxClasses));
  }
  std::vector<std::string> labels;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& v = (*it)[i];
    const std::string item = field + "[" + std::to_string(i) + "]";
    if (allow_ids && v.is_number_integer()) {
      if (v.is_number_unsigned() ? v.get<uint64_t>() > 65535
                                 : (v.get<int64_t>() < 0 || v.get<int64_t>() > 65535)) {
        return bad(src, "api.invalid_field", item,
                   "a class id must be in 0..65535 (got " + shown_json(v) + ")");
      }
      labels.push_back(std::to_string(v.get<int64_t>()));
      continue;
    }
    if (!v.is_string()) {
      return wrong_type(src, item, allow_ids ? "a class name or id" : "a string", v);
    }
    const auto& s = v.get_ref<const std::string&>();
    if (s.empty()) return bad(src, "api.invalid_field", item, "must not be empty");
    if (s.size() > kMaxClassNameLength) {
      return bad(src, "api.invalid_field", item,
                 "is " + std::to_string(s.size()) + " bytes long; at most " +
                     std::to_string(kMaxClassNameLength));
    }
    ORION_API_TRY(no_control_chars(s, src, item));
    labels.push_back(s);
  }
  out = std::move(labels);
  return std::nullopt;
}

// What is wrong with `name`, in words; nullopt when it is a good name.
std::optional<std::string> name_problem(std::string_view name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > kMaxNameLength) {
    return "is " + std::to_string(name.size()) + " bytes long; at most " +
           std::to_string(kMaxNameLength);
  }
  if (auto why = control_char_problem(name)) return why;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) {
      const unsigned char u = static_cast<unsigned char>(c);
      char buf[48];
      if (u >= 0x80) {
        std::snprintf(buf, sizeof buf, "byte 0x%02x at %zu", u, i);
      } else {
        std::snprintf(buf, sizeof buf, "'%c' at byte %zu", c, i);
      }
      return "'" + shown(name) + "' has " + buf +
             "; a name is letters, digits, '_', '.' and '-' (a stream's name is its output URL "
             "path)";
    }
  }
  if (name[0] == '.') return "'" + shown(name) + "' must not start with '.'";
  return std::nullopt;
}

Err name_error(std::string_view name, const Source& src, const std::string& field) {
  if (auto why = name_problem(name)) return bad(src, "api.invalid_field", field, *why);
  return std::nullopt;
}

Err read_name(const json& obj, const char* key, const std::string& where, const Source& src,
              std::string& out) {
  const std::string field = join(where, key);
  auto it = obj.find(key);
  if (it == obj.end()) return bad(src, "api.missing_field", field, "missing (required)");
  if (!it->is_string()) return wrong_type(src, field, "a string", *it);
  ORION_API_TRY(name_error(it->get_ref<const std::string&>(), src, field));
  out = it->get<std::string>();
  return std::nullopt;
}

constexpr std::array<std::string_view, 5> kSchemes = {"rtsp", "rtsps", "file", "test", "v4l2"};

Err url_error(std::string_view url, const Source& src, const std::string& field) {
  if (url.empty()) return bad(src, "api.invalid_field", field, "must not be empty");
  if (url.size() > kMaxUrlLength) {
    return bad(src, "api.invalid_field", field,
               "is " + std::to_string(url.size()) + " bytes long; at most " +
                   std::to_string(kMaxUrlLength));
  }
  ORION_API_TRY(no_control_chars(url, src, field));
  const size_t sep = url.find("://");
  if (sep != std::string_view::npos) {
    const std::string_view scheme = url.substr(0, sep);
    if (std::find(kSchemes.begin(), kSchemes.end(), scheme) == kSchemes.end()) {
      return bad(src, "api.invalid_field", field,
                 "scheme '" + shown(scheme, 32) +
                     "' is not allowed (expected rtsp://, rtsps://, file://, test://, v4l2:// or "
                     "a plain file path)");
    }
    if (url.find_first_of(" \t") != std::string_view::npos) {
      return bad(src, "api.invalid_field", field,
                 "a URL must not contain spaces (percent-encode them as %20)");
    }
    if (scheme == "rtsp" || scheme == "rtsps") {
      const std::string_view rest = url.substr(sep + 3);
      const size_t auth_end = rest.find_first_of("/?#");
      if (auth_end != std::string_view::npos &&
          rest.find('@', auth_end) != std::string_view::npos) {
        return bad(src, "api.invalid_field", field,
                   "has '@' after the host: percent-encode '@', '/', '?' and '#' in a user name "
                   "or password (%40, %2F, %3F, %23)");
      }
      const std::string_view authority = rest.substr(0, auth_end);
      const size_t at = authority.rfind('@');
      if (at != std::string_view::npos) {
        const std::string_view userinfo = authority.substr(0, at);
        const size_t colon = userinfo.find(':');
        if (colon != std::string_view::npos && userinfo.substr(colon + 1) == kRedactedPassword) {
          return bad(src, "api.invalid_field", field,
                     "the password is '***', the redacted form the API shows: give the real "
                     "password");
        }
      }
    }
  }
  auto spec = media::parse_source_url(url);
  if (!spec) return bad(src, "api.invalid_field", field, spec.error().message);
  return std::nullopt;
}

// ---- JSON parsing with duplicate keys and depth refused -------------------------------------

struct ParseRefusal {
  std::string why;
};

}  // namespace

Checked<nlohmann::json> parse_json_text(std::string_view text, const Source& src) {
  // One frame per open container: the keys seen so far (objects) or nothing (arrays).
  std::vector<std::optional<std::set<std::string>>> open;
  auto callback = [&open](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        open.emplace_back(std::set<std::string>{});
        break;
      case json::parse_event_t::array_start:
        open.emplace_back(std::nullopt);
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!open.empty()) open.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open.empty() && open.back() &&
            !open.back()->insert(parsed.get<std::string>()).second) {
          throw ParseRefusal{"duplicate key '" + shown(parsed.get<std::string>(), 64) +
                             "' in an object"};
        }
        break;
      case json::parse_event_t::value:
        break;
    }
    if (open.size() > static_cast<size_t>(kMaxJsonDepth)) {
      throw ParseRefusal{"nested deeper than " + std::to_string(kMaxJsonDepth) + " levels"};
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), callback);
  } catch (const ParseRefusal& r) {
    return bad(src, "api.malformed_json", "", "not accepted as JSON: " + r.why);
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 5: ..." → after "] ".
    if (const size_t p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
    return bad(src, "api.malformed_json", "", "not valid JSON (" + shown(what, 200) + ")");
  } catch (const json::exception& e) {
    return bad(src, "api.malformed_json", "", std::string("not valid JSON (") + e.what() + ")");
  }
}

Checked<std::string> check_name(const nlohmann::json& value, const std::string& field,
                                const Source& src) {
  if (!value.is_string()) return *wrong_type(src, field, "a string", value);
  if (Err e = name_error(value.get_ref<const std::string&>(), src, field)) return *e;
  return value.get<std::string>();
}

Checked<std::string> check_name_text(std::string_view name, const std::string& field,
                                     const Source& src) {
  if (Err e = name_error(name, src, field)) return *e;
  return std::string(name);
}

Checked<std::string> check_stream_url(std::string_view url, const std::string& field,
                                      const Source& src) {
  if (Err e = url_error(url, src, field)) return *e;
  return std::string(url);
}

// ---- streams ----------------------------------------------------------------------------------

Checked<store::StreamRecord> stream_from_json(const nlohmann::json& j, const Source& src) {
  if (Err e =
          check_object(j, {"name", "url", "enabled", "loop", "tls_verify", "stall_timeout_s"}, src,
                       "", "a stream: name, url, enabled, loop, tls_verify, stall_timeout_s")) {
    return *e;
  }
  store::StreamRecord r;
  if (Err e = read_name(j, "name", "", src, r.name)) return *e;
  auto url = j.find("url");
  if (url == j.end()) return bad(src, "api.missing_field", "url", "missing (required)");
  if (!url->is_string()) return *wrong_type(src, "url", "a string", *url);
  if (Err e = url_error(url->get_ref<const std::string&>(), src, "url")) return *e;
  r.url = url->get<std::string>();
  if (Err e = read_bool(j, "enabled", "", src, r.enabled)) return *e;
  if (Err e = read_bool(j, "loop", "", src, r.loop)) return *e;
  if (Err e = read_bool(j, "tls_verify", "", src, r.tls_verify)) return *e;
  double stall_s = 0;
  if (Err e = read_number(j, "stall_timeout_s", "", src, stall_s, 0, 3600)) return *e;
  if (stall_s != 0 && stall_s < 0.5) {
    return bad(src, "api.invalid_field", "stall_timeout_s",
               "must be 0 (the engine's default) or 0.5..3600 seconds (got " +
                   shown_json(j.at("stall_timeout_s")) + ")");
  }
  r.stall_timeout_ms = static_cast<int64_t>(stall_s * 1000.0 + 0.5);
  return r;
}

nlohmann::json to_json(const store::StreamRecord& r) {
  return json{{"name", r.name},
              {"url", redact_url(r.url)},
              {"enabled", r.enabled},
              {"loop", r.loop},
              {"tls_verify", r.tls_verify},
              {"stall_timeout_s", static_cast<double>(r.stall_timeout_ms) / 1000.0},
              {"version", r.version},
              {"updated_at", r.updated_at}};
}

// ---- models -----------------------------------------------------------------------------------

namespace {

constexpr std::array<std::string_view, 6> kKinds = {"yolov8",      "yolox", "torch_yolov8",
                                                    "torch_yolox", "hog",   "fake"};

bool kind_needs_file(std::string_view kind) { return kind != "hog" && kind != "fake"; }

// `device`: core/device.h's grammar, stored canonical; absent = the kind's default; a device
// the kind cannot run on is refused (ADR 0092).
Err read_device(const json& j, const Source& src, const std::string& kind, std::string& out) {
  std::string text;
  ORION_API_TRY(read_text(j, "device", "", src, text, false, kMaxPathLength));
  if (text.empty()) {
    out = default_device_for_kind(kind).to_string();
    return std::nullopt;
  }
  auto device = parse_inference_device(text);
  if (!device) return bad(src, "api.invalid_field", "device", device.error().message);
  if (auto fits = check_device_for_kind(kind, *device); !fits) {
    return bad(src, "api.invalid_field", "device",
               fits.error().message + " (leave device out for the kind's default)");
  }
  out = device->to_string();
  return std::nullopt;
}

Err read_input_size(const json& j, const char* key, const Source& src, int& out) {
  int64_t v = out;
  ORION_API_TRY(
      read_integer(j, key, "", src, v, 0, kMaxInputSize, "0 (the model's own) or 32..4096"));
  if (v != 0 && v < kMinInputSize) {
    return bad(src, "api.invalid_field", key,
               "must be 0 (the model's own) or 32..4096 (got " + std::to_string(v) + ")");
  }
  out = static_cast<int>(v);
  return std::nullopt;
}

}  // namespace

Checked<store::ModelRecord> model_from_json(const nlohmann::json& j, const Source& src) {
  if (Err e = check_object(
          j,
          {"name", "kind", "path", "input_width", "input_height", "class_names", "threads",
           "device"},
          src, "",
          "a model: name, kind, path, input_width, input_height, class_names, threads, device")) {
    return *e;
  }
  store::ModelRecord r;
  if (Err e = read_name(j, "name", "", src, r.name)) return *e;
  if (Err e = read_text(j, "kind", "", src, r.kind, true, 32)) return *e;
  if (std::find(kKinds.begin(), kKinds.end(), r.kind) == kKinds.end()) {
    return bad(src, "api.invalid_field", "kind",
               "'" + shown(r.kind) +
                   "' is not a model kind (expected yolov8, yolox, torch_yolov8, torch_yolox, "
                   "hog or fake)");
  }
  if (Err e = read_text(j, "path", "", src, r.path, false, kMaxPathLength)) return *e;
  if (kind_needs_file(r.kind) && r.path.empty()) {
    return bad(src, "api.missing_field", "path",
               "missing: kind " + r.kind + " needs a model file (" +
                   (kind_runs_on_cuda(r.kind) ? "TorchScript, tools/gpu/onnx_to_torch.py"
                                              : "an ONNX export") +
                   ")");
  }
  if (!kind_needs_file(r.kind) && !r.path.empty()) {
    return bad(src, "api.invalid_field", "path",
               "kind " + r.kind + " takes no model file (leave path out)");
  }
  if (Err e = read_input_size(j, "input_width", src, r.input_width)) return *e;
  if (Err e = read_input_size(j, "input_height", src, r.input_height)) return *e;
  if (Err e = read_labels(j, "class_names", "", src, r.class_names, false)) return *e;
  int64_t threads = 0;
  if (Err e = read_integer(j, "threads", "", src, threads, 0, kMaxModelThreads,
                           "0 (the backend's default) or 1..1024")) {
    return *e;
  }
  r.threads = static_cast<int>(threads);
  if (Err e = read_device(j, src, r.kind, r.device)) return *e;
  return r;
}

nlohmann::json to_json(const store::ModelRecord& r) {
  return json{{"name", r.name},
              {"kind", r.kind},
              {"path", r.path},
              {"input_width", r.input_width},
              {"input_height", r.input_height},
              {"class_names", r.class_names},
              {"threads", r.threads},
              {"device", r.device},
              {"version", r.version},
              {"updated_at", r.updated_at}};
}

// ---- pipelines --------------------------------------------------------------------------------

namespace {

// motion_gate: false | true | {enabled, min_motion, analysis_width, history, max_skipped_in_row}
// → "" (off, nothing set) or the object as JSON text, `enabled` always present.
Err read_motion_gate(const json& j, const Source& src, std::string& out) {
  auto it = j.find("motion_gate");
  if (it == j.end()) return std::nullopt;
  if (it->is_boolean()) {
    out = it->get<bool>() ? json{{"enabled", true}}.dump() : "";
    return std::nullopt;
  }
  if (!it->is_object()) {
    return wrong_type(src, "motion_gate",
                      "true, false or an object {enabled, min_motion, analysis_width, history, "
                      "max_skipped_in_row}",
                      *it);
  }
  ORION_API_TRY(check_object(
      *it, {"enabled", "min_motion", "analysis_width", "history", "max_skipped_in_row"}, src,
      "motion_gate", "enabled, min_motion, analysis_width, history, max_skipped_in_row"));
  json g = json::object();
  bool enabled = true;  // giving the object turns the gate on unless it says otherwise
  ORION_API_TRY(read_bool(*it, "enabled", "motion_gate", src, enabled));
  g["enabled"] = enabled;
  double min_motion = 0;
  if (it->contains("min_motion")) {
    ORION_API_TRY(read_number(*it, "min_motion", "motion_gate", src, min_motion, 0, 1));
    g["min_motion"] = min_motion;
  }
  for (auto [key, lo] : {std::pair{"analysis_width", 1}, std::pair{"history", 1},
                         std::pair{"max_skipped_in_row", 0}}) {
    if (!it->contains(key)) continue;
    int64_t v = 0;
    ORION_API_TRY(read_integer(*it, key, "motion_gate", src, v, lo, 1'000'000));
    g[key] = v;
  }
  out = g.dump();
  return std::nullopt;
}

Err read_event_policy(const json& j, const Source& src, store::EventPolicy& out) {
  auto it = j.find("events");
  if (it == j.end()) return std::nullopt;
  ORION_API_TRY(check_object(*it, {"enabled", "classes", "min_score", "min_interval_ms"}, src,
                             "events", "enabled, classes, min_score, min_interval_ms"));
  ORION_API_TRY(read_bool(*it, "enabled", "events", src, out.enabled));
  ORION_API_TRY(read_labels(*it, "classes", "events", src, out.classes, true));
  ORION_API_TRY(read_number(*it, "min_score", "events", src, out.min_score, 0, 1));
  ORION_API_TRY(read_integer(*it, "min_interval_ms", "events", src, out.min_interval_ms, 0,
                             kMaxEventIntervalMs));
  return std::nullopt;
}

Err read_worker_command(const json& j, const Source& src, std::vector<std::string>& out) {
  auto it = j.find("worker_command");
  if (it == j.end()) return std::nullopt;
  if (!src.allow_worker_command) {
    return bad(src, "api.forbidden_field", "worker_command",
               "can be set only in the engine's config file, not through the API (it names a "
               "program the engine runs)");
  }
  if (!it->is_array()) return wrong_type(src, "worker_command", "a list of strings", *it);
  if (it->empty() || it->size() > kMaxWorkerArgs) {
    return bad(src, "api.invalid_field", "worker_command",
               "must have 1.." + std::to_string(kMaxWorkerArgs) + " entries (the program first)");
  }
  std::vector<std::string> args;
  for (size_t i = 0; i < it->size(); ++i) {
    const std::string field = "worker_command[" + std::to_string(i) + "]";
    const json& v = (*it)[i];
    if (!v.is_string()) return wrong_type(src, field, "a string", v);
    const auto& s = v.get_ref<const std::string&>();
    if (s.size() > kMaxPathLength) {
      return bad(src, "api.invalid_field", field,
                 "is " + std::to_string(s.size()) + " bytes long; at most " +
                     std::to_string(kMaxPathLength));
    }
    if (i == 0 && s.empty()) return bad(src, "api.invalid_field", field, "must not be empty");
    ORION_API_TRY(no_control_chars(s, src, field));
    args.push_back(s);
  }
  out = std::move(args);
  return std::nullopt;
}

}  // namespace

Checked<store::PipelineRecord> pipeline_from_json(const nlohmann::json& j, const Source& src) {
  if (Err e = check_object(j,
                           {"name", "stream", "model", "sla", "min_score", "iou", "classes",
                            "enabled", "motion_gate", "events", "worker_command"},
                           src, "", "a pipeline: name, stream, model, sla, min_score, ...")) {
    return *e;
  }
  store::PipelineRecord r;
  if (Err e = read_name(j, "name", "", src, r.name)) return *e;
  if (Err e = read_name(j, "stream", "", src, r.stream)) return *e;
  if (Err e = read_name(j, "model", "", src, r.model)) return *e;
  if (Err e = read_text(j, "sla", "", src, r.sla, false, 32)) return *e;
  if (r.sla == "best-effort") r.sla = "best_effort";
  if (r.sla != "critical" && r.sla != "best_effort") {
    return bad(src, "api.invalid_field", "sla",
               "'" + shown(r.sla) + "' is not an SLA class (expected critical or best_effort)");
  }
  if (Err e = read_number(j, "min_score", "", src, r.min_score, 0, 1)) return *e;
  if (Err e = read_number(j, "iou", "", src, r.iou, 0, 1)) return *e;
  if (Err e = read_labels(j, "classes", "", src, r.classes, true)) return *e;
  if (Err e = read_bool(j, "enabled", "", src, r.enabled)) return *e;
  if (Err e = read_motion_gate(j, src, r.motion_gate_json)) return *e;
  if (Err e = read_event_policy(j, src, r.events)) return *e;
  if (Err e = read_worker_command(j, src, r.worker_command)) return *e;
  return r;
}

nlohmann::json to_json(const store::PipelineRecord& r) {
  json motion = false;
  if (!r.motion_gate_json.empty()) {
    motion = json::parse(r.motion_gate_json, nullptr, /*allow_exceptions=*/false);
    if (motion.is_discarded()) motion = json{{"enabled", true}};
  }
  json out{{"name", r.name},
           {"stream", r.stream},
           {"model", r.model},
           {"sla", r.sla},
           {"min_score", r.min_score},
           {"iou", r.iou},
           {"classes", r.classes},
           {"enabled", r.enabled},
           {"motion_gate", motion},
           {"events",
            {{"enabled", r.events.enabled},
             {"classes", r.events.classes},
             {"min_score", r.events.min_score},
             {"min_interval_ms", r.events.min_interval_ms}}},
           {"version", r.version},
           {"updated_at", r.updated_at}};
  if (!r.worker_command.empty()) out["worker_command"] = r.worker_command;
  return out;
}

// ---- a whole document (the config import) ---------------------------------------------------

namespace {

template <class R, class Parse>
Err read_list(const json& root, const char* key, const Source& src, Parse parse,
              std::vector<R>& out) {
  auto it = root.find(key);
  if (it == root.end() || it->is_null()) return std::nullopt;
  if (!it->is_array()) {
    return wrong_type(src, key, "a list", *it);
  }
  std::set<std::string> names;
  for (size_t i = 0; i < it->size(); ++i) {
    Source item = src;
    item.prefix = join(src.prefix, std::string(key) + "[" + std::to_string(i) + "]");
    auto r = parse((*it)[i], item);
    if (!r) return r.error();
    if (!names.insert(r->name).second) {
      return bad(item, "api.invalid_field", "name", "'" + r->name + "' is given twice in " + key);
    }
    out.push_back(std::move(r.value()));
  }
  return std::nullopt;
}

}  // namespace

Checked<DesiredState> desired_state_from_json(const nlohmann::json& root, const Source& src) {
  DesiredState d;
  if (root.is_null()) return d;
  if (Err e = check_object(root, {"streams", "models", "pipelines"}, src, "",
                           "a config: streams, models, pipelines")) {
    return *e;
  }
  auto streams = [](const json& j, const Source& s) { return stream_from_json(j, s); };
  auto models = [](const json& j, const Source& s) { return model_from_json(j, s); };
  auto pipelines = [](const json& j, const Source& s) { return pipeline_from_json(j, s); };
  if (Err e = read_list(root, "streams", src, streams, d.streams)) return *e;
  if (Err e = read_list(root, "models", src, models, d.models)) return *e;
  if (Err e = read_list(root, "pipelines", src, pipelines, d.pipelines)) return *e;
  for (size_t i = 0; i < d.pipelines.size(); ++i) {
    const auto& p = d.pipelines[i];
    Source item = src;
    item.prefix = join(src.prefix, "pipelines[" + std::to_string(i) + "]");
    if (std::none_of(d.streams.begin(), d.streams.end(),
                     [&](const auto& s) { return s.name == p.stream; })) {
      return bad(item, "api.invalid_field", "stream", "no stream named '" + p.stream + "'");
    }
    if (std::none_of(d.models.begin(), d.models.end(),
                     [&](const auto& m) { return m.name == p.model; })) {
      return bad(item, "api.invalid_field", "model", "no model named '" + p.model + "'");
    }
  }
  return d;
}

// ---- PATCH ------------------------------------------------------------------------------------

namespace {

// The fields a create body would carry for `desired` (to_json minus what the server sets).
json desired_fields(json answer) {
  for (auto k : kReadOnly) answer.erase(std::string(k));
  return answer;
}

// Splits `version` off a PATCH body and checks `name` is not being changed.
Err prepare_patch(const json& patch, const std::string& current_name, const Source& src, json& rest,
                  std::optional<int64_t>& version) {
  if (!patch.is_object()) {
    return bad(
        src, "api.wrong_type", "",
        std::string("a PATCH body must be a JSON object (merge patch), not ") + patch.type_name());
  }
  rest = patch;
  if (auto it = rest.find("version"); it != rest.end()) {
    int64_t v = 0;
    ORION_API_TRY(read_integer(rest, "version", "", src, v, 1, INT64_MAX,
                               "the version you read (an integer >= 1)"));
    version = v;
    rest.erase("version");
  }
  if (auto it = rest.find("name"); it != rest.end()) {
    if (!it->is_string() || it->get_ref<const std::string&>() != current_name) {
      return bad(src, "api.invalid_field", "name",
                 "cannot be changed by PATCH (create the new name, then delete the old one)");
    }
  }
  return std::nullopt;
}

}  // namespace

Checked<Patched<store::StreamRecord>> patch_stream(const store::StreamRecord& current,
                                                   const nlohmann::json& patch, const Source& src) {
  json rest;
  std::optional<int64_t> version;
  if (Err e = prepare_patch(patch, current.name, src, rest, version)) return *e;
  json merged = desired_fields(to_json(current));
  merged["url"] = current.url;  // the stored one, not the redacted one
  if (auto it = rest.find("url"); it != rest.end() && it->is_string() &&
                                  has_password(current.url) &&
                                  it->get_ref<const std::string&>() == redact_url(current.url)) {
    rest.erase("url");  // GET's redacted URL sent back: keep the stored password
  }
  merged.merge_patch(rest);
  auto r = stream_from_json(merged, src);
  if (!r) return r.error();
  r->version = current.version;
  return Patched<store::StreamRecord>{std::move(r.value()), version};
}

Checked<Patched<store::ModelRecord>> patch_model(const store::ModelRecord& current,
                                                 const nlohmann::json& patch, const Source& src) {
  json rest;
  std::optional<int64_t> version;
  if (Err e = prepare_patch(patch, current.name, src, rest, version)) return *e;
  json merged = desired_fields(to_json(current));
  if (merged["path"] == "") merged.erase("path");
  merged.merge_patch(rest);
  auto r = model_from_json(merged, src);
  if (!r) return r.error();
  r->version = current.version;
  return Patched<store::ModelRecord>{std::move(r.value()), version};
}

Checked<Patched<store::PipelineRecord>> patch_pipeline(const store::PipelineRecord& current,
                                                       const nlohmann::json& patch,
                                                       const Source& src) {
  json rest;
  std::optional<int64_t> version;
  if (Err e = prepare_patch(patch, current.name, src, rest, version)) return *e;
  json merged = desired_fields(to_json(current));
  merged.erase("worker_command");  // checked only when the patch gives one (below)
  merged.merge_patch(rest);
  auto r = pipeline_from_json(merged, src);
  if (!r) return r.error();
  if (!rest.contains("worker_command")) r->worker_command = current.worker_command;
  r->version = current.version;
  return Patched<store::PipelineRecord>{std::move(r.value()), version};
}

// ---- queries, versions, times -----------------------------------------------------------------

namespace {

bool parse_i64(std::string_view text, int64_t& out) {
  if (text.empty()) return false;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && p == text.data() + text.size();
}

ApiError bad_query(const std::string& param, const std::string& why) {
  const std::string name = shown(param, 64);
  return api_error(400, "api.invalid_query", redact_text("query parameter " + name + ": " + why),
                   name);
}

}  // namespace

Checked<store::EventQuery> event_query_from_params(
    const std::vector<std::pair<std::string, std::string>>& params) {
  store::EventQuery q;
  q.limit = kDefaultEventLimit;
  std::set<std::string> seen;
  for (const auto& [key, value] : params) {
    if (!seen.insert(key).second) return bad_query(key, "given more than once");
    if (key == "stream" || key == "pipeline") {
      if (auto why = name_problem(value)) return bad_query(key, *why);
      (key == "stream" ? q.stream : q.pipeline) = value;
    } else if (key == "since") {
      int64_t ms = 0;
      if (parse_i64(value, ms) && ms >= 0) {
        q.since_ms = ms;
      } else if (auto t = parse_iso8601_ms(value)) {
        q.since_ms = *t;
      } else {
        return bad_query(key,
                         "must be Unix time in ms (>= 0) or ISO 8601 UTC such as "
                         "2026-12-01T20:00:00Z (got '" +
                             shown(value) + "')");
      }
    } else if (key == "after") {
      int64_t id = 0;
      if (!parse_i64(value, id) || id < 0) {
        return bad_query(key,
                         "must be an event id >= 0 (the next_after of the previous page; "
                         "got '" +
                             shown(value) + "')");
      }
      q.after_id = id;
    } else if (key == "limit") {
      int64_t n = 0;
      if (!parse_i64(value, n) || n < 1 || n > kMaxEventLimit) {
        return bad_query(key, "must be an integer in 1.." + std::to_string(kMaxEventLimit) +
                                  " (got '" + shown(value) + "')");
      }
      q.limit = static_cast<int>(n);
    } else {
      return bad_query(key, "unknown (expected stream, pipeline, since, after, limit)");
    }
  }
  return q;
}

Checked<int64_t> parse_version_text(std::string_view text, const std::string& field) {
  std::string_view t = text;
  if (t.substr(0, 2) == "W/") t.remove_prefix(2);
  if (t.size() >= 2 && t.front() == '"' && t.back() == '"') t = t.substr(1, t.size() - 2);
  int64_t v = 0;
  if (!parse_i64(t, v) || v < 1) {
    return api_error(
        400, "api.invalid_field",
        field + ": must be the version you read, an integer >= 1 (got '" + shown(text) + "')",
        field);
  }
  return v;
}

std::optional<int64_t> parse_iso8601_ms(std::string_view s) {
  // YYYY-MM-DD[T ]HH:MM:SS[.fff...][Z|+00:00|+0000]
  auto digits = [&](size_t pos, size_t n, int& out) {
    if (pos + n > s.size()) return false;
    int v = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      v = v * 10 + (s[i] - '0');
    }
    out = v;
    return true;
  };
  int y, mo, d, h, mi, sec;
  if (!digits(0, 4, y) || s.size() < 19 || s[4] != '-' || !digits(5, 2, mo) || s[7] != '-' ||
      !digits(8, 2, d) || (s[10] != 'T' && s[10] != ' ' && s[10] != 't') || !digits(11, 2, h) ||
      s[13] != ':' || !digits(14, 2, mi) || s[16] != ':' || !digits(17, 2, sec)) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  size_t pos = 19;
  int64_t ms = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int scale = 100, n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      ms += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
      ++n;
    }
    if (n == 0) return std::nullopt;
  }
  const std::string_view zone = s.substr(pos);
  if (!(zone.empty() || zone == "Z" || zone == "z" || zone == "+00:00" || zone == "+0000" ||
        zone == "+00")) {
    return std::nullopt;
  }
  // Days from the civil date (Howard Hinnant's algorithm), UTC.
  const int yy = y - (mo <= 2 ? 1 : 0);
  const int era = (yy >= 0 ? yy : yy - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(yy - era * 400);
  const unsigned doy =
      (153 * static_cast<unsigned>(mo + (mo > 2 ? -3 : 9)) + 2) / 5 + static_cast<unsigned>(d) - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const int64_t days = static_cast<int64_t>(era) * 146097 + static_cast<int64_t>(doe) - 719468;
  return ((days * 24 + h) * 60 + mi) * 60'000 + static_cast<int64_t>(sec) * 1000 + ms;
}

std::string format_iso8601_ms(int64_t unix_ms) {
  const time_t secs = static_cast<time_t>(unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000);
  const int ms = static_cast<int>(unix_ms - static_cast<int64_t>(secs) * 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
}

void redact_json(nlohmann::json& j) {
  if (j.is_string()) {
    auto& s = j.get_ref<std::string&>();
    if (s.find("://") != std::string::npos) s = redact_text(s);
  } else if (j.is_array()) {
    for (auto& v : j) redact_json(v);
  } else if (j.is_object()) {
    for (auto& [key, value] : j.items()) redact_json(value);
  }
}

}  // namespace orion::api
