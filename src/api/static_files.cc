#include "api/static_files.h"

#include <array>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

namespace orion::api {

namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxSegment = 128;
constexpr std::uintmax_t kMaxFileBytes = 16u << 20;

bool segment_ok(std::string_view s) {
  if (s.empty() || s.size() > kMaxSegment || s.front() == '.') return false;
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (!(std::isalnum(u) || c == '_' || c == '.' || c == '-')) return false;
  }
  return true;
}

std::string_view extension(std::string_view name) {
  const size_t dot = name.rfind('.');
  return dot == std::string_view::npos ? std::string_view() : name.substr(dot + 1);
}

}  // namespace

std::optional<std::string> static_relative_path(std::string_view url_path) {
  if (url_path.empty() || url_path.front() != '/') return std::nullopt;
  url_path.remove_prefix(1);
  if (url_path.empty()) return std::string("index.html");
  std::string out;
  while (true) {
    const size_t slash = url_path.find('/');
    const std::string_view seg = url_path.substr(0, slash);
    if (!segment_ok(seg)) return std::nullopt;
    out += seg;
    if (slash == std::string_view::npos) break;
    out += '/';
    url_path.remove_prefix(slash + 1);
  }
  return out;
}

std::optional<std::string> static_content_type(std::string_view file_name) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 10> kTypes{{
      {"html", "text/html; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"map", "application/json"},
      {"json", "application/json"},
      {"svg", "image/svg+xml"},
      {"png", "image/png"},
      {"ico", "image/x-icon"},
      {"txt", "text/plain; charset=utf-8"},
      {"woff2", "font/woff2"},
  }};
  const std::string_view ext = extension(file_name);
  for (const auto& [e, t] : kTypes)
    if (e == ext) return std::string(t);
  return std::nullopt;
}

bool static_name_is_hashed(std::string_view file_name) {
  const size_t slash = file_name.rfind('/');
  if (slash != std::string_view::npos) file_name.remove_prefix(slash + 1);
  const size_t dot = file_name.find('.');
  if (dot == std::string_view::npos || dot < 9) return false;
  const std::string_view stem = file_name.substr(0, dot);
  if (stem[stem.size() - 9] != '-') return false;
  for (char c : stem.substr(stem.size() - 8))
    if (!(std::isdigit(static_cast<unsigned char>(c)) || (c >= 'A' && c <= 'Z'))) return false;
  return true;
}

Result<StaticFiles> StaticFiles::open(const std::string& root) {
  std::error_code ec;
  const fs::path canonical = fs::canonical(root, ec);
  if (ec || !fs::is_directory(canonical, ec)) {
    return make_error("web.no_root", "dashboard folder " + root + " is not a directory");
  }
  if (!fs::is_regular_file(canonical / "index.html", ec)) {
    return make_error("web.no_root",
                      "dashboard folder " + root + " has no index.html (build the `web` target)");
  }
  return StaticFiles(canonical.string());
}

std::optional<StaticFile> StaticFiles::find(std::string_view url_path) const {
  auto rel = static_relative_path(url_path);
  if (!rel) return std::nullopt;
  auto type = static_content_type(*rel);
  if (!type) return std::nullopt;
  std::error_code ec;
  const fs::path file = fs::canonical(fs::path(root_) / *rel, ec);
  if (ec) return std::nullopt;
  // Inside the root after links are resolved.
  const std::string f = file.string();
  if (f.size() <= root_.size() || f.compare(0, root_.size(), root_) != 0 || f[root_.size()] != '/')
    return std::nullopt;
  if (!fs::is_regular_file(file, ec)) return std::nullopt;
  const auto size = fs::file_size(file, ec);
  if (ec || size > kMaxFileBytes) return std::nullopt;
  std::ifstream in(file, std::ios::binary);
  if (!in) return std::nullopt;
  StaticFile out;
  out.body.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  out.content_type = *type;
  out.cache_control =
      static_name_is_hashed(*rel) ? "public, max-age=31536000, immutable" : "no-cache";
  return out;
}

std::string default_web_root() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  const fs::path web = exe.parent_path() / "web";
  if (!fs::is_regular_file(web / "index.html", ec)) return "";
  return web.string();
}

}  // namespace orion::api
