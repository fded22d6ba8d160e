#include "api/config_import.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "api/redact.h"

namespace orion::api {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using Err = std::optional<ApiError>;

// "FILE: field: why" (the field is left out when empty), redacted like every API message.
ApiError config_error(const char* code, const std::string& label, const std::string& field,
                      const std::string& why) {
  std::string message = label + ": ";
  if (!field.empty()) message += field + ": ";
  message += why;
  return api_error(400, code, redact_text(message), field);
}

std::string at(const YAML::Mark& m) {
  if (m.is_null() || m.line < 0) return "";
  return "line " + std::to_string(m.line + 1) + ", column " + std::to_string(m.column + 1);
}

// A conversion refusal: "FILE: line L, column C: field: why" (what a YAML user looks for first
// is where in the file).
ApiError parse_error(const std::string& label, const YAML::Node& n, const std::string& field,
                     const std::string& why) {
  const std::string where = at(n.Mark());
  std::string message = label + ": ";
  if (!where.empty()) message += where + ": ";
  if (!field.empty()) message += field + ": ";
  message += why;
  return api_error(400, "config.parse", redact_text(message), field);
}

std::string child(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}
std::string item(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

bool is_utf8(const std::string& s) {
  try {
    (void)json(s).dump();
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

bool all_of(std::string_view s, bool (*pred)(char)) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!pred(c)) return false;
  }
  return true;
}
bool is_dec(char c) { return c >= '0' && c <= '9'; }
bool is_oct(char c) { return c >= '0' && c <= '7'; }
bool is_hex(char c) { return is_dec(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// YAML 1.2 core schema float: [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
bool is_core_float(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t digits = 0;
  while (i < s.size() && is_dec(s[i])) ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    size_t frac = 0;
    while (i < s.size() && is_dec(s[i])) ++i, ++frac;
    if (digits == 0 && frac == 0) return false;
  } else if (digits == 0) {
    return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    if (!all_of(s.substr(i), is_dec)) return false;
    i = s.size();
  }
  return i == s.size();
}

enum class Typed { kOk, kNotThisType, kNotFinite };

// An integer of the core schema (decimal, 0o octal, 0x hex) as JSON: int64, else uint64, else
// (beyond 64 bits) a number, as a JSON parser reads a long integer.
Typed core_int(std::string_view s, json& out) {
  bool negative = false;
  std::string_view digits = s;
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && s[1] == 'o' && all_of(s.substr(2), is_oct)) {
    base = 8;
    digits = s.substr(2);
  } else if (s.size() > 2 && s[0] == '0' && s[1] == 'x' && all_of(s.substr(2), is_hex)) {
    base = 16;
    digits = s.substr(2);
  } else {
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
      negative = s[0] == '-';
      digits = s.substr(1);
    }
    if (!all_of(digits, is_dec)) return Typed::kNotThisType;
  }
  const char* b = digits.data();
  const char* e = digits.data() + digits.size();
  uint64_t u = 0;
  auto [p, ec] = std::from_chars(b, e, u, base);
  if (ec == std::errc() && p == e) {
    if (!negative) {
      if (u <= static_cast<uint64_t>(INT64_MAX)) {
        out = static_cast<int64_t>(u);
      } else {
        out = u;
      }
      return Typed::kOk;
    }
    if (u <= static_cast<uint64_t>(INT64_MAX) + 1) {
      out = u == static_cast<uint64_t>(INT64_MAX) + 1 ? INT64_MIN : -static_cast<int64_t>(u);
      return Typed::kOk;
    }
  }
  // Beyond 64 bits: the value as a number.
  double d = 0;
  for (const char* c = b; c != e; ++c) {
    const int v = is_dec(*c) ? *c - '0' : (*c >= 'a' ? *c - 'a' + 10 : *c - 'A' + 10);
    d = d * base + v;
  }
  if (!std::isfinite(d)) return Typed::kNotFinite;
  out = negative ? -d : d;
  return Typed::kOk;
}

Typed core_float(std::string_view s, json& out) {
  if (s == ".inf" || s == ".Inf" || s == ".INF" || s == "+.inf" || s == "+.Inf" || s == "+.INF" ||
      s == "-.inf" || s == "-.Inf" || s == "-.INF" || s == ".nan" || s == ".NaN" || s == ".NAN") {
    return Typed::kNotFinite;
  }
  if (!is_core_float(s)) return Typed::kNotThisType;
  std::string_view t = s[0] == '+' ? s.substr(1) : s;
  double d = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), d);
  if (ec != std::errc() || p != t.data() + t.size() || !std::isfinite(d)) return Typed::kNotFinite;
  out = d;
  return Typed::kOk;
}

bool core_bool(std::string_view s, json& out) {
  if (s == "true" || s == "True" || s == "TRUE") {
    out = true;
    return true;
  }
  if (s == "false" || s == "False" || s == "FALSE") {
    out = false;
    return true;
  }
  return false;
}

bool core_null(std::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

constexpr std::string_view kTagPrefix = "tag:yaml.org,2002:";

Err scalar_to_json(const YAML::Node& n, const std::string& label, const std::string& path,
                   json& out) {
  const std::string& text = n.Scalar();
  if (!is_utf8(text)) return parse_error(label, n, path, "text is not UTF-8");
  const std::string& tag = n.Tag();
  if (tag == "!" || tag == std::string(kTagPrefix) + "str") {
    out = text;  // quoted (or tagged !!str): always a string
    return std::nullopt;
  }
  const std::string type = tag == "?"                      ? ""
                           : tag.rfind(kTagPrefix, 0) == 0 ? tag.substr(kTagPrefix.size())
                                                           : "(unsupported)";
  auto not_finite = [&] {
    return parse_error(label, n, path,
                       "'" + text + "' is not a finite number (JSON and the API hold none)");
  };
  auto not_a = [&](const char* what) {
    return parse_error(label, n, path, "'" + text + "' tagged !!" + type + " is not " + what);
  };
  if (type.empty()) {  // plain: the core schema decides
    if (core_null(text)) {
      out = nullptr;
      return std::nullopt;
    }
    if (core_bool(text, out)) return std::nullopt;
    Typed t = core_int(text, out);
    if (t == Typed::kNotThisType) t = core_float(text, out);
    if (t == Typed::kNotFinite) return not_finite();
    if (t == Typed::kNotThisType) out = text;
    return std::nullopt;
  }
  if (type == "null") {
    if (!core_null(text)) return not_a("null");
    out = nullptr;
  } else if (type == "bool") {
    if (!core_bool(text, out)) return not_a("true or false");
  } else if (type == "int") {
    Typed t = core_int(text, out);
    if (t == Typed::kNotThisType) return not_a("an integer");
    if (t == Typed::kNotFinite) return not_finite();
  } else if (type == "float") {
    Typed t = core_int(text, out);
    if (t == Typed::kOk) {
      out = out.get<double>();
    } else {
      t = core_float(text, out);
      if (t == Typed::kNotThisType) return not_a("a number");
      if (t == Typed::kNotFinite) return not_finite();
    }
  } else {
    return parse_error(label, n, path,
                       "the tag '" + tag +
                           "' is not supported (plain values, quotes, !!str, !!int, !!float, "
                           "!!bool and !!null are)");
  }
  return std::nullopt;
}

Err node_to_json(const YAML::Node& n, const std::string& label, const std::string& path, int depth,
                 json& out) {
  if (depth > kMaxJsonDepth) {
    return parse_error(label, n, path,
                       "nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  switch (n.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      out = nullptr;
      return std::nullopt;
    case YAML::NodeType::Scalar:
      return scalar_to_json(n, label, path, out);
    case YAML::NodeType::Sequence: {
      out = json::array();
      size_t i = 0;
      for (const YAML::Node& v : n) {
        json e;
        if (Err err = node_to_json(v, label, item(path, i), depth + 1, e)) return err;
        out.push_back(std::move(e));
        ++i;
      }
      return std::nullopt;
    }
    case YAML::NodeType::Map: {
      out = json::object();
      for (const auto& kv : n) {
        const YAML::Node& k = kv.first;
        if (!k.IsScalar()) {
          return parse_error(label, k, path,
                             "a key must be a plain name (this one is a " +
                                 std::string(k.IsNull()  ? "null"
                                             : k.IsMap() ? "map"
                                                         : "list") +
                                 ")");
        }
        const std::string& key = k.Scalar();
        if (!is_utf8(key)) return parse_error(label, k, path, "a key is not UTF-8");
        if (out.contains(key)) {
          return parse_error(label, k, child(path, key), "given twice in one map");
        }
        json v;
        if (Err err = node_to_json(kv.second, label, child(path, key), depth + 1, v)) return err;
        out[key] = std::move(v);
      }
      return std::nullopt;
    }
  }
  return std::nullopt;
}

// ---- YAML keys → API fields, relative paths ---------------------------------------------------

std::string resolve_path(const std::string& p, const std::string& base_dir) {
  if (p.empty() || base_dir.empty()) return p;
  const fs::path path(p);
  if (path.is_absolute()) return p;
  return (fs::path(base_dir) / path).lexically_normal().string();
}

// A stream URL: a plain path, or file:// with a relative path; every other URL as written.
std::string resolve_url(const std::string& url, const std::string& base_dir) {
  constexpr std::string_view kFile = "file://";
  if (url.rfind(kFile, 0) == 0) {
    const std::string rest = url.substr(kFile.size());
    if (rest.empty() || rest[0] == '/') return url;
    return std::string(kFile) + resolve_path(rest, base_dir);
  }
  if (url.find("://") != std::string::npos) return url;
  return resolve_path(url, base_dir);
}

// One name per line (trailing whitespace and '\r' trimmed, trailing empty lines ignored), like
// infer::read_class_names_file; an empty line between names is refused (it would be a nameless
// class).
Err read_names_file(const std::string& file, const std::string& label, const std::string& field,
                    json& out) {
  std::error_code ec;
  if (fs::is_directory(file, ec)) {
    return config_error("config.invalid", label, field,
                        "class names file '" + file + "' is a folder, not a file");
  }
  std::ifstream in(file);
  if (!in) {
    const int e = errno;
    return config_error("config.invalid", label, field,
                        "cannot read class names file '" + file + "'" +
                            (e != 0 ? std::string(" (") + std::strerror(e) + ")" : ""));
  }
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    names.push_back(line);
  }
  if (in.bad()) {
    return config_error("config.invalid", label, field,
                        "cannot read class names file '" + file + "' (read error)");
  }
  while (!names.empty() && names.back().empty()) names.pop_back();
  if (names.empty()) {
    return config_error("config.invalid", label, field,
                        "class names file '" + file + "' lists no names (one name per line)");
  }
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i].empty()) {
      return config_error("config.invalid", label, field,
                          "class names file '" + file + "' line " + std::to_string(i + 1) +
                              " is empty (one name per line: line N is class id N-1)");
    }
    if (!is_utf8(names[i])) {
      return config_error(
          "config.invalid", label, field,
          "class names file '" + file + "' line " + std::to_string(i + 1) + " is not UTF-8");
    }
  }
  out = names;
  return std::nullopt;
}

// `worker` / `worker_command`: a string (the executable) or a list [executable, arg, ...].
Err map_worker(json& p, const YAML::Node& yaml_p, const std::string& base_dir,
               const std::string& label, const std::string& where) {
  const bool has_worker = p.contains("worker");
  const bool has_command = p.contains("worker_command");
  if (!has_worker && !has_command) return std::nullopt;
  if (has_worker && has_command) {
    return config_error("config.invalid", label, child(where, "worker"),
                        "give worker or worker_command, not both (they are the same field)");
  }
  const char* key = has_worker ? "worker" : "worker_command";
  json value = p[key];
  p.erase(std::string(key));
  const YAML::Node y = yaml_p[key];
  if (!value.is_string() && y.IsScalar()) value = y.Scalar();  // `worker: 3`: the program "3"
  if (value.is_string()) value = json::array({value});
  if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      // An argument is text as written (`--n 3` is the argument "3", not the number 3).
      if (!value[i].is_string() && y.IsSequence() && i < y.size() && y[i].IsScalar()) {
        value[i] = y[i].Scalar();
      }
    }
    if (!value.empty() && value[0].is_string()) {
      const std::string exe = value[0].get<std::string>();
      if (exe.find('/') != std::string::npos) value[0] = resolve_path(exe, base_dir);
    }
  }
  p["worker_command"] = std::move(value);  // anything else: the validator says what is wrong
  return std::nullopt;
}

Err map_fields(json& root, const YAML::Node& yaml_root, const std::string& base_dir,
               const std::string& label) {
  if (!root.is_object()) return std::nullopt;
  auto each = [&](const char* list, auto&& fn) -> Err {
    auto it = root.find(list);
    if (it == root.end() || !it->is_array()) return std::nullopt;
    for (size_t i = 0; i < it->size(); ++i) {
      json& e = (*it)[i];
      if (!e.is_object()) continue;
      if (Err err = fn(e, yaml_root[list][i], item(list, i))) return err;
    }
    return std::nullopt;
  };
  if (Err e = each("streams", [&](json& s, const YAML::Node&, const std::string&) -> Err {
        if (auto u = s.find("url"); u != s.end() && u->is_string()) {
          *u = resolve_url(u->get<std::string>(), base_dir);
        }
        return std::nullopt;
      })) {
    return e;
  }
  if (Err e = each("models", [&](json& m, const YAML::Node&, const std::string& where) -> Err {
        if (auto p = m.find("path"); p != m.end() && p->is_string()) {
          *p = resolve_path(p->get<std::string>(), base_dir);
        }
        auto cn = m.find("class_names");
        if (cn == m.end() || cn->is_array()) return std::nullopt;
        const std::string field = child(where, "class_names");
        if (!cn->is_string() || cn->get_ref<const std::string&>().empty()) {
          return config_error(
              "config.invalid", label, field,
              "must be a class names file (one name per line) or a list of names (got " +
                  std::string(cn->type_name()) + " " + cn->dump().substr(0, 80) + ")");
        }
        json names;
        if (Err err = read_names_file(resolve_path(cn->get<std::string>(), base_dir), label, field,
                                      names)) {
          return err;
        }
        *cn = std::move(names);
        return std::nullopt;
      })) {
    return e;
  }
  return each("pipelines", [&](json& p, const YAML::Node& y, const std::string& where) -> Err {
    return map_worker(p, y, base_dir, label, where);
  });
}

}  // namespace

Checked<nlohmann::json> config_yaml_to_json(std::string_view yaml_text, const std::string& base_dir,
                                            const std::string& label) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(yaml_text));
  } catch (const YAML::ParserException& e) {
    const std::string where = at(e.mark);
    return api_error(400, "config.parse",
                     redact_text(label + ": YAML syntax error" +
                                 (where.empty() ? "" : " at " + where) + ": " + e.msg));
  } catch (const YAML::Exception& e) {
    return api_error(400, "config.parse", redact_text(label + ": " + e.what()));
  }
  if (docs.size() > 1) {
    return api_error(400, "config.parse",
                     label + ": holds " + std::to_string(docs.size()) +
                         " YAML documents (separated by ---); a config is one");
  }
  json root;  // no document (an empty file): null, an empty config
  if (docs.empty()) return root;
  try {
    if (Err e = node_to_json(docs[0], label, "", 0, root)) return *e;
    if (Err e = map_fields(root, docs[0], base_dir, label)) return *e;
  } catch (const YAML::Exception& e) {
    return api_error(400, "config.parse", redact_text(label + ": " + e.what()));
  }
  return root;
}

Checked<DesiredState> parse_config_text(std::string_view yaml_text, const std::string& base_dir,
                                        const std::string& label) {
  auto root = config_yaml_to_json(yaml_text, base_dir, label);
  if (!root) return root.error();
  Source src;
  src.label = label;
  src.allow_worker_command = true;
  return desired_state_from_json(*root, src);
}

Checked<DesiredState> read_config_file(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    return api_error(400, "config.io", "config file '" + path + "' is a folder, not a file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int e = errno;
    return api_error(400, "config.io",
                     "cannot read config file '" + path + "'" +
                         (e != 0 ? std::string(" (") + std::strerror(e) + ")" : ""));
  }
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return api_error(400, "config.io", "cannot read config file '" + path + "'");
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  const fs::path base = fs::absolute(dir, ec);
  if (ec) {
    return api_error(
        400, "config.io",
        "cannot make the folder of config file '" + path + "' absolute: " + ec.message());
  }
  return parse_config_text(text.str(), base.lexically_normal().string(), path);
}

// ---- import -------------------------------------------------------------------------------------

std::string to_string(const ImportSummary& s) {
  auto one = [](const char* kind, const ImportCounts& c) {
    return std::string(kind) + " " + std::to_string(c.created) + " created, " +
           std::to_string(c.updated) + " updated, " + std::to_string(c.unchanged) + " unchanged";
  };
  return one("streams", s.streams) + "; " + one("models", s.models) + "; " +
         one("pipelines", s.pipelines);
}

namespace {

int written(const ImportSummary& s) {
  return s.streams.created + s.streams.updated + s.models.created + s.models.updated +
         s.pipelines.created + s.pipelines.updated;
}

// Makes the stored record named want.name equal to `want` (but for version and updated_at).
// A write that lost a race with another writer (conflict, gone, created meanwhile) is tried
// once more on what is stored then.
template <class Rec, class Get, class Create, class Update>
Status import_one(const Rec& want, const char* kind, const ImportSummary& summary,
                  ImportCounts& counts, Get get, Create create, Update update) {
  auto failed = [&](const Error& e) {
    return make_error(e.code, "importing " + std::string(kind) + " '" + want.name +
                                  "': " + e.message + " (" + std::to_string(written(summary)) +
                                  " earlier record(s) written and kept; importing again "
                                  "finishes the rest)");
  };
  for (int attempt = 0;; ++attempt) {
    const bool last = attempt == 1;
    auto current = get(want.name);
    if (!current) {
      if (current.error().code != "store.not_found") return failed(current.error());
      auto made = create(want);
      if (made) {
        ++counts.created;
        return {};
      }
      if (made.error().code == "store.exists" && !last) continue;
      return failed(made.error());
    }
    Rec same = want;
    same.version = current->version;
    same.updated_at = current->updated_at;
    if (same == *current) {
      ++counts.unchanged;
      return {};
    }
    auto changed = update(want, current->version);
    if (changed) {
      ++counts.updated;
      return {};
    }
    const std::string& code = changed.error().code;
    if ((code == "store.version_conflict" || code == "store.not_found") && !last) continue;
    return failed(changed.error());
  }
}

}  // namespace

Result<ImportSummary> import_desired_state(store::Store& store, const DesiredState& desired) {
  ImportSummary s;
  for (const auto& r : desired.streams) {
    auto st = import_one(
        r, "stream", s, s.streams, [&](const std::string& n) { return store.get_stream(n); },
        [&](const store::StreamRecord& x) { return store.create_stream(x); },
        [&](const store::StreamRecord& x, int64_t v) { return store.update_stream(x, v); });
    if (!st) return st.error();
  }
  for (const auto& r : desired.models) {
    auto st = import_one(
        r, "model", s, s.models, [&](const std::string& n) { return store.get_model(n); },
        [&](const store::ModelRecord& x) { return store.create_model(x); },
        [&](const store::ModelRecord& x, int64_t v) { return store.update_model(x, v); });
    if (!st) return st.error();
  }
  for (const auto& r : desired.pipelines) {
    auto st = import_one(
        r, "pipeline", s, s.pipelines, [&](const std::string& n) { return store.get_pipeline(n); },
        [&](const store::PipelineRecord& x) { return store.create_pipeline(x); },
        [&](const store::PipelineRecord& x, int64_t v) { return store.update_pipeline(x, v); });
    if (!st) return st.error();
  }
  return s;
}

Result<ImportSummary> import_config_file(store::Store& store, const std::string& path) {
  auto desired = read_config_file(path);
  if (!desired) return make_error(desired.error().code, desired.error().message);
  return import_desired_state(store, *desired);
}

}  // namespace orion::api
