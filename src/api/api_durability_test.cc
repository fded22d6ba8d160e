// Durability: `orion api` as a real child process on a SQLite file, a burst of POSTs from
// several clients, SIGKILL in the middle of it, then a restart on the same file. Every write
// that was acknowledged (a 201) is there afterwards, intact; a write that was not acknowledged
// may or may not be, but is never half there.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "api/testing/api_client.h"
#include "testing/wait.h"
#include "testing/watchdog.h"

#ifndef ORION_BINARY
#error "ORION_BINARY must name the orion executable"
#endif

extern char** environ;

namespace orion::api {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::Answer;
using testing::ApiClient;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// `orion api` on a database, its output in a file; the URL it serves, read from its first line.
class ApiProcess {
 public:
  ApiProcess(const std::string& db, const fs::path& out) : out_(out) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    const char* argv[] = {ORION_BINARY,  "api", "--db",    db.c_str(),
                          "--http-port", "0",   "--quiet", nullptr};
    const int rc =
        posix_spawn(&pid_, ORION_BINARY, &fa, nullptr, const_cast<char* const*>(argv), environ);
    posix_spawn_file_actions_destroy(&fa);
    EXPECT_EQ(rc, 0) << "posix_spawn " << ORION_BINARY;
  }
  ~ApiProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  // The base URL once the process says it serves; "" if it did not within the limit.
  std::string wait_for_url() {
    const std::regex line(R"(serving (http://127\.0\.0\.1:[0-9]+)/api/v1)");
    std::string url;
    orion::testing::wait_until(
        [&] {
          std::smatch m;
          const std::string text = slurp(out_);
          if (std::regex_search(text, m, line)) url = m[1].str();
          return !url.empty() || exited();
        },
        Duration::seconds(20));
    return url;
  }

  void sigkill() {
    ASSERT_EQ(::kill(pid_, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid_, &status, 0), pid_);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    pid_ = -1;
  }

  int terminate() {
    EXPECT_EQ(::kill(pid_, SIGTERM), 0);
    int status = 0;
    EXPECT_EQ(::waitpid(pid_, &status, 0), pid_);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string output() const { return slurp(out_); }

 private:
  bool exited() {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return true;
    }
    return false;
  }

  fs::path out_;
  pid_t pid_ = -1;
};

class ApiDurability : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("orion_api_durability_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(ApiDurability, EveryAcknowledgedWriteSurvivesSigkill) {
  orion::testing::Watchdog dog(Duration::seconds(90), "api durability test");
  const std::string db = "sqlite://" + (dir_ / "orion.db").string();

  std::set<std::string> acked;  // guarded by mu
  std::mutex mu;
  std::atomic<int> acked_count{0}, refused{0};
  {
    ApiProcess api(db, dir_ / "run1.txt");
    const std::string url = api.wait_for_url();
    ASSERT_FALSE(url.empty()) << api.output();

    // Four clients POST as fast as they can until the process is gone.
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int c = 0; c < 4; ++c) {
      clients.emplace_back([&, c] {
        ApiClient client(url);
        for (int i = 0; !stop; ++i) {
          const std::string name = "s" + std::to_string(c) + "-" + std::to_string(i);
          Answer a = client.post(
              "/api/v1/streams",
              json{{"name", name}, {"url", "test://ball?fps=" + std::to_string(1 + i % 60)}});
          if (a.status == 0) break;  // the server is gone
          if (a.status == 201) {
            std::lock_guard lock(mu);
            acked.insert(name);
            ++acked_count;
          } else {
            ++refused;
          }
        }
      });
    }
    // Kill it in the middle of the burst: after a good number of writes were acknowledged,
    // while every client still has one in flight.
    ASSERT_TRUE(orion::testing::wait_until([&] { return acked_count.load() >= 200; },
                                           Duration::seconds(40)))
        << acked_count.load() << " acknowledged; " << api.output();
    api.sigkill();
    stop = true;
    for (auto& t : clients) t.join();
  }
  EXPECT_EQ(refused.load(), 0);
  ASSERT_GE(acked.size(), 200u);

  // Started again on the same file: every acknowledged write is there, whole.
  ApiProcess again(db, dir_ / "run2.txt");
  const std::string url = again.wait_for_url();
  ASSERT_FALSE(url.empty()) << again.output();
  ApiClient client(url);
  Answer list = client.get("/api/v1/streams");
  ASSERT_EQ(list.status, 200) << list.body;
  std::set<std::string> present;
  for (const auto& s : list.json["streams"]) {
    const std::string name = s["name"];
    present.insert(name);
    EXPECT_EQ(s["version"], 1) << name;
    EXPECT_EQ(s["url"].get<std::string>().rfind("test://ball?fps=", 0), 0u) << s;
  }
  for (const auto& name : acked) EXPECT_TRUE(present.count(name)) << name << " was acknowledged";
  std::printf("acknowledged before SIGKILL: %zu, present after restart: %zu\n", acked.size(),
              present.size());
  EXPECT_GE(present.size(), acked.size());
  EXPECT_LE(present.size(), acked.size() + 4);  // at most the ones in flight at the kill

  // And it still takes writes, then stops cleanly on SIGTERM.
  EXPECT_EQ(client.post("/api/v1/streams", json{{"name", "after"}, {"url", "test://ball"}}).status,
            201);
  EXPECT_EQ(again.terminate(), 0) << again.output();
  EXPECT_NE(again.output().find("stopped cleanly"), std::string::npos) << again.output();
}

}  // namespace
}  // namespace orion::api
