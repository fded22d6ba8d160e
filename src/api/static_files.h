// StaticFiles: the dashboard's built files (web/, bundled into <build>/web by the `web` target)
// served by the API's server at `/` (docs/design/dashboard.md, ADR 0065).
//
// Serving rules:
//   - `/` is `index.html`; any other path names one file below the root. A path is taken only
//     when every segment is 1..128 of [A-Za-z0-9_.-], does not start with '.', and the file
//     (after resolving symbolic links) is a regular file inside the root: "..", "%2e%2e",
//     backslashes, NUL, dot files and links out of the root never get out (a 404, the same
//     answer as a file that is not there, so nothing is learnt about the disk).
//   - Content-Type from the extension (html, js, css, map, json, svg, png, ico, txt, woff2);
//     other extensions are not served.
//   - Caching: names carrying an esbuild content hash (`app-3F2K7QZ1.js`: a '-' then 8 of
//     [A-Z0-9] before the extension) are immutable for a year; everything else (index.html) is
//     `no-cache`, so a new build is seen at the next load.
//   - Files are read at each request (at most 16 MiB each); nothing is cached in memory.
//
// Thread-safety: immutable after construction; find() may be called from many threads at once.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace orion::api {

struct StaticFile {
  std::string body;
  std::string content_type;   // "text/html; charset=utf-8", ...
  std::string cache_control;  // "no-cache" or "public, max-age=31536000, immutable"
};

class StaticFiles {
 public:
  // `root` must be a directory holding index.html. Errors: web.no_root (missing / not a
  // directory / no index.html; the message names the path).
  static Result<StaticFiles> open(const std::string& root);

  // The file for a request path ("/", "/app-3F2K7QZ1.js"), or nullopt (not there, not allowed).
  std::optional<StaticFile> find(std::string_view url_path) const;

  const std::string& root() const { return root_; }

 private:
  explicit StaticFiles(std::string root) : root_(std::move(root)) {}
  std::string root_;  // canonical, no trailing '/'
};

// The parts of the rules above, pure, for tests.
std::optional<std::string> static_relative_path(std::string_view url_path);  // "a/b.js"
std::optional<std::string> static_content_type(std::string_view file_name);
bool static_name_is_hashed(std::string_view file_name);

// Where the dashboard is by default: the folder `web` beside the running executable (the build
// puts the bundle in <build>/web, next to <build>/orion); "" when it has no index.html.
std::string default_web_root();

}  // namespace orion::api
