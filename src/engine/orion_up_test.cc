// `orion up` as a real child process: loads a config (relative paths against its folder),
// prints the output URLs, runs, and stops cleanly (exit 0) on SIGINT and on SIGTERM.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "api/testing/api_client.h"
#include "testing/program.h"
#include "testing/wait.h"
#include "testing/watchdog.h"

#ifndef ORION_BINARY
#error "ORION_BINARY must name the orion executable"
#endif

extern char** environ;

namespace {

namespace fs = std::filesystem;
using orion::testing::wait_until;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class OrionUp : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("orion_up_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "orion.yaml") << "streams:\n"
                                          "  - {name: pattern, url: \"test://ball?width=160&height=120&fps=10\"}\n"
                                          "  - {name: missing, url: clips/missing.mp4, loop: true}\n"
                                          "models: []\npipelines: []\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  pid_t spawn(const fs::path& out) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    const std::string config = (dir_ / "orion.yaml").string();
    const std::string db = "sqlite://" + (dir_ / "orion.db").string();
    const char* argv[] = {ORION_BINARY,  "up",       "--config",    config.c_str(),
                          "--db",        db.c_str(), "--rtsp-port", "0",
                          "--http-port", "0",        nullptr};
    pid_t pid = -1;
    EXPECT_EQ(posix_spawn(&pid, ORION_BINARY, &fa, nullptr, const_cast<char* const*>(argv), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    return pid;
  }

  void runs_then_stops_on(int sig) {
    orion::testing::Watchdog dog(orion::Duration::seconds(60), "orion up child");
    const fs::path out = dir_ / "out.txt";
    const pid_t pid = spawn(out);
    ASSERT_GT(pid, 0);
    std::string text;
    auto output_says = [&](const std::string& what) {
      text = slurp(out);
      return text.find(what) != std::string::npos;
    };
    EXPECT_TRUE(wait_until([&] { return output_says("pattern          live"); },
                           orion::Duration::seconds(15)))
        << text;
    EXPECT_NE(text.find("pattern          rtsp://127.0.0.1:"), std::string::npos) << text;
    EXPECT_NE(text.find("orion up: API      http://127.0.0.1:"), std::string::npos) << text;
    EXPECT_NE(text.find("orion up: metrics  http://127.0.0.1:"), std::string::npos) << text;
    // The relative path was resolved against the config's folder, and the error names it.
    EXPECT_TRUE(
        wait_until([&] { return output_says("media.not_found"); }, orion::Duration::seconds(5)))
        << text;
    EXPECT_NE(text.find((dir_ / "clips/missing.mp4").string()), std::string::npos) << text;
    ASSERT_EQ(::kill(pid, sig), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    text = slurp(out);
    ASSERT_TRUE(WIFEXITED(status)) << text;
    EXPECT_EQ(WEXITSTATUS(status), 0) << text;
    EXPECT_NE(text.find("stopped cleanly"), std::string::npos) << text;
  }

  fs::path dir_;
};

TEST_F(OrionUp, StopsCleanlyOnSigint) { runs_then_stops_on(SIGINT); }
TEST_F(OrionUp, StopsCleanlyOnSigterm) { runs_then_stops_on(SIGTERM); }

TEST_F(OrionUp, BadConfigIsRefusedNamingTheField) {
  std::ofstream(dir_ / "orion.yaml") << "streams:\n  - {name: a, url: x, lop: true}\n";
  const fs::path out = dir_ / "out.txt";
  const pid_t pid = spawn(out);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2);
  EXPECT_NE(slurp(out).find("streams[0].lop: unknown field"), std::string::npos) << slurp(out);
}

// No --config and an empty database: the API serves, and what is added through it runs, shows in
// /metrics and is printed with its output URL; a second `orion up --config` of the same file
// into the same database duplicates nothing.
TEST_F(OrionUp, AnEmptyDatabaseServesTheApiAndRunsWhatIsAdded) {
  orion::testing::Watchdog dog(orion::Duration::seconds(90), "orion up, empty database");
  const std::string db = "sqlite://" + (dir_ / "empty.db").string();
  auto up = orion::testing::Program::start(
      {ORION_BINARY, "up", "--db", db, "--rtsp-port", "0", "--http-port", "0", "--quiet"},
      dir_ / "up.txt");
  ASSERT_TRUE(up.ok()) << up.error().to_string();
  auto url = (*up)->wait_for(std::regex(R"(API +(http://127\.0\.0\.1:[0-9]+)/api/v1)"),
                             orion::Duration::seconds(30));
  ASSERT_TRUE(url) << (*up)->output();
  EXPECT_NE((*up)->output().find("no streams yet"), std::string::npos) << (*up)->output();
  orion::api::testing::ApiClient api(*url);
  EXPECT_EQ(api.get("/api/v1/streams").json["streams"].size(), 0u)
      << api.get("/api/v1/streams").body;
  ASSERT_EQ(
      api.post("/api/v1/streams",
               nlohmann::json{{"name", "cam"}, {"url", "test://ball?width=160&height=120&fps=10"}})
          .status,
      201);
  EXPECT_TRUE((*up)->wait_for(std::regex(R"(stream cam +(rtsp://127\.0\.0\.1:[0-9]+/cam))"),
                              orion::Duration::seconds(15)))
      << (*up)->output();
  EXPECT_TRUE(wait_until(
      [&] {
        auto m = api.get("/metrics");
        return m.status == 200 &&
               m.body.find("orion_stream_frames_out_total{") != std::string::npos &&
               m.body.find("stream=\"cam\"") != std::string::npos;
      },
      orion::Duration::seconds(15)))
      << api.get("/metrics").body;
  EXPECT_EQ((*up)->terminate(), 0) << (*up)->output();

  // The same file imported twice: every record once, the second import changes nothing.
  for (int round = 0; round < 2; ++round) {
    auto again = orion::testing::Program::start(
        {ORION_BINARY, "up", "--db", db, "--config", (dir_ / "orion.yaml").string(), "--rtsp-port",
         "0", "--http-port", "0", "--duration", "1"},
        dir_ / ("again" + std::to_string(round) + ".txt"));
    ASSERT_TRUE(again.ok());
    auto summary =
        (*again)->wait_for(std::regex(R"(imported [^:]+: (.*))"), orion::Duration::seconds(30));
    ASSERT_TRUE(summary) << (*again)->output();
    if (round == 1) {
      EXPECT_NE(summary->find("streams 0 created, 0 updated, 2 unchanged"), std::string::npos)
          << *summary;
    }
    EXPECT_EQ((*again)->terminate(), 0) << (*again)->output();
  }
}

}  // namespace
