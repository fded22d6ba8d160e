#include "bench/events_bench.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <thread>
#include <vector>

#include "bench/percentiles.h"
#include "core/clock.h"
#include "events/event_writer.h"
#include "store/store.h"
#include "store/testing/postgres_fixture.h"

namespace orion::bench {
namespace {

namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;

int64_t elapsed_ns(Steady::time_point t0) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Steady::now() - t0).count();
}
double per_s(int64_t n, int64_t ns) {
  return static_cast<double>(n) / (static_cast<double>(ns) / 1e9);
}

struct BackendResult {
  std::string name;
  bool ran = false;
  double raw_per_s = 0, writer_per_s = 0, burst_offers_per_s = 0;  // medians of the rounds
  std::vector<double> raw_rounds, writer_rounds, ratio_rounds;
  Summary offer_us;
  events::EventWriterStats writer, burst;  // writer: the last round's
  int64_t rows_kept = 0;
  int64_t producer_waits = 0;
};

// Result r of the synthetic load: two streams' worth of people, `per` detections each, every
// one kept by the bench's policy (no class list, min_score 0, no interval).
DetectionResult make_result(int64_t r, int per) {
  DetectionResult out;
  out.pipeline = "people";
  out.frame.stream = 1;
  out.frame.sequence = static_cast<uint64_t>(r + 1);
  out.frame.pts = Duration::nanos(r * 33'333'333);
  out.frame.capture_time = Timestamp::from_nanos(1'000'000'000 + r * 33'333'333);
  for (int k = 0; k < per; ++k) {
    Detection d;
    d.class_id = k % 3;
    d.class_name = k % 3 == 0 ? "person" : k % 3 == 1 ? "bicycle" : "car";
    d.score = 0.5f + static_cast<float>((r + k) % 50) / 100.0f;
    d.box = Box{10.0f + static_cast<float>(k), 20.0f, 110.0f, 220.0f};
    out.detections.push_back(std::move(d));
  }
  return out;
}

// The rows an EventWriter makes of `r` (the baseline writes exactly these).
void append_rows(const DetectionResult& r, int64_t wall_ms, std::vector<store::EventRecord>& out) {
  for (const auto& d : r.detections) out.push_back(events::event_record("cam1", r, d, wall_ms));
}

bool report(const std::string& name, const Error& e) {
  std::fprintf(stderr, "bench events: %s: %s\n", name.c_str(), e.to_string().c_str());
  return false;
}

// Opens the database of one phase; an existing one (--pg-url) is emptied first.
std::unique_ptr<store::Store> open_phase(const std::string& name, const Result<std::string>& url) {
  if (!url.ok()) {
    report(name, url.error());
    return nullptr;
  }
  auto opened = store::Store::open(*url);
  if (!opened.ok()) {
    report(name, opened.error());
    return nullptr;
  }
  store::Retention all;
  all.max_age_ms = 1;  // everything older than "now - 1 ms" at the end of time: every row
  all.max_rows = 0;
  if (auto d = (*opened)->apply_retention(all, std::numeric_limits<int64_t>::max()); !d.ok()) {
    report(name, d.error());
    return nullptr;
  }
  return std::move(*opened);
}

// The median of a few samples.
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty()           ? 0
         : v.size() % 2 == 1 ? v[v.size() / 2]
                             : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// url_for(phase): the database URL of a phase ("raw_1", "writer_1", ..., "burst").
bool run_backend(const EventsBenchOptions& o, const std::string& name,
                 const std::function<Result<std::string>(const std::string&)>& url_for,
                 BackendResult& out) {
  out.name = name;
  const int per = o.detections_per_result;
  const int64_t results = o.events / per;
  const int64_t n_events = results * per;
  store::Retention keep;
  keep.max_age_ms = 0;  // by count only
  keep.max_rows = o.keep_rows;
  const auto interval = std::chrono::milliseconds(o.retention_interval_ms);

  std::vector<DetectionResult> load;
  load.reserve(static_cast<size_t>(results));
  for (int64_t r = 0; r < results; ++r) load.push_back(make_result(r, per));

  // raw: batched insert_events of the same rows, retention at the same cadence.
  auto raw = [&](const std::string& phase, double& rate) -> bool {
    auto s = open_phase(name, url_for(phase));
    if (!s) return false;
    std::vector<store::EventRecord> rows;
    rows.reserve(static_cast<size_t>(n_events));
    const int64_t wall = events::system_wall_time_ms();
    for (const auto& r : load) append_rows(r, wall, rows);
    std::vector<store::EventRecord> batch;
    const auto t0 = Steady::now();
    auto last_retention = t0;
    if (auto d = s->apply_retention(keep, wall); !d.ok()) return report(name, d.error());
    for (size_t i = 0; i < rows.size();) {
      batch.clear();
      for (int k = 0; k < o.batch && i < rows.size(); ++k, ++i) batch.push_back(rows[i]);
      if (auto ids = s->insert_events(batch); !ids.ok()) return report(name, ids.error());
      if (Steady::now() - last_retention >= interval) {
        if (auto d = s->apply_retention(keep, wall); !d.ok()) return report(name, d.error());
        last_retention = Steady::now();
      }
    }
    rate = per_s(n_events, elapsed_ns(t0));
    return true;
  };

  events::EventWriterOptions wo;
  wo.queue_capacity = static_cast<size_t>(o.queue);
  wo.max_batch = static_cast<size_t>(o.batch);
  wo.retention = keep;
  wo.retention_interval = Duration::millis(o.retention_interval_ms);
  store::EventPolicy all;
  all.classes = {};
  all.min_score = 0;
  all.min_interval_ms = 0;

  // writer: the same rows through EventWriter, the producer kept within the queue.
  std::vector<int64_t> offer_ns;
  offer_ns.reserve(load.size() * static_cast<size_t>(o.rounds));
  auto writer = [&](const std::string& phase, double& rate) -> bool {
    auto s = open_phase(name, url_for(phase));
    if (!s) return false;
    events::EventWriter w(*s, SteadyClock::instance(), wo);
    if (auto p = w.set_policy("people", "cam1", all); !p.ok()) return report(name, p.error());
    w.start();
    const auto t0 = Steady::now();
    for (const auto& r : load) {
      while (w.stats().queued + static_cast<uint64_t>(per) > wo.queue_capacity) {
        ++out.producer_waits;
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
      const auto t = Steady::now();
      w.offer(r);
      offer_ns.push_back(elapsed_ns(t));
    }
    while (w.stats().queued > 0) {  // every offer made: each event is written, failed or counted
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    rate = per_s(n_events, elapsed_ns(t0));
    // Rows kept: after the next retention pass that follows the last write.
    const uint64_t runs = w.stats().retention_runs;
    const auto wait_end = Steady::now() + interval * 3 + std::chrono::seconds(5);
    while (w.stats().retention_runs == runs && Steady::now() < wait_end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    w.stop();
    out.writer = w.stats();
    auto count = s->count_events();
    if (!count.ok()) return report(name, count.error());
    out.rows_kept = *count;
    if (out.writer.written != static_cast<uint64_t>(n_events) || out.writer.dropped != 0) {
      std::fprintf(
          stderr,
          "bench events: %s: writer wrote %llu of %lld events (dropped %llu, failed "
          "%llu; last error %s)\n",
          name.c_str(), static_cast<unsigned long long>(out.writer.written),
          static_cast<long long>(n_events), static_cast<unsigned long long>(out.writer.dropped),
          static_cast<unsigned long long>(out.writer.failed), out.writer.last_error.c_str());
      return false;
    }
    return true;
  };

  // Rounds alternate the order (raw first, then writer first), so neither phase always runs on
  // a warmer disk or server; the medians are compared.
  for (int round = 1; round <= o.rounds; ++round) {
    double raw_rate = 0, writer_rate = 0;
    const std::string n = std::to_string(round);
    const bool ran = round % 2 == 1
                         ? raw("raw_" + n, raw_rate) && writer("writer_" + n, writer_rate)
                         : writer("writer_" + n, writer_rate) && raw("raw_" + n, raw_rate);
    if (!ran) return false;
    out.raw_rounds.push_back(raw_rate);
    out.writer_rounds.push_back(writer_rate);
    out.ratio_rounds.push_back(writer_rate / raw_rate);
  }
  out.raw_per_s = median(out.raw_rounds);
  out.writer_per_s = median(out.writer_rounds);
  out.offer_us = summarize(std::move(offer_ns));

  // ---- burst: everything offered at once, no waiting: a full queue drops and counts ---------
  {
    auto s = open_phase(name, url_for("burst"));
    if (!s) return false;
    events::EventWriter w(*s, SteadyClock::instance(), wo);
    if (auto p = w.set_policy("people", "cam1", all); !p.ok()) return report(name, p.error());
    w.start();
    const auto t0 = Steady::now();
    for (const auto& r : load) w.offer(r);
    out.burst_offers_per_s = per_s(n_events, elapsed_ns(t0));
    w.stop();
    out.burst = w.stats();
  }
  out.ran = true;
  return true;
}

}  // namespace

int run_events_bench(const EventsBenchOptions& o) {
  if (o.events < 1 || o.detections_per_result < 1 || o.detections_per_result > o.events ||
      o.batch < 1 || o.batch > 10'000 || o.queue < o.detections_per_result || o.keep_rows < 1 ||
      o.retention_interval_ms < 1 || o.rounds < 1) {
    std::fprintf(stderr,
                 "bench events: --events, --per-result (<= events), --batch (<= 10000), --queue "
                 "(>= per-result), --keep-rows, --retention-interval-ms and --rounds must be "
                 "positive\n");
    return 2;
  }
  std::string templ = (fs::temp_directory_path() / "orion-events-bench-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr) {
    std::perror("bench events: mkdtemp");
    return 1;
  }
  const fs::path dir = templ;

  std::vector<BackendResult> results(2);
  bool ok = run_backend(
      o, "sqlite",
      [&](const std::string& phase) -> Result<std::string> {
        return "sqlite://" + (dir / (phase + ".db")).string();
      },
      results[0]);

  std::unique_ptr<store::testing::PostgresServer> server;
  if (!o.skip_postgres) {
    bool have_server = !o.pg_url.empty();
    if (!have_server) {
      store::testing::PostgresOptions po;
      po.fsync = true;
      auto started = store::testing::PostgresServer::start(po);
      if (!started.ok()) {
        std::fprintf(stderr, "bench events: %s\n", started.error().to_string().c_str());
        ok = false;
      } else {
        server = std::move(*started);
        have_server = true;
      }
    }
    if (have_server) {
      auto url_for = [&](const std::string& phase) -> Result<std::string> {
        if (!o.pg_url.empty()) return o.pg_url;
        return server->create_database("events_" + phase);
      };
      ok = run_backend(o, "postgresql", url_for, results[1]) && ok;
    }
  }

  std::printf(
      "orion bench events: %d events (%d detections per result), batches of %d, queue %d, "
      "retention keep %d rows every %d ms; baseline: the same rows by raw batched "
      "insert_events. Durable commits on both. %d rounds, raw and writer in alternating "
      "order: medians (per-round ratios after them).\n\n",
      o.events, o.detections_per_result, o.batch, o.queue, o.keep_rows, o.retention_interval_ms,
      o.rounds);
  std::printf("%-11s %11s %11s %8s   %-26s %8s %8s %7s %10s   %s\n", "backend", "raw ev/s",
              "writer ev/s", "ratio", "offer() us p50/p99/max", "batches", "dropped", "failed",
              "rows kept", "ratio per round");
  for (const auto& r : results) {
    if (!r.ran) continue;
    std::string rounds;
    for (double x : r.ratio_rounds) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%s%.2f", rounds.empty() ? "" : " ", x);
      rounds += buf;
    }
    std::printf(
        "%-11s %11.0f %11.0f %7.2fx   %7.2f / %6.2f / %8.1f %8llu %8llu %7llu %10lld   %s\n",
        r.name.c_str(), r.raw_per_s, r.writer_per_s, r.writer_per_s / r.raw_per_s, r.offer_us.p50,
        r.offer_us.p99, r.offer_us.max, static_cast<unsigned long long>(r.writer.batches),
        static_cast<unsigned long long>(r.writer.dropped),
        static_cast<unsigned long long>(r.writer.failed), static_cast<long long>(r.rows_kept),
        rounds.c_str());
  }
  std::printf("\nburst (every result offered at once, no waiting):\n");
  std::printf("%-11s %14s %10s %10s %12s\n", "backend", "offered ev/s", "written", "dropped",
              "conserved");
  for (const auto& r : results) {
    if (!r.ran) continue;
    const auto& b = r.burst;
    const bool conserved = b.written + b.dropped + b.failed == b.detections && b.queued == 0;
    std::printf("%-11s %14.0f %10llu %10llu %12s\n", r.name.c_str(), r.burst_offers_per_s,
                static_cast<unsigned long long>(b.written),
                static_cast<unsigned long long>(b.dropped), conserved ? "yes" : "NO");
    if (!conserved) ok = false;
  }
  const int64_t n_events =
      static_cast<int64_t>(o.events / o.detections_per_result) * o.detections_per_result;
  for (const auto& r : results) {
    if (!r.ran) continue;
    if (n_events >= o.keep_rows && r.rows_kept != o.keep_rows) {
      std::printf("%s: %lld rows kept after retention, expected %d\n", r.name.c_str(),
                  static_cast<long long>(r.rows_kept), o.keep_rows);
      ok = false;
    }
  }

  if (!o.json_path.empty()) {
    std::ofstream js(o.json_path);
    js << "{\"events\":" << n_events << ",\"detections_per_result\":" << o.detections_per_result
       << ",\"batch\":" << o.batch << ",\"queue\":" << o.queue << ",\"keep_rows\":" << o.keep_rows
       << ",\"backends\":[";
    bool first = true;
    for (const auto& r : results) {
      if (!r.ran) continue;
      js << (first ? "" : ",") << "{\"name\":\"" << r.name
         << "\",\"raw_events_per_s\":" << r.raw_per_s
         << ",\"writer_events_per_s\":" << r.writer_per_s
         << ",\"writer_over_raw\":" << r.writer_per_s / r.raw_per_s << ",\"ratio_rounds\":[";
      for (size_t i = 0; i < r.ratio_rounds.size(); ++i) js << (i ? "," : "") << r.ratio_rounds[i];
      js << "],\"producer_waits\":" << r.producer_waits
         << ",\"offer_us\":{\"p50\":" << r.offer_us.p50 << ",\"p99\":" << r.offer_us.p99
         << ",\"max\":" << r.offer_us.max << "},\"batches\":" << r.writer.batches
         << ",\"retention_runs\":" << r.writer.retention_runs << ",\"rows_kept\":" << r.rows_kept
         << ",\"burst\":{\"offered_events_per_s\":" << r.burst_offers_per_s
         << ",\"written\":" << r.burst.written << ",\"dropped\":" << r.burst.dropped << "}}";
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
