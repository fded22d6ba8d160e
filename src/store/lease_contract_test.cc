// Stream leases and fencing epochs (store.h "leases", ADR 0050), one suite for both backends:
// SQLite in a temp file and a real PostgreSQL started by the test. The point of the fencing is
// that the DATABASE refuses a stale write, whatever the client does: these tests write stale
// rows through the Store and through raw SQL and expect both refused.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "store/sql.h"
#include "store/store.h"
#include "store/testing/postgres_fixture.h"
#include "testing/wait.h"

namespace orion::store {
namespace {

namespace fs = std::filesystem;

enum class Backend { kSqlite, kPostgres };

void PrintTo(Backend b, std::ostream* os) {
  *os << (b == Backend::kSqlite ? "SQLite" : "PostgreSQL");
}

EngineRecord engine(const std::string& id, int max_streams = 0) {
  EngineRecord e;
  e.id = id;
  e.rtsp_url = "rtsp://127.0.0.1:8554";
  e.max_streams = max_streams;
  return e;
}

// A round that claims every claimable stream (or only `only`).
LeaseRound claim_all(const std::string& id, std::map<std::string, int64_t> renew = {},
                     Duration lease = Duration::seconds(30)) {
  LeaseRound r;
  r.engine = engine(id);
  r.lease = lease;
  r.renew = std::move(renew);
  r.plan = [](const LeaseView& v) {
    std::vector<std::string> out;
    for (const auto& l : v.claimable) out.push_back(l.stream);
    return out;
  };
  return r;
}

StreamStatusRecord status(const std::string& stream, const std::string& engine_id, int64_t epoch) {
  StreamStatusRecord s;
  s.stream = stream;
  s.engine_id = engine_id;
  s.state = "live";
  s.epoch = epoch;
  return s;
}

class LeaseContract : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kSqlite) {
      std::string templ = (fs::temp_directory_path() / "orion-lease-XXXXXX").string();
      ASSERT_NE(::mkdtemp(templ.data()), nullptr);
      dir_ = templ;
      url_ = "sqlite://" + dir_ + "/orion.db";
    } else {
      ORION_REQUIRE_POSTGRES(pg);
      auto db = pg->fresh_database();
      ASSERT_TRUE(db.ok()) << db.error().to_string();
      url_ = *db;
    }
    a_ = open();
    b_ = open();
    ASSERT_TRUE(a_ && b_);
    for (const char* s : {"cam1", "cam2"}) {
      StreamRecord r;
      r.name = s;
      r.url = "test://ball";
      ASSERT_TRUE(a_->create_stream(r).ok());
    }
    ModelRecord m;
    m.name = "m";
    m.kind = "fake";
    ASSERT_TRUE(a_->create_model(m).ok());
    PipelineRecord p;
    p.name = "p1";
    p.stream = "cam1";
    p.model = "m";
    ASSERT_TRUE(a_->create_pipeline(p).ok());
  }
  void TearDown() override {
    a_.reset();
    b_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  std::unique_ptr<Store> open() {
    auto s = Store::open(url_);
    EXPECT_TRUE(s.ok()) << s.error().to_string();
    return s.ok() ? std::move(*s) : nullptr;
  }

  // Raw SQL on a connection of our own: what a client that ignores the Store would do.
  Status raw(const std::string& statement, const sql::Params& params) {
    auto conn = sql::connect(url_);
    if (!conn.ok()) return conn.error();
    if (auto s = (*conn)->begin(true); !s.ok()) return s;
    auto r = (*conn)->exec(statement, params);
    if (!r.ok()) {
      (*conn)->rollback();
      return r.error();
    }
    return (*conn)->commit();
  }

  // Waits (a condition, with a deadline) until every lease has expired in the database's clock.
  bool all_expired() {
    return orion::testing::wait_until(
        [&] {
          auto l = a_->list_leases();
          if (!l.ok()) return false;
          for (const auto& x : *l)
            if (x.expires_in_ms > 0) return false;
          return true;
        },
        Duration::seconds(5), Duration::millis(20));
  }

  std::string dir_, url_;
  std::unique_ptr<Store> a_, b_;
};

TEST_P(LeaseContract, AStreamIsClaimedByOneEngineAndItsEpochGrowsAtEveryOwnerChange) {
  auto first = a_->lease_round(claim_all("A"));
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  EXPECT_EQ(first->held, (std::map<std::string, int64_t>{{"cam1", 1}, {"cam2", 1}}));

  // B finds nothing to claim while A's leases live.
  auto second = b_->lease_round(claim_all("B"));
  ASSERT_TRUE(second.ok()) << second.error().to_string();
  EXPECT_TRUE(second->held.empty());
  ASSERT_EQ(second->view.engines.size(), 2u);
  EXPECT_EQ(second->view.engines[0].held, 2);

  // A renews cam1 and releases cam2; B claims cam2 with the next epoch.
  LeaseRound renew = claim_all("A", {{"cam1", 1}});
  renew.release = {{"cam2", 1}};
  renew.plan = nullptr;
  auto third = a_->lease_round(renew);
  ASSERT_TRUE(third.ok()) << third.error().to_string();
  EXPECT_EQ(third->held, (std::map<std::string, int64_t>{{"cam1", 1}}));
  auto fourth = b_->lease_round(claim_all("B"));
  ASSERT_TRUE(fourth.ok());
  EXPECT_EQ(fourth->held, (std::map<std::string, int64_t>{{"cam2", 2}}));

  // A renewing cam2 under epoch 1 learns it lost it.
  auto fifth = a_->lease_round(claim_all("A", {{"cam1", 1}, {"cam2", 1}}));
  ASSERT_TRUE(fifth.ok());
  EXPECT_EQ(fifth->lost, std::vector<std::string>{"cam2"});
  auto leases = a_->list_leases();
  ASSERT_TRUE(leases.ok());
  ASSERT_EQ(leases->size(), 2u);
  EXPECT_EQ((*leases)[1].engine_id, "B");
  EXPECT_EQ((*leases)[1].epoch, 2);
}

TEST_P(LeaseContract, AnExpiredLeaseIsClaimedByAnotherEngineWithTheNextEpoch) {
  ASSERT_TRUE(a_->lease_round(claim_all("A", {}, Duration::millis(200))).ok());
  // Before expiry: nothing for B. After: both streams, epoch 2 (PostgreSQL's server has been up
  // for longer than this 200 ms lease, so expired claims are allowed).
  auto early = b_->lease_round(claim_all("B"));
  ASSERT_TRUE(early.ok());
  EXPECT_TRUE(early->held.empty());
  ASSERT_TRUE(all_expired());
  // A round whose lease is longer than the server has been up may not take expired leases (a
  // PostgreSQL restart: the holders get one lease to renew first). SQLite has no server.
  if (GetParam() == Backend::kPostgres) {
    auto young = b_->lease_round(claim_all("B", {}, Duration::seconds(3600)));
    ASSERT_TRUE(young.ok()) << young.error().to_string();
    EXPECT_FALSE(young->view.expired_claims_allowed);
    EXPECT_TRUE(young->held.empty());
  }
  auto late = b_->lease_round(claim_all("B", {}, Duration::millis(200)));
  ASSERT_TRUE(late.ok()) << late.error().to_string();
  EXPECT_TRUE(late->view.expired_claims_allowed);
  EXPECT_EQ(late->held, (std::map<std::string, int64_t>{{"cam1", 2}, {"cam2", 2}}));
}

TEST_P(LeaseContract, TheDatabaseRefusesAStaleWriteThroughTheStoreAndThroughRawSql) {
  ASSERT_TRUE(a_->lease_round(claim_all("A")).ok());
  ASSERT_TRUE(a_->put_stream_status(status("cam1", "A", 1)).ok());
  LeaseRound give = claim_all("A", {{"cam1", 1}});
  give.release = {{"cam2", 1}};
  give.plan = nullptr;
  ASSERT_TRUE(a_->lease_round(give).ok());
  ASSERT_TRUE(b_->lease_round(claim_all("B")).ok());  // B: cam2 at epoch 2
  ASSERT_TRUE(b_->put_stream_status(status("cam2", "B", 2)).ok());

  // A, still believing it holds cam2 at epoch 1: every kind of write is refused.
  auto st = a_->put_stream_status(status("cam2", "A", 1));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "store.stale_epoch") << st.error().to_string();
  EXPECT_EQ(a_->put_stream_status(status("cam2", "A", 2)).error().code, "store.stale_epoch")
      << "the right epoch from the wrong engine";
  EXPECT_EQ(a_->put_stream_status(status("cam2", "A", 0)).error().code, "store.stale_epoch")
      << "an unfenced write to a leased stream";
  EventRecord e;
  e.stream = "cam2";
  e.pipeline = "p2";
  e.epoch = 1;
  EXPECT_EQ(a_->insert_events({e}).error().code, "store.stale_epoch");
  e.epoch = 2;
  EXPECT_TRUE(b_->insert_events({e}).ok());
  // Pipeline status is fenced by its stream's lease: p1 is on cam1, A's at epoch 1.
  PipelineStatusRecord ps;
  ps.pipeline = "p1";
  ps.engine_id = "B";
  ps.state = "running";
  ps.epoch = 1;
  EXPECT_EQ(b_->put_pipeline_status(ps).error().code, "store.stale_epoch");
  ps.engine_id = "A";
  EXPECT_TRUE(a_->put_pipeline_status(ps).ok());
  // Raw SQL that bypasses the Store is refused by the same triggers.
  auto r = raw("UPDATE stream_status SET epoch = 1, engine_id = 'A' WHERE stream = 'cam2'", {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("orion_stale_epoch"), std::string::npos) << r.error().message;
  auto rows = b_->list_stream_status();
  ASSERT_TRUE(rows.ok());
  for (const auto& row : *rows)
    if (row.stream == "cam2") {
      EXPECT_EQ(row.engine_id, "B");
    }
  // A stream never leased takes unfenced rows as before.
  StreamRecord fresh;
  fresh.name = "cam3";
  fresh.url = "test://ball";
  ASSERT_TRUE(a_->create_stream(fresh).ok());
  EXPECT_TRUE(a_->put_stream_status(status("cam3", "anyone", 0)).ok());
}

TEST_P(LeaseContract, AnExpiredLeaseRefusesWritesEvenBeforeAnotherEngineClaimsIt) {
  ASSERT_TRUE(a_->lease_round(claim_all("A", {}, Duration::millis(150))).ok());
  ASSERT_TRUE(a_->put_stream_status(status("cam1", "A", 1)).ok());
  ASSERT_TRUE(all_expired());
  EXPECT_EQ(a_->put_stream_status(status("cam1", "A", 1)).error().code, "store.stale_epoch");
}

TEST_P(LeaseContract, ABadRoundIsAClearError) {
  LeaseRound r = claim_all("");
  EXPECT_EQ(a_->lease_round(r).error().code, "store.invalid");
  r = claim_all("A", {}, Duration::zero());
  auto zero = a_->lease_round(r);
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.error().message.find("'lease'"), std::string::npos);
  r = claim_all("A");
  r.engine.state = "sleeping";
  auto bad = a_->lease_round(r);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("'state'"), std::string::npos) << bad.error().message;
}

INSTANTIATE_TEST_SUITE_P(Backends, LeaseContract,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& p) {
                           return p.param == Backend::kSqlite ? "SQLite" : "PostgreSQL";
                         });

}  // namespace
}  // namespace orion::store
