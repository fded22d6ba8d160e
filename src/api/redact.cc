#include "api/redact.h"

#include <cctype>

namespace orion::api {

namespace {

bool ends_token(char c) {
  return std::isspace(static_cast<unsigned char>(c)) || c == '"' || c == '\'' || c == '<' ||
         c == '>' || c == '`';
}

bool scheme_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
}

// The span [from, to) of `token` (the part after "://") to replace with "***", or from == to.
struct Span {
  size_t from = 0, to = 0;
};

Span password_span(std::string_view token) {
  const size_t auth_end = token.find_first_of("/?#");
  const std::string_view authority = token.substr(0, auth_end);
  size_t at = authority.rfind('@');
  if (at == std::string_view::npos) {
    // No userinfo in the authority proper; a later '@' after a ':' means a password with a raw
    // '/', '?' or '#' in it: hide all of it.
    at = token.rfind('@');
    if (at == std::string_view::npos) return {};
  }
  const size_t colon = token.find(':');
  if (colon == std::string_view::npos || colon > at) return {};  // user name only
  return {colon + 1, at};
}

}  // namespace

std::string redact_text(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t sep = text.find("://", pos);
    if (sep == std::string_view::npos || sep == 0 || !scheme_char(text[sep - 1])) {
      if (sep == std::string_view::npos) {
        out.append(text.substr(pos));
        break;
      }
      out.append(text.substr(pos, sep + 3 - pos));
      pos = sep + 3;
      continue;
    }
    const size_t start = sep + 3;
    size_t end = start;
    while (end < text.size() && !ends_token(text[end])) ++end;
    const std::string_view token = text.substr(start, end - start);
    out.append(text.substr(pos, start - pos));
    const Span s = password_span(token);
    if (s.from < s.to || (s.from == s.to && s.from != 0)) {
      out.append(token.substr(0, s.from));
      out.append(kRedactedPassword);
      out.append(token.substr(s.to));
    } else {
      out.append(token);
    }
    pos = end;
  }
  return out;
}

bool has_password(std::string_view url) { return redact_text(url) != url; }

}  // namespace orion::api
