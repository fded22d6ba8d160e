// The API is stateless (issue 11, "Operations"; docs/design/db_resilience.md): two `orion api`
// processes on one database behave as one. Real processes, real HTTP, on SQLite (one file) and
// on a PostgreSQL server of the test's own:
//   - what is written through one is read through the other at once (create, PATCH, DELETE),
//     for every resource kind, lists included;
//   - versions are the database's: a PATCH through B with the version A's client read before
//     A's own PATCH is 409 (in the body and with If-Match), and changes nothing;
//   - concurrent creates of one name through both: exactly one 201, the other 409;
//   - the answers agree: the same resource read through both is the same JSON, byte for byte
//     (no process keeps a copy that could disagree).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "api/testing/api_client.h"
#include "api/testing/backends.h"
#include "testing/program.h"
#include "testing/watchdog.h"

#ifndef ORION_BINARY
#error "ORION_BINARY must name the orion executable"
#endif

namespace orion::control {
namespace {

namespace fs = std::filesystem;
using api::testing::Answer;
using api::testing::ApiClient;
using nlohmann::json;
using orion::testing::Program;

class TwoApis : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = api::testing::open_backend(GetParam(), "two_apis");
    if (!db_.skip_reason.empty()) GTEST_SKIP() << db_.skip_reason;
    ASSERT_TRUE(db_.store) << db_.error;
    dir_ = fs::temp_directory_path() / ("orion_two_apis_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    for (int i = 0; i < 2; ++i) {
      auto p = Program::start({ORION_BINARY, "api", "--db", db_.url, "--http-port", "0", "--quiet"},
                              dir_ / ("api" + std::to_string(i) + ".log"));
      ASSERT_TRUE(p.ok()) << p.error().to_string();
      auto url = (*p)->wait_for(std::regex(R"(serving (http://127\.0\.0\.1:[0-9]+)/api/v1)"),
                                Duration::seconds(20));
      ASSERT_TRUE(url) << (*p)->output();
      apis_.push_back(std::move(*p));
      clients_.emplace_back(std::make_unique<ApiClient>(*url));
    }
  }
  void TearDown() override {
    for (auto& p : apis_) EXPECT_EQ(p->terminate(Duration::seconds(20)), 0) << p->output();
    apis_.clear();
    db_ = {};
    fs::remove_all(dir_);
  }
  ApiClient& a() { return *clients_[0]; }
  ApiClient& b() { return *clients_[1]; }

  api::testing::Backend db_;
  fs::path dir_;
  std::vector<std::unique_ptr<Program>> apis_;
  std::vector<std::unique_ptr<ApiClient>> clients_;
};

TEST_P(TwoApis, AWriteThroughOneIsReadThroughTheOtherAndAStaleVersionIsRefusedByBoth) {
  orion::testing::Watchdog dog(Duration::seconds(60), "two API processes");
  // Create through A, read through B (one and list), for each kind.
  ASSERT_EQ(a().post("/api/v1/models", json{{"name", "quick"}, {"kind", "fake"}}).status, 201);
  ASSERT_EQ(a().post("/api/v1/streams", json{{"name", "cam1"}, {"url", "test://ball"}}).status,
            201);
  ASSERT_EQ(
      b().post("/api/v1/pipelines", json{{"name", "p1"}, {"stream", "cam1"}, {"model", "quick"}})
          .status,
      201);
  for (const char* path : {"/api/v1/models/quick", "/api/v1/streams/cam1", "/api/v1/pipelines/p1",
                           "/api/v1/streams", "/api/v1/models", "/api/v1/pipelines"}) {
    const Answer x = a().get(path), y = b().get(path);
    ASSERT_EQ(x.status, 200) << path << " " << x.body;
    EXPECT_EQ(x.body, y.body) << path << ": the two processes disagree";
  }
  Answer read = b().get("/api/v1/streams/cam1");
  ASSERT_EQ(read.json.value("version", 0), 1);

  // PATCH through A with version 1 → 2; B sees 2 at once.
  Answer patched = a().patch("/api/v1/streams/cam1", json{{"enabled", false}, {"version", 1}});
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(patched.json.value("version", 0), 2);
  Answer seen = b().get("/api/v1/streams/cam1");
  EXPECT_EQ(seen.json.value("version", 0), 2);
  EXPECT_EQ(seen.json.value("enabled", true), false);
  EXPECT_EQ(seen.header("ETag"), "\"2\"");

  // B's client still holds version 1: its PATCH is 409, in the body or as If-Match.
  Answer stale = b().patch("/api/v1/streams/cam1", json{{"loop", true}, {"version", 1}});
  EXPECT_EQ(stale.status, 409) << stale.body;
  EXPECT_EQ(stale.error_code(), "store.version_conflict");
  EXPECT_NE(stale.error_message().find("version 2"), std::string::npos) << stale.body;
  Answer stale_header =
      b().patch("/api/v1/streams/cam1", json{{"loop", true}}, {{"If-Match", "\"1\""}});
  EXPECT_EQ(stale_header.status, 409) << stale_header.body;
  Answer after = a().get("/api/v1/streams/cam1");
  EXPECT_EQ(after.json.value("version", 0), 2);
  EXPECT_EQ(after.json.value("loop", true), false) << "a refused PATCH changed something";
  // A stale DELETE through A is refused as well; a current one through B goes through.
  EXPECT_EQ(a().del("/api/v1/pipelines/p1", {{"If-Match", "\"7\""}}).status, 409);
  EXPECT_EQ(b().del("/api/v1/pipelines/p1", {{"If-Match", "\"1\""}}).status, 200);
  EXPECT_EQ(a().get("/api/v1/pipelines/p1").status, 404);

  // One name created through both at once: exactly one wins.
  for (int round = 0; round < 5; ++round) {
    const std::string name = "race" + std::to_string(round);
    Answer x, y;
    {
      std::jthread t1([&] {
        x = a().post("/api/v1/streams", json{{"name", name}, {"url", "test://ball"}});
      });
      std::jthread t2([&] {
        y = b().post("/api/v1/streams", json{{"name", name}, {"url", "test://smpte"}});
      });
    }
    ASSERT_TRUE((x.status == 201 && y.status == 409) || (x.status == 409 && y.status == 201))
        << name << ": " << x.status << " " << x.body << " / " << y.status << " " << y.body;
    const std::string winner = x.status == 201 ? "test://ball" : "test://smpte";
    EXPECT_EQ(a().get("/api/v1/streams/" + name).json.value("url", ""), winner);
    EXPECT_EQ(b().get("/api/v1/streams/" + name).json.value("url", ""), winner);
  }
  EXPECT_EQ(a().get("/api/v1/streams").body, b().get("/api/v1/streams").body);
}

INSTANTIATE_TEST_SUITE_P(Backends, TwoApis, ::testing::ValuesIn(api::testing::backend_names()),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace orion::control
