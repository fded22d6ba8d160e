#include "bench/store_bench.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

#include "bench/percentiles.h"
#include "store/store.h"
#include "store/testing/postgres_fixture.h"

namespace orion::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

int64_t elapsed_ns(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
}

struct BackendResult {
  std::string name;
  bool ran = false;
  double batched_per_s = 0, unbatched_per_s = 0;
  Summary batch_us, retention_us;
  int64_t rows_kept = 0, rows_deleted = 0, written = 0;
};

// The i-th synthetic event: two streams, two pipelines, one detection each.
store::EventRecord make_event(int64_t i, int64_t wall_ms) {
  store::EventRecord e;
  e.stream = i % 2 == 0 ? "cam1" : "cam2";
  e.pipeline = i % 4 < 2 ? "people" : "cars";
  e.sequence = static_cast<uint64_t>(i);
  e.pts_ns = i * 33'333'333;
  e.capture_ns = 1'000'000'000 + i;
  e.wall_time_ms = wall_ms;
  e.class_id = 0;
  e.class_name = "person";
  e.score = 0.5 + static_cast<double>(i % 50) / 100.0;
  e.x1 = 10;
  e.y1 = 20;
  e.x2 = 110;
  e.y2 = 220;
  return e;
}

bool run_backend(const StoreBenchOptions& o, const std::string& name, const std::string& url,
                 BackendResult& out) {
  out.name = name;
  auto opened = store::Store::open(url);
  if (!opened.ok()) {
    std::fprintf(stderr, "bench store: %s: %s\n", name.c_str(), opened.error().to_string().c_str());
    return false;
  }
  store::Store& s = **opened;
  const int64_t wall0 = 1'700'000'000'000;
  int64_t next = 0;

  // Baseline: one transaction per event.
  auto t0 = Clock::now();
  for (int i = 0; i < o.unbatched_events; ++i, ++next) {
    auto r = s.insert_events({make_event(next, wall0 + next)});
    if (!r.ok()) {
      std::fprintf(stderr, "bench store: %s: %s\n", name.c_str(), r.error().to_string().c_str());
      return false;
    }
  }
  out.unbatched_per_s = o.unbatched_events / (static_cast<double>(elapsed_ns(t0)) / 1e9);

  // Batched, with retention on the way.
  store::Retention keep;
  keep.max_age_ms = 0;  // by count only: the synthetic times are all recent
  keep.max_rows = o.keep_rows;
  std::vector<int64_t> batch_ns, retention_ns;
  std::vector<store::EventRecord> batch;
  int since_retention = 0;
  t0 = Clock::now();
  for (int done = 0; done < o.events;) {
    batch.clear();
    for (int k = 0; k < o.batch && done < o.events; ++k, ++done, ++next) {
      batch.push_back(make_event(next, wall0 + next));
    }
    const auto tb = Clock::now();
    auto r = s.insert_events(batch);
    batch_ns.push_back(elapsed_ns(tb));
    if (!r.ok()) {
      std::fprintf(stderr, "bench store: %s: %s\n", name.c_str(), r.error().to_string().c_str());
      return false;
    }
    out.written += static_cast<int64_t>(batch.size());
    since_retention += static_cast<int>(batch.size());
    if (since_retention >= o.retention_every || done == o.events) {
      since_retention = 0;
      const auto tr = Clock::now();
      auto d = s.apply_retention(keep, wall0 + next);
      retention_ns.push_back(elapsed_ns(tr));
      if (!d.ok()) {
        std::fprintf(stderr, "bench store: %s: %s\n", name.c_str(), d.error().to_string().c_str());
        return false;
      }
      out.rows_deleted += *d;
    }
  }
  out.batched_per_s = o.events / (static_cast<double>(elapsed_ns(t0)) / 1e9);
  out.batch_us = summarize(batch_ns);
  out.retention_us = summarize(retention_ns);
  auto count = s.count_events();
  if (!count.ok()) {
    std::fprintf(stderr, "bench store: %s: %s\n", name.c_str(), count.error().to_string().c_str());
    return false;
  }
  out.rows_kept = *count;
  out.ran = true;
  return true;
}

void print(const BackendResult& r, const StoreBenchOptions& o) {
  std::printf("%-11s %12.0f   %7.2f / %7.2f / %8.2f   %12.0f   %8.1fx   %9lld   %8.2f / %8.2f\n",
              r.name.c_str(), r.batched_per_s, r.batch_us.p50 / 1e3, r.batch_us.p99 / 1e3,
              r.batch_us.max / 1e3, r.unbatched_per_s, r.batched_per_s / r.unbatched_per_s,
              static_cast<long long>(r.rows_kept), r.retention_us.p50 / 1e3,
              r.retention_us.max / 1e3);
  (void)o;
}

}  // namespace

int run_store_bench(const StoreBenchOptions& o) {
  if (o.events < 1 || o.batch < 1 || o.batch > 10'000 || o.retention_every < 1 || o.keep_rows < 1 ||
      o.unbatched_events < 1) {
    std::fprintf(stderr,
                 "bench store: --events, --batch (<= 10000), --retention-every, --keep-rows "
                 "and --unbatched must be positive\n");
    return 2;
  }
  std::string templ = (fs::temp_directory_path() / "orion-store-bench-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) {
    std::perror("bench store: mkdtemp");
    return 1;
  }
  const fs::path dir = templ;

  std::vector<BackendResult> results(2);
  bool ok = run_backend(o, "sqlite", "sqlite://" + (dir / "bench.db").string(), results[0]);

  std::unique_ptr<store::testing::PostgresServer> server;
  if (!o.skip_postgres) {
    std::string url = o.pg_url;
    if (url.empty()) {
      store::testing::PostgresOptions po;
      po.fsync = true;
      auto started = store::testing::PostgresServer::start(po);
      if (!started.ok()) {
        std::fprintf(stderr, "bench store: %s\n", started.error().to_string().c_str());
        ok = false;
      } else {
        server = std::move(*started);
        auto db = server->create_database("bench");
        if (!db.ok()) {
          std::fprintf(stderr, "bench store: %s\n", db.error().to_string().c_str());
          ok = false;
        } else {
          url = *db;
        }
      }
    }
    if (!url.empty()) ok = run_backend(o, "postgresql", url, results[1]) && ok;
  }

  std::printf(
      "orion bench store: %d events in batches of %d, retention (keep %d rows) every %d "
      "events; baseline %d events one per transaction. Durable commits on both.\n\n",
      o.events, o.batch, o.keep_rows, o.retention_every, o.unbatched_events);
  std::printf("%-11s %12s   %-29s   %12s   %9s   %9s   %s\n", "backend", "batched ev/s",
              "batch ms p50 / p99 / max", "unbatched/s", "ratio", "rows kept",
              "retention ms p50 / max");
  for (const auto& r : results) {
    if (r.ran) print(r, o);
  }
  if (results[0].ran && results[1].ran) {
    std::printf("\npostgresql/sqlite batched rate: %.2fx\n",
                results[1].batched_per_s / results[0].batched_per_s);
  }
  for (const auto& r : results) {
    if (r.ran && r.rows_kept != o.keep_rows && r.written >= o.keep_rows) {
      std::printf("%s: %lld rows kept, expected %d\n", r.name.c_str(),
                  static_cast<long long>(r.rows_kept), o.keep_rows);
      ok = false;
    }
  }

  if (!o.json_path.empty()) {
    std::ofstream js(o.json_path);
    js << "{\"events\":" << o.events << ",\"batch\":" << o.batch << ",\"keep_rows\":" << o.keep_rows
       << ",\"backends\":[";
    bool first = true;
    for (const auto& r : results) {
      if (!r.ran) continue;
      js << (first ? "" : ",") << "{\"name\":\"" << r.name
         << "\",\"batched_events_per_s\":" << r.batched_per_s
         << ",\"unbatched_events_per_s\":" << r.unbatched_per_s
         << ",\"batch_ms\":{\"p50\":" << r.batch_us.p50 / 1e3 << ",\"p99\":" << r.batch_us.p99 / 1e3
         << ",\"max\":" << r.batch_us.max / 1e3
         << "},\"retention_ms\":{\"p50\":" << r.retention_us.p50 / 1e3
         << ",\"max\":" << r.retention_us.max / 1e3 << "},\"rows_kept\":" << r.rows_kept
         << ",\"rows_deleted\":" << r.rows_deleted << "}";
      first = false;
    }
    js << "]}\n";
  }
  server.reset();
  std::error_code ec;
  fs::remove_all(dir, ec);
  return ok ? 0 : 1;
}

}  // namespace orion::bench
