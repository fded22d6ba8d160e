#include "control/placement.h"

#include <algorithm>
#include <limits>

namespace orion::control {
namespace {

constexpr int64_t kUnbounded = std::numeric_limits<int>::max();

struct Slot {
  std::string id;
  int64_t max = kUnbounded;
  int64_t held = 0;
  int64_t spare() const { return max - held; }
};

// The engines that may take streams, with what they hold (this engine's own count from `in`).
std::vector<Slot> eligible(const store::LeaseView& view, const PlacementInput& in) {
  std::vector<Slot> out;
  for (const auto& e : view.engines) {
    const bool self = e.id == in.self;
    if (self ? in.draining : (!e.live || e.state != "running")) continue;
    Slot s{e.id, e.max_streams > 0 ? e.max_streams : kUnbounded,
           self ? static_cast<int64_t>(in.held.size()) : e.held};
    out.push_back(s);
  }
  return out;
}

}  // namespace

std::vector<std::string> plan_claims(const store::LeaseView& view, const PlacementInput& in) {
  std::vector<std::string> mine;
  std::vector<std::string> open;
  for (const auto& l : view.claimable) {
    if (l.engine_id == in.self) {
      if (!in.draining) mine.push_back(l.stream);
    } else {
      open.push_back(l.stream);
    }
  }
  std::vector<Slot> slots = eligible(view, in);
  // Our own leases (a restart with the same id) count as held before the open ones are dealt.
  for (auto& s : slots)
    if (s.id == in.self) s.held += static_cast<int64_t>(mine.size());
  std::sort(open.begin(), open.end());
  for (const auto& stream : open) {
    Slot* best = nullptr;
    for (auto& s : slots) {
      if (s.spare() <= 0) continue;
      if (best == nullptr || s.spare() > best->spare() ||
          (s.spare() == best->spare() &&
           (s.held < best->held || (s.held == best->held && s.id < best->id))))
        best = &s;
    }
    if (best == nullptr) break;  // no engine has room
    ++best->held;
    if (best->id == in.self) mine.push_back(stream);
  }
  return mine;
}

std::vector<std::string> plan_sheds(const store::LeaseView& view, const PlacementInput& in) {
  std::vector<std::string> held;
  for (const auto& [stream, epoch] : in.held) held.push_back(stream);
  std::sort(held.rbegin(), held.rend());  // last in name order first
  if (in.draining) return held;
  // Streams still waiting for an owner are placed first; nothing moves meanwhile.
  for (const auto& l : view.leases)
    if (l.engine_id.empty() || l.expires_in_ms <= 0) return {};
  std::vector<Slot> slots = eligible(view, in);
  if (slots.size() < 2) return {};
  int64_t total = 0;
  for (const auto& s : slots) total += s.held;
  const int64_t floor = total / static_cast<int64_t>(slots.size());
  int64_t deficit = 0;
  for (const auto& s : slots) deficit += std::max<int64_t>(0, floor - s.held);
  int64_t moves = std::min<int64_t>(deficit, std::max(1, in.max_moves));
  size_t mine = 0;
  while (moves-- > 0) {
    Slot* top = nullptr;
    for (auto& s : slots)
      if (s.held > floor &&
          (top == nullptr || s.held > top->held || (s.held == top->held && s.id < top->id)))
        top = &s;
    if (top == nullptr) break;
    --top->held;
    if (top->id == in.self) ++mine;
  }
  held.resize(std::min(mine, held.size()));
  return held;
}

}  // namespace orion::control
