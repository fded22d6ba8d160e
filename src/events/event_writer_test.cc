// EventWriter against a real Store: SQLite in a temp file (event_writer_test, unit) or a real
// PostgreSQL server started by the test (event_writer_postgres_test, integration; this same
// file built with ORION_EVENTS_TEST_POSTGRES). Time is a FakeClock the tests advance: the
// flush interval, the retry backoff and the retention interval all pass only when a test moves
// it; everything else is waited for as a condition, never slept.
//
// Store failures are real: the database itself refuses the writes. Tests run as root in CI, for
// whom a read-only file is still writable (and an open SQLite handle keeps writing anyway), so
// the refusal is a trigger on the events table that raises an error (SQLite RAISE(ABORT),
// PostgreSQL RAISE EXCEPTION), installed and dropped through a connection of the test's own;
// on PostgreSQL the server is also stopped under the writer and started again.
#include "events/event_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <thread>

#include "store/sql.h"
#include "store/store.h"
#include "testing/wait.h"
#include "testing/watchdog.h"

#ifdef ORION_EVENTS_TEST_POSTGRES
#include "store/testing/postgres_fixture.h"
#endif

namespace orion::events {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kWall0 = 1'700'000'000'000;   // Unix ms at the FakeClock's start
const Duration kLimit = Duration::seconds(20);  // bounds a failing wait, never a sleep

Detection det(int id, const std::string& name, float score, Box box = {1.5f, 2.25f, 30.f, 40.5f}) {
  Detection d;
  d.class_id = id;
  d.class_name = name;
  d.score = score;
  d.box = box;
  return d;
}

DetectionResult result(const std::string& pipeline, uint64_t seq, int64_t capture_ms,
                       std::vector<Detection> ds) {
  DetectionResult r;
  r.pipeline = pipeline;
  r.frame.stream = 3;
  r.frame.sequence = seq;
  r.frame.pts = Duration::millis(static_cast<int64_t>(seq) * 40);
  r.frame.capture_time = Timestamp::from_nanos(5'000'000'000 + capture_ms * 1'000'000);
  r.detections = std::move(ds);
  return r;
}

// What the writer must have stored for detection `d` of `r` (id aside).
store::EventRecord expected(const std::string& stream, const DetectionResult& r, const Detection& d,
                            int64_t wall_ms) {
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

store::EventPolicy policy(std::vector<std::string> classes, double min_score,
                          int64_t min_interval_ms) {
  store::EventPolicy p;
  p.classes = std::move(classes);
  p.min_score = min_score;
  p.min_interval_ms = min_interval_ms;
  return p;
}

// The conservation law of the counters (event_writer.h).
void expect_conserved(const EventWriterStats& s) {
  EXPECT_EQ(s.detections, s.ignored + s.filtered + s.rate_limited + s.invalid + s.dropped +
                              s.queued + s.written + s.failed)
      << "detections " << s.detections << " ignored " << s.ignored << " filtered " << s.filtered
      << " rate_limited " << s.rate_limited << " invalid " << s.invalid << " dropped " << s.dropped
      << " queued " << s.queued << " written " << s.written << " failed " << s.failed;
}

#define ASSERT_OK(expr)                                         \
  do {                                                          \
    const auto& orion_r_ = (expr);                              \
    ASSERT_TRUE(orion_r_.ok()) << orion_r_.error().to_string(); \
  } while (0)

class EventWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
#ifdef ORION_EVENTS_TEST_POSTGRES
    ORION_REQUIRE_POSTGRES(pg);
    auto db = pg->fresh_database();
    ASSERT_TRUE(db.ok()) << db.error().to_string();
    url_ = *db;
#else
    std::string templ = (fs::temp_directory_path() / "orion-events-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    url_ = "sqlite://" + dir_ + "/orion.db";
#endif
    auto s = store::Store::open(url_);
    ASSERT_TRUE(s.ok()) << s.error().to_string();
    store_ = std::move(*s);
  }

  void TearDown() override {
    writer_.reset();
    store_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  EventWriterOptions options() {
    EventWriterOptions o;
    o.max_batch = 100;
    o.retention.max_age_ms = 0;  // retention off unless a test turns it on
    o.retention.max_rows = 0;
    o.wall_time_ms = [this] { return wall_now(); };
    return o;
  }
  int64_t wall_now() const { return kWall0 + (clock_.now() - start_).count_nanos() / 1'000'000; }

  EventWriter& make(EventWriterOptions o) {
    writer_ = std::make_unique<EventWriter>(*store_, clock_, std::move(o));
    return *writer_;
  }

  std::vector<store::EventRecord> all_events() {
    std::vector<store::EventRecord> out;
    store::EventQuery q;
    q.limit = 1000;
    for (;;) {
      auto page = store_->query_events(q);
      EXPECT_TRUE(page.ok()) << page.error().to_string();
      if (!page.ok() || page->empty()) return out;
      q.after_id = page->back().id;
      for (auto& e : *page) out.push_back(std::move(e));
    }
  }
  int64_t rows() {
    auto n = store_->count_events();
    EXPECT_TRUE(n.ok()) << n.error().to_string();
    return n.ok() ? *n : -1;
  }

  bool wait_stats(const std::function<bool(const EventWriterStats&)>& pred) {
    return testing::wait_until([&] { return pred(writer_->stats()); }, kLimit, Duration::millis(2));
  }
  // The writer waits on the clock with `deadline` as its earliest deadline.
  bool wait_deadline(Timestamp deadline) {
    return testing::wait_until([&] { return clock_.next_deadline() == deadline; }, kLimit,
                               Duration::millis(2));
  }

  // A trigger that makes the database itself refuse every insert into events.
  void refuse_inserts(bool on) {
    auto conn = store::sql::connect(url_);
    ASSERT_TRUE(conn.ok()) << conn.error().to_string();
    const bool pg = (*conn)->dialect().name != std::string("sqlite");
    std::vector<std::string> statements;
    if (on && pg) {
      statements = {
          "CREATE OR REPLACE FUNCTION orion_test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
          "'BEGIN RAISE EXCEPTION ''refused by the test''; END'",
          "CREATE TRIGGER orion_test_refuse BEFORE INSERT ON events FOR EACH ROW EXECUTE "
          "FUNCTION orion_test_refuse()"};
    } else if (on) {
      statements = {
          "CREATE TRIGGER orion_test_refuse BEFORE INSERT ON events BEGIN SELECT "
          "RAISE(ABORT, 'refused by the test'); END"};
    } else {
      statements = {pg ? "DROP TRIGGER orion_test_refuse ON events"
                       : "DROP TRIGGER orion_test_refuse"};
    }
    ASSERT_OK((*conn)->begin(true));
    for (const auto& s : statements) ASSERT_OK((*conn)->exec(s, {}));
    ASSERT_OK((*conn)->commit());
  }

  testing::Watchdog watchdog_{Duration::seconds(90), "event_writer_test"};
  FakeClock clock_;
  const Timestamp start_ = clock_.now();
  std::string dir_, url_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<EventWriter> writer_;
};

// ---- policy ---------------------------------------------------------------------------------

TEST_F(EventWriterTest, ClassesMatchByNameOrByIdAsDecimalText) {
  auto& w = make(options());
  ASSERT_OK(w.set_policy("people", "cam1", policy({"person", "2"}, 0.5, 0)));
  w.start();
  const auto r = result("people", 7, 100,
                        {det(0, "person", 0.9f), det(2, "car", 0.8f), det(16, "dog", 0.95f),
                         det(2, "", 0.7f), det(-1, "person", 0.6f), det(5, "2", 0.6f)});
  w.offer(r);
  w.stop();

  const auto s = w.stats();
  EXPECT_EQ(s.results, 1u);
  EXPECT_EQ(s.detections, 6u);
  EXPECT_EQ(s.filtered, 1u);  // the dog
  EXPECT_EQ(s.written, 5u);
  expect_conserved(s);
  const auto got = all_events();
  ASSERT_EQ(got.size(), 5u);
  const int64_t wall = kWall0;
  const size_t kept[] = {0, 1, 3, 4, 5};
  for (size_t k = 0; k < 5; ++k) {
    auto want = expected("cam1", r, r.detections[kept[k]], wall);
    want.id = got[k].id;
    EXPECT_EQ(got[k], want) << "event " << k;
  }
}

TEST_F(EventWriterTest, ScoreMustReachMinScore) {
  auto& w = make(options());
  ASSERT_OK(w.set_policy("people", "cam1", policy({}, 0.5, 0)));
  w.offer(result("people", 1, 0,
                 {det(0, "person", 0.49f), det(0, "person", 0.5f), det(0, "person", 0.9f)}));
  w.stop();  // never started: drains on this thread
  const auto s = w.stats();
  EXPECT_EQ(s.filtered, 1u);
  EXPECT_EQ(s.written, 2u);
  expect_conserved(s);
  const auto got = all_events();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_FLOAT_EQ(static_cast<float>(got[0].score), 0.5f);
  EXPECT_FLOAT_EQ(static_cast<float>(got[1].score), 0.9f);
}

TEST_F(EventWriterTest, NoPolicyOrDisabledPolicyProducesNothing) {
  auto& w = make(options());
  store::EventPolicy off = policy({}, 0, 0);
  off.enabled = false;
  ASSERT_OK(w.set_policy("off", "cam1", off));
  ASSERT_OK(w.set_policy("gone", "cam1", policy({}, 0, 0)));
  w.remove_policy("gone");
  w.offer(result("off", 1, 0, {det(0, "person", 0.9f)}));
  w.offer(result("gone", 1, 0, {det(0, "person", 0.9f), det(1, "bicycle", 0.9f)}));
  w.offer(result("never", 1, 0, {det(0, "person", 0.9f)}));
  w.stop();
  const auto s = w.stats();
  EXPECT_EQ(s.results, 3u);
  EXPECT_EQ(s.ignored, 4u);
  EXPECT_EQ(s.written, 0u);
  expect_conserved(s);
  EXPECT_EQ(rows(), 0);
}

TEST_F(EventWriterTest, OneEventPerClassPerIntervalOnTheFramesCaptureTime) {
  auto& w = make(options());
  ASSERT_OK(w.set_policy("people", "cam1", policy({}, 0.1, 1000)));
  w.start();
  // Frames 0..2000 ms apart on the capture timeline, all offered at the same (frozen) time:
  // the result's arrival plays no part.
  const int64_t times[] = {0, 500, 999, 1000, 1500, 2000, 2999};
  uint64_t seq = 0;
  for (int64_t t : times) {
    w.offer(result("people", ++seq, t, {det(0, "person", 0.9f), det(2, "car", 0.9f)}));
  }
  // Another pipeline's person is not limited by this one's.
  w.offer(result("other", ++seq, 0, {det(0, "person", 0.9f)}));
  ASSERT_OK(w.set_policy("other", "cam2", policy({}, 0.1, 1000)));
  w.offer(result("other", ++seq, 100, {det(0, "person", 0.9f)}));
  w.stop();

  const auto got = all_events();
  std::vector<std::pair<std::string, int64_t>> kept;  // (class, capture ms)
  for (const auto& e : got) {
    kept.emplace_back(e.pipeline + "/" + e.class_name, (e.capture_ns - 5'000'000'000) / 1'000'000);
  }
  const std::vector<std::pair<std::string, int64_t>> want = {
      {"people/person", 0},    {"people/car", 0},    {"people/person", 1000}, {"people/car", 1000},
      {"people/person", 2000}, {"people/car", 2000}, {"other/person", 100}};
  EXPECT_EQ(kept, want);
  const auto s = w.stats();
  EXPECT_EQ(s.rate_limited, 8u);  // 500, 999, 1500, 2999 for each class
  EXPECT_EQ(s.ignored, 1u);       // "other" before it had a policy
  expect_conserved(s);
}

TEST_F(EventWriterTest, CaptureTimeGoingBackwardsNeverBlocksTheClass) {
  auto& w = make(options());
  ASSERT_OK(w.set_policy("people", "cam1", policy({}, 0.1, 1000)));
  // 10 s, then a source re-timed to 2 s: kept (9 s away from the last event), and the
  // interval runs from there; a frame slightly older than the last one stays limited.
  const int64_t times[] = {10'000, 9'500, 2'000, 2'500, 3'000};
  uint64_t seq = 0;
  for (int64_t t : times) w.offer(result("people", ++seq, t, {det(0, "person", 0.9f)}));
  w.stop();
  std::vector<int64_t> kept;
  for (const auto& e : all_events()) kept.push_back((e.capture_ns - 5'000'000'000) / 1'000'000);
  EXPECT_EQ(kept, (std::vector<int64_t>{10'000, 2'000, 3'000}));
  EXPECT_EQ(w.stats().rate_limited, 2u);
}

TEST_F(EventWriterTest, TheBestScoreOfAClassInOneResultTakesItsSlot) {
  auto& w = make(options());
  ASSERT_OK(w.set_policy("people", "cam1", policy({}, 0.1, 1000)));
  w.offer(result("people", 1, 0,
                 {det(0, "person", 0.6f), det(0, "person", 0.9f), det(2, "car", 0.3f),
                  det(0, "person", 0.7f), det(0, "person", 0.9f)}));
  w.stop();
  const auto got = all_events();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].class_name, "person");
  EXPECT_FLOAT_EQ(static_cast<float>(got[0].score), 0.9f);
  EXPECT_FLOAT_EQ(static_cast<float>(got[0].x1), 1.5f);
  EXPECT_EQ(got[1].class_name, "car");
  EXPECT_EQ(w.stats().rate_limited, 3u);
}

TEST_F(EventWriterTest, BadPolicyIsRefusedNamingTheFieldAndTheOldOneStays) {
  auto& w = make(options());
  ASSERT_OK(w.set_policy("people", "cam1", policy({"person"}, 0.5, 0)));
  struct Case {
    std::string pipeline, stream;
    store::EventPolicy p;
    std::string field;
  };
  const Case cases[] = {
      {"", "cam1", policy({}, 0.5, 0), "'pipeline'"},
      {"people", "", policy({}, 0.5, 0), "'stream'"},
      {"people", "cam1", policy({}, std::nan(""), 0), "'min_score'"},
      {"people", "cam1", policy({}, std::numeric_limits<double>::infinity(), 0), "'min_score'"},
      {"people", "cam1", policy({}, 0.5, -1), "'min_interval_ms'"},
      {"people", "cam1", policy({"person", ""}, 0.5, 0), "'classes' entry 1"},
  };
  for (const auto& c : cases) {
    auto s = w.set_policy(c.pipeline, c.stream, c.p);
    ASSERT_FALSE(s.ok()) << c.field;
    EXPECT_EQ(s.error().code, "events.invalid");
    EXPECT_NE(s.error().message.find(c.field), std::string::npos) << s.error().message;
  }
  w.offer(result("people", 1, 0, {det(0, "person", 0.6f), det(1, "bicycle", 0.9f)}));
  w.stop();
  EXPECT_EQ(w.stats().written, 1u);  // the first policy: persons only
  EXPECT_EQ(w.stats().filtered, 1u);
}

// ---- batching and the queue -----------------------------------------------------------------

TEST_F(EventWriterTest, NEventsAreWrittenInCeilNOverMaxBatchTransactionsEveryFieldIntact) {
  auto o = options();
  o.max_batch = 100;
  auto& w = make(o);
  ASSERT_OK(w.set_policy("people", "cam1", policy({}, 0.0, 0)));
  ASSERT_OK(w.set_policy("cars", "cam2", policy({}, 0.0, 0)));
  w.start();
  constexpr int kN = 1050;
  std::vector<store::EventRecord> want;
  for (int i = 0; i < kN; ++i) {
    const bool people = i % 3 != 0;
    const Box box{static_cast<float>(i) + 0.25f, 2.5f, static_cast<float>(i) + 100.125f, 7.75f};
    auto r = result(people ? "people" : "cars", static_cast<uint64_t>(i + 1), i * 40,
                    {det(people ? 0 : 2, people ? "person" : "car",
                         0.001f * static_cast<float>(i % 997), box)});
    if (i == 500) clock_.advance(Duration::millis(3));  // the wall time follows the clock
    want.push_back(expected(people ? "cam1" : "cam2", r, r.detections[0], wall_now()));
    w.offer(r);
  }
  // Ten full batches go at once; the last 50 wait for the flush interval.
  ASSERT_TRUE(wait_stats([](const auto& s) { return s.written == 1000; }));
  ASSERT_TRUE(wait_deadline(start_ + Duration::millis(3) + o.flush_interval));
  EXPECT_EQ(w.stats().batches, 10u);
  EXPECT_EQ(w.stats().queued, 50u);
  clock_.advance(o.flush_interval);
  ASSERT_TRUE(wait_stats([](const auto& s) { return s.written == kN; }));

  const auto s = w.stats();
  EXPECT_EQ(s.batches, (kN + o.max_batch - 1) / o.max_batch);
  EXPECT_EQ(s.queued, 0u);
  EXPECT_EQ(s.write_errors, 0u);
  expect_conserved(s);
  EXPECT_EQ(rows(), static_cast<int64_t>(s.written));
  const auto got = all_events();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    want[i].id = got[i].id;
    ASSERT_EQ(got[i], want[i]) << "event " << i;
  }
}

TEST_F(EventWriterTest, APartialBatchWaitsAtMostTheFlushInterval) {
  auto& w = make(options());
  ASSERT_OK(w.set_policy("people", "cam1", policy({}, 0.0, 0)));
  w.start();
  for (uint64_t i = 1; i <= 5; ++i) w.offer(result("people", i, 0, {det(0, "person", 0.9f)}));
  const Timestamp flush_at = start_ + Duration::millis(200);
  ASSERT_TRUE(wait_deadline(flush_at));
  clock_.advance(Duration::millis(199));
  ASSERT_TRUE(wait_deadline(flush_at));  // still waiting for the same deadline
  EXPECT_EQ(w.stats().written, 0u);
  EXPECT_EQ(rows(), 0);
  clock_.advance(Duration::millis(1));
  ASSERT_TRUE(wait_stats([](const auto& s) { return s.written == 5; }));
  EXPECT_EQ(w.stats().batches, 1u);
  EXPECT_EQ(rows(), 5);
}

TEST_F(EventWriterTest, AFullQueueDropsAndCountsExactly) {
  auto o = options();
  o.queue_capacity = 100;
  o.max_batch = 10;
  auto& w = make(o);
  ASSERT_OK(w.set_policy("people", "cam1", policy({"person"}, 0.5, 0)));
  // Not started yet: nothing drains, so exactly the capacity is kept.
  for (uint64_t i = 1; i <= 75; ++i) {
    w.offer(result("people", i, 0,
                   {det(0, "person", 0.9f), det(0, "person", 0.8f), det(1, "bicycle", 0.9f),
                    det(0, "person", 0.1f)}));
  }
  auto s = w.stats();
  EXPECT_EQ(s.detections, 300u);
  EXPECT_EQ(s.filtered, 150u);
  EXPECT_EQ(s.queued, 100u);
  EXPECT_EQ(s.dropped, 50u);
  expect_conserved(s);
  w.start();
  ASSERT_TRUE(wait_stats([](const auto& st) { return st.written == 100; }));
  s = w.stats();
  EXPECT_EQ(s.batches, 10u);
  EXPECT_EQ(s.written + s.dropped + s.filtered + s.rate_limited, s.detections);
  EXPECT_EQ(rows(), 100);
}

TEST_F(EventWriterTest, ConcurrentOffersConserveEveryDetection) {
  auto o = options();
  o.queue_capacity = 300;
  o.max_batch = 50;
  auto& w = make(o);
  ASSERT_OK(w.set_policy("people", "cam1", policy({}, 0.5, 0)));
  w.start();
  constexpr int kThreads = 4, kResults = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&w, t] {
      for (int i = 0; i < kResults; ++i) {
        w.offer(result("people", static_cast<uint64_t>(t * kResults + i + 1), 0,
                       {det(0, "person", 0.9f), det(0, "person", 0.2f)}));
      }
    });
  }
  for (auto& th : threads) th.join();
  w.stop();
  const auto s = w.stats();
  EXPECT_EQ(s.detections, 2u * kThreads * kResults);
  EXPECT_EQ(s.filtered, 1u * kThreads * kResults);
  EXPECT_EQ(s.queued, 0u);
  EXPECT_EQ(s.written + s.dropped + s.filtered + s.rate_limited, s.detections);
  EXPECT_GT(s.written, 0u);
  expect_conserved(s);
  EXPECT_EQ(rows(), static_cast<int64_t>(s.written));
}

TEST_F(EventWriterTest, StopWritesWhatIsQueuedAndLaterOffersAreDropped) {
  auto& w = make(options());
  ASSERT_OK(w.set_policy("people", "cam1", policy({}, 0.0, 0)));
  w.start();
  for (uint64_t i = 1; i <= 250; ++i) w.offer(result("people", i, 0, {det(0, "person", 0.9f)}));
  ASSERT_TRUE(wait_stats([](const auto& s) { return s.written == 200; }));
  w.stop();  // the partial batch of 50 goes now, without the flush interval passing
  auto s = w.stats();
  EXPECT_EQ(s.written, 250u);
  EXPECT_EQ(s.batches, 3u);
  EXPECT_EQ(s.queued, 0u);
  EXPECT_EQ(rows(), 250);
  w.stop();   // idempotent
  w.start();  // a stopped writer stays stopped
  w.offer(result("people", 251, 0, {det(0, "person", 0.9f)}));
  s = w.stats();
  EXPECT_EQ(s.dropped, 1u);
  EXPECT_EQ(s.written, 250u);
  expect_conserved(s);
}

// ---- store failures -------------------------------------------------------------------------

TEST_F(EventWriterTest, AFailingStoreIsRetriedWithBackoffThenGivenUpAndTheWriterGoesOn) {
  auto o = options();
  o.max_attempts = 3;
  o.retry = BackoffPolicy{Duration::millis(100), Duration::seconds(1), 2.0};
  auto& w = make(o);
  ASSERT_OK(w.set_policy("people", "cam1", policy({}, 0.0, 0)));
  refuse_inserts(true);
  w.start();
  for (uint64_t i = 1; i <= 10; ++i) w.offer(result("people", i, 0, {det(0, "person", 0.9f)}));
  clock_.advance(o.flush_interval);
  // Attempt 1 fails; the writer waits 100 ms, then 200 ms, on the clock; attempt 3 is the last.
  ASSERT_TRUE(wait_stats([](const auto& s) { return s.write_errors == 1; }));
  ASSERT_TRUE(clock_.wait_for_waiters(1));
  EXPECT_EQ(clock_.next_deadline(), clock_.now() + Duration::millis(100));
  ASSERT_TRUE(clock_.advance_to_next_deadline());
  ASSERT_TRUE(wait_stats([](const auto& s) { return s.write_errors == 2; }));
  ASSERT_TRUE(clock_.wait_for_waiters(1));
  EXPECT_EQ(clock_.next_deadline(), clock_.now() + Duration::millis(200));
  ASSERT_TRUE(clock_.advance_to_next_deadline());
  ASSERT_TRUE(wait_stats([](const auto& s) { return s.failed == 10; }));
  auto s = w.stats();
  EXPECT_EQ(s.write_errors, 3u);
  EXPECT_EQ(s.written, 0u);
  EXPECT_EQ(s.queued, 0u);
  EXPECT_NE(s.last_error.find("refused by the test"), std::string::npos) << s.last_error;
  expect_conserved(s);

  // The database takes writes again: so does the writer, with no restart.
  refuse_inserts(false);
  for (uint64_t i = 11; i <= 20; ++i) w.offer(result("people", i, 0, {det(0, "person", 0.9f)}));
  ASSERT_TRUE(wait_deadline(clock_.now() + o.flush_interval));
  clock_.advance(o.flush_interval);
  ASSERT_TRUE(wait_stats([](const auto& st) { return st.written == 10; }));
  s = w.stats();
  EXPECT_EQ(s.failed, 10u);
  EXPECT_EQ(s.write_errors, 3u);
  expect_conserved(s);
  EXPECT_EQ(rows(), 10);
  const auto got = all_events();
  ASSERT_EQ(got.size(), 10u);
  EXPECT_EQ(got.front().sequence, 11u);
}

TEST_F(EventWriterTest, AStoreThatRecoversWithinTheRetriesLosesNothing) {
  auto& w = make(options());
  ASSERT_OK(w.set_policy("people", "cam1", policy({}, 0.0, 0)));
  refuse_inserts(true);
  w.start();
  for (uint64_t i = 1; i <= 100; ++i) w.offer(result("people", i, 0, {det(0, "person", 0.9f)}));
  ASSERT_TRUE(wait_stats([](const auto& s) { return s.write_errors == 1; }));
  ASSERT_TRUE(clock_.wait_for_waiters(1));  // in its backoff
  refuse_inserts(false);
  ASSERT_TRUE(clock_.advance_to_next_deadline());
  ASSERT_TRUE(wait_stats([](const auto& s) { return s.written == 100; }));
  const auto s = w.stats();
  EXPECT_EQ(s.failed, 0u);
  EXPECT_EQ(s.batches, 1u);
  EXPECT_EQ(rows(), 100);
}

TEST_F(EventWriterTest, StopDuringBackoffMakesOneLastAttemptAndEnds) {
  auto& w = make(options());
  ASSERT_OK(w.set_policy("people", "cam1", policy({}, 0.0, 0)));
  refuse_inserts(true);
  w.start();
  for (uint64_t i = 1; i <= 150; ++i) w.offer(result("people", i, 0, {det(0, "person", 0.9f)}));
  ASSERT_TRUE(wait_stats([](const auto& s) { return s.write_errors == 1; }));
  ASSERT_TRUE(clock_.wait_for_waiters(1));
  w.stop();  // no clock advance needed: stop() ends the backoff wait
  const auto s = w.stats();
  EXPECT_EQ(s.write_errors, 3u);  // the full batch twice, then the partial one once
  EXPECT_EQ(s.failed, 150u);
  EXPECT_EQ(s.queued, 0u);
  expect_conserved(s);
}

TEST_F(EventWriterTest, RowsTheStoreCannotHoldAreCountedInvalidAndTheOthersWritten) {
  auto& w = make(options());
  ASSERT_OK(w.set_policy("people", "cam1", policy({}, 0.0, 0)));
  const float nan = std::nanf("");
  const float inf = std::numeric_limits<float>::infinity();
  for (uint64_t i = 1; i <= 40; ++i) {
    // Event 17's class name is not UTF-8: the store refuses its batch (store.invalid).
    w.offer(result("people", i, 0, {det(0, i == 17 ? "pers\xffon" : "person", 0.9f)}));
  }
  w.offer(result("people", 41, 0,
                 {det(0, "person", nan), det(0, "person", 0.9f, Box{inf, 0, 1, 1}),
                  det(0, "person", 0.9f, Box{0, 0, nan, 1})}));
  DetectionResult huge = result("people", 42, 0, {det(0, "person", 0.9f)});
  huge.frame.sequence = std::numeric_limits<uint64_t>::max();
  w.offer(huge);
  w.stop();
  const auto s = w.stats();
  EXPECT_EQ(s.invalid, 5u);
  EXPECT_EQ(s.written, 39u);
  EXPECT_EQ(s.failed, 0u);
  expect_conserved(s);
  EXPECT_EQ(rows(), 39);
  for (const auto& e : all_events()) EXPECT_NE(e.sequence, 17u);
}

// ---- retention ------------------------------------------------------------------------------

TEST_F(EventWriterTest, RetentionRunsAtStartByAgeThenEveryIntervalByCount) {
  // History already in the database: 30 events 2 h old, 20 from 10 min ago.
  std::vector<store::EventRecord> old;
  for (int i = 0; i < 50; ++i) {
    auto r = result("people", static_cast<uint64_t>(i + 1), 0, {det(0, "person", 0.9f)});
    old.push_back(
        expected("cam1", r, r.detections[0], kWall0 - (i < 30 ? 2 * 3'600'000 : 600'000)));
  }
  ASSERT_OK(store_->insert_events(old));
  auto o = options();
  o.retention.max_age_ms = 3'600'000;
  o.retention.max_rows = 60;
  o.retention_interval = Duration::seconds(60);
  auto& w = make(o);
  ASSERT_OK(w.set_policy("people", "cam1", policy({}, 0.0, 0)));
  w.start();
  ASSERT_TRUE(wait_stats([](const auto& s) { return s.retention_runs == 1; }));
  EXPECT_EQ(w.stats().retention_deleted, 30u);  // by age
  EXPECT_EQ(rows(), 20);

  for (uint64_t i = 100; i < 200; ++i) w.offer(result("people", i, 0, {det(0, "person", 0.9f)}));
  ASSERT_TRUE(wait_stats([](const auto& s) { return s.written == 100; }));
  EXPECT_EQ(rows(), 120);
  ASSERT_TRUE(wait_deadline(start_ + o.retention_interval));
  clock_.advance(o.retention_interval);
  ASSERT_TRUE(wait_stats([](const auto& s) { return s.retention_runs == 2; }));
  const auto s = w.stats();
  EXPECT_EQ(s.retention_deleted, 30u + 60u);  // then by count: the newest 60 stay
  EXPECT_EQ(s.retention_errors, 0u);
  EXPECT_EQ(rows(), 60);
  const auto kept = all_events();
  ASSERT_EQ(kept.size(), 60u);
  EXPECT_EQ(kept.front().sequence, 140u);
  EXPECT_EQ(kept.back().sequence, 199u);
  // And again one interval later (nothing left to delete).
  ASSERT_TRUE(wait_deadline(start_ + o.retention_interval * 2));
  clock_.advance(o.retention_interval);
  ASSERT_TRUE(wait_stats([](const auto& st) { return st.retention_runs == 3; }));
  EXPECT_EQ(w.stats().retention_deleted, 90u);
}

TEST_F(EventWriterTest, RetentionOffMakesNoCalls) {
  auto& w = make(options());  // both limits 0
  w.start();
  ASSERT_TRUE(clock_.wait_for_waiters(1));  // the writer is waiting: start-up is done
  clock_.advance(Duration::seconds(600));
  ASSERT_TRUE(clock_.wait_for_waiters(1));
  w.stop();
  EXPECT_EQ(w.stats().retention_runs, 0u);
  EXPECT_EQ(w.stats().retention_errors, 0u);
}

#ifdef ORION_EVENTS_TEST_POSTGRES

// A server of its own (not the shared one), stopped under the writer and started again.
TEST_F(EventWriterTest, APostgresServerThatGoesAwayBuffersWithinCapacityAndFlushesWhenBack) {
  auto started = store::testing::PostgresServer::start();
  ASSERT_TRUE(started.ok()) << started.error().to_string();
  auto server = std::move(*started);
  auto db = server->create_database("events");
  ASSERT_TRUE(db.ok()) << db.error().to_string();
  auto opened = store::Store::open(*db);
  ASSERT_TRUE(opened.ok()) << opened.error().to_string();
  auto pg_store = std::move(*opened);

  auto o = options();
  o.max_attempts = 2;      // applies to other errors; an unreachable database is waited out
  o.queue_capacity = 250;  // 100 written before the outage, 250 held during it, 50 dropped
  EventWriter w(*pg_store, clock_, o);
  ASSERT_OK(w.set_policy("people", "cam1", policy({}, 0.0, 0)));
  w.start();
  for (uint64_t i = 1; i <= 100; ++i) w.offer(result("people", i, 0, {det(0, "person", 0.9f)}));
  ASSERT_TRUE(testing::wait_until([&] { return w.stats().written == 100; }, kLimit));

  ASSERT_OK(server->stop());
  for (uint64_t i = 101; i <= 200; ++i) w.offer(result("people", i, 0, {det(0, "person", 0.9f)}));
  ASSERT_TRUE(testing::wait_until([&] { return w.stats().write_errors == 1; }, kLimit));
  // Far more failed attempts than max_attempts: the batch stays buffered, nothing is given up.
  for (uint64_t k = 2; k <= 5; ++k) {
    ASSERT_TRUE(clock_.wait_for_waiters(1));
    ASSERT_TRUE(clock_.advance_to_next_deadline());
    ASSERT_TRUE(testing::wait_until([&] { return w.stats().write_errors == k; }, kLimit));
  }
  for (uint64_t i = 201; i <= 400; ++i) w.offer(result("people", i, 0, {det(0, "person", 0.9f)}));
  auto s = w.stats();
  EXPECT_EQ(s.failed, 0u);
  EXPECT_EQ(s.queued, 250u);
  EXPECT_EQ(s.dropped, 50u);  // beyond the bound: counted, never held
  EXPECT_NE(s.last_error.find("store.unavailable"), std::string::npos) << s.last_error;
  expect_conserved(s);

  ASSERT_OK(server->start_again());
  // The writer's backoff runs on the fake clock, the store's reconnect backoff (<= 2 s) on the
  // real one: advance the fake clock whenever the writer waits on it, until all are written.
  ASSERT_TRUE(testing::wait_until(
      [&] {
        if (clock_.waiters() > 0) clock_.advance_to_next_deadline();
        return w.stats().written == 350;
      },
      kLimit))
      << w.stats().last_error;
  w.stop();
  s = w.stats();
  EXPECT_EQ(s.failed, 0u);
  EXPECT_EQ(s.dropped, 50u);
  expect_conserved(s);
  auto n = pg_store->count_events();
  ASSERT_TRUE(n.ok()) << n.error().to_string();
  EXPECT_EQ(*n, 350);
}

#else  // SQLite build only: what does not depend on the backend

TEST_F(EventWriterTest, BadOptionsAreNamed) {
  struct Case {
    std::function<void(EventWriterOptions&)> set;
    std::string field;
  };
  const Case cases[] = {
      {[](auto& o) { o.queue_capacity = 0; }, "'queue_capacity'"},
      {[](auto& o) { o.max_batch = 0; }, "'max_batch'"},
      {[](auto& o) { o.flush_interval = Duration::millis(-1); }, "'flush_interval'"},
      {[](auto& o) { o.retention_interval = Duration::zero(); }, "'retention_interval'"},
      {[](auto& o) { o.retention.max_age_ms = -1; }, "'retention.max_age_ms'"},
      {[](auto& o) { o.retention.max_rows = -1; }, "'retention.max_rows'"},
      {[](auto& o) { o.max_attempts = 0; }, "'max_attempts'"},
      {[](auto& o) { o.retry.factor = 0.5; }, "'retry'"},
      {[](auto& o) { o.stop_timeout = Duration::millis(-1); }, "'stop_timeout'"},
  };
  EXPECT_TRUE(EventWriter::validate(EventWriterOptions{}).ok());
  for (const auto& c : cases) {
    EventWriterOptions o;
    c.set(o);
    auto s = EventWriter::validate(o);
    ASSERT_FALSE(s.ok()) << c.field;
    EXPECT_EQ(s.error().code, "events.invalid");
    EXPECT_NE(s.error().message.find(c.field), std::string::npos) << s.error().message;
  }
}

TEST_F(EventWriterTest, ConstructingWithBadOptionsIsABrokenContract) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto o = options();
  o.max_batch = 0;
  EXPECT_DEATH({ EventWriter w(*store_, clock_, o); }, "broken contract.*'max_batch'");
}

TEST(EventWriterWallTime, SystemWallTimeIsUnixMilliseconds) {
  const int64_t ms = system_wall_time_ms();
  EXPECT_GT(ms, 1'600'000'000'000);  // after 2020
  EXPECT_LT(ms, 4'000'000'000'000);  // before 2096: milliseconds, not micro/nanoseconds
}

#endif

}  // namespace
}  // namespace orion::events
