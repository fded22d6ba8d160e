// Placement: which streams one engine claims and which it hands over, decided from a LeaseView
// (store.h) that every engine reads alike (docs/design/scale_out.md). Pure functions, so that
// all engines, each deciding alone inside its own lease round, reach the same answer from the
// same view, and tests need no database.
//
// Claims (new, released or expired streams): streams are taken in name order and each goes to
// the eligible engine (live, state running, spare capacity) with the most spare capacity
// (max_streams - held; no limit = unbounded), ties to the one holding fewer, then to the
// smaller id. This engine claims the streams that fall to it. A stream whose lease already
// names this engine (an engine started again with the same --engine-id) is claimed at once.
//
// Handover (rebalance): with n eligible engines holding `total` streams, floor = total / n.
// When no stream waits to be placed and some engine holds fewer than floor, the deficit D
// (sum of floor - held over those) is met by at most min(D, max_moves) streams leaving the
// engines that hold the most (one at a time from the currently largest, ties by id). This
// engine sheds the ones that fall to it: its streams last in name order. A draining engine
// sheds everything (its caller paces it by max_moves).
//
// Thread-safety: pure functions.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "store/store.h"

namespace orion::control {

struct PlacementInput {
  std::string self;
  bool draining = false;
  int max_moves = 1;                    // streams handed over at once, all engines together
  std::map<std::string, int64_t> held;  // what this engine holds now (after renewals)
};

// Of view.claimable, the streams this engine should claim.
std::vector<std::string> plan_claims(const store::LeaseView& view, const PlacementInput& in);
// Of in.held, the streams this engine should hand over now.
std::vector<std::string> plan_sheds(const store::LeaseView& view, const PlacementInput& in);

}  // namespace orion::control
