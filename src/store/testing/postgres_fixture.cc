#include "store/testing/postgres_fixture.h"

#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

#include "testing/wait.h"

namespace orion::store::testing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kUser = "orion";
constexpr int kLaunchAttempts = 4;  // a free port can be taken by someone else before we bind

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

bool executable(const fs::path& p) { return ::access(p.c_str(), X_OK) == 0; }

bool has_server(const fs::path& dir) {
  return executable(dir / "initdb") && executable(dir / "postgres");
}

Result<std::string> find_bin_dir(const std::string& given) {
  std::vector<std::string> looked;
  auto check = [&](const fs::path& dir) {
    looked.push_back(dir.string());
    return has_server(dir);
  };
  if (!given.empty()) {
    if (check(given)) return given;
  } else {
    if (const char* env = std::getenv("ORION_PG_BIN"); env != nullptr && *env != '\0') {
      if (check(env)) return std::string(env);
      return make_error("postgres.missing", std::string("ORION_PG_BIN is '") + env +
                                                "', which holds no initdb and postgres");
    }
    // Debian: /usr/lib/postgresql/<major>/bin, the newest first.
    std::vector<fs::path> versions;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec))
      versions.push_back(e.path());
    std::sort(versions.begin(), versions.end(), [](const fs::path& a, const fs::path& b) {
      return std::atoi(a.filename().c_str()) > std::atoi(b.filename().c_str());
    });
    for (const auto& v : versions) {
      if (check(v / "bin")) return (v / "bin").string();
    }
    if (const char* path = std::getenv("PATH"); path != nullptr) {
      std::stringstream ss(path);
      for (std::string d; std::getline(ss, d, ':');) {
        if (!d.empty() && has_server(d)) return d;
      }
      looked.push_back("$PATH");
    }
  }
  std::string where;
  for (const auto& l : looked) where += (where.empty() ? "" : ", ") + l;
  return make_error("postgres.missing",
                    "PostgreSQL server binaries (initdb, postgres) not found (looked in " + where +
                        "); install Debian's postgresql package (scripts/install-deps.sh) or set "
                        "ORION_PG_BIN to their folder");
}

Result<int> free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error("postgres.start", errno_text("socket"));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string e = errno_text("bind/getsockname on 127.0.0.1");
    ::close(fd);
    return make_error("postgres.start", e);
  }
  ::close(fd);
  return static_cast<int>(ntohs(addr.sin_port));
}

std::string tail_of(const std::string& path, size_t max_bytes = 2000) {
  std::ifstream in(path);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return all.size() > max_bytes ? all.substr(all.size() - max_bytes) : all;
}

struct Credentials {
  bool drop = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

// Forks and execs argv[0] with stdout/stderr appended to `log`, as `cred`, with `death_signal`
// sent to it if our thread dies. Only async-signal-safe calls after fork().
Result<pid_t> spawn(const std::vector<std::string>& args, const std::string& log,
                    const Credentials& cred, int death_signal) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return make_error("postgres.start", errno_text("fork"));
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0 || ::dup2(fd, STDOUT_FILENO) < 0 || ::dup2(fd, STDERR_FILENO) < 0) ::_exit(126);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd < 0 || ::dup2(null_fd, STDIN_FILENO) < 0) ::_exit(126);
    if (cred.drop) {
      if (::setgroups(0, nullptr) != 0 || ::setresgid(cred.gid, cred.gid, cred.gid) != 0 ||
          ::setresuid(cred.uid, cred.uid, cred.uid) != 0) {
        ::_exit(125);
      }
    }
    // After the uid change, which would clear it.
    if (::prctl(PR_SET_PDEATHSIG, death_signal) != 0 || ::getppid() != parent) ::_exit(124);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

// Waits for `pid` to end; its exit code, or -signal.
Result<int> wait_exit(pid_t pid) {
  int status = 0;
  for (;;) {
    if (::waitpid(pid, &status, 0) == pid) break;
    if (errno != EINTR) return make_error("postgres.start", errno_text("waitpid"));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

std::string conninfo(int port, const std::string& db) {
  return "host=127.0.0.1 port=" + std::to_string(port) + " user=" + kUser + " dbname=" + db +
         " connect_timeout=2";
}

}  // namespace

Result<std::unique_ptr<PostgresServer>> PostgresServer::start(const PostgresOptions& options) {
  auto bin = find_bin_dir(options.bin_dir);
  if (!bin.ok()) return bin.error();
  std::unique_ptr<PostgresServer> s(new PostgresServer());
  s->bin_dir_ = *bin;
  s->fsync_ = options.fsync;

  std::error_code ec;
  fs::path base = fs::temp_directory_path(ec);
  if (ec) base = "/tmp";
  std::string templ = (base / "orion-pg-XXXXXX").string();
  if (::mkdtemp(templ.data()) == nullptr)
    return make_error("postgres.start", errno_text(("mkdtemp " + templ).c_str()));
  s->dir_ = templ;
  s->log_path_ = s->dir_ + "/server.log";

  if (::geteuid() == 0) {
    const passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr) pw = ::getpwnam("nobody");
    if (pw == nullptr)
      return make_error("postgres.start",
                        "running as root and neither user 'postgres' nor 'nobody' exists");
    s->drop_privileges_ = true;
    s->run_uid_ = pw->pw_uid;
    s->run_gid_ = pw->pw_gid;
    if (::chown(s->dir_.c_str(), s->run_uid_, s->run_gid_) != 0) {
      return make_error("postgres.start", errno_text(("chown " + s->dir_).c_str()));
    }
  }
  if (::chmod(s->dir_.c_str(), 0700) != 0)
    return make_error("postgres.start", errno_text(("chmod " + s->dir_).c_str()));

  const Credentials cred{s->drop_privileges_, s->run_uid_, s->run_gid_};
  const std::string initdb_log = s->dir_ + "/initdb.log";
  auto pid = spawn({s->bin_dir_ + "/initdb", "-D", s->dir_ + "/data", "-U", kUser, "-A", "trust",
                    "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"},
                   initdb_log, cred, SIGKILL);
  if (!pid.ok()) return pid.error();
  auto code = wait_exit(*pid);
  if (!code.ok()) return code.error();
  if (*code != 0) {
    return make_error("postgres.start",
                      "initdb in " + s->dir_ + " failed (exit " + std::to_string(*code) +
                          (s->drop_privileges_ ? ", as uid " + std::to_string(s->run_uid_) : "") +
                          "): " + tail_of(initdb_log));
  }
  for (int attempt = 1;; ++attempt) {
    auto port = free_loopback_port();
    if (!port.ok()) return port.error();
    s->port_ = *port;
    auto launched = s->launch();
    if (launched.ok()) break;
    if (attempt == kLaunchAttempts) return launched.error();
  }
  return s;
}

Status PostgresServer::launch() {
  std::vector<std::string> args{bin_dir_ + "/postgres",
                                "-D",
                                dir_ + "/data",
                                "-p",
                                std::to_string(port_),
                                "-k",
                                dir_,
                                "-c",
                                "listen_addresses=127.0.0.1",
                                "-c",
                                "max_connections=64"};
  if (!fsync_) {
    for (const char* o : {"fsync=off", "synchronous_commit=off", "full_page_writes=off"}) {
      args.push_back("-c");
      args.push_back(o);
    }
  }
  auto pid = spawn(args, log_path_, Credentials{drop_privileges_, run_uid_, run_gid_}, SIGQUIT);
  if (!pid.ok()) return pid.error();
  pid_ = *pid;
  const std::string info = conninfo(port_, "postgres");
  bool exited = false;
  const bool ready = orion::testing::wait_until(
      [&] {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
          exited = true;
          return true;
        }
        return PQping(info.c_str()) == PQPING_OK;
      },
      Duration::seconds(30), Duration::millis(25));
  if (exited || !ready) {
    if (!exited) {
      ::kill(pid_, SIGKILL);
      (void)wait_exit(pid_);
    }
    pid_ = -1;
    return make_error("postgres.start",
                      std::string("postgres on 127.0.0.1:") + std::to_string(port_) +
                          (exited ? " exited at start: " : " not ready after 30 s: ") +
                          tail_of(log_path_));
  }
  return {};
}

Status PostgresServer::stop() {
  if (pid_ < 0) return {};
  if (::kill(pid_, SIGINT) != 0) return make_error("postgres.stop", errno_text("kill postgres"));
  int status = 0;
  bool done = orion::testing::wait_until([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; },
                                         Duration::seconds(10), Duration::millis(10));
  if (!done) {
    ::kill(pid_, SIGKILL);
    (void)wait_exit(pid_);
  }
  pid_ = -1;
  return done ? Status{} : make_error("postgres.stop", "postgres did not stop in 10 s; killed");
}

Status PostgresServer::start_again() {
  if (pid_ >= 0) return {};
  return launch();
}

PostgresServer::~PostgresServer() {
  (void)stop();
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

std::string PostgresServer::url(const std::string& db) const {
  return std::string("postgresql://") + kUser + "@127.0.0.1:" + std::to_string(port_) + "/" + db;
}

Result<std::string> PostgresServer::create_database(const std::string& name) {
  if (name.empty() ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos) {
    return make_error("postgres.database", "database name '" + name + "' is not [a-z0-9_]+");
  }
  PGconn* c = PQconnectdb(conninfo(port_, "postgres").c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string e = PQerrorMessage(c);
    PQfinish(c);
    return make_error("postgres.database",
                      "connect to 127.0.0.1:" + std::to_string(port_) + ": " + e);
  }
  PGresult* r = PQexec(c, ("CREATE DATABASE " + name).c_str());
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  std::string e = ok ? "" : PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(c);
  if (!ok) return make_error("postgres.database", "CREATE DATABASE " + name + ": " + e);
  return url(name);
}

Result<std::string> PostgresServer::fresh_database() {
  return create_database("t" + std::to_string(::getpid()) + "_" +
                         std::to_string(++databases_made_));
}

Result<PostgresServer*> shared_postgres() {
  static std::mutex mu;
  static std::unique_ptr<PostgresServer> server;
  static std::optional<Error> failure;
  std::lock_guard lock(mu);
  if (server) return server.get();
  if (failure) return *failure;
  auto s = PostgresServer::start();
  if (!s.ok()) {
    failure = s.error();
    return s.error();
  }
  server = std::move(*s);
  return server.get();
}

}  // namespace orion::store::testing
