// The control plane from outside, as a user runs it (issue 10): `orion engine` and `orion api`
// as real processes on one database (SQLite file, or a PostgreSQL server of the test's own),
// driven over real HTTP, watched with real RTSP clients.
//   - Live reconfiguration: with two streams running, a third is added through the API (its
//     output plays within 3 s), its pipeline's min_score changed (a new worker; the stream is
//     not restarted), then both deleted (output and worker gone); throughout, the two other
//     outputs never skip more than one frame and their worker pids never change.
//   - Engine SIGKILL: started again on the same database, the engine reconciles to the desired
//     state and the outputs come back; the killed engine's workers died with it.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <regex>

#include "api/testing/api_client.h"
#include "api/testing/backends.h"
#include "media/testing/rtsp_fixtures.h"
#include "testing/program.h"
#include "testing/wait.h"
#include "testing/watchdog.h"

#ifndef ORION_BINARY
#error "ORION_BINARY must name the orion executable"
#endif

namespace orion::control {
namespace {

namespace fs = std::filesystem;
using api::testing::Answer;
using api::testing::ApiClient;
using media::testing::ReceivedFrame;
using media::testing::RtspTestClient;
using nlohmann::json;
using orion::testing::Program;
using orion::testing::wait_until;

constexpr int kFps = 25;

json stream_body(const std::string& name) {
  return {{"name", name}, {"url", "test://ball?width=320&height=240&fps=" + std::to_string(kFps)}};
}

json pipeline_body(const std::string& name, const std::string& stream) {
  return {{"name", name}, {"stream", stream}, {"model", "quick"}};
}

// The largest step between consecutive sequence stamps a client saw from `from` on (1: no frame
// skipped), and how many went backwards or repeated.
struct Continuity {
  uint64_t frames = 0, max_step = 0, backwards = 0;
};

Continuity continuity(const std::vector<ReceivedFrame>& frames, size_t from) {
  Continuity c;
  std::optional<uint64_t> prev;
  for (size_t i = from; i < frames.size(); ++i) {
    if (!frames[i].sequence) continue;
    ++c.frames;
    if (prev && *frames[i].sequence <= *prev) ++c.backwards;
    if (prev && *frames[i].sequence > *prev)
      c.max_step = std::max(c.max_step, *frames[i].sequence - *prev);
    prev = frames[i].sequence;
  }
  return c;
}

class ControlPlane : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    db_ = api::testing::open_backend(
        GetParam(), "cp_" + std::to_string(std::hash<std::string>{}(test) % 100000));
    if (!db_.skip_reason.empty()) GTEST_SKIP() << db_.skip_reason;
    ASSERT_TRUE(db_.store) << db_.error;
    dir_ = fs::temp_directory_path() / ("orion_cp_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    engine_.reset();
    api_.reset();
    db_ = {};
    fs::remove_all(dir_);
  }

  void start_api() {
    auto p = Program::start({ORION_BINARY, "api", "--db", db_.url, "--http-port", "0", "--quiet"},
                            dir_ / "api.log");
    ASSERT_TRUE(p.ok()) << p.error().to_string();
    api_ = std::move(p.value());
    auto url = api_->wait_for(std::regex(R"(serving (http://127\.0\.0\.1:[0-9]+)/api/v1)"),
                              Duration::seconds(20));
    ASSERT_TRUE(url) << api_->output();
    client_.emplace(*url);
  }

  // Each engine has its own id and a 2 s lease (scale-out: a killed engine's streams are taken
  // over once its leases expire).
  void start_engine(const std::string& log) {
    auto p =
        Program::start({ORION_BINARY, "engine", "--db", db_.url, "--rtsp-port", "0", "--http-port",
                        "0", "--stamp-sequence", "--engine-id", log, "--lease-seconds", "2"},
                       dir_ / log);
    ASSERT_TRUE(p.ok()) << p.error().to_string();
    engine_ = std::move(p.value());
    ASSERT_TRUE(
        engine_->wait_for(std::regex(R"(orion engine: (\S+) running)"), Duration::seconds(30)))
        << engine_->output();
  }

  Answer get(const std::string& path) { return client_->get(path); }

  void create(const std::string& kind, const json& body) {
    Answer a = client_->post("/api/v1/" + kind, body);
    ASSERT_EQ(a.status, 201) << kind << " " << body.dump() << ": " << a.body;
  }

  // The stream's output URL once the engine (`owner`, when given) reports it live; "" if not
  // within `limit`.
  std::string live_output(const std::string& stream, Duration limit,
                          const std::string& owner = "") {
    std::string url;
    wait_until(
        [&] {
          Answer a = get("/api/v1/streams/" + stream);
          if (a.status == 200 && a.json.value("state", json()) == "live" &&
              a.json["output_url"].is_string() &&
              (owner.empty() || a.json.value("owner_engine", json()) == owner))
            url = a.json["output_url"].get<std::string>();
          return !url.empty();
        },
        limit, Duration::millis(50));
    return url;
  }

  // The pipeline's worker pid once it runs (and, when `not_pid` is given, is another one).
  int running_pid(const std::string& pipeline, Duration limit, int not_pid = 0) {
    int pid = 0;
    wait_until(
        [&] {
          Answer a = get("/api/v1/pipelines/" + pipeline);
          if (a.status == 200 && a.json.value("state", json()) == "running" &&
              a.json["pid"].is_number_integer() && a.json["pid"].get<int>() != not_pid)
            pid = a.json["pid"].get<int>();
          return pid != 0;
        },
        limit, Duration::millis(50));
    return pid;
  }

  api::testing::Backend db_;
  fs::path dir_;
  std::unique_ptr<Program> api_, engine_;
  std::optional<ApiClient> client_;
};

TEST_P(ControlPlane, StreamsAddedChangedAndDeletedLiveWithoutTouchingTheOthers) {
  orion::testing::Watchdog dog(Duration::seconds(200), "live reconfiguration");
  start_api();
  start_engine("engine.log");
  create("models", {{"name", "quick"}, {"kind", "fake"}});
  for (const char* s : {"a", "b"}) {
    create("streams", stream_body(s));
    create("pipelines", pipeline_body(std::string("p") + s, s));
  }
  const std::string url_a = live_output("a", Duration::seconds(20)),
                    url_b = live_output("b", Duration::seconds(20));
  ASSERT_FALSE(url_a.empty() || url_b.empty()) << engine_->output();
  const int pid_a = running_pid("pa", Duration::seconds(30)),
            pid_b = running_pid("pb", Duration::seconds(30));
  ASSERT_TRUE(pid_a && pid_b) << engine_->output();
  auto client_a = RtspTestClient::start(url_a);
  auto client_b = RtspTestClient::start(url_b);
  ASSERT_TRUE(client_a.ok() && client_b.ok());
  ASSERT_TRUE(wait_until(
      [&] { return (*client_a)->frames().size() > 10 && (*client_b)->frames().size() > 10; },
      Duration::seconds(20)));
  const size_t from_a = (*client_a)->frames().size(), from_b = (*client_b)->frames().size();

  // Add c: a client reads its first frame within 3 s of the POST.
  const auto t0 = std::chrono::steady_clock::now();
  create("streams", stream_body("c"));
  std::unique_ptr<RtspTestClient> client_c;
  const bool plays = wait_until(
      [&] {
        Answer a = get("/api/v1/streams/c");
        if (!client_c && a.status == 200 && a.json["output_url"].is_string()) {
          auto c = RtspTestClient::start(a.json["output_url"].get<std::string>());
          if (c.ok()) client_c = std::move(c.value());
        }
        if (client_c && client_c->ended())
          client_c.reset();  // asked before the mount existed: again
        return client_c && !client_c->frames().empty();
      },
      Duration::seconds(3), Duration::millis(20));
  const double first_frame_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(plays) << "c's output did not play within 3 s\n" << engine_->output();
  std::printf("POST stream c → first frame read by a client: %.0f ms\n", first_frame_ms);
  create("pipelines", pipeline_body("pc", "c"));
  const int pid_c = running_pid("pc", Duration::seconds(30));
  ASSERT_NE(pid_c, 0);
  const uint64_t c_reconnects = get("/api/v1/streams/c").json.value("reconnects", uint64_t{0});

  // Change pc's min_score: a fresh worker; c's capture is not restarted, its viewer carries on.
  Answer current = get("/api/v1/pipelines/pc");
  Answer patched = client_->patch("/api/v1/pipelines/pc",
                                  json{{"min_score", 0.6}, {"version", current.json["version"]}});
  ASSERT_EQ(patched.status, 200) << patched.body;
  const int pid_c2 = running_pid("pc", Duration::seconds(30), pid_c);
  ASSERT_NE(pid_c2, 0) << "pc did not get a new worker";
  EXPECT_NE(::kill(pid_c, 0), 0) << "the old worker still runs";
  const size_t seen_c = client_c->frames().size();
  ASSERT_TRUE(
      wait_until([&] { return client_c->frames().size() > seen_c + 10; }, Duration::seconds(10)));
  EXPECT_FALSE(client_c->ended());
  EXPECT_EQ(get("/api/v1/streams/c").json.value("reconnects", uint64_t{0}), c_reconnects);

  // Delete pc and c: the output ends for its viewer, no new viewer gets it, the worker is gone.
  ASSERT_EQ(client_->del("/api/v1/pipelines/pc").status, 200);
  ASSERT_EQ(client_->del("/api/v1/streams/c").status, 200);
  ASSERT_TRUE(wait_until([&] { return client_c->ended(); }, Duration::seconds(10)))
      << "c's viewer still plays";
  ASSERT_TRUE(wait_until([&] { return ::kill(pid_c2, 0) != 0; }, Duration::seconds(10)))
      << "pc's worker still runs";
  EXPECT_EQ(get("/api/v1/streams/c").status, 404);
  auto late = RtspTestClient::start(url_a.substr(0, url_a.rfind('/')) + "/c");
  ASSERT_TRUE(late.ok());
  ASSERT_TRUE(wait_until([&] { return (*late)->ended(); }, Duration::seconds(10)))
      << "c is still served";
  EXPECT_TRUE((*late)->frames().empty());

  // Throughout: a and b never skipped more than one frame; their workers are the same processes.
  const size_t now_a = (*client_a)->frames().size();
  ASSERT_TRUE(
      wait_until([&] { return (*client_a)->frames().size() > now_a + 10; }, Duration::seconds(10)));
  for (const auto& [client, from, name] :
       {std::tuple{client_a->get(), from_a, "a"}, std::tuple{client_b->get(), from_b, "b"}}) {
    const Continuity c = continuity(client->frames(), from);
    std::printf("output %s during reconfiguration: %llu frames, largest sequence step %llu\n", name,
                static_cast<unsigned long long>(c.frames),
                static_cast<unsigned long long>(c.max_step));
    EXPECT_GT(c.frames, 50u) << name;
    EXPECT_EQ(c.backwards, 0u) << name;
    EXPECT_LE(c.max_step, 2u) << name << ": a gap over two frame intervals";
    EXPECT_FALSE(client->ended()) << name;
  }
  EXPECT_EQ(get("/api/v1/pipelines/pa").json.value("pid", 0), pid_a);
  EXPECT_EQ(get("/api/v1/pipelines/pb").json.value("pid", 0), pid_b);
}

TEST_P(ControlPlane, AnEngineKilledAndStartedAgainReconcilesAndItsOutputsComeBack) {
  orion::testing::Watchdog dog(Duration::seconds(150), "engine SIGKILL");
  start_api();
  start_engine("engine1.log");
  create("models", {{"name", "quick"}, {"kind", "fake"}});
  create("streams", stream_body("a"));
  create("pipelines", pipeline_body("pa", "a"));
  ASSERT_FALSE(live_output("a", Duration::seconds(20)).empty()) << engine_->output();
  const int pid_a = running_pid("pa", Duration::seconds(30));
  ASSERT_NE(pid_a, 0);

  ASSERT_TRUE(engine_->sigkill());
  ASSERT_TRUE(wait_until([&] { return ::kill(pid_a, 0) != 0; }, Duration::seconds(10)))
      << "the killed engine's worker outlived it";
  // While no engine runs, the API still answers and accepts changes.
  create("streams", stream_body("b"));

  start_engine("engine2.log");
  const std::string url_a = live_output("a", Duration::seconds(20), "engine2.log"),
                    url_b = live_output("b", Duration::seconds(20), "engine2.log");
  ASSERT_FALSE(url_a.empty() || url_b.empty()) << engine_->output();
  for (const std::string& url : {url_a, url_b}) {
    auto c = RtspTestClient::start(url);
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(wait_until([&] { return (*c)->frames().size() > 5; }, Duration::seconds(15)))
        << url;
  }
  const int pid_again = running_pid("pa", Duration::seconds(30), pid_a);
  EXPECT_NE(pid_again, 0);
  Answer engines = get("/api/v1/engines");
  ASSERT_EQ(engines.status, 200);
  EXPECT_GE(engines.json["engines"].size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Backends, ControlPlane, ::testing::ValuesIn(api::testing::backend_names()),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace orion::control
