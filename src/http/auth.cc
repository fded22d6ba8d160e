#include "http/auth.h"

#include <algorithm>
#include <cctype>

namespace orion::http {

bool constant_time_equal(std::string_view given, std::string_view expected) {
  unsigned diff = given.size() == expected.size() ? 0u : 1u;
  for (size_t i = 0; i < given.size(); ++i) {
    const unsigned char e = expected.empty() ? 0 : expected[i % expected.size()];
    diff |= static_cast<unsigned char>(given[i]) ^ e;
  }
  return diff == 0 && !expected.empty();
}

bool bearer_matches(std::string_view authorization, std::string_view token) {
  constexpr std::string_view scheme = "Bearer ";
  if (token.empty() || authorization.size() <= scheme.size()) return false;
  const bool has_scheme =
      std::equal(scheme.begin(), scheme.end(), authorization.begin(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) ==
               std::tolower(static_cast<unsigned char>(b));
      });
  return has_scheme && constant_time_equal(authorization.substr(scheme.size()), token);
}

bool is_loopback_address(std::string_view address) {
  if (address == "localhost" || address == "::1") return true;
  // 127.x.y.z as an IPv4 literal only: "127.example.com" is a host name that could be anywhere.
  if (address.rfind("127.", 0) != 0 || address.size() == 4) return false;
  return std::all_of(address.begin() + 4, address.end(),
                     [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

bool token_fits_header(std::string_view token) {
  return std::none_of(token.begin(), token.end(), [](char c) {
    const unsigned char u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
  });
}

}  // namespace orion::http
