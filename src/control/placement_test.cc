// Placement (control/placement.h): what each engine claims and hands over, from one LeaseView.
#include "control/placement.h"

#include <gtest/gtest.h>

#include <set>

namespace orion::control {
namespace {

using store::EngineLoad;
using store::LeaseRecord;
using store::LeaseView;

EngineLoad engine(const std::string& id, int held, int max = 0, bool live = true,
                  const std::string& state = "running") {
  return EngineLoad{id, max, state, held, live};
}

LeaseRecord free_lease(const std::string& stream) { return LeaseRecord{stream, "", 0, 0}; }
LeaseRecord held_by(const std::string& stream, const std::string& id) {
  return LeaseRecord{stream, id, 1, 5000};
}

PlacementInput as(const std::string& self, std::map<std::string, int64_t> held = {}) {
  PlacementInput in;
  in.self = self;
  in.held = std::move(held);
  return in;
}

TEST(Placement, SixNewStreamsSplitTwoEachOverThreeEnginesWhicheverDecides) {
  LeaseView v;
  v.engines = {engine("a", 0), engine("b", 0), engine("c", 0)};
  for (int i = 0; i < 6; ++i) {
    v.leases.push_back(free_lease("s" + std::to_string(i)));
    v.claimable.push_back(free_lease("s" + std::to_string(i)));
  }
  std::map<std::string, int> owner_count;
  std::set<std::string> all;
  for (const char* self : {"a", "b", "c"}) {
    auto mine = plan_claims(v, as(self));
    EXPECT_EQ(mine.size(), 2u) << self;
    for (const auto& s : mine) EXPECT_TRUE(all.insert(s).second) << s << " claimed twice";
  }
  EXPECT_EQ(all.size(), 6u);
}

TEST(Placement, ANewStreamGoesToTheEngineWithTheMostSpareCapacity) {
  LeaseView v;
  v.engines = {engine("a", 3, 4), engine("b", 1, 8), engine("c", 0, 1)};
  v.leases = {free_lease("new")};
  v.claimable = v.leases;
  EXPECT_TRUE(plan_claims(v, as("a", {{"x", 1}, {"y", 1}, {"z", 1}})).empty());
  EXPECT_EQ(plan_claims(v, as("b", {{"x", 1}})), std::vector<std::string>{"new"});
  EXPECT_TRUE(plan_claims(v, as("c")).empty());
}

TEST(Placement, AFullEngineClaimsNothingAndDeadOrDrainingEnginesGetNothing) {
  LeaseView v;
  v.engines = {engine("a", 1, 1), engine("dead", 0, 0, false), engine("d", 0, 0, true, "draining")};
  v.leases = {free_lease("s")};
  v.claimable = v.leases;
  EXPECT_TRUE(plan_claims(v, as("a", {{"x", 1}})).empty());
  PlacementInput draining = as("d");
  draining.draining = true;
  EXPECT_TRUE(plan_claims(v, draining).empty());
}

TEST(Placement, AJoiningEngineGetsItsShareOneMoveAtATime) {
  LeaseView v;
  v.engines = {engine("a", 2), engine("b", 2), engine("c", 2), engine("d", 0)};
  for (const auto& [s, id] : std::vector<std::pair<std::string, std::string>>{
           {"s0", "a"}, {"s1", "a"}, {"s2", "b"}, {"s3", "b"}, {"s4", "c"}, {"s5", "c"}})
    v.leases.push_back(held_by(s, id));
  // floor(6/4) = 1: d is one short; exactly one stream moves, from the first of the largest.
  EXPECT_EQ(plan_sheds(v, as("a", {{"s0", 1}, {"s1", 1}})), std::vector<std::string>{"s1"});
  EXPECT_TRUE(plan_sheds(v, as("b", {{"s2", 1}, {"s3", 1}})).empty());
  EXPECT_TRUE(plan_sheds(v, as("c", {{"s4", 1}, {"s5", 1}})).empty());
  // Balanced within one: nothing moves.
  v.engines = {engine("a", 1), engine("b", 2), engine("c", 2), engine("d", 1)};
  EXPECT_TRUE(plan_sheds(v, as("b", {{"s2", 1}, {"s3", 1}})).empty());
}

TEST(Placement, NothingMovesWhileAStreamWaitsForAnOwner) {
  LeaseView v;
  v.engines = {engine("a", 3), engine("b", 0)};
  v.leases = {held_by("s0", "a"), held_by("s1", "a"), held_by("s2", "a"), free_lease("s3")};
  EXPECT_TRUE(plan_sheds(v, as("a", {{"s0", 1}, {"s1", 1}, {"s2", 1}})).empty());
}

TEST(Placement, AnEngineStartedAgainTakesItsOwnLeasesBackFirst) {
  LeaseView v;
  v.engines = {engine("a", 0), engine("b", 5)};
  v.claimable = {held_by("mine", "a"), free_lease("other")};
  v.leases = v.claimable;
  auto picks = plan_claims(v, as("a"));
  ASSERT_FALSE(picks.empty());
  EXPECT_EQ(picks[0], "mine");
}

TEST(Placement, ADrainingEngineShedsEverything) {
  LeaseView v;
  v.engines = {engine("a", 2)};
  PlacementInput in = as("a", {{"s0", 1}, {"s1", 1}});
  in.draining = true;
  EXPECT_EQ(plan_sheds(v, in).size(), 2u);
}

}  // namespace
}  // namespace orion::control
