#include "api/testing/backends.h"

#include <unistd.h>

#include <atomic>

#include "store/testing/postgres_fixture.h"

namespace orion::api::testing {

namespace fs = std::filesystem;

Backend::Owned::~Owned() {
  std::error_code ec;
  if (!dir.empty()) fs::remove_all(dir, ec);
}

Backend::Backend(Backend&&) noexcept = default;
Backend& Backend::operator=(Backend&& other) noexcept {
  store.reset();  // close before the database goes
  name = std::move(other.name);
  url = std::move(other.url);
  store = std::move(other.store);
  error = std::move(other.error);
  skip_reason = std::move(other.skip_reason);
  owned = std::move(other.owned);
  return *this;
}
Backend::~Backend() { store.reset(); }

std::vector<std::string> backend_names() { return {"sqlite", "postgresql"}; }

Backend open_backend(const std::string& name, const std::string& tag) {
  static std::atomic<int> counter{0};
  Backend b;
  b.name = name;
  b.owned = std::make_unique<Backend::Owned>();
  b.owned->dir =
      fs::temp_directory_path() /
      ("orion_api_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  std::error_code ec;
  fs::remove_all(b.owned->dir, ec);
  fs::create_directories(b.owned->dir, ec);
  if (ec) {
    b.error = "cannot create " + b.owned->dir.string() + ": " + ec.message();
    return b;
  }
  if (name == "sqlite") {
    b.url = "sqlite://" + (b.owned->dir / "orion.db").string();
  } else if (name == "postgresql") {
    // One server for the test process (the store's fixture), a new database per test.
    auto pg = store::testing::shared_postgres();
    if (!pg) {
      if (pg.error().code == "postgres.missing" && !orion::testing::running_in_ci()) {
        b.skip_reason = pg.error().to_string();
      } else {
        b.error = pg.error().to_string();
      }
      return b;
    }
    auto db = (*pg)->fresh_database();
    if (!db) {
      b.error = db.error().to_string();
      return b;
    }
    b.url = *db;
  } else {
    b.error = "unknown backend '" + name + "'";
    return b;
  }
  auto s = store::Store::open(b.url);
  if (!s) {
    b.error = s.error().to_string();
    return b;
  }
  b.store = std::move(s.value());
  return b;
}

}  // namespace orion::api::testing
