#include "store/sql.h"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "store/backends.h"

namespace orion::store::sql {
namespace {

constexpr std::string_view kSqliteScheme = "sqlite://";
constexpr std::string_view kPostgresSchemes[] = {"postgresql://", "postgres://"};

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

bool Row::is_null(size_t i) const { return std::holds_alternative<std::monostate>(cells_.at(i)); }

int64_t Row::i64(size_t i) const {
  const Cell& c = cells_.at(i);
  if (const auto* v = std::get_if<int64_t>(&c)) return *v;
  if (const auto* v = std::get_if<double>(&c)) return static_cast<int64_t>(*v);
  if (const auto* s = std::get_if<std::string>(&c)) {
    int64_t out = 0;
    std::from_chars(s->data(), s->data() + s->size(), out);
    return out;
  }
  return 0;
}

double Row::f64(size_t i) const {
  const Cell& c = cells_.at(i);
  if (const auto* v = std::get_if<double>(&c)) return *v;
  if (const auto* v = std::get_if<int64_t>(&c)) return static_cast<double>(*v);
  if (const auto* s = std::get_if<std::string>(&c)) return std::strtod(s->c_str(), nullptr);
  return 0;
}

bool Row::boolean(size_t i) const {
  const Cell& c = cells_.at(i);
  if (const auto* v = std::get_if<int64_t>(&c)) return *v != 0;
  if (const auto* s = std::get_if<std::string>(&c)) return *s == "t" || *s == "true" || *s == "1";
  return false;
}

std::string Row::text(size_t i) const {
  const Cell& c = cells_.at(i);
  if (const auto* s = std::get_if<std::string>(&c)) return *s;
  if (const auto* v = std::get_if<int64_t>(&c)) return std::to_string(*v);
  if (const auto* v = std::get_if<double>(&c)) return std::to_string(*v);
  return {};
}

Result<std::unique_ptr<Connection>> connect(const std::string& url) {
  if (starts_with(url, kSqliteScheme)) {
    const std::string path = url.substr(kSqliteScheme.size());
    if (path.empty()) {
      return make_error("store.bad_url",
                        "database URL '" + url + "' names no file (sqlite://PATH)");
    }
    if (path.find('?') != std::string::npos || path.find('\0') != std::string::npos) {
      return make_error("store.bad_url", "database URL '" + url +
                                             "': sqlite:// takes a plain file path, no options");
    }
    return open_sqlite(path, url);
  }
  for (auto scheme : kPostgresSchemes) {
    if (starts_with(url, scheme)) return open_postgres(url);
  }
  return make_error("store.bad_url", "database URL '" + redact_url(url) +
                                         "' has an unknown scheme (expected sqlite://PATH or "
                                         "postgresql://USER@HOST:PORT/DB)");
}

Result<std::unique_ptr<Listener>> listen(const std::string& url) {
  return listen(url, "orion_desired");
}

Result<std::unique_ptr<Listener>> listen(const std::string& url, const std::string& channel) {
  for (auto scheme : kPostgresSchemes) {
    if (starts_with(url, scheme)) return listen_postgres(url, channel);
  }
  return std::unique_ptr<Listener>{};
}

std::string redact_url(const std::string& url) {
  std::string out = url;
  const size_t scheme_end = out.find("://");
  if (scheme_end != std::string::npos) {
    const size_t auth_begin = scheme_end + 3;
    const size_t auth_end = std::min(out.find_first_of("/?#", auth_begin), out.size());
    const size_t at = out.rfind('@', auth_end - 1);
    if (at != std::string::npos && at >= auth_begin && at < auth_end) {
      const size_t colon = out.find(':', auth_begin);
      if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // password=... as a query or keyword option.
  for (size_t p = out.find("password="); p != std::string::npos; p = out.find("password=", p + 1)) {
    const size_t value = p + 9;
    const size_t end = std::min(out.find_first_of("& ", value), out.size());
    out.replace(value, end - value, "***");
  }
  return out;
}

int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string iso8601_utc(int64_t unix_ms) {
  const int64_t ms = ((unix_ms % 1000) + 1000) % 1000;
  const time_t secs = static_cast<time_t>((unix_ms - ms) / 1000);
  std::tm tm{};
  if (gmtime_r(&secs, &tm) == nullptr) return {};
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

std::string number_placeholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  char quote = 0;
  for (char c : sql) {
    if (quote != 0) {
      if (c == quote) quote = 0;
      out += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      out += c;
    } else if (c == '?') {
      out += '$';
      out += std::to_string(++n);
    } else {
      out += c;
    }
  }
  return out;
}

bool is_storable_text(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    int extra = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;  // truncated sequence
    for (int k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

}  // namespace orion::store::sql
