// The databases the API's integration tests run against, by name: "sqlite" (a file in a fresh
// temporary folder) always; "postgresql" (a server of its own, started by the store's test
// fixture in a temporary folder on a loopback port, stopped after) when the build has it.
// Every test gets an empty database of its own.
//
// Lifecycle: a Backend owns its database (folder, server) and deletes it when destroyed; its
// Store is closed first. Thread-safety: thread-compatible.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "store/store.h"

namespace orion::api::testing {

struct Backend {
  std::string name;
  std::string url;                      // what Store::open was given
  std::unique_ptr<store::Store> store;  // null on error or skip
  std::string error;                    // why it could not be opened
  std::string skip_reason;              // set when this machine cannot run the backend

  Backend() = default;
  Backend(Backend&&) noexcept;
  Backend& operator=(Backend&&) noexcept;
  ~Backend();

  struct Owned {  // the temporary folder (SQLite), removed by the destructor
    std::filesystem::path dir;
    ~Owned();
  };
  std::unique_ptr<Owned> owned;
};

std::vector<std::string> backend_names();

// A fresh, empty, migrated database of kind `name` for test `tag`.
Backend open_backend(const std::string& name, const std::string& tag);

}  // namespace orion::api::testing
