#include "events/event_writer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <utility>

#include "core/thread.h"

namespace orion::events {
namespace {

constexpr const char* kInvalid = "events.invalid";

Error invalid(const std::string& what, const std::string& why) {
  return make_error(kInvalid, what + " " + why);
}

// t + d, saturating at Clock::kNever (d >= 0).
Timestamp add_saturating(Timestamp t, Duration d) {
  const int64_t kMax = Clock::kNever.nanos();
  if (t.nanos() > 0 && d.count_nanos() > kMax - t.nanos()) return Clock::kNever;
  return t + d;
}

// |a - b| >= limit, without overflow.
bool at_least_apart(Timestamp a, Timestamp b, int64_t limit_ns) {
  const uint64_t ua = static_cast<uint64_t>(a.nanos()), ub = static_cast<uint64_t>(b.nanos());
  const uint64_t diff = a >= b ? ua - ub : ub - ua;
  return diff >= static_cast<uint64_t>(limit_ns);
}

// "0", "17": a class id written the canonical way (no sign, no leading zero), within int.
bool parse_class_id(const std::string& s, int& out) {
  if (s.empty() || s.size() > 9) return false;
  if (s.size() > 1 && s[0] == '0') return false;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

bool storable(const Detection& d) {
  return std::isfinite(d.score) && std::isfinite(d.box.x1) && std::isfinite(d.box.y1) &&
         std::isfinite(d.box.x2) && std::isfinite(d.box.y2);
}

}  // namespace

store::EventRecord event_record(const std::string& stream, const DetectionResult& r,
                                const Detection& d, int64_t wall_ms) {
  store::EventRecord e;
  e.stream = stream;
  e.pipeline = r.pipeline;
  e.sequence = r.frame.sequence;
  e.pts_ns = r.frame.pts.count_nanos();
  e.capture_ns = r.frame.capture_time.nanos();
  e.wall_time_ms = wall_ms;
  e.class_id = d.class_id;
  e.class_name = d.class_name;
  e.score = d.score;
  e.x1 = d.box.x1;
  e.y1 = d.box.y1;
  e.x2 = d.box.x2;
  e.y2 = d.box.y2;
  return e;
}

int64_t system_wall_time_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status EventWriter::validate(const EventWriterOptions& o) {
  if (o.queue_capacity < 1) return invalid("event writer: field 'queue_capacity'", "is 0");
  if (o.max_batch < 1) return invalid("event writer: field 'max_batch'", "is 0");
  if (o.flush_interval < Duration::zero())
    return invalid("event writer: field 'flush_interval'", "is negative");
  if (o.retention_interval <= Duration::zero())
    return invalid("event writer: field 'retention_interval'", "is not positive");
  if (o.retention.max_age_ms < 0)
    return invalid("event writer: field 'retention.max_age_ms'", "is negative");
  if (o.retention.max_rows < 0)
    return invalid("event writer: field 'retention.max_rows'", "is negative");
  if (o.max_attempts < 1) return invalid("event writer: field 'max_attempts'", "is below 1");
  if (o.retry.initial < Duration::zero() || o.retry.max < o.retry.initial ||
      !(o.retry.factor >= 1.0))
    return invalid("event writer: field 'retry'", "needs 0 <= initial <= max and factor >= 1");
  if (o.stop_timeout < Duration::zero())
    return invalid("event writer: field 'stop_timeout'", "is negative");
  return {};
}

EventWriter::EventWriter(store::Store& store, const Clock& clock, EventWriterOptions options)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      wall_ms_(options_.wall_time_ms ? options_.wall_time_ms : WallTimeMs(system_wall_time_ms)),
      backoff_(options_.retry) {
  if (Status s = validate(options_); !s.ok()) {
    std::fprintf(stderr, "EventWriter: broken contract: %s\n", s.error().to_string().c_str());
    std::abort();
  }
}

EventWriter::~EventWriter() { stop(); }

void EventWriter::start() {
  MutexLock life(lifecycle_mu_);
  {
    MutexLock lock(mu_);
    if (started_ || stopped_) return;
    started_ = true;
  }
  thread_ = std::jthread([this](std::stop_token stop) {
    run_guarded("orion-events", [&] {
      run(stop);
      drain();
    });
  });
}

void EventWriter::stop() {
  MutexLock life(lifecycle_mu_);
  bool was_started = false;
  {
    MutexLock lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    stop_deadline_ = clock_.deadline_after(options_.stop_timeout);
    was_started = started_;
  }
  if (was_started) {
    thread_.request_stop();  // wakes the writer's clock and condition-variable waits
    thread_.join();
  } else {
    drain();  // never started: write what was offered, on this thread
  }
}

Status EventWriter::set_policy(const std::string& pipeline, const std::string& stream,
                               const store::EventPolicy& policy) {
  const std::string what = "event policy of pipeline '" + pipeline + "':";
  if (pipeline.empty()) return invalid("event policy:", "field 'pipeline' is empty");
  if (stream.empty()) return invalid(what, "field 'stream' is empty");
  if (!std::isfinite(policy.min_score)) return invalid(what, "field 'min_score' is not finite");
  if (policy.min_interval_ms < 0) return invalid(what, "field 'min_interval_ms' is negative");
  PipelinePolicy fresh;
  for (size_t i = 0; i < policy.classes.size(); ++i) {
    const std::string& c = policy.classes[i];
    if (c.empty()) return invalid(what, "field 'classes' entry " + std::to_string(i) + " is empty");
    fresh.class_names.insert(c);
    if (int id = 0; parse_class_id(c, id)) fresh.class_ids.insert(id);
  }
  fresh.stream = stream;
  fresh.policy = policy;
  MutexLock lock(mu_);
  auto it = policies_.find(pipeline);
  if (it != policies_.end()) {  // keep the interval state
    fresh.slots_by_id = std::move(it->second.slots_by_id);
    fresh.slots_by_name = std::move(it->second.slots_by_name);
    it->second = std::move(fresh);
  } else {
    policies_.emplace(pipeline, std::move(fresh));
  }
  return {};
}

void EventWriter::remove_policy(const std::string& pipeline) {
  MutexLock lock(mu_);
  policies_.erase(pipeline);
}

bool EventWriter::class_listed(const PipelinePolicy& p, const Detection& d) const {
  if (p.policy.classes.empty()) return true;
  if (d.class_id >= 0 && p.class_ids.count(d.class_id) != 0) return true;
  return !d.class_name.empty() && p.class_names.count(d.class_name) != 0;
}

EventWriter::ClassSlot& EventWriter::slot_locked(PipelinePolicy& p, const Detection& d) {
  if (p.slot_count() >= kMaxClassSlots) {
    const bool known = d.class_id >= 0
                           ? p.slots_by_id.count(d.class_id) != 0
                           : p.slots_by_name.find(d.class_name) != p.slots_by_name.end();
    if (!known) {  // bounded memory: start the pipeline's interval state afresh
      p.slots_by_id.clear();
      p.slots_by_name.clear();
    }
  }
  if (d.class_id >= 0) return p.slots_by_id[d.class_id];
  auto it = p.slots_by_name.find(d.class_name);
  if (it == p.slots_by_name.end()) it = p.slots_by_name.emplace(d.class_name, ClassSlot{}).first;
  return it->second;
}

EventWriter::Batch EventWriter::spare_batch_locked() {
  if (!spare_.empty()) {
    Batch b = std::move(spare_.back());
    spare_.pop_back();
    return b;
  }
  Batch b;
  b.reserve(std::min(options_.max_batch, options_.queue_capacity));
  return b;
}

bool EventWriter::enqueue_locked(store::EventRecord&& e, Timestamp now) {
  if (stopped_ || stats_.queued >= options_.queue_capacity) {
    ++stats_.dropped;
    return false;
  }
  bool wake = false;
  if (filling_.empty()) {
    filling_since_ = now;
    wake = true;  // the writer's deadline changes: this batch must be flushed in time
  }
  filling_.push_back(std::move(e));
  ++stats_.queued;
  if (filling_.size() >= options_.max_batch) {
    full_.push_back(std::move(filling_));
    filling_ = spare_batch_locked();
    wake = true;
  }
  return wake;
}

void EventWriter::offer(const DetectionResult& r) {
  // Read outside the lock: the wall-time source is foreign code, and neither needs mu_.
  const Timestamp now = clock_.now();
  const int64_t wall_ms = wall_ms_();
  const size_t n = r.detections.size();
  bool wake = false;
  {
    MutexLock lock(mu_);
    ++stats_.results;
    stats_.detections += n;
    auto it = policies_.find(r.pipeline);
    if (it == policies_.end() || !it->second.policy.enabled) {
      stats_.ignored += n;
      return;
    }
    PipelinePolicy& p = it->second;
    if (r.frame.sequence > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      stats_.invalid += n;
      return;
    }
    const uint64_t serial = ++offer_serial_;
    const int64_t interval_ns = p.policy.min_interval_ms * 1'000'000;
    const Timestamp t = r.frame.capture_time;
    take_.assign(n, 0);
    for (size_t i = 0; i < n; ++i) {
      const Detection& d = r.detections[i];
      if (!storable(d)) {
        ++stats_.invalid;
        continue;
      }
      if (!class_listed(p, d) || !(static_cast<double>(d.score) >= p.policy.min_score)) {
        ++stats_.filtered;
        continue;
      }
      if (interval_ns == 0) {
        take_[i] = 1;
        continue;
      }
      ClassSlot& s = slot_locked(p, d);
      if (s.chosen_offer == serial) {  // this class already took its slot in this result
        ++stats_.rate_limited;
        if (d.score > r.detections[s.chosen_index].score) {
          take_[s.chosen_index] = 0;
          take_[i] = 1;
          s.chosen_index = i;
        }
        continue;
      }
      if (s.has_last && !at_least_apart(t, s.last, interval_ns)) {
        ++stats_.rate_limited;
        continue;
      }
      s.last = t;
      s.has_last = true;
      s.chosen_offer = serial;
      s.chosen_index = i;
      take_[i] = 1;
    }
    for (size_t i = 0; i < n; ++i) {
      if (take_[i] == 0) continue;
      const Detection& d = r.detections[i];
      store::EventRecord e = event_record(p.stream, r, d, wall_ms);
      if (options_.epoch_of) e.epoch = options_.epoch_of(p.stream);
      wake = enqueue_locked(std::move(e), now) || wake;
    }
  }
  if (wake) cv_.notify_one();
}

EventWriterStats EventWriter::stats() const {
  MutexLock lock(mu_);
  return stats_;
}

void EventWriter::run(std::stop_token stop) {
  apply_retention();
  Timestamp next_retention = clock_.deadline_after(options_.retention_interval);
  while (!stop.stop_requested()) {
    Batch batch;
    bool retention_due = false;
    {
      UniqueLock lock(mu_);
      while (!stop.stop_requested()) {
        if (!full_.empty()) {
          batch = std::move(full_.front());
          full_.pop_front();
          break;
        }
        const Timestamp now = clock_.now();
        const Timestamp flush_at = filling_.empty()
                                       ? Clock::kNever
                                       : add_saturating(filling_since_, options_.flush_interval);
        if (!filling_.empty() && now >= flush_at) {
          batch = std::move(filling_);
          filling_ = spare_batch_locked();
          break;
        }
        if (now >= next_retention) {
          retention_due = true;
          break;
        }
        // Woken by a full batch, by the first event of a partial one (its flush deadline is
        // new), by the deadline, or by stop().
        const bool had_partial = !filling_.empty();
        clock_.wait_until(cv_, lock, std::min(flush_at, next_retention), stop, [&] {
          mu_.assert_held();
          return !full_.empty() || (!had_partial && !filling_.empty());
        });
      }
    }
    if (!batch.empty()) {
      write(batch, stop.stop_requested(), stop);
      recycle(std::move(batch));
    }
    if (retention_due) {
      apply_retention();
      next_retention = clock_.deadline_after(options_.retention_interval);
    }
  }
}

void EventWriter::drain() {
  for (;;) {
    Batch batch;
    Timestamp deadline;
    {
      MutexLock lock(mu_);
      if (!full_.empty()) {
        batch = std::move(full_.front());
        full_.pop_front();
      } else if (!filling_.empty()) {
        batch = std::move(filling_);
        filling_ = Batch{};
      } else {
        return;
      }
      deadline = stop_deadline_;
    }
    if (clock_.now() >= deadline) {
      give_up(batch.size());
    } else {
      write(batch, /*final_attempt=*/true, std::stop_token{});
    }
    recycle(std::move(batch));
  }
}

void EventWriter::write(const Batch& rows, bool final_attempt, const std::stop_token& stop) {
  for (int attempt = 1;; ++attempt) {
    auto r = store_.insert_events(rows);
    if (r.ok()) {
      backoff_.reset();
      MutexLock lock(mu_);
      stats_.written += rows.size();
      stats_.queued -= rows.size();
      ++stats_.batches;
      return;
    }
    const bool refused = r.error().code == "store.invalid";
    {
      MutexLock lock(mu_);
      ++stats_.write_errors;
      stats_.last_error = r.error().to_string();
      if (refused && rows.size() == 1) {
        ++stats_.invalid;
        --stats_.queued;
        return;
      }
    }
    if (refused) {  // a row the store cannot hold: find it, write the others
      const auto mid = rows.begin() + static_cast<std::ptrdiff_t>(rows.size() / 2);
      write(Batch(rows.begin(), mid), final_attempt, stop);
      write(Batch(mid, rows.end()), final_attempt, stop);
      return;
    }
    // The database is unreachable: the batch stays buffered (bounded by queue_capacity, which
    // counts it) and is tried again after the backoff for as long as the outage lasts.
    const bool unreachable = r.error().code == "store.unavailable";
    if (final_attempt || (!unreachable && attempt >= options_.max_attempts)) {
      give_up(rows.size());
      return;
    }
    // stop() during the wait: one last attempt, then give up.
    if (!clock_.sleep_for(backoff_.next(), stop)) final_attempt = true;
  }
}

void EventWriter::give_up(size_t n) {
  MutexLock lock(mu_);
  stats_.failed += n;
  stats_.queued -= n;
}

void EventWriter::recycle(Batch&& b) {
  b.clear();
  if (b.capacity() == 0) return;
  MutexLock lock(mu_);
  // Enough for every batch the queue can hold, plus the one being filled and the one in hand.
  const size_t keep = options_.queue_capacity / options_.max_batch + 2;
  if (spare_.size() < keep) spare_.push_back(std::move(b));
}

void EventWriter::apply_retention() {
  if (options_.retention.max_age_ms == 0 && options_.retention.max_rows == 0) return;
  auto r = store_.apply_retention(options_.retention, wall_ms_());
  MutexLock lock(mu_);
  if (r.ok()) {
    ++stats_.retention_runs;
    stats_.retention_deleted += static_cast<uint64_t>(*r);
  } else {
    ++stats_.retention_errors;
    stats_.last_error = r.error().to_string();
  }
}

}  // namespace orion::events
