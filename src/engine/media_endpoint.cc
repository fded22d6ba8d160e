#include "engine/media_endpoint.h"

#include <httplib.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <list>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/clock.h"
#include "core/thread.h"
#include "core/thread_annotations.h"
#include "http/auth.h"
#include "http/connection_server.h"
#include "http/task_queue.h"
#include "http/websocket.h"
#include "media/live_view.h"

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

// Writes all of `data` to a blocking-or-not socket within `timeout`; false when it could not.
bool write_all(int fd, std::string_view data, Duration timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout.to_chrono();
  size_t done = 0;
  while (done < data.size()) {
    if (std::chrono::steady_clock::now() > end) return false;
    const ssize_t n =
        ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 50);
    } else {
      return false;
    }
  }
  return true;
}

// One stream's newest MJPEG picture, shared by its MJPEG viewers: encoded once per frame,
// by whichever viewer first wants that frame, only while someone watches.
struct SharedJpeg {
  Mutex mu;  // a leaf; held across the encode so that one viewer encodes and the rest wait
  uint64_t sequence GUARDED_BY(mu) = 0;
  std::shared_ptr<const std::string> jpeg GUARDED_BY(mu);
  int64_t capture_unix_us GUARDED_BY(mu) = 0;
};

}  // namespace

struct MediaEndpoint::Impl {
  Impl(MediaEndpointOptions o, MediaSources s)
      : options(std::move(o)),
        snapshot_source(std::move(s.snapshot)),
        metrics_source(std::move(s.metrics)),
        live_source(std::move(s.live)),
        event_frame_source(std::move(s.event_frame)) {}

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

  // ---- live view, MJPEG, event frames ---------------------------------------------------------
  // The checks every viewer route makes before it takes the connection: the name, a running
  // stream, a picture shown. Returns the stream's output, or nullptr with `res` set.
  std::shared_ptr<media::StreamOutput> viewer_checks(const httplib::Request& req,
                                                     httplib::Response& res, const char* what,
                                                     std::string& name) {
    if (!no_query(req, res)) return nullptr;
    name = req.matches.size() > 1 ? req.matches[1].str() : "";
    if (auto why = name_problem(name)) {
      fail(res, 400, "media.invalid_name", "stream name " + *why, "name");
      return nullptr;
    }
    std::shared_ptr<media::StreamOutput> out = live_source ? live_source(name) : nullptr;
    if (!out) {
      fail(res, 404, std::string(what) + ".not_found", "this engine runs no stream '" + name + "'");
      return nullptr;
    }
    std::optional<media::SnapshotPicture> picture;
    if (snapshot_source) picture = snapshot_source(name);
    if (!picture || !picture->picture) {
      fail(res, 503, std::string(what) + ".no_picture",
           "stream '" + name + "' has shown no picture yet (its camera has not delivered)");
      return nullptr;
    }
    {
      MutexLock lock(sessions_mu);
      if (stopping) {
        fail(res, 503, std::string(what) + ".stopping", "the engine is stopping");
        return nullptr;
      }
      if (live_viewers >= static_cast<uint64_t>(options.max_viewers)) {
        fail(res, 503, std::string(what) + ".too_many_viewers",
             "this engine serves " + std::to_string(options.max_viewers) +
                 " viewers already (MediaEndpointOptions::max_viewers)");
        return nullptr;
      }
    }
    return out;
  }

  void live(const httplib::Request& req, httplib::Response& res) {
    std::string name;
    auto problem = http::websocket_upgrade_problem(
        req.get_header_value("Upgrade"), req.get_header_value("Connection"),
        req.get_header_value("Sec-WebSocket-Version"), req.get_header_value("Sec-WebSocket-Key"));
    if (problem) {
      fail(res, 400, "live.not_websocket", *problem);
      return;
    }
    auto out = viewer_checks(req, res, "live", name);
    if (!out) return;
    auto taken = http::ConnectionServer::take_over_connection();
    if (!taken) {
      fail(res, 500, "media.internal", "the connection could not be taken over");
      return;
    }
    const std::string hello =
        http::websocket_handshake_response(req.get_header_value("Sec-WebSocket-Key"));
    if (!write_all(taken->fd, hello, options.viewer_write_timeout)) {
      ::close(taken->fd);
      return;
    }
    start_session(
        [this, out, name, t = std::move(*taken)]() mutable {
          run_live(std::move(out), name, t.fd, std::move(t.leftover));
        },
        true);
  }

  void run_live(std::shared_ptr<media::StreamOutput> out, const std::string& name, int fd,
                std::string leftover) {
    if (options.viewer_send_buffer > 0) {
      ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &options.viewer_send_buffer, sizeof(int));
    }
    http::WebSocketConnection ws(fd, false, std::move(leftover), options.viewer_write_timeout);
    media::LiveViewer viewer(out, options.live_queue_frames);
    media::LiveMuxer mux(name);
    uint64_t reported_drops = 0;
    std::string why = "stopped";
    while (!stopping_flag.load()) {
      if (auto f = viewer.next(Duration::millis(100))) {
        auto messages = mux.add(*f);
        if (!messages) {
          spdlog::warn("live '{}': {}", name, messages.error().to_string());
          ws.close(1011, "cannot mux the stream");
          why = messages.error().code;
          break;
        }
        bool ok = true;
        for (const auto& m : *messages) {
          if (!ws.send(m.binary ? http::WsOpcode::kBinary : http::WsOpcode::kText, m.data)) {
            ok = false;
            break;
          }
        }
        if (!ok) {
          why = "viewer gone or stalled";
          break;
        }
        MutexLock lock(sessions_mu);
        ++frames_sent;
      }
      const uint64_t drops = viewer.dropped();
      if (drops != reported_drops) {
        MutexLock lock(sessions_mu);
        frames_dropped += drops - reported_drops;
        reported_drops = drops;
      }
      auto in = ws.read(Duration::zero());  // answers pings, notices a close
      if (!in && in.error().code != "ws.timeout") {
        why = in.error().code;
        break;
      }
    }
    {
      MutexLock lock(sessions_mu);
      frames_dropped += viewer.dropped() - reported_drops;
    }
    if (stopping_flag.load()) ws.close(1001, "engine stopping");
    spdlog::debug("live '{}': viewer ended ({}), {} frames dropped", name, why, viewer.dropped());
  }

  void mjpeg(const httplib::Request& req, httplib::Response& res) {
    std::string name;
    auto out = viewer_checks(req, res, "mjpeg", name);
    if (!out) return;
    auto taken = http::ConnectionServer::take_over_connection();
    if (!taken) {
      fail(res, 500, "media.internal", "the connection could not be taken over");
      return;
    }
    const std::string head =
        "HTTP/1.1 200 OK\r\nContent-Type: multipart/x-mixed-replace; boundary=orionframe\r\n"
        "Cache-Control: no-store\r\nConnection: close\r\n\r\n";
    if (!write_all(taken->fd, head, options.viewer_write_timeout)) {
      ::close(taken->fd);
      return;
    }
    std::shared_ptr<SharedJpeg> shared;
    {
      MutexLock lock(sessions_mu);
      auto& slot = jpegs[name];
      if (!slot) slot = std::make_shared<SharedJpeg>();
      shared = slot;
    }
    start_session([this, out, name, shared, fd = taken->fd] { run_mjpeg(out, name, shared, fd); },
                  false);
  }

  // One JPEG per frame, shared: the first viewer to want frame N encodes it.
  std::shared_ptr<const std::string> jpeg_of(SharedJpeg& shared, const media::SnapshotPicture& p,
                                             int64_t& capture_unix_us) {
    const FrameIdentity& id = p.picture->identity();
    MutexLock lock(shared.mu);
    if (shared.sequence != id.sequence || !shared.jpeg) {
      auto jpeg = media::encode_jpeg(p.view(), options.jpeg_quality);
      if (!jpeg) return nullptr;
      shared.jpeg = std::make_shared<const std::string>(std::move(*jpeg));
      shared.sequence = id.sequence;
      shared.capture_unix_us = media::steady_to_unix_us(id.capture_time);
      MutexLock slock(sessions_mu);
      ++jpeg_encodes;
    }
    capture_unix_us = shared.capture_unix_us;
    return shared.jpeg;
  }

  void run_mjpeg(std::shared_ptr<media::StreamOutput> out, const std::string& name,
                 std::shared_ptr<SharedJpeg> shared, int fd) {
    // The encoder's tap is the frame clock: one part per new picture.
    media::LiveViewer ticks(out, 2);
    uint64_t last_sequence = 0;
    while (!stopping_flag.load()) {
      if (!ticks.next(Duration::millis(100))) {
        pollfd p{fd, POLLIN, 0};  // the viewer went away? (it sends nothing otherwise)
        if (::poll(&p, 1, 0) > 0) {
          char b[256];
          if (::recv(fd, b, sizeof b, MSG_DONTWAIT) <= 0) break;
        }
        continue;
      }
      std::optional<media::SnapshotPicture> picture =
          snapshot_source ? snapshot_source(name) : std::nullopt;
      if (!picture || !picture->picture || picture->picture->identity().sequence == last_sequence)
        continue;
      last_sequence = picture->picture->identity().sequence;
      int64_t capture_us = 0;
      auto jpeg = jpeg_of(*shared, *picture, capture_us);
      if (!jpeg) continue;
      const std::string part_head = "--orionframe\r\nContent-Type: image/jpeg\r\nContent-Length: " +
                                    std::to_string(jpeg->size()) +
                                    "\r\nX-Orion-Frame-Sequence: " + std::to_string(last_sequence) +
                                    "\r\nX-Orion-Capture-Unix-Us: " + std::to_string(capture_us) +
                                    "\r\n\r\n";
      if (!write_all(fd, part_head, options.viewer_write_timeout) ||
          !write_all(fd, *jpeg, options.viewer_write_timeout) ||
          !write_all(fd, "\r\n", options.viewer_write_timeout)) {
        break;
      }
      MutexLock lock(sessions_mu);
      ++mjpeg_parts;
    }
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
  }

  void event_frame(const httplib::Request& req, httplib::Response& res) {
    if (!no_query(req, res)) return;
    const std::string name = req.matches.size() > 1 ? req.matches[1].str() : "";
    const std::string seq_text = req.matches.size() > 2 ? req.matches[2].str() : "";
    if (auto why = name_problem(name)) {
      fail(res, 400, "media.invalid_name", "stream name " + *why, "name");
      return;
    }
    uint64_t seq = 0;
    if (seq_text.empty() || seq_text.size() > 19 ||
        seq_text.find_first_not_of("0123456789") != std::string::npos ||
        (seq = std::stoull(seq_text)) == 0) {
      fail(res, 400, "media.invalid_sequence",
           "frame sequence '" + printable(seq_text) + "' must be a number from 1", "seq");
      return;
    }
    std::optional<std::string> jpeg;
    if (event_frame_source) jpeg = event_frame_source(name, seq);
    if (!jpeg) {
      fail(res, 404, "frame.not_available",
           "stream '" + name + "' frame " + std::to_string(seq) +
               " is not held by this engine (it keeps the last frames that produced detections)");
      return;
    }
    res.set_header("Cache-Control", "private, max-age=3600");  // a frame never changes
    res.set_header("X-Orion-Frame-Sequence", std::to_string(seq));
    res.set_content(std::move(*jpeg), "image/jpeg");
  }

  // A viewer's thread, owned here and joined by stop(); finished ones are reaped on the way.
  void start_session(std::function<void()> body, bool live) {
    MutexLock lock(sessions_mu);
    for (auto it = sessions.begin(); it != sessions.end();) {
      if (it->done->load()) {
        it->thread.join();
        it = sessions.erase(it);
      } else {
        ++it;
      }
    }
    ++live_viewers;
    ++(live ? live_sessions : mjpeg_sessions);
    auto done = std::make_shared<std::atomic<bool>>(false);
    sessions.push_back(Session{std::thread([this, body = std::move(body), done] {
                                 run_guarded("orion-live", body);
                                 {
                                   MutexLock l(sessions_mu);
                                   --live_viewers;
                                 }
                                 done->store(true);
                               }),
                               done});
  }

  void stop_sessions() {
    std::list<Session> all;
    {
      MutexLock lock(sessions_mu);
      stopping = true;
      stopping_flag.store(true);
      all.swap(sessions);
    }
    for (auto& s : all) s.thread.join();
  }

  struct Session {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };

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
    server.Get(R"(/media/streams/([^/]+)/live)",
               [this](const httplib::Request& req, httplib::Response& res) { live(req, res); });
    server.Get(R"(/media/streams/([^/]+)/mjpeg)",
               [this](const httplib::Request& req, httplib::Response& res) { mjpeg(req, res); });
    server.Get(
        R"(/media/streams/([^/]+)/frames/([^/]*)\.jpg)",
        [this](const httplib::Request& req, httplib::Response& res) { event_frame(req, res); });
  }

  const MediaEndpointOptions options;
  const SnapshotSource snapshot_source;
  const MetricsSource metrics_source;
  const LiveSource live_source;
  const EventFrameSource event_frame_source;
  // Viewer sessions and their counters. A leaf except in jpeg_of (SharedJpeg::mu → this).
  mutable Mutex sessions_mu;
  std::list<Session> sessions GUARDED_BY(sessions_mu);
  bool stopping GUARDED_BY(sessions_mu) = false;
  std::atomic<bool> stopping_flag{false};  // what the viewer loops read
  uint64_t live_viewers GUARDED_BY(sessions_mu) = 0;
  uint64_t live_sessions GUARDED_BY(sessions_mu) = 0;
  uint64_t mjpeg_sessions GUARDED_BY(sessions_mu) = 0;
  uint64_t frames_sent GUARDED_BY(sessions_mu) = 0;
  uint64_t frames_dropped GUARDED_BY(sessions_mu) = 0;
  uint64_t jpeg_encodes GUARDED_BY(sessions_mu) = 0;
  uint64_t mjpeg_parts GUARDED_BY(sessions_mu) = 0;
  std::map<std::string, std::shared_ptr<SharedJpeg>> jpegs GUARDED_BY(sessions_mu);
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
    : MediaEndpoint(std::move(options),
                    MediaSources{std::move(snapshot), std::move(metrics), {}, {}}) {}

MediaEndpoint::MediaEndpoint(MediaEndpointOptions options, MediaSources sources)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(sources))) {}

LiveEndpointStats MediaEndpoint::live_stats() const {
  MutexLock lock(impl_->sessions_mu);
  LiveEndpointStats s;
  s.viewers = impl_->live_viewers;
  s.live_sessions = impl_->live_sessions;
  s.mjpeg_sessions = impl_->mjpeg_sessions;
  s.frames_sent = impl_->frames_sent;
  s.frames_dropped = impl_->frames_dropped;
  s.jpeg_encodes = impl_->jpeg_encodes;
  s.mjpeg_parts = impl_->mjpeg_parts;
  return s;
}

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
  impl_->stop_sessions();  // after the listener: no new session can start
}

int MediaEndpoint::port() const { return impl_->port; }

std::string MediaEndpoint::url() const {
  const std::string& a = impl_->options.address;
  const std::string host = a.find(':') != std::string::npos ? "[" + a + "]" : a;
  return "http://" + host + ":" + std::to_string(impl_->port);
}

}  // namespace orion::engine
