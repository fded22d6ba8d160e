// ORION_REQUIRE_ASSET for GoogleTest tests: a test that needs an asset (see
// testing/asset_paths.h for where they are looked up) FAILS under CI (CI=true) when the asset
// is missing and skips with a message elsewhere. Tests only (links GoogleTest).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "testing/asset_paths.h"

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
