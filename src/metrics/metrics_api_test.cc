// `orion api` as a real child process on a SQLite file: the test writes status rows the way an
// engine does, and GET /metrics over real HTTP answers them, in the text format, beside the
// process's own figures.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "api/testing/api_client.h"
#include "metrics/testing/exposition.h"
#include "store/store.h"
#include "testing/wait.h"
#include "testing/watchdog.h"

#ifndef ORION_BINARY
#error "ORION_BINARY must name the orion executable"
#endif

extern char** environ;

namespace orion::metrics {
namespace {

namespace fs = std::filesystem;
using Values = std::map<testing::LabelSet, double>;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class MetricsApi : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "orion-metrics-api-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    db_ = "sqlite://" + (dir_ / "orion.db").string();
  }
  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Starts `orion api` on the database; returns the URL it serves ("" if it did not say).
  std::string start_api() {
    const fs::path out = dir_ / "api.log";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    const char* argv[] = {ORION_BINARY,  "api", "--db",    db_.c_str(),
                          "--http-port", "0",   "--quiet", nullptr};
    const int rc =
        posix_spawn(&pid_, ORION_BINARY, &fa, nullptr, const_cast<char* const*>(argv), environ);
    posix_spawn_file_actions_destroy(&fa);
    EXPECT_EQ(rc, 0) << "posix_spawn " << ORION_BINARY;
    const std::regex line(R"(serving (http://127\.0\.0\.1:[0-9]+)/api/v1)");
    std::string url;
    orion::testing::wait_until(
        [&] {
          std::smatch m;
          const std::string text = slurp(out);
          if (std::regex_search(text, m, line)) url = m[1].str();
          return !url.empty();
        },
        Duration::seconds(20));
    EXPECT_FALSE(url.empty()) << slurp(out);
    return url;
  }

  fs::path dir_;
  std::string db_;
  pid_t pid_ = -1;
};

TEST_F(MetricsApi, GetMetricsAnswersTheEnginesStatusRowsAndTheProcessFigures) {
  orion::testing::Watchdog dog(Duration::seconds(60), "metrics api test");
  auto s = store::Store::open(db_);
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  store::StreamRecord stream;
  stream.name = "cam1";
  stream.url = "rtsp://127.0.0.1:8555/cam1";
  ASSERT_TRUE((*s)->create_stream(stream).ok());
  store::StreamStatusRecord row;
  row.stream = "cam1";
  row.engine_id = "e1";
  row.state = "live";
  row.frames_in = 4321;
  row.frames_out = 4300;
  row.fps_in = 25;
  ASSERT_TRUE((*s)->put_stream_status(row).ok());

  const std::string url = start_api();
  ASSERT_FALSE(url.empty());
  api::testing::ApiClient client(url);
  api::testing::Answer a = client.get("/metrics");
  ASSERT_EQ(a.status, 200) << a.transport << a.body;
  EXPECT_EQ(a.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  auto doc = testing::parse_exposition(a.body);
  ASSERT_TRUE(doc.ok()) << doc.error().to_string() << "\n" << a.body;
  const testing::LabelSet cam1 = {{"stream", "cam1"}, {"engine", "e1"}};
  EXPECT_EQ(doc->of("orion_metrics_store_up"), (Values{{{}, 1}}));
  EXPECT_EQ(doc->of("orion_stream_frames_in_total"), (Values{{cam1, 4321}}));
  EXPECT_EQ(doc->of("orion_stream_frames_out_total"), (Values{{cam1, 4300}}));
  EXPECT_EQ(doc->of("orion_stream_state"),
            (Values{{{{"stream", "cam1"}, {"engine", "e1"}, {"state", "live"}}, 1}}));
  ASSERT_EQ(doc->of("process_resident_memory_bytes").size(), 1u);
  EXPECT_GT(doc->of("process_resident_memory_bytes").begin()->second, 0);

  // The engine writes again: the next scrape says so (nothing cached between scrapes).
  row.frames_in = 5000;
  row.state = "retrying";
  ASSERT_TRUE((*s)->put_stream_status(row).ok());
  a = client.get("/metrics");
  ASSERT_EQ(a.status, 200) << a.transport << a.body;
  doc = testing::parse_exposition(a.body);
  ASSERT_TRUE(doc.ok()) << doc.error().to_string() << "\n" << a.body;
  EXPECT_EQ(doc->of("orion_stream_frames_in_total"), (Values{{cam1, 5000}}));
  EXPECT_EQ(doc->of("orion_stream_state"),
            (Values{{{{"stream", "cam1"}, {"engine", "e1"}, {"state", "retrying"}}, 1}}));
}

}  // namespace
}  // namespace orion::metrics
