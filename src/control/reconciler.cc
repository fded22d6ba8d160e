#include "control/reconciler.h"

#include <spdlog/spdlog.h>

#include "control/desired_config.h"
#include "core/backoff.h"
#include "core/thread.h"

namespace orion::control {

Reconciler::Reconciler(store::Store& store, engine::Engine& engine, ReconcilerOptions options)
    : store_(store), engine_(engine), options_(std::move(options)) {}

Reconciler::~Reconciler() { stop(); }

void Reconciler::start() {
  if (thread_.joinable()) return;
  thread_ = std::jthread([this](const std::stop_token& stop) {
    set_current_thread_name("orion-reconcile");
    run_guarded(
        "reconciler", [&] { run(stop); },
        [this](std::string_view why) {
          spdlog::error("reconciler: thread died: {}", why);
          MutexLock lock(mu_);
          stats_.last_error = "reconciler thread died: " + std::string(why);
        });
  });
}

void Reconciler::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
}

ReconcilerStats Reconciler::stats() const {
  MutexLock lock(mu_);
  return stats_;
}

bool Reconciler::wait_applied(int64_t revision, Duration limit) const {
  UniqueLock lock(mu_);
  return applied_cv_.wait_for(lock.native(), limit.to_chrono(), [&] {
    mu_.assert_held();
    return stats_.applied_revision >= revision;
  });
}

bool Reconciler::reconcile_once(int64_t revision) {
  auto fail = [this](const Error& e) {
    spdlog::warn("reconciler: database: {}", e.to_string());
    MutexLock lock(mu_);
    ++stats_.store_errors;
    stats_.last_error = e.to_string();
    return false;
  };
  auto streams = store_.list_streams();
  if (!streams) return fail(streams.error());
  auto models = store_.list_models();
  if (!models) return fail(models.error());
  auto pipelines = store_.list_pipelines();
  if (!pipelines) return fail(pipelines.error());
  engine::ApplyReport report;
  {
    std::lock_guard apply(apply_mu_);
    streams_ = std::move(*streams);
    models_ = std::move(*models);
    pipelines_ = *pipelines;
    have_desired_ = true;
    std::vector<std::string> errors;
    report = apply_cached(errors);
    report.errors.insert(report.errors.begin(), errors.begin(), errors.end());
  }
  for (const auto& e : report.errors) spdlog::warn("reconciler: revision {}: {}", revision, e);
  if (options_.on_applied) options_.on_applied(*pipelines);
  {
    MutexLock lock(mu_);
    stats_.applied_revision = revision;
    ++stats_.applies;
    stats_.last_report = std::move(report);
    stats_.last_error = stats_.last_report.errors.empty() ? "" : stats_.last_report.errors.back();
  }
  applied_cv_.notify_all();
  return true;
}

engine::ApplyReport Reconciler::apply_cached(std::vector<std::string>& errors) {
  if (!options_.runnable) {
    DesiredConfig desired = to_engine_config(streams_, models_, pipelines_);
    errors = std::move(desired.errors);
    return engine_.apply(desired.config);
  }
  const std::set<std::string> mine = options_.runnable();
  std::vector<store::StreamRecord> streams;
  for (const auto& s : streams_)
    if (mine.count(s.name)) streams.push_back(s);
  std::vector<store::PipelineRecord> pipelines;
  for (const auto& p : pipelines_)
    if (mine.count(p.stream)) pipelines.push_back(p);
  DesiredConfig desired = to_engine_config(streams, models_, pipelines);
  errors = std::move(desired.errors);
  return engine_.apply(desired.config);
}

void Reconciler::refilter() {
  std::lock_guard apply(apply_mu_);
  if (!have_desired_) return;
  std::vector<std::string> errors;
  engine::ApplyReport report = apply_cached(errors);
  for (const auto& e : errors) spdlog::warn("reconciler: {}", e);
  for (const auto& e : report.errors) spdlog::warn("reconciler: {}", e);
}

void Reconciler::run(const std::stop_token& stop) {
  BackoffPolicy policy;
  policy.initial = Duration::millis(100);
  policy.max = options_.retry_max;
  Backoff backoff(policy);
  int64_t applied = -1;
  while (!stop.stop_requested()) {
    auto revision = applied < 0 ? store_.desired_revision()
                                : store_.wait_desired_revision(applied, options_.poll);
    bool ok = revision.ok();
    if (ok && *revision != applied) {
      ok = reconcile_once(*revision);
      if (ok) applied = *revision;
    } else if (!ok) {
      MutexLock lock(mu_);
      ++stats_.store_errors;
      stats_.last_error = revision.error().to_string();
    }
    if (ok) {
      backoff.reset();
      continue;
    }
    // The database failed: wait (stoppably), then read everything again.
    std::mutex m;
    std::condition_variable_any cv;
    std::unique_lock lock(m);
    cv.wait_for(lock, stop, backoff.next().to_chrono(), [] { return false; });
  }
}

}  // namespace orion::control
