// sql::Connection on libpqxx 6.4: one server connection, statements prepared once per text (and
// again after a reconnect), parameters sent as text. libpq parses and checks the URL first.
//
// Reconnecting (docs/design/db_resilience.md): a connection found lost (a broken_connection, a
// SQLSTATE of class 08 or 57P01 "terminating connection due to administrator command") is
// dropped; the next begin() dials again. A dial that fails schedules the next one after a capped
// backoff (kReconnect: 100 ms doubling to 2 s); a begin() before that time fails at once with
// sql.broken ("database unreachable ... next attempt in N ms") instead of dialling, so a caller
// that loops never hammers a server that is restarting, and never waits longer than one
// connect_timeout. The first successful dial resets the backoff.
#include <libpq-fe.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <pqxx/pqxx>
#include <unordered_map>

#include "core/backoff.h"
#include "store/backends.h"

namespace orion::store::sql {
namespace {

constexpr const char* kDefaultConnectTimeoutS = "5";
const BackoffPolicy kReconnect{Duration::millis(100), Duration::seconds(2), 2.0};

const Dialect kPostgres{
    .name = "postgresql",
    .id_column = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    // Two processes opening one new database at once: the second waits, then finds it migrated.
    .migration_lock = "SELECT pg_advisory_xact_lock(7402310)",
    .notifies = true,
};

// The SQLSTATE classes that matter to the store.
std::string classify(const std::string& sqlstate) {
  if (sqlstate == "23505") return kUnique;
  if (sqlstate == "23503") return kForeignKey;
  if (sqlstate.rfind("23", 0) == 0 || sqlstate.rfind("22", 0) == 0) return kCheck;
  if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03") return kBusy;
  if (sqlstate.rfind("08", 0) == 0 || sqlstate == "57P01") return kBroken;
  return kOther;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string to_text(const Value& v) {
  if (const auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  const double d = std::get<double>(v);
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

// The URL as libpq will use it, with a connect timeout when the user set none (libpq's own is
// "wait forever", which turns an unreachable host into a hung start).
Result<std::string> checked_conninfo(const std::string& url) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
  if (opts == nullptr) {
    std::string msg = err != nullptr ? trim(err) : "out of memory";
    PQfreemem(err);
    return make_error("store.bad_url", "database URL '" + redact_url(url) + "': " + msg);
  }
  bool has_timeout = false;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (std::string_view(o->keyword) == "connect_timeout" && o->val != nullptr) has_timeout = true;
  }
  PQconninfoFree(opts);
  if (has_timeout) return url;
  const char sep = url.find('?') == std::string::npos ? '?' : '&';
  return url + sep + "connect_timeout=" + kDefaultConnectTimeoutS;
}

Result<std::unique_ptr<pqxx::connection>> dial(const std::string& conninfo,
                                               const std::string& url) {
  try {
    return std::make_unique<pqxx::connection>(conninfo);
  } catch (const std::exception& e) {
    return make_error("store.open", "cannot connect to PostgreSQL at '" + redact_url(url) +
                                        "': " + trim(e.what()));
  }
}

class PostgresConnection final : public Connection {
 public:
  PostgresConnection(std::unique_ptr<pqxx::connection> conn, std::string conninfo, std::string url)
      : conn_(std::move(conn)),
        conninfo_(std::move(conninfo)),
        url_(std::move(url)),
        backoff_(kReconnect) {}
  ~PostgresConnection() override {
    tx_.reset();  // aborts an open transaction
  }

  const Dialect& dialect() const override { return kPostgres; }

  Status begin(bool /*write*/) override {
    if (auto s = ensure_connected(); !s.ok()) return s;
    return guarded("BEGIN", [&] { tx_ = std::make_unique<pqxx::work>(*conn_); });
  }

  Status commit() override {
    if (!tx_) return make_error(kOther, "commit without a transaction");
    auto s = guarded("COMMIT", [&] { tx_->commit(); });
    tx_.reset();
    return s;
  }

  void rollback() override {
    try {
      if (tx_) tx_->abort();
    } catch (const std::exception&) {
      broken_ = true;  // an abort that fails means the connection is gone
    }
    tx_.reset();
  }

  Result<Rows> exec(const std::string& sql, const Params& params) override {
    if (!tx_) return make_error(kOther, "statement outside a transaction: " + sql);
    Rows out;
    auto s = guarded(sql, [&] {
      const std::string& name = prepared(sql);
      std::vector<std::string> text;
      text.reserve(params.size());
      for (const auto& p : params) text.push_back(to_text(p));
      const pqxx::result r = tx_->exec_prepared(name, pqxx::prepare::make_dynamic_params(text));
      out.affected = static_cast<int64_t>(r.affected_rows());
      out.rows.reserve(r.size());
      for (const auto& row : r) {
        std::vector<Cell> cells;
        cells.reserve(row.size());
        for (const auto& f : row) {
          if (f.is_null()) {
            cells.emplace_back(std::monostate{});
          } else {
            cells.emplace_back(std::string(f.c_str(), f.size()));
          }
        }
        out.rows.emplace_back(std::move(cells));
      }
    });
    if (!s.ok()) return s.error();
    return out;
  }

  Status exec_ddl(const std::string& sql) override {
    if (!tx_) return make_error(kOther, "statement outside a transaction: " + sql);
    return guarded(sql, [&] { tx_->exec(sql); });
  }

  bool lost() const override { return broken_ || !conn_; }

 private:
  using SteadyTime = std::chrono::steady_clock::time_point;

  Status ensure_connected() {
    if (!broken_ && conn_ && conn_->is_open()) return {};
    tx_.reset();
    prepared_.clear();
    conn_.reset();
    broken_ = true;
    const SteadyTime now = std::chrono::steady_clock::now();
    if (now < next_dial_) {
      const auto wait_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(next_dial_ - now).count();
      return make_error(kBroken, "database unreachable (PostgreSQL " + redact_url(url_) +
                                     "); next reconnect attempt in " + std::to_string(wait_ms) +
                                     " ms; last error: " + last_dial_error_);
    }
    auto c = dial(conninfo_, url_);
    if (!c.ok()) {
      last_dial_error_ = c.error().message;
      next_dial_ = std::chrono::steady_clock::now() + backoff_.next().to_chrono();
      return make_error(kBroken, "database unreachable: " + c.error().message);
    }
    conn_ = std::move(*c);
    broken_ = false;
    backoff_.reset();
    next_dial_ = {};
    return {};
  }

  const std::string& prepared(const std::string& sql) {
    auto it = prepared_.find(sql);
    if (it != prepared_.end()) return it->second;
    std::string name = "s" + std::to_string(prepared_.size() + 1);
    conn_->prepare(name, number_placeholders(sql));
    return prepared_.emplace(sql, std::move(name)).first->second;
  }

  // Runs a libpqxx call; every exception becomes an sql.* Error.
  template <class F>
  Status guarded(const std::string& what, F&& f) {
    try {
      f();
      return {};
    } catch (const pqxx::broken_connection& e) {
      broken_ = true;
      return make_error(kBroken,
                        "PostgreSQL " + redact_url(url_) + ": connection lost: " + trim(e.what()));
    } catch (const pqxx::sql_error& e) {
      const std::string code = classify(e.sqlstate());
      if (code == kBroken) broken_ = true;
      return make_error(code, "PostgreSQL " + redact_url(url_) + ": " + trim(e.what()) +
                                  " [SQLSTATE " + e.sqlstate() + "] (in: " + what + ")");
    } catch (const pqxx::in_doubt_error& e) {
      broken_ = true;
      return make_error(kBroken,
                        "PostgreSQL " + redact_url(url_) + ": commit in doubt: " + trim(e.what()));
    } catch (const std::exception& e) {
      if (conn_ && !conn_->is_open()) broken_ = true;
      return make_error(
          kOther, "PostgreSQL " + redact_url(url_) + ": " + trim(e.what()) + " (in: " + what + ")");
    }
  }

  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<pqxx::work> tx_;                         // the open transaction, if any
  std::unordered_map<std::string, std::string> prepared_;  // SQL text -> statement name
  std::string conninfo_, url_;
  bool broken_ = false;  // reconnect at the next begin()
  Backoff backoff_;      // between failed dials
  SteadyTime next_dial_{};
  std::string last_dial_error_;
};

class PostgresListener final : public Listener {
 public:
  PostgresListener(std::string conninfo, std::string url, std::string channel)
      : conninfo_(std::move(conninfo)), url_(std::move(url)), channel_(std::move(channel)) {}
  ~PostgresListener() override {
    receiver_.reset();
    conn_.reset();
  }

  // Connects and LISTENs; from then on no notification is missed until the next wait().
  Status ensure_listening() {
    if (conn_ && conn_->is_open() && receiver_) return {};
    receiver_.reset();
    conn_.reset();
    auto c = dial(conninfo_, url_);
    if (!c.ok()) return c.error();
    try {
      conn_ = std::move(*c);
      receiver_ = std::make_unique<Receiver>(*conn_, channel_);
      conn_->get_notifs();  // issues the LISTEN
    } catch (const std::exception& e) {
      receiver_.reset();
      conn_.reset();
      return make_error("store.io", "PostgreSQL " + redact_url(url_) + ": LISTEN " + channel_ +
                                        " failed: " + trim(e.what()));
    }
    return {};
  }

  Result<bool> wait(Duration limit) override {
    if (auto s = ensure_listening(); !s.ok()) return s.error();
    const int64_t us = std::max<int64_t>(0, limit.count_nanos() / 1000);
    try {
      const int n = conn_->await_notification(us / 1'000'000, us % 1'000'000);
      return n > 0;
    } catch (const std::exception& e) {
      receiver_.reset();
      conn_.reset();
      return make_error("store.io", "PostgreSQL " + redact_url(url_) + ": waiting on " + channel_ +
                                        ": " + trim(e.what()));
    }
  }

 private:
  struct Receiver final : pqxx::notification_receiver {
    Receiver(pqxx::connection_base& c, const std::string& ch)
        : pqxx::notification_receiver(c, ch) {}
    void operator()(const std::string& /*payload*/, int /*backend_pid*/) override {}
  };

  std::string conninfo_, url_, channel_;
  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<Receiver> receiver_;  // destroyed before conn_
};

}  // namespace

Result<std::unique_ptr<Connection>> open_postgres(const std::string& url) {
  auto conninfo = checked_conninfo(url);
  if (!conninfo.ok()) return conninfo.error();
  auto c = dial(*conninfo, url);
  if (!c.ok()) return c.error();
  return std::unique_ptr<Connection>(
      std::make_unique<PostgresConnection>(std::move(*c), *conninfo, url));
}

Result<std::unique_ptr<Listener>> listen_postgres(const std::string& url,
                                                  const std::string& channel) {
  auto conninfo = checked_conninfo(url);
  if (!conninfo.ok()) return conninfo.error();
  auto l = std::make_unique<PostgresListener>(*conninfo, url, channel);
  if (auto s = l->ensure_listening(); !s.ok()) return s.error();
  return std::unique_ptr<Listener>(std::move(l));
}

}  // namespace orion::store::sql
