#include "testing/asset_paths.h"

#include <cstdlib>
#include <filesystem>
#include <vector>

namespace orion::testing {

namespace fs = std::filesystem;

std::optional<std::string> assets_dir() {
  std::vector<fs::path> candidates;
  if (const char* a = std::getenv("ORION_ASSETS")) candidates.emplace_back(a);
  if (const char* s = std::getenv("ORION_SOURCE_DIR"))
    candidates.push_back(fs::path(s) / ".." / "shared" / "assets");
  candidates.emplace_back(fs::path("..") / "shared" / "assets");
  for (const auto& c : candidates) {
    std::error_code ec;
    if (fs::is_directory(c, ec)) return fs::weakly_canonical(c, ec).string();
  }
  return std::nullopt;
}

std::optional<std::string> asset_path(const std::string& name) {
  auto dir = assets_dir();
  if (!dir) return std::nullopt;
  fs::path p = fs::path(*dir) / name;
  std::error_code ec;
  if (!fs::exists(p, ec)) return std::nullopt;
  return p.string();
}

bool running_in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

}  // namespace orion::testing
