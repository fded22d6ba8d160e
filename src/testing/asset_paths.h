// Where the shared test assets are (models, images, videos; see ../shared/assets/MANIFEST.md).
// GoogleTest-free, so benchmarks in the `orion` binary use it too; tests use testing/assets.h,
// which adds ORION_REQUIRE_ASSET.
//
// Lookup order: $ORION_ASSETS, then <source dir>/../shared/assets (source dir from
// $ORION_SOURCE_DIR, set by CTest), then ../shared/assets relative to the working directory.
// Thread-safety: reads the environment only; thread-safe while nobody changes it.
#pragma once

#include <optional>
#include <string>

namespace orion::testing {

std::optional<std::string> assets_dir();
std::optional<std::string> asset_path(const std::string& name);  // nullopt when missing
bool running_in_ci();                                            // CI=true

}  // namespace orion::testing
