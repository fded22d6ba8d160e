#include "media/source_url.h"

#include <array>
#include <charconv>
#include <string>

namespace orion::media {

std::string_view to_string(SourceKind kind) {
  switch (kind) {
    case SourceKind::kRtsp: return "rtsp";
    case SourceKind::kFile: return "file";
    case SourceKind::kV4l2: return "v4l2";
    case SourceKind::kTest: return "test";
  }
  return "unknown";
}

namespace {

constexpr std::array<std::string_view, 25> kPatterns = {
    "smpte", "snow", "black", "white", "red", "green", "blue", "checkers-1", "checkers-2",
    "checkers-4", "checkers-8", "circular", "blink", "smpte75", "zone-plate", "gamut",
    "chroma-zone-plate", "solid-color", "ball", "smpte100", "bar", "pinwheel", "spokes",
    "gradient", "colors"};

Error bad(std::string_view url, const std::string& why) {
  return make_error("media.bad_url", "url '" + std::string(url) + "': " + why);
}

Result<int> parse_positive(std::string_view url, std::string_view key, std::string_view text,
                           int max) {
  int v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || v <= 0 || v > max) {
    return bad(url, "'" + std::string(key) + "' must be an integer in 1.." + std::to_string(max) +
                        " (got '" + std::string(text) + "')");
  }
  return v;
}

Result<SourceSpec> parse_test(std::string_view url, std::string_view rest) {
  SourceSpec s;
  s.kind = SourceKind::kTest;
  s.width = 640;
  s.height = 360;
  s.fps = 10;
  const size_t q = rest.find('?');
  std::string_view pattern = rest.substr(0, q);
  if (pattern.empty()) pattern = "smpte";
  bool known = false;
  for (auto p : kPatterns) known = known || p == pattern;
  if (!known) return bad(url, "unknown test pattern '" + std::string(pattern) + "'");
  s.location = std::string(pattern);
  if (q == std::string_view::npos) return s;
  std::string_view query = rest.substr(q + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (kv.empty()) continue;
    const size_t eq = kv.find('=');
    if (eq == std::string_view::npos) return bad(url, "query item '" + std::string(kv) + "' has no '='");
    const std::string_view key = kv.substr(0, eq), val = kv.substr(eq + 1);
    if (key == "width") {
      auto v = parse_positive(url, key, val, 7680);
      if (!v) return v.error();
      s.width = *v;
    } else if (key == "height") {
      auto v = parse_positive(url, key, val, 4320);
      if (!v) return v.error();
      s.height = *v;
    } else if (key == "fps") {
      auto v = parse_positive(url, key, val, 240);
      if (!v) return v.error();
      s.fps = *v;
    } else {
      return bad(url, "unknown test parameter '" + std::string(key) + "' (expected width, height, fps)");
    }
  }
  if (s.width % 2 != 0 || s.height % 2 != 0) return bad(url, "width and height must be even");
  return s;
}

}  // namespace

Result<SourceSpec> parse_source_url(std::string_view url) {
  if (url.empty()) return bad(url, "empty");
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos) {
    SourceSpec s;
    s.kind = SourceKind::kFile;
    s.location = std::string(url);
    return s;
  }
  const std::string_view scheme = url.substr(0, sep);
  const std::string_view rest = url.substr(sep + 3);
  if (scheme == "rtsp" || scheme == "rtsps" || scheme == "rtspt") {
    if (rest.empty() || rest.front() == '/') return bad(url, "no host");
    SourceSpec s;
    s.kind = SourceKind::kRtsp;
    s.location = std::string(url);
    s.tls = scheme == "rtsps";
    return s;
  }
  if (scheme == "file") {
    if (rest.empty() || rest.front() != '/') {
      return bad(url, "file:// needs an absolute path (file:///path); use a plain path for a relative one");
    }
    SourceSpec s;
    s.kind = SourceKind::kFile;
    s.location = std::string(rest);
    return s;
  }
  if (scheme == "v4l2") {
    if (rest.empty() || rest.front() != '/') return bad(url, "expected v4l2:///dev/videoN");
    SourceSpec s;
    s.kind = SourceKind::kV4l2;
    s.location = std::string(rest);
    return s;
  }
  if (scheme == "test") return parse_test(url, rest);
  return bad(url, "unsupported scheme '" + std::string(scheme) +
                      "' (expected rtsp, rtsps, file, v4l2, test, or a plain file path)");
}

}  // namespace orion::media
