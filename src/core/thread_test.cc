#include "core/thread.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <stdexcept>
#include <string>
#include <thread>

namespace orion {
namespace {

std::string current_thread_name() {
  char buf[16] = {};
  EXPECT_EQ(pthread_getname_np(pthread_self(), buf, sizeof buf), 0);
  return buf;
}

TEST(SetCurrentThreadName, NamesTheCallingThreadCutTo15Bytes) {
  std::string seen;
  std::thread t([&] {
    set_current_thread_name("a-very-long-thread-name");
    seen = current_thread_name();
  });
  t.join();
  EXPECT_EQ(seen, "a-very-long-thr");
}

TEST(RunGuarded, ReturnsFalseInsteadOfTerminatingOnAnException) {
  EXPECT_FALSE(run_guarded("t-throw", [] { throw std::runtime_error("boom"); }));
  EXPECT_FALSE(run_guarded("t-throw-int", [] { throw 7; }));
  bool ran = false;
  EXPECT_TRUE(run_guarded("t-ok", [&] { ran = true; }));
  EXPECT_TRUE(ran);
}

TEST(RunGuarded, NamesTheThreadBeforeRunningTheBody) {
  std::string seen;
  std::thread t([&] { run_guarded("guarded-name", [&] { seen = current_thread_name(); }); });
  t.join();
  EXPECT_EQ(seen, "guarded-name");
}

TEST(RunGuarded, HandsTheReasonToTheOwnerOnTheDyingThread) {
  std::string why;
  std::thread::id body_thread, handler_thread;
  std::thread t([&] {
    body_thread = std::this_thread::get_id();
    run_guarded(
        "t-fail", [] { throw std::runtime_error("camera exploded"); },
        [&](std::string_view w) {
          handler_thread = std::this_thread::get_id();
          why = w;
        });
  });
  t.join();
  EXPECT_EQ(why, "camera exploded");
  EXPECT_EQ(handler_thread, body_thread);
}

TEST(RunGuarded, NamesANonStandardException) {
  std::string why;
  EXPECT_FALSE(run_guarded(
      "t-int", [] { throw 42; }, [&](std::string_view w) { why = w; }));
  EXPECT_EQ(why, "non-standard exception");
}

TEST(RunGuarded, DoesNotCallTheHandlerWhenTheBodyReturns) {
  bool called = false;
  EXPECT_TRUE(run_guarded(
      "t-ok", [] {}, [&](std::string_view) { called = true; }));
  EXPECT_FALSE(called);
}

TEST(RunGuarded, SwallowsAnExceptionFromTheHandlerItself) {
  EXPECT_FALSE(run_guarded(
      "t-twice", [] { throw std::runtime_error("first"); },
      [](std::string_view) { throw std::runtime_error("second"); }));
}

}  // namespace
}  // namespace orion
