// The Store contract, one suite run against both backends: SQLite in a temp file and a real
// PostgreSQL server started by the test itself (store/testing/postgres_fixture.h), a fresh
// database per test. What each test asserts holds for both, word for word.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <thread>

#include "store/migrations.h"
#include "store/sql.h"
#include "store/store.h"
#include "store/testing/postgres_fixture.h"
#include "testing/wait.h"
#include "testing/watchdog.h"

namespace orion::store {
namespace {

namespace fs = std::filesystem;

enum class Backend { kSqlite, kPostgres };

void PrintTo(Backend b, std::ostream* os) {
  *os << (b == Backend::kSqlite ? "SQLite" : "PostgreSQL");
}

std::string backend_name(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "SQLite" : "PostgreSQL";
}

StreamRecord stream(const std::string& name, const std::string& url = "rtsp://127.0.0.1:8555/cam") {
  StreamRecord s;
  s.name = name;
  s.url = url;
  return s;
}

ModelRecord model(const std::string& name) {
  ModelRecord m;
  m.name = name;
  m.kind = "yolox";
  m.path = "models/yolox_nano.onnx";
  m.input_width = 416;
  m.input_height = 416;
  m.class_names = {"person", "bicycle", "caméra ✓"};
  m.threads = 3;
  return m;
}

PipelineRecord pipeline(const std::string& name, const std::string& s, const std::string& m) {
  PipelineRecord p;
  p.name = name;
  p.stream = s;
  p.model = m;
  p.sla = "critical";
  p.min_score = 0.3;
  p.iou = 0.5;
  p.classes = {"person"};
  p.motion_gate_json = R"({"threshold":0.02})";
  p.worker_command = {"orion", "worker", "--flag=a b"};
  p.events.classes = {"person", "car"};
  p.events.min_score = 0.6;
  p.events.min_interval_ms = 250;
  return p;
}

EventRecord event(const std::string& s, const std::string& p, uint64_t seq, int64_t wall_ms) {
  EventRecord e;
  e.stream = s;
  e.pipeline = p;
  e.sequence = seq;
  e.pts_ns = static_cast<int64_t>(seq) * 33'333'333;
  e.capture_ns = 1'000'000'000'000 + static_cast<int64_t>(seq);
  e.wall_time_ms = wall_ms;
  e.class_id = 0;
  e.class_name = "person";
  e.score = 0.1 + 0.8 / 3.0;  // not a short decimal: must round-trip exactly
  e.x1 = 1.25;
  e.y1 = 2.5;
  e.x2 = 100.125;
  e.y2 = 200.0625;
  return e;
}

EngineRecord engine(const std::string& id) {
  EngineRecord e;
  e.id = id;
  return e;
}

EventQuery query(int limit, int64_t after_id = 0) {
  EventQuery q;
  q.limit = limit;
  q.after_id = after_id;
  return q;
}

EventQuery filter(const std::string& stream_name, const std::string& pipeline_name,
                  int64_t since_ms = 0) {
  EventQuery q = query(1000);
  q.stream = stream_name;
  q.pipeline = pipeline_name;
  q.since_ms = since_ms;
  return q;
}

Retention retention(int64_t max_age_ms, int64_t max_rows) {
  Retention r;
  r.max_age_ms = max_age_ms;
  r.max_rows = max_rows;
  return r;
}

class StoreContract : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kSqlite) {
      std::string templ = (fs::temp_directory_path() / "orion-store-XXXXXX").string();
      ASSERT_NE(::mkdtemp(templ.data()), nullptr);
      dir_ = templ;
      url_ = "sqlite://" + dir_ + "/orion.db";
    } else {
      ORION_REQUIRE_POSTGRES(pg);
      pg_ = pg;
      auto db = pg->fresh_database();
      ASSERT_TRUE(db.ok()) << db.error().to_string();
      url_ = *db;
    }
    store_ = open();
    ASSERT_NE(store_, nullptr);
  }

  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  std::unique_ptr<Store> open() {
    auto s = Store::open(url_);
    EXPECT_TRUE(s.ok()) << s.error().to_string();
    return s.ok() ? std::move(*s) : nullptr;
  }

  int64_t revision() {
    auto r = store_->desired_revision();
    EXPECT_TRUE(r.ok()) << r.error().to_string();
    return r.ok() ? *r : -1;
  }

  // Raw SQL on a connection of our own (migration tests only).
  sql::Rows raw(const std::string& statement, const sql::Params& params = {}) {
    auto conn = sql::connect(url_);
    EXPECT_TRUE(conn.ok()) << conn.error().to_string();
    if (!conn.ok()) return {};
    EXPECT_TRUE((*conn)->begin(true).ok());
    auto r = (*conn)->exec(statement, params);
    EXPECT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_TRUE((*conn)->commit().ok());
    return r.ok() ? *r : sql::Rows{};
  }

  void make_stream_model_pipeline() {
    ASSERT_TRUE(store_->create_stream(stream("cam1")).ok());
    ASSERT_TRUE(store_->create_model(model("yolox")).ok());
    auto p = store_->create_pipeline(pipeline("people", "cam1", "yolox"));
    ASSERT_TRUE(p.ok()) << p.error().to_string();
  }

  std::string dir_, url_;
  store::testing::PostgresServer* pg_ = nullptr;
  std::unique_ptr<Store> store_;
};

#define ASSERT_OK(expr)                                         \
  do {                                                          \
    const auto& orion_r_ = (expr);                              \
    ASSERT_TRUE(orion_r_.ok()) << orion_r_.error().to_string(); \
  } while (0)

#define EXPECT_ERROR(expr, expected_code)                                          \
  do {                                                                             \
    const auto& orion_r_ = (expr);                                                 \
    ASSERT_FALSE(orion_r_.ok()) << "expected " << (expected_code);                 \
    EXPECT_EQ(orion_r_.error().code, (expected_code)) << orion_r_.error().message; \
  } while (0)

// Puts `rec`, then finds it the only row listed, equal but for the time the store stamped.
template <class Rec, class Put, class List>
void expect_the_only_row(const Rec& rec, Put put, List list) {
  ASSERT_OK(put(rec));
  auto all = list();
  ASSERT_OK(all);
  ASSERT_EQ(all->size(), 1u);
  Rec expected = rec;
  expected.updated_at = (*all)[0].updated_at;
  EXPECT_FALSE(expected.updated_at.empty());
  EXPECT_EQ((*all)[0], expected);
}

// ---- desired state ------------------------------------------------------------------------------

TEST_P(StoreContract, StreamsAreCreatedReadUpdatedAndDeletedWithVersions) {
  auto created = store_->create_stream(stream("cam2", "rtsp://user:pw@10.0.0.2/s"));
  ASSERT_OK(created);
  EXPECT_EQ(created->version, 1);
  EXPECT_EQ(created->updated_at.size(), 24u) << created->updated_at;  // 2026-12-01T20:13:09.123Z
  EXPECT_EQ(created->updated_at.back(), 'Z');
  ASSERT_OK(store_->create_stream(stream("cam1")));

  auto got = store_->get_stream("cam2");
  ASSERT_OK(got);
  EXPECT_EQ(*got, *created);

  auto list = store_->list_streams();
  ASSERT_OK(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "cam1");  // ordered by name
  EXPECT_EQ((*list)[1], *created);

  StreamRecord changed = *created;
  changed.url = "file://lobby.mp4";
  changed.enabled = false;
  changed.loop = true;
  changed.tls_verify = false;
  auto updated = store_->update_stream(changed, 1);
  ASSERT_OK(updated);
  EXPECT_EQ(updated->version, 2);
  auto reread = store_->get_stream("cam2");
  ASSERT_OK(reread);
  EXPECT_EQ(*reread, *updated);
  EXPECT_EQ(reread->url, "file://lobby.mp4");
  EXPECT_FALSE(reread->enabled);
  EXPECT_TRUE(reread->loop);
  EXPECT_FALSE(reread->tls_verify);

  ASSERT_OK(store_->delete_stream("cam2", 2));
  EXPECT_ERROR(store_->get_stream("cam2"), "store.not_found");
  ASSERT_OK(store_->delete_stream("cam1", std::nullopt));  // no version: whatever is stored
  auto empty = store_->list_streams();
  ASSERT_OK(empty);
  EXPECT_TRUE(empty->empty());
}

TEST_P(StoreContract, ModelsKeepEveryFieldIncludingClassNames) {
  auto created = store_->create_model(model("yolox"));
  ASSERT_OK(created);
  auto got = store_->get_model("yolox");
  ASSERT_OK(got);
  EXPECT_EQ(*got, *created);
  EXPECT_EQ(got->class_names, (std::vector<std::string>{"person", "bicycle", "caméra ✓"}));
  EXPECT_EQ(got->threads, 3);
  EXPECT_EQ(got->device, "cpu");

  ModelRecord changed = *got;
  changed.kind = "torch_yolox";
  changed.class_names.clear();
  changed.input_width = 0;
  changed.threads = 0;
  changed.device = "cuda:1";
  auto updated = store_->update_model(changed, got->version);
  ASSERT_OK(updated);
  auto reread = store_->get_model("yolox");
  ASSERT_OK(reread);
  EXPECT_EQ(*reread, *updated);
  EXPECT_TRUE(reread->class_names.empty());
  EXPECT_EQ(reread->threads, 0);
  EXPECT_EQ(reread->device, "cuda:1");
  EXPECT_EQ(reread->version, 2);

  ASSERT_OK(store_->delete_model("yolox", 2));
  EXPECT_ERROR(store_->get_model("yolox"), "store.not_found");
}

TEST_P(StoreContract, PipelinesKeepEveryFieldIncludingTheEventPolicy) {
  make_stream_model_pipeline();
  auto got = store_->get_pipeline("people");
  ASSERT_OK(got);
  PipelineRecord expected = pipeline("people", "cam1", "yolox");
  expected.version = 1;
  expected.updated_at = got->updated_at;
  EXPECT_EQ(*got, expected);

  ASSERT_OK(store_->create_stream(stream("cam2")));
  PipelineRecord changed = *got;
  changed.stream = "cam2";
  changed.sla = "best_effort";
  changed.min_score = 0.123456789012345;
  changed.motion_gate_json = "";
  changed.worker_command.clear();
  changed.events.enabled = false;
  changed.events.classes.clear();
  auto updated = store_->update_pipeline(changed, 1);
  ASSERT_OK(updated);
  auto reread = store_->get_pipeline("people");
  ASSERT_OK(reread);
  EXPECT_EQ(*reread, *updated);
  EXPECT_EQ(reread->min_score, 0.123456789012345);
  auto list = store_->list_pipelines();
  ASSERT_OK(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->front(), *updated);

  ASSERT_OK(store_->delete_pipeline("people", 2));
  EXPECT_ERROR(store_->get_pipeline("people"), "store.not_found");
}

TEST_P(StoreContract, AStaleVersionIsAConflictAndChangesNothing) {
  auto v1 = store_->create_stream(stream("cam1"));
  ASSERT_OK(v1);
  StreamRecord a = *v1;
  a.url = "rtsp://a";
  ASSERT_OK(store_->update_stream(a, 1));  // now version 2

  StreamRecord b = *v1;
  b.url = "rtsp://b";
  auto stale = store_->update_stream(b, 1);
  EXPECT_ERROR(stale, "store.version_conflict");
  EXPECT_NE(stale.error().message.find("'cam1'"), std::string::npos) << stale.error().message;
  EXPECT_NE(stale.error().message.find("version"), std::string::npos) << stale.error().message;
  EXPECT_ERROR(store_->update_stream(b, 3), "store.version_conflict");  // from the future too
  EXPECT_ERROR(store_->delete_stream("cam1", 1), "store.version_conflict");

  auto now = store_->get_stream("cam1");
  ASSERT_OK(now);
  EXPECT_EQ(now->url, "rtsp://a");
  EXPECT_EQ(now->version, 2);

  EXPECT_ERROR(store_->update_stream(stream("ghost"), 1), "store.not_found");
  EXPECT_ERROR(store_->delete_stream("ghost", std::nullopt), "store.not_found");
  EXPECT_ERROR(store_->delete_model("ghost", 1), "store.not_found");
  EXPECT_ERROR(store_->get_pipeline("ghost"), "store.not_found");
}

TEST_P(StoreContract, DuplicateNamesAreRefusedAndChangeNothing) {
  ASSERT_OK(store_->create_stream(stream("cam1", "rtsp://first")));
  ASSERT_OK(store_->create_model(model("m")));
  const int64_t before = revision();

  auto dup = store_->create_stream(stream("cam1", "rtsp://second"));
  EXPECT_ERROR(dup, "store.exists");
  EXPECT_NE(dup.error().message.find("stream 'cam1'"), std::string::npos) << dup.error().message;
  EXPECT_NE(dup.error().message.find("name"), std::string::npos) << dup.error().message;
  EXPECT_ERROR(store_->create_model(model("m")), "store.exists");

  EXPECT_EQ(store_->get_stream("cam1")->url, "rtsp://first");
  EXPECT_EQ(revision(), before);
}

TEST_P(StoreContract, APipelineMustNameAnExistingStreamAndModel) {
  ASSERT_OK(store_->create_stream(stream("cam1")));
  ASSERT_OK(store_->create_model(model("yolox")));

  auto no_stream = store_->create_pipeline(pipeline("p", "cam9", "yolox"));
  EXPECT_ERROR(no_stream, "store.missing_reference");
  EXPECT_NE(no_stream.error().message.find("'stream'"), std::string::npos)
      << no_stream.error().message;
  EXPECT_NE(no_stream.error().message.find("'cam9'"), std::string::npos)
      << no_stream.error().message;
  auto no_model = store_->create_pipeline(pipeline("p", "cam1", "nope"));
  EXPECT_ERROR(no_model, "store.missing_reference");
  EXPECT_NE(no_model.error().message.find("'model'"), std::string::npos)
      << no_model.error().message;
  EXPECT_ERROR(store_->get_pipeline("p"), "store.not_found");

  auto ok = store_->create_pipeline(pipeline("p", "cam1", "yolox"));
  ASSERT_OK(ok);
  EXPECT_ERROR(store_->update_pipeline(pipeline("p", "cam9", "yolox"), 1),
               "store.missing_reference");
  EXPECT_EQ(store_->get_pipeline("p")->stream, "cam1");
  EXPECT_EQ(store_->get_pipeline("p")->version, 1);
}

TEST_P(StoreContract, AStreamOrModelInUseCannotBeDeleted) {
  make_stream_model_pipeline();
  ASSERT_OK(store_->create_pipeline(pipeline("cars", "cam1", "yolox")));

  auto s = store_->delete_stream("cam1", std::nullopt);
  EXPECT_ERROR(s, "store.in_use");
  EXPECT_NE(s.error().message.find("stream 'cam1'"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("'cars', 'people'"), std::string::npos) << s.error().message;
  auto m = store_->delete_model("yolox", 1);
  EXPECT_ERROR(m, "store.in_use");
  EXPECT_NE(m.error().message.find("'people'"), std::string::npos) << m.error().message;
  ASSERT_OK(store_->get_stream("cam1"));

  ASSERT_OK(store_->delete_pipeline("people", std::nullopt));
  ASSERT_OK(store_->delete_pipeline("cars", std::nullopt));
  ASSERT_OK(store_->delete_stream("cam1", 1));
  ASSERT_OK(store_->delete_model("yolox", 1));
}

TEST_P(StoreContract, InvalidValuesAreRefusedOnBothBackendsAlike) {
  EXPECT_ERROR(store_->create_stream(stream("")), "store.invalid");
  EXPECT_ERROR(store_->create_stream(stream(std::string("a\0b", 3))), "store.invalid");
  EXPECT_ERROR(store_->create_stream(stream("bad\xff\xfe")), "store.invalid");
  auto bad_url = store_->create_stream(stream("cam", std::string("rtsp://x\0y", 10)));
  EXPECT_ERROR(bad_url, "store.invalid");
  EXPECT_NE(bad_url.error().message.find("'url'"), std::string::npos) << bad_url.error().message;

  ASSERT_OK(store_->create_stream(stream("cam1")));
  ASSERT_OK(store_->create_model(model("m")));
  PipelineRecord p = pipeline("p", "cam1", "m");
  p.sla = "gold";
  EXPECT_ERROR(store_->create_pipeline(p), "store.invalid");
  p = pipeline("p", "cam1", "m");
  p.min_score = std::nan("");
  auto nan = store_->create_pipeline(p);
  EXPECT_ERROR(nan, "store.invalid");
  EXPECT_NE(nan.error().message.find("'min_score'"), std::string::npos) << nan.error().message;
  p = pipeline("p", "cam1", "m");
  p.motion_gate_json = "{not json";
  EXPECT_ERROR(store_->create_pipeline(p), "store.invalid");
  ModelRecord m = model("m2");
  m.class_names = {"ok", "\xc0\xaf"};  // an overlong '/': not UTF-8
  EXPECT_ERROR(store_->create_model(m), "store.invalid");
  m = model("m3");
  m.threads = -1;
  auto threads = store_->create_model(m);
  EXPECT_ERROR(threads, "store.invalid");
  EXPECT_NE(threads.error().message.find("'threads'"), std::string::npos)
      << threads.error().message;
  // A device outside core/device.h's grammar, or not in its canonical text ("cuda" is written
  // "cuda:0" by the API), is refused by both backends alike.
  for (const char* device : {"gpu0", "cuda:-1", "", "cuda", "cuda:01"}) {
    m = model("m4");
    m.device = device;
    auto bad_device = store_->create_model(m);
    EXPECT_ERROR(bad_device, "store.invalid");
    EXPECT_NE(bad_device.error().message.find("'device'"), std::string::npos)
        << device << ": " << bad_device.error().message;
  }

  PipelineStatusRecord ps;
  ps.pipeline = "p";
  ps.offered = std::numeric_limits<uint64_t>::max();
  EXPECT_ERROR(store_->put_pipeline_status(ps), "store.invalid");
  EXPECT_EQ(revision(), 2);  // only the two good creates counted
}

TEST_P(StoreContract, TheRevisionGrowsAtEveryDesiredChangeAndOnlyThen) {
  const int64_t r0 = revision();
  ASSERT_OK(store_->create_stream(stream("cam1")));
  const int64_t r1 = revision();
  EXPECT_GT(r1, r0);
  ASSERT_OK(store_->create_model(model("m")));
  const int64_t r2 = revision();
  EXPECT_GT(r2, r1);
  ASSERT_OK(store_->create_pipeline(pipeline("p", "cam1", "m")));
  const int64_t r3 = revision();
  EXPECT_GT(r3, r2);
  ASSERT_OK(store_->update_pipeline(*store_->get_pipeline("p"), 1));
  const int64_t r4 = revision();
  EXPECT_GT(r4, r3);

  // Failures, reads, actual state and events leave it alone.
  EXPECT_FALSE(store_->create_stream(stream("cam1")).ok());
  EXPECT_FALSE(store_->update_pipeline(*store_->get_pipeline("p"), 1).ok());
  EXPECT_FALSE(store_->delete_stream("cam1", std::nullopt).ok());
  ASSERT_OK(store_->list_streams());
  StreamStatusRecord st;
  st.stream = "cam1";
  st.state = "live";
  ASSERT_OK(store_->put_stream_status(st));
  ASSERT_OK(store_->heartbeat_engine(engine("e1")));
  ASSERT_OK(store_->insert_events({event("cam1", "p", 1, 1000)}));
  EXPECT_EQ(revision(), r4);

  ASSERT_OK(store_->delete_pipeline("p", std::nullopt));
  EXPECT_GT(revision(), r4);
}

TEST_P(StoreContract, WaitingForTheRevisionWakesOnAChangeFromAnotherConnection) {
  orion::testing::Watchdog dog(Duration::seconds(60), "wait_desired_revision");
  const int64_t r0 = revision();
  // Nothing changes: it returns the known revision once the limit passed.
  auto idle = store_->wait_desired_revision(r0, Duration::millis(150));
  ASSERT_OK(idle);
  EXPECT_EQ(*idle, r0);
  // Already different: at once.
  auto stale = store_->wait_desired_revision(r0 - 1, Duration::seconds(30));
  ASSERT_OK(stale);
  EXPECT_EQ(*stale, r0);

  // Another Store (its own connection, as another process would have) makes the change.
  auto other = open();
  ASSERT_NE(other, nullptr);
  std::atomic<int64_t> woke_with{-1};
  const auto t0 = std::chrono::steady_clock::now();
  std::thread waiter([&] {
    auto r = store_->wait_desired_revision(r0, Duration::seconds(30));
    woke_with = r.ok() ? *r : -2;
  });
  ASSERT_OK(other->create_stream(stream("cam1")));
  waiter.join();
  const double waited_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GT(woke_with.load(), r0);
  EXPECT_LT(waited_s, 10.0) << "woke only at the limit, not on the change";
}

TEST_P(StoreContract, PostgreSqlNotifiesOrionDesiredOnEveryChange) {
  auto listener = sql::listen(url_);
  ASSERT_OK(listener);
  if (GetParam() == Backend::kSqlite) {
    EXPECT_EQ(*listener, nullptr);  // SQLite has no NOTIFY: waiters poll
    return;
  }
  ASSERT_NE(*listener, nullptr);
  ASSERT_OK(store_->create_stream(stream("cam1")));
  auto got = (*listener)->wait(Duration::seconds(10));
  ASSERT_OK(got);
  EXPECT_TRUE(*got);
  auto none = (*listener)->wait(Duration::millis(100));  // a read notifies nothing
  ASSERT_OK(store_->list_streams());
  ASSERT_OK(none);
  EXPECT_FALSE(*none);
}

// ---- actual state -------------------------------------------------------------------------------

TEST_P(StoreContract, EnginesHeartbeatAndKeepTheirStartTime) {
  EngineRecord e = engine("host:42:1");
  e.media_url = "http://127.0.0.1:9000";
  e.rtsp_url = "rtsp://127.0.0.1:8554";
  e.max_streams = 8;
  ASSERT_OK(store_->heartbeat_engine(e));
  auto first = store_->list_engines();
  ASSERT_OK(first);
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].media_url, "http://127.0.0.1:9000");
  EXPECT_FALSE((*first)[0].started_at.empty());

  e.media_url = "http://127.0.0.1:9001";
  e.max_streams = 4;
  ASSERT_OK(store_->heartbeat_engine(e));
  ASSERT_OK(store_->heartbeat_engine(engine("other")));
  auto second = store_->list_engines();
  ASSERT_OK(second);
  ASSERT_EQ(second->size(), 2u);
  const EngineRecord& again = (*second)[0];
  EXPECT_EQ(again.id, "host:42:1");
  EXPECT_EQ(again.media_url, "http://127.0.0.1:9001");
  EXPECT_EQ(again.max_streams, 4);
  EXPECT_EQ(again.started_at, (*first)[0].started_at);
  EXPECT_GE(again.heartbeat_at, (*first)[0].heartbeat_at);  // ISO text sorts as time
}

TEST_P(StoreContract, StatusRowsBelongToTheirStreamAndPipeline) {
  make_stream_model_pipeline();
  StreamStatusRecord st;
  st.stream = "cam1";
  st.engine_id = "e1";
  st.state = "live";
  st.fps_in = 29.97;
  st.fps_out = 15.5;
  st.frames_in = 1u << 20;
  st.frames_out = 99;
  st.reconnects = 3;
  st.output_url = "rtsp://127.0.0.1:8554/cam1";
  ASSERT_OK(store_->put_stream_status(st));
  st.state = "retrying";
  st.last_error = "connection refused";
  expect_the_only_row(
      st, [&](const auto& r) { return store_->put_stream_status(r); },
      [&] { return store_->list_stream_status(); });

  PipelineStatusRecord ps;
  ps.pipeline = "people";
  ps.engine_id = "e1";
  ps.state = "running";
  ps.pid = 4242;
  ps.restarts = 2;
  ps.restart_reasons = {{"crashed", 1}, {"hung", 1}};
  ps.violations = {{"bad_json", 7}};
  ps.offered = 1000;
  ps.taken = 900;
  ps.dropped = 100;
  ps.results = 880;
  ps.last_result_age_s = 0.125;
  expect_the_only_row(
      ps, [&](const auto& r) { return store_->put_pipeline_status(r); },
      [&] { return store_->list_pipeline_status(); });

  StreamStatusRecord orphan;
  orphan.stream = "ghost";
  auto o = store_->put_stream_status(orphan);
  EXPECT_ERROR(o, "store.missing_reference");
  EXPECT_NE(o.error().message.find("'ghost'"), std::string::npos) << o.error().message;
  EXPECT_ERROR(store_->put_pipeline_status([] {
    PipelineStatusRecord g;
    g.pipeline = "ghost";
    return g;
  }()),
               "store.missing_reference");

  // Deleting the desired resource deletes its status.
  ASSERT_OK(store_->delete_pipeline("people", std::nullopt));
  EXPECT_TRUE(store_->list_pipeline_status()->empty());
  ASSERT_OK(store_->delete_stream("cam1", std::nullopt));
  EXPECT_TRUE(store_->list_stream_status()->empty());
}

// ---- migrations ---------------------------------------------------------------------------------

TEST_P(StoreContract, MigrationsRunOnceAndDataSurvivesReopening) {
  make_stream_model_pipeline();
  ASSERT_OK(store_->insert_events({event("cam1", "people", 1, 1000)}));
  const int64_t rev = revision();
  const auto before =
      raw("SELECT version, name, applied_at FROM schema_migrations ORDER BY version");
  ASSERT_FALSE(before.rows.empty());
  EXPECT_EQ(before.rows[0].i64(0), 1);

  store_.reset();  // close
  store_ = open();
  ASSERT_NE(store_, nullptr);
  store_.reset();
  store_ = open();  // and once more
  ASSERT_NE(store_, nullptr);

  const auto after =
      raw("SELECT version, name, applied_at FROM schema_migrations ORDER BY version");
  ASSERT_EQ(after.rows.size(), before.rows.size());
  for (size_t i = 0; i < after.rows.size(); ++i) {
    EXPECT_EQ(after.rows[i].i64(0), before.rows[i].i64(0));
    EXPECT_EQ(after.rows[i].text(2), before.rows[i].text(2)) << "migration re-applied";
  }
  EXPECT_EQ(revision(), rev);
  ASSERT_OK(store_->get_pipeline("people"));
  EXPECT_EQ(*store_->count_events(), 1);
}

TEST_P(StoreContract, ADatabaseAtVersion1IsMigratedKeepingItsModels) {
  // A database as a build of migration 1 left it, with one model, written by raw SQL.
  store_.reset();
  if (GetParam() == Backend::kSqlite) {
    url_ = "sqlite://" + dir_ + "/v1.db";
  } else {
    auto db = pg_->fresh_database();
    ASSERT_TRUE(db.ok()) << db.error().to_string();
    url_ = *db;
  }
  {
    auto conn = sql::connect(url_);
    ASSERT_TRUE(conn.ok()) << conn.error().to_string();
    ASSERT_OK((*conn)->begin(true));
    ASSERT_OK((*conn)->exec_ddl(
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, "
        "applied_at TEXT NOT NULL)"));
    for (auto statement : migrations().at(0).statements) {
      std::string s(statement);
      if (const size_t p = s.find("{{ID}}"); p != std::string::npos) {
        s.replace(p, 6, (*conn)->dialect().id_column);
      }
      ASSERT_OK((*conn)->exec_ddl(s));
    }
    ASSERT_OK((*conn)->exec(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
        {int64_t{1}, std::string("initial"), std::string("2026-01-01T00:00:00.000Z")}));
    ASSERT_OK((*conn)->exec(
        "INSERT INTO models (name, kind, path, input_width, input_height, class_names, version, "
        "updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        {std::string("old"), std::string("yolox"), std::string("m.onnx"), int64_t{416},
         int64_t{416}, std::string(R"(["a","b"])"), int64_t{4}, int64_t{1'700'000'000'000}}));
    ASSERT_OK((*conn)->exec(
        "INSERT INTO models (name, kind, path, input_width, input_height, class_names, version, "
        "updated_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        {std::string("oldgpu"), std::string("torch_yolox"), std::string("m.pt"), int64_t{0},
         int64_t{0}, std::string("[]"), int64_t{1}, int64_t{1'700'000'000'000}}));
    ASSERT_OK((*conn)->commit());
  }

  store_ = open();
  ASSERT_NE(store_, nullptr);
  const auto versions = raw("SELECT version FROM schema_migrations ORDER BY version");
  ASSERT_EQ(versions.rows.size(), migrations().size());
  for (size_t i = 0; i < versions.rows.size(); ++i) {
    EXPECT_EQ(versions.rows[i].i64(0), static_cast<int64_t>(i + 1));
  }
  auto old = store_->get_model("old");
  ASSERT_OK(old);
  EXPECT_EQ(old->threads, 0);  // the default for rows from before migration 2
  EXPECT_EQ(old->device, "cpu");  // migration 6: the kind's default device
  auto old_gpu = store_->get_model("oldgpu");
  ASSERT_OK(old_gpu);
  EXPECT_EQ(old_gpu->device, "cuda:0");  // a LibTorch kind ran on cuda:0 before migration 6
  EXPECT_EQ(old_gpu->version, 1);
  EXPECT_EQ(old->class_names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(old->version, 4);
  ModelRecord changed = *old;
  changed.threads = 8;
  changed.device = "cuda:2";
  ASSERT_OK(store_->update_model(changed, 4));
  EXPECT_EQ(store_->get_model("old")->threads, 8);
  EXPECT_EQ(store_->get_model("old")->device, "cuda:2");
}

TEST_P(StoreContract, ADatabaseNewerThanThisBuildIsRefused) {
  store_.reset();
  raw("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
      {int64_t{999}, std::string("from the future"), std::string("2099-01-01T00:00:00.000Z")});
  auto s = Store::open(url_);
  EXPECT_ERROR(s, "store.migration");
  EXPECT_NE(s.error().message.find("999"), std::string::npos) << s.error().message;
}

// ---- events -------------------------------------------------------------------------------------

TEST_P(StoreContract, EventsAreQueriedByFiltersAndACursor) {
  std::vector<EventRecord> batch;
  for (uint64_t i = 0; i < 250; ++i) {
    batch.push_back(event(i % 2 == 0 ? "cam1" : "cam2", i % 5 == 0 ? "cars" : "people", i,
                          10'000 + int64_t(i)));
  }
  batch[7].sequence = (uint64_t{1} << 62) + 5;
  batch[7].pts_ns = -12345;
  auto ids = store_->insert_events(batch);
  ASSERT_OK(ids);
  ASSERT_EQ(ids->size(), 250u);
  for (size_t i = 1; i < ids->size(); ++i) EXPECT_GT((*ids)[i], (*ids)[i - 1]);

  // Every field comes back as written.
  auto one = store_->query_events(query(1, (*ids)[7] - 1));
  ASSERT_OK(one);
  ASSERT_EQ(one->size(), 1u);
  EventRecord expected = batch[7];
  expected.id = (*ids)[7];
  EXPECT_EQ((*one)[0], expected);

  // Pages of 100 with the cursor: all 250, once each, in order.
  std::vector<int64_t> seen;
  int64_t cursor = 0;
  for (int page = 0; page < 10; ++page) {
    auto r = store_->query_events(query(100, cursor));
    ASSERT_OK(r);
    if (r->empty()) break;
    for (const auto& e : *r) {
      // The id given for batch[i] is the row holding batch[i] (chunked inserts keep the order).
      const size_t i = seen.size();
      ASSERT_LT(i, batch.size());
      EXPECT_EQ(e.sequence, batch[i].sequence) << "id " << e.id;
      seen.push_back(e.id);
    }
    cursor = r->back().id;
  }
  EXPECT_EQ(seen, *ids);

  auto cam2 = store_->query_events(filter("cam2", ""));
  ASSERT_OK(cam2);
  EXPECT_EQ(cam2->size(), 125u);
  for (const auto& e : *cam2) EXPECT_EQ(e.stream, "cam2");
  auto cars = store_->query_events(filter("", "cars"));
  ASSERT_OK(cars);
  EXPECT_EQ(cars->size(), 50u);
  auto cam1_cars = store_->query_events(filter("cam1", "cars"));
  ASSERT_OK(cam1_cars);
  EXPECT_EQ(cam1_cars->size(), 25u);  // i % 10 == 0
  auto recent = store_->query_events(filter("", "", 10'200));
  ASSERT_OK(recent);
  EXPECT_EQ(recent->size(), 50u);
  for (const auto& e : *recent) EXPECT_GE(e.wall_time_ms, 10'200);

  EXPECT_ERROR(store_->query_events(query(0)), "store.invalid");
  auto big = store_->query_events(query(1001));
  EXPECT_ERROR(big, "store.invalid");
  EXPECT_NE(big.error().message.find("'limit'"), std::string::npos) << big.error().message;
}

TEST_P(StoreContract, AnEventBatchIsWrittenWholeOrNotAtAll) {
  ASSERT_OK(store_->insert_events({event("cam1", "p", 1, 1)}));
  std::vector<EventRecord> batch;
  for (uint64_t i = 0; i < 50; ++i) batch.push_back(event("cam1", "p", i, 2));
  batch[49].score = std::numeric_limits<double>::infinity();
  auto bad = store_->insert_events(batch);
  EXPECT_ERROR(bad, "store.invalid");
  EXPECT_NE(bad.error().message.find("event 49"), std::string::npos) << bad.error().message;
  batch[49].score = 0.5;
  batch[10].stream = "";
  EXPECT_ERROR(store_->insert_events(batch), "store.invalid");
  EXPECT_EQ(*store_->count_events(), 1);
  auto empty = store_->insert_events({});
  ASSERT_OK(empty);
  EXPECT_TRUE(empty->empty());
}

TEST_P(StoreContract, RetentionDeletesByAgeThenKeepsTheNewestRows) {
  std::vector<EventRecord> batch;
  for (uint64_t i = 0; i < 1000; ++i)
    batch.push_back(event("cam1", "p", i, 1'000'000 + int64_t(i) * 1000));
  auto ids = store_->insert_events(batch);
  ASSERT_OK(ids);
  const int64_t now = 1'000'000 + 1000 * 1000;  // just after the newest

  // Nothing is old enough, and the row cap is above the count.
  auto none = store_->apply_retention(retention(2'000'000, 5000), now);
  ASSERT_OK(none);
  EXPECT_EQ(*none, 0);

  // Older than 800 s: events 0..199 go.
  auto by_age = store_->apply_retention(retention(800'000, 0), now);
  ASSERT_OK(by_age);
  EXPECT_EQ(*by_age, 200);
  EXPECT_EQ(*store_->count_events(), 800);

  // At most 300 rows: the newest 300 stay.
  auto by_rows = store_->apply_retention(retention(0, 300), now);
  ASSERT_OK(by_rows);
  EXPECT_EQ(*by_rows, 500);
  EXPECT_EQ(*store_->count_events(), 300);
  auto oldest = store_->query_events(query(1));
  ASSERT_OK(oldest);
  EXPECT_EQ(oldest->front().id, (*ids)[700]);

  // New ids keep growing after deletes (the cursor never goes back).
  auto more = store_->insert_events({event("cam1", "p", 1000, now)});
  ASSERT_OK(more);
  EXPECT_GT(more->front(), ids->back());

  EXPECT_ERROR(store_->apply_retention(retention(-1, 1), now), "store.invalid");
  EXPECT_ERROR(store_->apply_retention(retention(1, -1), now), "store.invalid");
  EXPECT_EQ(*store_->count_events(), 301);
}

// ---- concurrency --------------------------------------------------------------------------------

// Several writers, each on its own connection (as several API processes would be), increment one
// counter through get + update(version) and retry on a conflict: no increment is lost.
TEST_P(StoreContract, ConcurrentWritersWithVersionsLoseNoUpdate) {
  orion::testing::Watchdog dog(Duration::seconds(120), "concurrent writers");
  constexpr int kThreads = 4;
  constexpr int kIncrements = 25;
  ASSERT_OK(store_->create_model(model("counter")));
  ModelRecord zero = *store_->get_model("counter");
  zero.input_width = 0;
  ASSERT_OK(store_->update_model(zero, zero.version));

  std::vector<std::unique_ptr<Store>> stores;
  for (int t = 0; t < kThreads; ++t) {
    stores.push_back(open());
    ASSERT_NE(stores.back(), nullptr);
  }
  std::atomic<int> conflicts{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    // Half share the fixture's Store, half have their own.
    Store* s = t % 2 == 0 ? stores[t].get() : store_.get();
    threads.emplace_back([&, s] {
      for (int i = 0; i < kIncrements; ++i) {
        for (;;) {
          auto cur = s->get_model("counter");
          if (!cur.ok()) {
            ++failures;
            return;
          }
          ModelRecord next = *cur;
          next.input_width += 1;
          auto r = s->update_model(next, cur->version);
          if (r.ok()) break;
          if (r.error().code != "store.version_conflict") {
            ADD_FAILURE() << r.error().to_string();
            ++failures;
            return;
          }
          ++conflicts;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto final_model = store_->get_model("counter");
  ASSERT_OK(final_model);
  EXPECT_EQ(final_model->input_width, kThreads * kIncrements);
  EXPECT_EQ(final_model->version, 2 + kThreads * kIncrements);
  std::printf("[ info ] %d increments, %d version conflicts retried\n", kThreads * kIncrements,
              conflicts.load());
}

// ---- opening ------------------------------------------------------------------------------------

TEST_P(StoreContract, ABadUrlOrAnUnreachableServerIsAClearError) {
  EXPECT_ERROR(Store::open("mysql://localhost/db"), "store.bad_url");
  EXPECT_ERROR(Store::open("orion.db"), "store.bad_url");
  if (GetParam() == Backend::kSqlite) {
    EXPECT_ERROR(Store::open("sqlite://"), "store.bad_url");
    EXPECT_ERROR(Store::open("sqlite://x.db?mode=ro"), "store.bad_url");
    const std::string missing = dir_ + "/no/such/dir/orion.db";
    auto s = Store::open("sqlite://" + missing);
    EXPECT_ERROR(s, "store.open");
    EXPECT_NE(s.error().message.find(missing), std::string::npos) << s.error().message;
    // A file that is not a database.
    const std::string junk = dir_ + "/junk.db";
    FILE* f = std::fopen(junk.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fputs("this is not an SQLite database, just text long enough to be read as a header......",
               f);
    std::fclose(f);
    EXPECT_FALSE(Store::open("sqlite://" + junk).ok());
    return;
  }
  EXPECT_ERROR(Store::open("postgresql://[::1"), "store.bad_url");
  // Nothing listens there: a port we just had and closed.
  auto conn = Store::open("postgresql://orion:hunter2@127.0.0.1:1/orion");
  EXPECT_ERROR(conn, "store.open");
  EXPECT_NE(conn.error().message.find("127.0.0.1:1"), std::string::npos) << conn.error().message;
  EXPECT_EQ(conn.error().message.find("hunter2"), std::string::npos)
      << "password leaked: " << conn.error().message;
  // The server trusts loopback, so any password opens it; the store never shows it.
  const std::string with_password =
      "postgresql://orion:hunter2@127.0.0.1:" + std::to_string(pg_->port()) +
      url_.substr(url_.rfind('/'));
  auto ok = Store::open(with_password);
  ASSERT_OK(ok);
  EXPECT_EQ((*ok)->url_redacted().find("hunter2"), std::string::npos) << (*ok)->url_redacted();
  EXPECT_NE((*ok)->url_redacted().find("orion:***@"), std::string::npos) << (*ok)->url_redacted();
}

TEST_P(StoreContract, AStoreReconnectsAfterThePostgreSqlServerRestarts) {
  if (GetParam() == Backend::kSqlite) GTEST_SKIP() << "a file has no server to lose";
  orion::testing::Watchdog dog(Duration::seconds(90), "server restart");
  ASSERT_OK(store_->create_stream(stream("cam1")));
  ASSERT_OK(pg_->stop());
  auto down = store_->get_stream("cam1");
  EXPECT_ERROR(down, "store.unavailable");
  EXPECT_NE(down.error().message.find("database unreachable"), std::string::npos)
      << down.error().message;
  // Between two reconnect attempts a call fails at once, saying when the next one is due.
  const auto t0 = std::chrono::steady_clock::now();
  auto again = store_->create_stream(stream("cam9"));
  EXPECT_ERROR(again, "store.unavailable");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  ASSERT_OK(pg_->start_again());
  // The next call due after the backoff (at most 2 s) reconnects; nobody reopens the store.
  Result<StreamRecord> up = make_error("test", "not tried");
  ASSERT_TRUE(orion::testing::wait_until(
      [&] {
        up = store_->get_stream("cam1");
        return up.ok();
      },
      Duration::seconds(10)))
      << up.error().to_string();
  EXPECT_EQ(up->name, "cam1");
  ASSERT_OK(store_->create_stream(stream("cam2")));
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreContract,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres), backend_name);

}  // namespace
}  // namespace orion::store
