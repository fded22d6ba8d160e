#include "control/lease_keeper.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "control/placement.h"
#include "core/thread.h"

namespace orion::control {

LeaseKeeper::LeaseKeeper(store::Store& store, LeaseKeeperOptions options)
    : store_(store),
      options_(std::move(options)),
      clock_(options_.clock ? *options_.clock : SteadyClock::instance()),
      renew_every_(options_.renew_every > Duration::zero() ? options_.renew_every
                                                           : options_.lease / 4),
      margin_(options_.margin > Duration::zero() ? options_.margin : options_.lease / 4) {
  MutexLock lock(mu_);
  deadline_ = clock_.now();  // nothing held yet
}

LeaseKeeper::~LeaseKeeper() { stop(); }

Status LeaseKeeper::first_round() {
  if (!round(true)) {
    MutexLock lock(mu_);
    return make_error("lease.round", stats_.last_error);
  }
  return {};
}

void LeaseKeeper::start() {
  if (thread_.joinable()) return;
  thread_ = std::jthread([this](const std::stop_token& stop) {
    set_current_thread_name("orion-lease");
    run_guarded(
        "lease keeper", [&] { run(stop); },
        [this](std::string_view why) {
          spdlog::error("lease keeper: thread died: {}", why);
          MutexLock lock(mu_);
          stats_.last_error = "lease thread died: " + std::string(why);
        });
  });
  fence_thread_ = std::jthread([this](const std::stop_token& stop) {
    set_current_thread_name("orion-fence");
    run_guarded(
        "lease fence", [&] { fence(stop); },
        [](std::string_view why) { spdlog::error("lease fence: thread died: {}", why); });
  });
}

void LeaseKeeper::stop() {
  for (std::jthread* t : {&thread_, &fence_thread_}) {
    if (!t->joinable()) continue;
    t->request_stop();
    t->join();
  }
}

bool LeaseKeeper::expired_locked() const { return clock_.now() >= deadline_; }

std::map<std::string, int64_t> LeaseKeeper::runnable() const {
  MutexLock lock(mu_);
  if (fenced_ || expired_locked()) return {};
  return held_;
}

int64_t LeaseKeeper::epoch_of(const std::string& stream) const {
  MutexLock lock(mu_);
  if (fenced_ || expired_locked()) return 0;
  auto it = held_.find(stream);
  return it == held_.end() ? 0 : it->second;
}

uint64_t LeaseKeeper::generation() const {
  MutexLock lock(mu_);
  return generation_;
}

LeaseKeeperStats LeaseKeeper::stats() const {
  MutexLock lock(mu_);
  return stats_;
}

void LeaseKeeper::changed() {
  if (!options_.on_change) return;
  std::lock_guard lock(on_change_mu_);
  options_.on_change();
}

bool LeaseKeeper::round(bool claims) {
  std::unique_lock serial(round_mu_);
  store::LeaseRound r;
  bool draining = false;
  bool fenced_now = false;
  {
    MutexLock lock(mu_);
    // The deadline passed while this thread was away (paused, stuck in the database): the
    // streams stop before anything else, whatever this round will say.
    fenced_now = fence_if_expired_locked();
    draining = draining_;
    r.engine = options_.identity;
    r.engine.state = draining ? "draining" : "running";
    r.lease = options_.lease;
    if (!fenced_ && !expired_locked()) r.renew = held_;
    r.release = releasing_;
  }
  if (fenced_now) changed();
  const PlacementInput placement{options_.identity.id, draining || !claims, options_.max_moves,
                                 r.renew};
  r.plan = [&](const store::LeaseView& v) { return plan_claims(v, placement); };
  const Timestamp start = clock_.now();
  auto res = store_.lease_round(r);
  bool notify = false;
  std::map<std::string, int64_t> now_held;
  {
    MutexLock lock(mu_);
    ++stats_.rounds;
    if (!res.ok()) {
      ++stats_.round_errors;
      stats_.last_error = res.error().to_string();
      return false;
    }
    for (const auto& [s, e] : r.release) {
      auto it = releasing_.find(s);
      if (it != releasing_.end() && it->second == e) releasing_.erase(it);
    }
    stats_.released += r.release.size();
    stats_.lost += res->lost.size();
    for (const auto& s : res->lost)
      spdlog::warn("lease: stream '{}' was taken over by another engine", s);
    // What this round renewed counts only if it is still held here (the fence or a handover may
    // have taken it meanwhile); what it claimed is new.
    for (const auto& [s, e] : res->held) {
      const bool renewed = r.renew.count(s) > 0;
      if (renewed ? held_.count(s) > 0 : releasing_.count(s) == 0) now_held[s] = e;
      if (!renewed) ++stats_.claimed;
    }
    deadline_ = start + options_.lease - margin_;
    fenced_ = false;
    if (now_held != held_) {
      held_ = now_held;
      ++generation_;
      notify = true;
    }
    stats_.last_error.clear();
  }
  if (notify) changed();
  if (draining || !claims) return true;
  // Fair share: hand over what placement takes from this engine (stopped first, then released).
  const PlacementInput shed_in{options_.identity.id, false, options_.max_moves, now_held};
  const std::vector<std::string> sheds = plan_sheds(res->view, shed_in);
  if (sheds.empty()) return true;
  {
    MutexLock lock(mu_);
    for (const auto& s : sheds) {
      auto it = held_.find(s);
      if (it == held_.end()) continue;
      releasing_[s] = it->second;
      held_.erase(it);
    }
    ++generation_;
  }
  spdlog::info("lease: handing over {} stream(s) for a fair share", sheds.size());
  changed();
  serial.unlock();
  return round(false);  // releases them now (no claims, no further sheds)
}

bool LeaseKeeper::drain(Duration limit) {
  {
    MutexLock lock(mu_);
    draining_ = true;
    stats_.draining = true;
  }
  const Timestamp end = clock_.deadline_after(limit);
  while (clock_.now() < end) {
    std::vector<std::string> batch;
    {
      MutexLock lock(mu_);
      for (const auto& [s, e] : held_) {
        if (static_cast<int>(batch.size()) >= std::max(1, options_.max_moves)) break;
        batch.push_back(s);
      }
      if (batch.empty() && releasing_.empty()) return true;
      for (const auto& s : batch) {
        releasing_[s] = held_[s];
        held_.erase(s);
      }
      if (!batch.empty()) ++generation_;
    }
    if (!batch.empty()) changed();  // the engine stops them
    (void)round(false);             // released; others are woken
    // The next batch only once this one runs elsewhere.
    const Timestamp batch_end = std::min(end, clock_.deadline_after(options_.drain_wait));
    while (clock_.now() < batch_end) {
      auto leases = store_.list_leases();
      bool placed = leases.ok();
      if (leases.ok()) {
        for (const auto& l : *leases)
          if (std::find(batch.begin(), batch.end(), l.stream) != batch.end() &&
              (l.engine_id.empty() || l.engine_id == options_.identity.id))
            placed = false;
      }
      if (placed) break;
      (void)store_.wait_lease_change(Duration::millis(100));
    }
  }
  MutexLock lock(mu_);
  return held_.empty();
}

void LeaseKeeper::release_all() {
  {
    MutexLock lock(mu_);
    for (const auto& [s, e] : held_) releasing_[s] = e;
    held_.clear();
    ++generation_;
    draining_ = true;
  }
  (void)round(false);
}

void LeaseKeeper::run(const std::stop_token& stop) {
  Timestamp next = clock_.deadline_after(renew_every_);
  while (!stop.stop_requested()) {
    while (!stop.stop_requested() && clock_.now() < next) {
      const Duration left = next - clock_.now();
      auto woke = store_.wait_lease_change(std::min(left, Duration::millis(250)));
      if (!woke.ok()) {
        clock_.sleep_for(std::min(left, Duration::millis(250)), stop);
      } else if (*woke) {
        break;  // another engine released or claimed, or a stream was added: place at once
      }
    }
    if (stop.stop_requested()) break;
    const bool ok = round(true);
    // A failed round is tried again soon: the deadline is what counts, not the period.
    next = clock_.deadline_after(ok ? renew_every_ : std::min(renew_every_, Duration::millis(500)));
  }
}

bool LeaseKeeper::fence_if_expired_locked() {
  if (fenced_ || held_.empty() || !expired_locked()) return false;
  fenced_ = true;
  ++stats_.self_fenced;
  ++generation_;
  spdlog::error(
      "lease: no successful renewal for lease - margin ({} ms): stopping {} stream(s) before the "
      "leases can expire ({})",
      (options_.lease - margin_).count_nanos() / 1'000'000, held_.size(),
      stats_.last_error.empty() ? "no round finished in time" : stats_.last_error);
  held_.clear();
  return true;
}

void LeaseKeeper::fence(const std::stop_token& stop) {
  while (!stop.stop_requested()) {
    bool fire = false;
    {
      MutexLock lock(mu_);
      fire = fence_if_expired_locked();
    }
    if (fire) changed();
    clock_.sleep_for(options_.fence_poll, stop);
  }
}

}  // namespace orion::control
