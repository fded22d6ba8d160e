#include "core/backoff.h"

#include <gtest/gtest.h>

namespace orion {
namespace {

TEST(Backoff, DoublesFromInitialUpToMax) {
  Backoff b({Duration::millis(100), Duration::millis(500), 2.0});
  EXPECT_EQ(b.next(), Duration::millis(100));
  EXPECT_EQ(b.next(), Duration::millis(200));
  EXPECT_EQ(b.next(), Duration::millis(400));
  EXPECT_EQ(b.next(), Duration::millis(500));
  EXPECT_EQ(b.next(), Duration::millis(500));
}

TEST(Backoff, ResetStartsAgainAtInitial) {
  Backoff b({Duration::millis(100), Duration::seconds(10), 2.0});
  b.next();
  b.next();
  EXPECT_EQ(b.peek(), Duration::millis(400));
  b.reset();
  EXPECT_EQ(b.failures(), 0);
  EXPECT_EQ(b.next(), Duration::millis(100));
}

TEST(Backoff, NeverOverflowsAfterManyFailures) {
  Backoff b({Duration::seconds(1), Duration::seconds(30), 3.0});
  Duration d;
  for (int k = 0; k < 100000; ++k) d = b.next();
  EXPECT_EQ(d, Duration::seconds(30));
  EXPECT_GE(b.failures(), 1);
  EXPECT_LT(b.failures(), 100);  // stops counting once capped
}

TEST(Backoff, BadPolicyIsMadeSane) {
  Backoff b({Duration::millis(-5), Duration::millis(-10), 0.5});
  EXPECT_EQ(b.next(), Duration::zero());
  Backoff c({Duration::millis(50), Duration::millis(10), 2.0});  // max below initial
  EXPECT_EQ(c.next(), Duration::millis(50));
  EXPECT_EQ(c.next(), Duration::millis(50));
}

}  // namespace
}  // namespace orion
