// parse_exposition: a small, strict reader of the Prometheus text exposition format 0.0.4, for
// tests that check what metrics::render() wrote line by line instead of searching the page for
// substrings. It accepts exactly what the format allows for counters and gauges:
//   # HELP <name> <text>        once per family, before its samples (\\ and \n escapes)
//   # TYPE <name> counter|gauge|untyped|histogram|summary   once per family, before its samples
//   # <anything else>           a comment (kept in `comments`)
//   <name>[{l="v",...}] <value> [<timestamp>]   (\\, \" and \n escapes in label values)
// and refuses, naming the line: a malformed line, a bad name, an unknown escape, a value that is
// not a float, a sample before its family's TYPE, a family's samples not in one group, a
// label set repeated in one family, a label repeated in one sample.
//
// Thread-safety: pure functions over values.
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace orion::metrics::testing {

using LabelSet = std::map<std::string, std::string>;

struct Series {
  std::string name;
  LabelSet labels;
  std::string value_text;  // as written
  double value = 0;
};

struct FamilyInfo {
  std::string help, type;
};

struct Exposition {
  std::map<std::string, FamilyInfo> families;
  std::vector<std::string> family_order;  // names in the order their HELP or TYPE came
  std::vector<Series> series;             // in document order
  std::vector<std::string> comments;      // other "# " lines, without the "# "

  // The series of `name`, labels → value.
  std::map<LabelSet, double> of(const std::string& name) const {
    std::map<LabelSet, double> out;
    for (const Series& s : series) {
      if (s.name == name) out.emplace(s.labels, s.value);
    }
    return out;
  }
  const Series* find(const std::string& name, const LabelSet& labels) const {
    for (const Series& s : series) {
      if (s.name == name && s.labels == labels) return &s;
    }
    return nullptr;
  }
};

namespace detail {

inline bool is_name(std::string_view s, bool colon_ok) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool letter =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_ok && c == ':');
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

inline std::optional<double> parse_float(const std::string& text) {
  if (text == "Nan" || text == "NaN") return std::nan("");
  if (text == "+Inf" || text == "Inf") return HUGE_VAL;
  if (text == "-Inf") return -HUGE_VAL;
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || errno == ERANGE || std::isnan(v) || std::isinf(v)) {
    return std::nullopt;
  }
  return v;
}

// Unescapes `in` per the format; `quote_ok`: \" allowed (label values) or not (HELP).
inline std::optional<std::string> unescape(std::string_view in, bool quote_ok) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '\\') {
      out += in[i];
      continue;
    }
    if (++i == in.size()) return std::nullopt;
    if (in[i] == '\\') {
      out += '\\';
    } else if (in[i] == 'n') {
      out += '\n';
    } else if (in[i] == '"' && quote_ok) {
      out += '"';
    } else {
      return std::nullopt;
    }
  }
  return out;
}

}  // namespace detail

inline Result<Exposition> parse_exposition(std::string_view text) {
  Exposition doc;
  std::set<std::string> closed;  // families whose group of samples has ended
  std::string current;           // family of the previous sample
  std::map<std::string, std::set<LabelSet>> seen;
  std::set<std::string> helped;
  int line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    ++line_no;
    const size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) {
      return make_error("exposition", "line " + std::to_string(line_no) + ": no final newline");
    }
    const std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    auto bad = [&](const std::string& what) {
      return make_error("exposition", "line " + std::to_string(line_no) + " '" + std::string(line) +
                                          "': " + what);
    };
    if (line.empty()) continue;
    if (line[0] == '#') {
      if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
        const bool help = line[2] == 'H';
        const std::string_view rest = line.substr(7);
        const size_t sp = rest.find(' ');
        const std::string name(rest.substr(0, sp));
        if (!detail::is_name(name, true)) return bad("bad metric name");
        if (sp == std::string_view::npos) return bad("no text after the name");
        const std::string_view body = rest.substr(sp + 1);
        if (closed.count(name) || name == current) return bad("HELP/TYPE after the samples");
        if (!doc.families.count(name)) doc.family_order.push_back(name);
        FamilyInfo& family = doc.families[name];
        if (help) {
          if (!helped.insert(name).second) return bad("second HELP");
          auto unescaped = detail::unescape(body, false);
          if (!unescaped) return bad("bad escape in HELP");
          family.help = *unescaped;
        } else {
          if (!family.type.empty()) return bad("second TYPE");
          static const std::set<std::string_view> kTypes = {"counter", "gauge", "untyped",
                                                            "histogram", "summary"};
          if (!kTypes.count(body)) return bad("unknown type");
          family.type = std::string(body);
        }
      } else {
        doc.comments.emplace_back(line.substr(line.size() > 1 && line[1] == ' ' ? 2 : 1));
      }
      continue;
    }
    // A sample.
    Series s;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = std::string(line.substr(0, i));
    if (!detail::is_name(s.name, true)) return bad("bad metric name");
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (true) {
        if (i < line.size() && line[i] == '}') {
          ++i;
          break;
        }
        size_t eq = line.find('=', i);
        if (eq == std::string_view::npos) return bad("label without '='");
        const std::string label(line.substr(i, eq - i));
        if (!detail::is_name(label, false)) return bad("bad label name '" + label + "'");
        if (eq + 1 >= line.size() || line[eq + 1] != '"') return bad("label value not quoted");
        size_t j = eq + 2;
        while (j < line.size() && line[j] != '"') j += line[j] == '\\' ? 2 : 1;
        if (j >= line.size()) return bad("label value not closed");
        auto value = detail::unescape(line.substr(eq + 2, j - eq - 2), true);
        if (!value) return bad("bad escape in label value");
        if (!s.labels.emplace(label, *value).second) return bad("label '" + label + "' twice");
        i = j + 1;
        if (i < line.size() && line[i] == ',')
          ++i;
        else if (i >= line.size() || line[i] != '}')
          return bad("expected ',' or '}'");
      }
    }
    if (i >= line.size() || line[i] != ' ') return bad("no space before the value");
    const std::string_view rest = line.substr(i + 1);
    const size_t sp = rest.find(' ');
    s.value_text = std::string(rest.substr(0, sp));
    auto value = detail::parse_float(s.value_text);
    if (!value) return bad("value is not a float");
    s.value = *value;
    if (sp != std::string_view::npos) {
      const std::string ts(rest.substr(sp + 1));
      if (ts.empty() || ts.find_first_not_of("-0123456789") != std::string::npos) {
        return bad("bad timestamp");
      }
    }
    // A histogram's samples are named after its family plus _bucket, _sum or _count.
    std::string family_name = s.name;
    for (const std::string_view suffix : {"_bucket", "_sum", "_count"}) {
      if (doc.families.count(family_name) || s.name.size() <= suffix.size() ||
          s.name.compare(s.name.size() - suffix.size(), suffix.size(), suffix) != 0) {
        continue;
      }
      const std::string base = s.name.substr(0, s.name.size() - suffix.size());
      auto f = doc.families.find(base);
      if (f != doc.families.end() && f->second.type == "histogram") family_name = base;
    }
    auto family = doc.families.find(family_name);
    if (family == doc.families.end() || family->second.type.empty()) {
      return bad("sample before its family's TYPE");
    }
    if (family_name != current) {
      if (closed.count(family_name)) return bad("the family's samples are not in one group");
      if (!current.empty()) closed.insert(current);
      current = family_name;
    }
    if (!seen[s.name].insert(s.labels).second) return bad("label set repeated");
    doc.series.push_back(std::move(s));
  }
  return doc;
}

}  // namespace orion::metrics::testing
