#include "engine/media_endpoint.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/clock.h"
#include "core/thread.h"
#include "http/auth.h"
#include "http/connection_server.h"
#include "http/task_queue.h"

namespace orion::engine {

namespace {

using nlohmann::json;

constexpr size_t kMaxNameLength = 64;  // the API's (api/resources.h kMaxNameLength)

// Bytes of `s` a log line or a message can show: control characters as \xNN, at most 80.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 80)) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  if (s.size() > 80) out += "...";
  return out;
}

// What is wrong with a stream name from a path; nullopt when it is a good name. The API's rule
// (api/resources.cc name_problem): a name is also the RTSP output's path.
std::optional<std::string> name_problem(std::string_view name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > kMaxNameLength) {
    return "is " + std::to_string(name.size()) + " bytes long; at most " +
           std::to_string(kMaxNameLength);
  }
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) {
      return "'" + printable(name) + "' has '" + printable(std::string_view(&name[i], 1)) +
             "' at byte " + std::to_string(i) + "; a name is letters, digits, '_', '.' and '-'";
    }
  }
  if (name[0] == '.') return "'" + printable(name) + "' must not start with '.'";
  return std::nullopt;
}

}  // namespace

struct MediaEndpoint::Impl {
  Impl(MediaEndpointOptions o, SnapshotSource s, MetricsSource m)
      : options(std::move(o)), snapshot_source(std::move(s)), metrics_source(std::move(m)) {}

  void fail(httplib::Response& res, int status, const std::string& code, const std::string& message,
            const std::string& field = "") {
    res.status = status;
    const json body = {{"error",
                        {{"code", code},
                         {"message", message},
                         {"field", field.empty() ? json(nullptr) : json(field)}}}};
    res.set_header("Connection", "close");  // ConnectionServer ends it after any error
    res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n",
                    "application/json");
    if (status >= 500) spdlog::error("media endpoint: {} {}: {}", status, code, message);
  }

  bool no_query(const httplib::Request& req, httplib::Response& res) {
    if (req.params.empty()) return true;
    const std::string key = printable(req.params.begin()->first);
    fail(res, 400, "media.invalid_query",
         "query parameter '" + key + "': unknown (this path takes none)", key);
    return false;
  }

  // ---- handlers -------------------------------------------------------------------------------
  void healthz(const httplib::Request& req, httplib::Response& res) {
    if (!no_query(req, res)) return;
    res.set_content("{\"status\":\"ok\"}\n", "application/json");
  }

  void metrics(const httplib::Request& req, httplib::Response& res) {
    if (!no_query(req, res)) return;
    if (!metrics_source) {
      fail(res, 404, "metrics.not_configured", "this engine serves no metrics");
      return;
    }
    res.set_content(metrics_source(), "text/plain; version=0.0.4; charset=utf-8");
  }

  void snapshot(const httplib::Request& req, httplib::Response& res) {
    if (!no_query(req, res)) return;
    const std::string name = req.matches.size() > 1 ? req.matches[1].str() : "";
    if (auto why = name_problem(name)) {
      fail(res, 400, "media.invalid_name", "stream name " + *why, "name");
      return;
    }
    std::optional<media::SnapshotPicture> picture;
    if (snapshot_source) picture = snapshot_source(name);
    if (!picture || !picture->picture) {
      fail(res, 404, "snapshot.not_available",
           "this engine has no picture of stream '" + name +
               "' (it does not run that stream, or no frame has been shown yet)");
      return;
    }
    auto jpeg = media::encode_jpeg(picture->view(), options.jpeg_quality);
    if (!jpeg) {
      fail(res, 500, "media.encode_failed", "stream '" + name + "': " + jpeg.error().to_string());
      return;
    }
    const FrameIdentity& id = picture->picture->identity();
    res.set_header("Cache-Control", "no-store");
    res.set_header("X-Orion-Frame-Sequence", std::to_string(id.sequence));
    res.set_header("X-Orion-Frame-Pts-Ns", std::to_string(id.pts.count_nanos()));
    // The capture time on the wall clock (a browser's frame age at display is measured against
    // it): now on the wall clock minus the frame's age on the steady clock it was stamped with.
    const int64_t age_ns = SteadyClock::instance().now().nanos() - id.capture_time.nanos();
    const int64_t wall_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
    res.set_header("X-Orion-Capture-Unix-Us", std::to_string(wall_us - age_ns / 1000));
    res.set_content(std::move(*jpeg), "image/jpeg");
  }

  // ---- cross-cutting --------------------------------------------------------------------------
  // Before routing, before any body is read: only GET/HEAD, no body, the token where needed.
  httplib::Server::HandlerResponse pre_route(const httplib::Request& req, httplib::Response& res) {
    using R = httplib::Server::HandlerResponse;
    if (req.method != "GET" && req.method != "HEAD") {
      res.set_header("Allow", "GET, HEAD");
      fail(res, 405, "media.method_not_allowed",
           printable(req.method) + " is not allowed (this server only answers GET and HEAD)");
      return R::Handled;
    }
    if (req.has_header("Transfer-Encoding") || req.get_header_value_count("Content-Length") > 1 ||
        req.get_header_value<uint64_t>("Content-Length") > 0) {
      fail(res, 400, "media.bad_request", req.method + " takes no body here");
      return R::Handled;
    }
    const bool guarded = req.path == "/metrics" || req.path.rfind("/metrics/", 0) == 0 ||
                         req.path == "/media" || req.path.rfind("/media/", 0) == 0;
    if (options.token.empty() || !guarded ||
        http::bearer_matches(req.get_header_value("Authorization"), options.token)) {
      return R::Unhandled;
    }
    res.set_header("WWW-Authenticate", "Bearer realm=\"orion\"");
    fail(res, 401, "media.unauthorized",
         req.has_header("Authorization")
             ? "the Authorization header does not carry this engine's token"
             : "this engine needs Authorization: Bearer <token> (ORION_API_TOKEN)");
    return R::Handled;
  }

  // Errors httplib makes itself (no route, a bad request line) in the same JSON form.
  httplib::Server::HandlerResponse on_error(const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    if (res.status == 404) {
      fail(res, 404, "media.no_route", "no such path: " + printable(req.path));
    } else if (res.status == 500) {
      fail(res, 500, "media.internal", "internal error (logged)");
    } else {
      fail(res, res.status, "media.bad_request",
           "the request could not be read as HTTP (status " + std::to_string(res.status) + ")");
    }
    return httplib::Server::HandlerResponse::Handled;
  }

  void configure() {
    const int threads = options.threads;
    server.new_task_queue = [threads] {
      return new http::NamedTaskQueue(threads, "orion-media-http", [](const std::string& what) {
        spdlog::error("media endpoint: connection task failed: {}", printable(what));
      });
    };
    server.set_payload_max_length(0);  // no request has a body (pre_route refuses one first)
    server.set_keep_alive_timeout(2);  // an idle keep-alive connection holds a worker this long
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      return pre_route(req, res);
    });
    server.set_error_handler(httplib::Server::HandlerWithResponse(
        [this](const httplib::Request& req, httplib::Response& res) {
          return on_error(req, res);
        }));
    server.set_exception_handler(
        [this](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
          std::string what = "unknown exception";
          try {
            if (ep) std::rethrow_exception(ep);
          } catch (const std::exception& e) {
            what = e.what();
          } catch (...) {
          }
          spdlog::error("media endpoint: handler failed: {}", printable(what));
          fail(res, 500, "media.internal", "internal error (logged)");
        });
    server.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      if (res.status >= 400) http::ConnectionServer::close_after_this_request();
      const auto level = options.access_log ? spdlog::level::info : spdlog::level::debug;
      spdlog::log(level, "media endpoint: {} {} {} {}B", printable(req.method), printable(req.path),
                  res.status, res.body.size());
    });
    server.Get("/healthz",
               [this](const httplib::Request& req, httplib::Response& res) { healthz(req, res); });
    server.Get("/metrics",
               [this](const httplib::Request& req, httplib::Response& res) { metrics(req, res); });
    server.Get(R"(/media/streams/([^/]+)/snapshot\.jpg)",
               [this](const httplib::Request& req, httplib::Response& res) { snapshot(req, res); });
  }

  const MediaEndpointOptions options;
  const SnapshotSource snapshot_source;
  const MetricsSource metrics_source;
  http::ConnectionServer server;  // closes the connection after every error answer
  // Owner thread only (start/stop), except listener_done.
  std::thread listener;
  std::atomic<bool> listener_done{false};
  int port = 0;
  bool started = false;
  bool stopped = false;
};

MediaEndpoint::MediaEndpoint(MediaEndpointOptions options, SnapshotSource snapshot,
                             MetricsSource metrics)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(snapshot), std::move(metrics))) {}

MediaEndpoint::~MediaEndpoint() { stop(); }

Status MediaEndpoint::start() {
  Impl& m = *impl_;
  const MediaEndpointOptions& o = m.options;
  if (m.started) return make_error("media.bad_options", "the media endpoint was already started");
  if (!http::token_fits_header(o.token)) {
    return make_error("media.bad_token",
                      "the media endpoint's token contains whitespace or a control character");
  }
  if (o.token.empty() && !http::is_loopback_address(o.address) && !o.allow_insecure_no_token) {
    return make_error("media.insecure",
                      "refusing to serve the media endpoint on " + o.address +
                          " without a token: anyone who can reach it could watch every stream "
                          "(set ORION_API_TOKEN, or serve 127.0.0.1)");
  }
  if (o.jpeg_quality < 1 || o.jpeg_quality > 100) {
    return make_error("media.bad_options",
                      "jpeg_quality " + std::to_string(o.jpeg_quality) + " is outside 1..100");
  }
  if (o.threads < 1) {
    return make_error("media.bad_options",
                      "threads " + std::to_string(o.threads) + ": at least 1 is needed");
  }
  if (o.port < 0 || o.port > 65535) {
    return make_error("media.bad_options",
                      "port " + std::to_string(o.port) + " is outside 0..65535");
  }
  m.started = true;
  m.configure();
  if (o.port == 0) {
    m.port = m.server.bind_to_any_port(o.address);
    if (m.port <= 0) {
      return make_error("media.bind", "cannot listen on " + o.address + " (any port)");
    }
  } else {
    if (!m.server.bind_to_port(o.address, o.port)) {
      return make_error("media.bind", "cannot listen on " + o.address + ":" +
                                          std::to_string(o.port) +
                                          " (in use, or not an address of this machine)");
    }
    m.port = o.port;
  }
  Impl* p = impl_.get();
  m.listener = std::thread([p] {
    run_guarded("orion-media", [p] {
      if (!p->server.listen_after_bind()) {
        spdlog::error("media endpoint: the listener stopped with an error");
      }
    });
    p->listener_done = true;
  });
  // httplib's stop() only acts on a running listener: wait until it runs (it sets that first
  // thing), so a stop() right after start() cannot be lost.
  while (!m.server.is_running() && !m.listener_done) std::this_thread::yield();
  spdlog::info("media endpoint: serving {}{}", url(), o.token.empty() ? " (no token)" : "");
  return {};
}

void MediaEndpoint::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  impl_->server.stop();
  if (impl_->listener.joinable()) impl_->listener.join();
}

int MediaEndpoint::port() const { return impl_->port; }

std::string MediaEndpoint::url() const {
  const std::string& a = impl_->options.address;
  const std::string host = a.find(':') != std::string::npos ? "[" + a + "]" : a;
  return "http://" + host + ":" + std::to_string(impl_->port);
}

}  // namespace orion::engine
