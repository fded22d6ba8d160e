// Where the shared test assets are (models, images, videos; see ../shared/assets/MANIFEST.md).
//
// Lookup order: $ORION_ASSETS, then <source dir>/../shared/assets (source dir from
// $ORION_SOURCE_DIR, set by CTest), then ../shared/assets relative to the working directory.
// A test that needs an asset uses ORION_REQUIRE_ASSET: when the asset is missing it FAILS under
// CI (CI=true) and skips with a message elsewhere.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace orion::testing {

std::optional<std::string> assets_dir();
std::optional<std::string> asset_path(const std::string& name);
bool running_in_ci();

}  // namespace orion::testing

#define ORION_REQUIRE_ASSET(var, name)                                                    \
  std::string var;                                                                        \
  do {                                                                                    \
    auto orion_asset_ = ::orion::testing::asset_path(name);                               \
    if (!orion_asset_) {                                                                  \
      if (::orion::testing::running_in_ci()) {                                            \
        FAIL() << "test asset '" << (name) << "' not found (CI=true): expected under "    \
               << "../shared/assets or $ORION_ASSETS";                                    \
      } else {                                                                            \
        GTEST_SKIP() << "test asset '" << (name) << "' not found; set ORION_ASSETS";      \
      }                                                                                   \
    }                                                                                     \
    var = *orion_asset_;                                                                  \
  } while (0)
