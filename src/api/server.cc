#include "api/server.h"

#include <httplib.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <list>
#include <regex>
#include <thread>

#include "api/redact.h"
#include "api/resources.h"
#include "api/static_files.h"
#include "core/thread.h"
#include "core/thread_annotations.h"
#include "http/auth.h"
#include "http/connection_server.h"
#include "http/task_queue.h"
#include "http/websocket.h"

namespace orion::api {

namespace {

using nlohmann::json;

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return redact_text(out);
}

std::string media_type(const httplib::Request& req) {
  std::string t = req.get_header_value("Content-Type");
  t = t.substr(0, t.find(';'));
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
  std::transform(t.begin(), t.end(), t.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return t;
}

}  // namespace

struct ApiServer::Impl {
  Impl(store::Store& store, ServerOptions o)
      : options(std::move(o)), service(store, options.service) {}

  using Handler = void (Impl::*)(const httplib::Request&, httplib::Response&);
  using BodyHandler = void (Impl::*)(const httplib::Request&, httplib::Response&,
                                     const httplib::ContentReader&);
  struct RouteSpec {
    const char* method;
    const char* path;   // OpenAPI form
    const char* regex;  // what httplib matches (the decoded path)
    Handler handler = nullptr;
    BodyHandler body_handler = nullptr;
  };
  static const std::vector<RouteSpec>& table();

  void send(httplib::Response& res, Reply reply) {
    redact_json(reply.body);
    res.status = reply.status;
    for (const auto& [k, v] : reply.headers) res.set_header(k, v);
    if (reply.status >= 400 && !res.has_header("Connection")) {
      res.set_header("Connection", "close");  // ConnectionServer ends it after any error
    }
    res.set_content(reply.body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n",
                    "application/json");
    if (reply.status >= 500) {
      const auto& err = reply.body.contains("error") ? reply.body["error"] : reply.body;
      spdlog::error("api: {} {}", reply.status,
                    printable(err.value("message", std::string("(no message)"))));
    }
  }
  void fail(httplib::Response& res, const ApiError& e) { send(res, ApiService::error_reply(e)); }

  // Routes that take no query parameters refuse any (a typo is never silently ignored). The
  // media routes a browser opens itself (an <img>, a WebSocket) take ?token= (authorize()).
  bool no_query(const httplib::Request& req, httplib::Response& res) {
    if (req.params.empty()) return true;
    if (req.params.size() == 1 && req.params.begin()->first == "token" && is_media_path(req.path))
      return true;
    fail(res, api_error(400, "api.invalid_query",
                        "query parameter " + printable(req.params.begin()->first) +
                            ": unknown (this path takes none)",
                        printable(req.params.begin()->first)));
    return false;
  }

  // Reads a request body, at most max_body_bytes, into `body`. false: answered (413, or 400
  // when it was cut short). A request with neither Content-Length nor chunked encoding has no
  // body (HTTP/1.1), so the reader is not asked to read to the end of the connection.
  bool read_body(const httplib::Request& req, httplib::Response& res,
                 const httplib::ContentReader& reader, std::string* body) {
    std::string te = req.get_header_value("Transfer-Encoding");
    std::transform(te.begin(), te.end(), te.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (!req.has_header("Content-Length") && te.find("chunked") == std::string::npos) return true;
    size_t total = 0;
    bool too_big = false;
    const bool read = reader([&](const char* data, size_t n) {
      total += n;
      if (total > options.max_body_bytes) {
        too_big = true;
        return false;
      }
      if (body != nullptr) body->append(data, n);
      return true;
    });
    // httplib refuses a Content-Length over the limit itself (status 413, body skipped).
    if (!read && res.status == 413) too_big = true;
    if (too_big) {
      fail(res,
           api_error(413, "api.body_too_large",
                     "request body is over " + std::to_string(options.max_body_bytes) + " bytes"));
      return false;
    }
    if (!read) {
      fail(res,
           api_error(400, "api.bad_request", "the request body could not be read (cut short?)"));
      return false;
    }
    return true;
  }

  // A POST/PATCH body: bounded, JSON media type, parsed. nullopt: answered.
  std::optional<json> read_json(const httplib::Request& req, httplib::Response& res,
                                const httplib::ContentReader& reader, bool patch) {
    std::string body;
    if (!read_body(req, res, reader, &body)) return std::nullopt;
    const std::string type = media_type(req);
    if (type != "application/json" && !(patch && type == "application/merge-patch+json")) {
      fail(res, api_error(415, "api.unsupported_media_type",
                          "Content-Type must be application/json" +
                              std::string(patch ? " or application/merge-patch+json" : "") +
                              " (got '" + printable(req.get_header_value("Content-Type")) + "')"));
      return std::nullopt;
    }
    auto j = parse_json_text(body);
    if (!j) {
      fail(res, j.error());
      return std::nullopt;
    }
    return std::move(j.value());
  }

  std::optional<std::string> header(const httplib::Request& req, const char* name) {
    if (!req.has_header(name)) return std::nullopt;
    return req.get_header_value(name);
  }

  // The {name} of a path: checked like a name in a body, so "..", NUL and control characters
  // never reach the store.
  std::optional<std::string> path_name(const httplib::Request& req, httplib::Response& res) {
    const std::string raw = req.matches.size() > 1 ? req.matches[1].str() : "";
    auto n = check_name_text(raw, "name",
                             Source{.label = "path", .prefix = "", .allow_worker_command = false});
    if (!n) {
      fail(res, n.error());
      return std::nullopt;
    }
    return *n;
  }

  // ---- handlers -------------------------------------------------------------------------------
  void healthz(const httplib::Request&, httplib::Response& res) { send(res, service.health()); }

  void metrics(const httplib::Request& req, httplib::Response& res) {
    if (!no_query(req, res)) return;
    if (!options.metrics) {
      fail(res, api_error(404, "metrics.not_configured",
                          "this process serves no metrics (the engine supplies them)"));
      return;
    }
    res.set_content(options.metrics(), "text/plain; version=0.0.4; charset=utf-8");
  }

  void openapi(const httplib::Request& req, httplib::Response& res) {
    if (!no_query(req, res)) return;
    res.set_content(std::string(openapi_document()), "application/json");
  }

  template <ResourceKind K>
  void list(const httplib::Request& req, httplib::Response& res) {
    if (!no_query(req, res)) return;
    send(res, service.list(K));
  }
  template <ResourceKind K>
  void get(const httplib::Request& req, httplib::Response& res) {
    if (!no_query(req, res)) return;
    auto name = path_name(req, res);
    if (!name) return;
    send(res, service.get(K, *name));
  }
  template <ResourceKind K>
  void create(const httplib::Request& req, httplib::Response& res,
              const httplib::ContentReader& reader) {
    auto body = read_json(req, res, reader, false);
    if (!body || !no_query(req, res)) return;
    send(res, service.create(K, *body));
  }
  template <ResourceKind K>
  void patch(const httplib::Request& req, httplib::Response& res,
             const httplib::ContentReader& reader) {
    auto body = read_json(req, res, reader, true);
    if (!body || !no_query(req, res)) return;
    auto name = path_name(req, res);
    if (!name) return;
    send(res, service.patch(K, *name, *body, header(req, "If-Match")));
  }
  template <ResourceKind K>
  void remove(const httplib::Request& req, httplib::Response& res) {
    std::optional<std::string> version = header(req, "If-Match");
    for (const auto& [k, v] : req.params) {
      if (k != "version") {
        fail(res, api_error(400, "api.invalid_query",
                            "query parameter " + printable(k) + ": unknown (expected version)",
                            printable(k)));
        return;
      }
      if (version && *version != v) {
        fail(res, api_error(400, "api.invalid_field", "version: ?version= and If-Match disagree",
                            "version"));
        return;
      }
      version = v;
    }
    auto name = path_name(req, res);
    if (!name) return;
    send(res, service.remove(K, *name, version));
  }

  void snapshot(const httplib::Request& req, httplib::Response& res) {
    if (!no_query(req, res)) return;
    auto name = path_name(req, res);
    if (!name) return;
    auto out = service.snapshot(*name);
    if (auto* reply = std::get_if<Reply>(&out)) {
      send(res, std::move(*reply));
      return;
    }
    auto& jpeg = std::get<BinaryReply>(out);
    res.set_header("Cache-Control", "no-store");
    for (const auto& [k, v] : jpeg.headers) res.set_header(k, v);
    res.set_content(std::move(jpeg.body), jpeg.content_type.c_str());
  }

  // ---- media relayed from the owning engine: event frames, live view, MJPEG -------------------
  static bool is_media_path(const std::string& path) {
    static const std::regex media(
        R"(/api/v1/streams/[^/]+/(snapshot\.jpg|live|mjpeg|frames/[^/]*\.jpg))");
    return std::regex_match(path, media);
  }

  void frame(const httplib::Request& req, httplib::Response& res) {
    if (!no_query(req, res)) return;
    auto name = path_name(req, res);
    if (!name) return;
    const std::string seq_text = req.matches.size() > 2 ? req.matches[2].str() : "";
    uint64_t seq = 0;
    if (seq_text.empty() || seq_text.size() > 19 ||
        seq_text.find_first_not_of("0123456789") != std::string::npos ||
        (seq = std::stoull(seq_text)) == 0) {
      fail(res,
           api_error(400, "api.invalid_field",
                     "seq: frame sequence '" + printable(seq_text) + "' must be a number from 1",
                     "seq"));
      return;
    }
    auto out = service.event_frame(*name, seq);
    if (auto* reply = std::get_if<Reply>(&out)) {
      send(res, std::move(*reply));
      return;
    }
    auto& jpeg = std::get<BinaryReply>(out);
    res.set_header("Cache-Control", "private, max-age=3600");
    res.set_header("X-Orion-Frame-Sequence", std::to_string(seq));
    res.set_content(std::move(jpeg.body), jpeg.content_type.c_str());
  }

  void live(const httplib::Request& req, httplib::Response& res) { relay(req, res, "live"); }
  void mjpeg(const httplib::Request& req, httplib::Response& res) { relay(req, res, "mjpeg"); }

  // Opens the engine's route, and once it answers 101 (live) or 200 (MJPEG), takes the
  // client's connection over and copies bytes both ways on a relay thread of its own until
  // either side ends. Any other answer of the engine is turned into the API's own error.
  void relay(const httplib::Request& req, httplib::Response& res, const std::string& what) {
    if (!no_query(req, res)) return;
    auto name = path_name(req, res);
    if (!name) return;
    const bool websocket = what == "live";
    if (websocket) {
      if (auto problem = http::websocket_upgrade_problem(
              req.get_header_value("Upgrade"), req.get_header_value("Connection"),
              req.get_header_value("Sec-WebSocket-Version"),
              req.get_header_value("Sec-WebSocket-Key"))) {
        fail(res, api_error(400, "live.not_websocket", *problem));
        return;
      }
    }
    auto target = service.media_target(*name, what);
    if (auto* r = std::get_if<Reply>(&target)) {
      send(res, std::move(*r));
      return;
    }
    const auto& t = std::get<ApiService::MediaTarget>(target);
    const std::string from = "engine '" + t.engine_id + "' (" + t.media_url + ")";
    {
      MutexLock lock(relays_mu);
      if (relays_stopping || relays.size() >= 256) {
        fail(res, api_error(503, what + ".too_many_viewers",
                            "this API relays 256 viewers already, or is stopping"));
        return;
      }
    }
    auto fd = http::tcp_connect(t.host, t.port);
    if (!fd) {
      fail(res, api_error(503, what + ".engine_unreachable",
                          from + " did not answer: " + fd.error().message));
      return;
    }
    std::string request = "GET " + t.base + "/media/streams/" + *name + "/" + what +
                          " HTTP/1.1\r\nHost: " + t.host + ":" + std::to_string(t.port) + "\r\n";
    if (!service.options().engine_token.empty())
      request += "Authorization: Bearer " + service.options().engine_token + "\r\n";
    if (websocket) {
      request +=
          "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
          "Sec-WebSocket-Key: " +
          req.get_header_value("Sec-WebSocket-Key") + "\r\n";
    }
    request += "\r\n";
    std::string rest;
    Result<std::string> head = make_error("ws.handshake", "not sent");
    if (::send(*fd, request.data(), request.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(request.size())) {
      head = http::read_http_head(*fd, service.options().snapshot_timeout, rest);
    }
    if (!head) {
      ::close(*fd);
      fail(res, api_error(503, what + ".engine_unreachable", from + ": " + head.error().message));
      return;
    }
    const int status = head->size() > 12 ? std::atoi(head->c_str() + 9) : 0;
    if (status != (websocket ? 101 : 200)) {
      // The engine's error body (Content-Length bytes, JSON) keeps its code and message.
      size_t want = 0;
      const std::string lower_head = [&] {
        std::string l = *head;
        std::transform(l.begin(), l.end(), l.begin(), ::tolower);
        return l;
      }();
      if (auto at = lower_head.find("\r\ncontent-length:"); at != std::string::npos)
        want = static_cast<size_t>(std::atoll(head->c_str() + at + 17));
      while (rest.size() < std::min<size_t>(want, 65536)) {
        pollfd p{*fd, POLLIN, 0};
        if (::poll(&p, 1, 1000) <= 0) break;
        char buf[4096];
        const ssize_t n = ::recv(*fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        rest.append(buf, static_cast<size_t>(n));
      }
      ::close(*fd);
      std::string code = what + ".engine_error",
                  message = from + " answered HTTP " + std::to_string(status);
      try {
        const json body = json::parse(rest);
        code = body.at("error").at("code").get<std::string>();
        message = from + ": " + body.at("error").at("message").get<std::string>();
      } catch (const std::exception&) {
      }
      if (status == 404 || status == 503) {
        fail(res, api_error(status, code, message));
      } else {
        fail(res, api_error(502, what + ".engine_error", message));
      }
      return;
    }
    auto taken = http::ConnectionServer::take_over_connection();
    if (!taken) {
      ::close(*fd);
      fail(res, api_error(500, "api.internal", "the connection could not be taken over"));
      return;
    }
    const std::string answer = *head + "\r\n\r\n" + rest;
    const int engine_fd = *fd;
    const int client_fd = taken->fd;
    std::string leftover = std::move(taken->leftover);
    if (::send(client_fd, answer.data(), answer.size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(answer.size()) ||
        (!leftover.empty() && ::send(engine_fd, leftover.data(), leftover.size(), MSG_NOSIGNAL) !=
                                  static_cast<ssize_t>(leftover.size()))) {
      ::close(engine_fd);
      ::close(client_fd);
      return;
    }
    MutexLock lock(relays_mu);
    for (auto it = relays.begin(); it != relays.end();) {
      if (it->done->load()) {
        it->thread.join();
        it = relays.erase(it);
      } else {
        ++it;
      }
    }
    auto done = std::make_shared<std::atomic<bool>>(false);
    relays.push_back(Relay{std::thread([this, engine_fd, client_fd, done] {
                             run_guarded("orion-api-relay", [&] {
                               http::splice_sockets(client_fd, engine_fd, relays_stop);
                             });
                             ::shutdown(client_fd, SHUT_RDWR);
                             ::shutdown(engine_fd, SHUT_RDWR);
                             ::close(client_fd);
                             ::close(engine_fd);
                             done->store(true);
                           }),
                           done});
  }

  void stop_relays() {
    std::list<Relay> all;
    {
      MutexLock lock(relays_mu);
      relays_stopping = true;
      relays_stop.store(true);
      all.swap(relays);
    }
    for (auto& r : all) r.thread.join();
  }

  struct Relay {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  Mutex relays_mu;  // a leaf
  std::list<Relay> relays GUARDED_BY(relays_mu);
  bool relays_stopping GUARDED_BY(relays_mu) = false;
  std::atomic<bool> relays_stop{false};

  void events(const httplib::Request& req, httplib::Response& res) {
    QueryParams params(req.params.begin(), req.params.end());
    send(res, service.events(params));
  }
  void stats(const httplib::Request& req, httplib::Response& res) {
    if (!no_query(req, res)) return;
    send(res, service.stats());
  }
  void engines(const httplib::Request& req, httplib::Response& res) {
    if (!no_query(req, res)) return;
    send(res, service.engines());
  }

  // ---- cross-cutting --------------------------------------------------------------------------
  // Refuses requests whose body framing two parsers could read differently (the root of request
  // smuggling): a Transfer-Encoding other than "chunked", or on a method that takes no body here;
  // both Content-Length and Transfer-Encoding; Content-Length given twice; a body on GET/HEAD.
  // Every refusal is an error answer, so the connection ends with it.
  std::optional<std::string> framing_problem(const httplib::Request& req) {
    const bool has_te = req.has_header("Transfer-Encoding");
    const bool takes_body = req.method == "POST" || req.method == "PUT" || req.method == "PATCH";
    if (req.get_header_value_count("Content-Length") > 1) return "Content-Length given twice";
    if (req.get_header_value_count("Transfer-Encoding") > 1) return "Transfer-Encoding given twice";
    if (has_te) {
      std::string te = req.get_header_value("Transfer-Encoding");
      std::transform(te.begin(), te.end(), te.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (te != "chunked")
        return "Transfer-Encoding '" + printable(te) + "' (only chunked is read)";
      if (!takes_body) return req.method + " takes no chunked body here";
      if (req.has_header("Content-Length")) return "both Content-Length and Transfer-Encoding";
    }
    if ((req.method == "GET" || req.method == "HEAD" || req.method == "OPTIONS") &&
        req.get_header_value<uint64_t>("Content-Length") > 0) {
      return req.method + " takes no body";
    }
    return std::nullopt;
  }

  httplib::Server::HandlerResponse pre_route(const httplib::Request& req, httplib::Response& res) {
    if (auto why = framing_problem(req)) {
      fail(res, api_error(400, "api.bad_request", "request framing refused: " + *why));
      return httplib::Server::HandlerResponse::Handled;
    }
    return authorize(req, res);
  }

  httplib::Server::HandlerResponse authorize(const httplib::Request& req, httplib::Response& res) {
    if (options.token.empty()) return httplib::Server::HandlerResponse::Unhandled;
    const bool guarded = req.path == "/metrics" || req.path.rfind("/metrics/", 0) == 0 ||
                         req.path == "/api/v1" || req.path.rfind("/api/v1/", 0) == 0;
    if (!guarded) return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    if (http::bearer_matches(auth, options.token)) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    // A browser cannot set headers on a WebSocket or an <img>: the media routes also take the
    // token as ?token= (compared in constant time; never logged: the log shows the path only).
    if (auth.empty() && is_media_path(req.path) && req.has_param("token") &&
        http::constant_time_equal(req.get_param_value("token"), options.token)) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    res.set_header("WWW-Authenticate", "Bearer realm=\"orion\"");
    fail(res, api_error(401, "api.unauthorized",
                        auth.empty() ? "this server needs Authorization: Bearer <token> "
                                       "(ORION_API_TOKEN)"
                                     : "the Authorization header does not carry this server's "
                                       "token"));
    return httplib::Server::HandlerResponse::Handled;
  }

  // No route for this method and path: 405 with Allow when another method has one, else 404.
  void no_route(const httplib::Request& req, httplib::Response& res) {
    std::string allow;
    for (const auto& r : table()) {
      if (std::regex_match(req.path, std::regex(r.regex))) {
        allow += (allow.empty() ? "" : ", ") + std::string(r.method);
      }
    }
    if (!allow.empty()) {
      res.set_header("Allow", allow);
      fail(res, api_error(405, "api.method_not_allowed",
                          req.method + " is not allowed on " + printable(req.path) +
                              " (allowed: " + allow + ")"));
    } else {
      fail(res, api_error(404, "api.no_route",
                          "no such path: " + printable(req.path) + " (see /api/v1/openapi.json)"));
    }
  }

  // GET of anything the route table does not have: the dashboard's files, except under the
  // API's own prefixes (those are the API's 404/405).
  void web(const httplib::Request& req, httplib::Response& res) {
    const std::string& p = req.path;
    const auto under = [&p](const char* prefix) {
      const size_t n = std::strlen(prefix);
      return p.compare(0, n, prefix) == 0 && (p.size() == n || p[n] == '/');
    };
    if (under("/api") || under("/metrics") || under("/healthz")) {
      no_route(req, res);
      return;
    }
    if (!web_files) {
      fail(res, api_error(404, "web.not_built",
                          "this server has no dashboard (build the `web` target, or pass "
                          "--web-root DIR)"));
      return;
    }
    auto file = web_files->find(p);
    if (!file) {
      fail(res, api_error(404, "web.not_found", "no such file: " + printable(p)));
      return;
    }
    res.set_header("Cache-Control", file->cache_control);
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_header("X-Frame-Options", "DENY");
    res.set_header("Content-Security-Policy",
                   "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; "
                   "connect-src 'self' ws: wss:; style-src 'self' 'unsafe-inline'; "
                   "object-src 'none'; frame-ancestors 'none'; base-uri 'none'");
    res.set_content(std::move(file->body), file->content_type.c_str());
  }

  // Errors httplib produces itself (no route, body over the limit, a bad request line) get the
  // same JSON form; answers that already have a body are left alone.
  httplib::Server::HandlerResponse on_error(const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    if (res.status == 404) {
      no_route(req, res);
    } else if (res.status == 413) {
      fail(res,
           api_error(413, "api.body_too_large",
                     "request body is over " + std::to_string(options.max_body_bytes) + " bytes"));
    } else if (res.status == 500) {
      fail(res, api_error(500, "api.internal", "internal error (logged)"));
    } else {
      fail(res, api_error(res.status, "api.bad_request",
                          "the request could not be read as HTTP (status " +
                              std::to_string(res.status) + ")"));
    }
    return httplib::Server::HandlerResponse::Handled;
  }

  // Every method that may carry a body is served through a content reader, so no body is ever
  // read beyond max_body_bytes (httplib would buffer a chunked body of any size for a plain
  // handler): DELETE routes drop theirs, and a catch-all for POST, PUT, PATCH and DELETE
  // answers the paths and methods the table does not have.
  void register_routes() {
    for (const auto& r : table()) {
      const std::string m = r.method;
      if (r.body_handler) {
        auto fn = [this, h = r.body_handler](const httplib::Request& req, httplib::Response& res,
                                             const httplib::ContentReader& reader) {
          (this->*h)(req, res, reader);
        };
        if (m == "POST") http.Post(r.regex, fn);
        if (m == "PATCH") http.Patch(r.regex, fn);
      } else if (m == "DELETE") {
        http.Delete(r.regex,
                    [this, h = r.handler](const httplib::Request& req, httplib::Response& res,
                                          const httplib::ContentReader& reader) {
                      if (read_body(req, res, reader, nullptr)) (this->*h)(req, res);
                    });
      } else {
        http.Get(r.regex, [this, h = r.handler](const httplib::Request& req,
                                                httplib::Response& res) { (this->*h)(req, res); });
      }
    }
    auto unrouted = [this](const httplib::Request& req, httplib::Response& res,
                           const httplib::ContentReader& reader) {
      if (read_body(req, res, reader, nullptr)) no_route(req, res);
    };
    http.Get(".*", [this](const httplib::Request& req, httplib::Response& res) {
      if (!no_query(req, res)) return;
      web(req, res);
    });
    http.Post(".*", unrouted);
    http.Put(".*", unrouted);
    http.Patch(".*", unrouted);
    http.Delete(".*", unrouted);
  }

  ServerOptions options;
  ApiService service;
  std::optional<StaticFiles> web_files;  // set before serving, then read-only
  http::ConnectionServer http;  // closes the connection after every error answer
  std::thread listener;   // owner thread only
  int port = 0;
  std::atomic<bool> listener_done{false};
  bool stopped = false;  // owner thread only
};

const std::vector<ApiServer::Impl::RouteSpec>& ApiServer::Impl::table() {
  using I = ApiServer::Impl;
  constexpr auto S = ResourceKind::kStream;
  constexpr auto M = ResourceKind::kModel;
  constexpr auto P = ResourceKind::kPipeline;
  static const std::vector<RouteSpec> routes = {
      {"GET", "/healthz", "/healthz", &I::healthz},
      {"GET", "/metrics", "/metrics", &I::metrics},
      {"GET", "/api/v1/openapi.json", R"(/api/v1/openapi\.json)", &I::openapi},
      {"GET", "/api/v1/streams", "/api/v1/streams", &I::list<S>},
      {"POST", "/api/v1/streams", "/api/v1/streams", nullptr, &I::create<S>},
      {"GET", "/api/v1/streams/{name}", "/api/v1/streams/([^/]+)", &I::get<S>},
      {"PATCH", "/api/v1/streams/{name}", "/api/v1/streams/([^/]+)", nullptr, &I::patch<S>},
      {"DELETE", "/api/v1/streams/{name}", "/api/v1/streams/([^/]+)", &I::remove<S>},
      {"GET", "/api/v1/streams/{name}/snapshot.jpg", R"(/api/v1/streams/([^/]+)/snapshot\.jpg)",
       &I::snapshot},
      {"GET", "/api/v1/streams/{name}/frames/{seq}.jpg",
       R"(/api/v1/streams/([^/]+)/frames/([^/]*)\.jpg)", &I::frame},
      {"GET", "/api/v1/streams/{name}/live", "/api/v1/streams/([^/]+)/live", &I::live},
      {"GET", "/api/v1/streams/{name}/mjpeg", "/api/v1/streams/([^/]+)/mjpeg", &I::mjpeg},
      {"GET", "/api/v1/models", "/api/v1/models", &I::list<M>},
      {"POST", "/api/v1/models", "/api/v1/models", nullptr, &I::create<M>},
      {"GET", "/api/v1/models/{name}", "/api/v1/models/([^/]+)", &I::get<M>},
      {"PATCH", "/api/v1/models/{name}", "/api/v1/models/([^/]+)", nullptr, &I::patch<M>},
      {"DELETE", "/api/v1/models/{name}", "/api/v1/models/([^/]+)", &I::remove<M>},
      {"GET", "/api/v1/pipelines", "/api/v1/pipelines", &I::list<P>},
      {"POST", "/api/v1/pipelines", "/api/v1/pipelines", nullptr, &I::create<P>},
      {"GET", "/api/v1/pipelines/{name}", "/api/v1/pipelines/([^/]+)", &I::get<P>},
      {"PATCH", "/api/v1/pipelines/{name}", "/api/v1/pipelines/([^/]+)", nullptr, &I::patch<P>},
      {"DELETE", "/api/v1/pipelines/{name}", "/api/v1/pipelines/([^/]+)", &I::remove<P>},
      {"GET", "/api/v1/events", "/api/v1/events", &I::events},
      {"GET", "/api/v1/stats", "/api/v1/stats", &I::stats},
      {"GET", "/api/v1/engines", "/api/v1/engines", &I::engines},
  };
  return routes;
}

std::vector<ApiServer::Route> ApiServer::routes() {
  std::vector<Route> out;
  for (const auto& r : Impl::table()) out.push_back({r.method, r.path});
  return out;
}

Result<std::string> token_from_environment() {
  const char* t = std::getenv("ORION_API_TOKEN");
  if (t == nullptr) return std::string();
  const std::string token = t;
  if (token.empty()) {
    return make_error("api.bad_token",
                      "ORION_API_TOKEN is set but empty: unset it for no token, or give one");
  }
  if (!http::token_fits_header(token)) {
    return make_error("api.bad_token",
                      "ORION_API_TOKEN contains whitespace or a control character (it must "
                      "fit in an Authorization header)");
  }
  return token;
}

ApiServer::ApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ApiServer::~ApiServer() { stop(); }

Result<std::unique_ptr<ApiServer>> ApiServer::start(store::Store& store, ServerOptions options) {
  if (!http::token_fits_header(options.token)) {
    return make_error("api.bad_token", "the API token contains whitespace or a control character");
  }
  if (options.token.empty() && !http::is_loopback_address(options.address) &&
      !options.allow_unauthenticated_remote) {
    return make_error("api.insecure",
                      "refusing to serve the API on " + options.address +
                          " without a token: anyone who can reach it could change every stream "
                          "(set ORION_API_TOKEN, or serve 127.0.0.1)");
  }
  if (options.threads < 1) options.threads = 1;
  if (options.service.engine_token.empty()) options.service.engine_token = options.token;
  std::optional<StaticFiles> web_files;
  if (!options.web_root.empty()) {
    auto w = StaticFiles::open(options.web_root);
    if (!w) return w.error();
    web_files = std::move(*w);
  }
  auto impl = std::make_unique<Impl>(store, std::move(options));
  Impl* p = impl.get();
  p->web_files = std::move(web_files);
  auto& http = p->http;
  const int threads = p->options.threads;
  http.new_task_queue = [threads] {
    return new http::NamedTaskQueue(threads, "orion-api-http", [](const std::string& what) {
      spdlog::error("api: connection task failed: {}", redact_text(what));
    });
  };
  http.set_payload_max_length(p->options.max_body_bytes);
  http.set_keep_alive_timeout(
      2);  // an idle keep-alive connection holds a worker (and stop()) this long
  http.set_pre_routing_handler(
      [p](const httplib::Request& req, httplib::Response& res) { return p->pre_route(req, res); });
  http.set_error_handler(httplib::Server::HandlerWithResponse(
      [p](const httplib::Request& req, httplib::Response& res) { return p->on_error(req, res); }));
  http.set_exception_handler(
      [p](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        spdlog::error("api: handler failed: {}", printable(what));
        p->fail(res, api_error(500, "api.internal", "internal error (logged)"));
      });
  // Runs after every answer is written: errors end the connection (ConnectionServer).
  http.set_logger([p](const httplib::Request& req, const httplib::Response& res) {
    if (res.status >= 400) http::ConnectionServer::close_after_this_request();
    if (p->options.access_log) {
      spdlog::info("api: {} {} {} {}B", printable(req.method), printable(req.path), res.status,
                   res.body.size());
    }
  });
  p->register_routes();

  const std::string& address = p->options.address;
  if (p->options.port == 0) {
    p->port = http.bind_to_any_port(address);
    if (p->port <= 0) {
      return make_error("api.bind", "cannot listen on " + address + " (any port)");
    }
  } else {
    if (!http.bind_to_port(address, p->options.port)) {
      return make_error("api.bind", "cannot listen on " + address + ":" +
                                        std::to_string(p->options.port) +
                                        " (in use, or not an address of this machine)");
    }
    p->port = p->options.port;
  }
  p->listener = std::thread([p] {
    run_guarded("orion-api", [p] {
      if (!p->http.listen_after_bind()) spdlog::error("api: the listener stopped with an error");
    });
    p->listener_done = true;
  });
  // httplib's stop() only acts on a running listener: wait until it runs (it sets that first
  // thing), so a stop() right after start() cannot be lost.
  while (!p->http.is_running() && !p->listener_done) std::this_thread::yield();
  return std::unique_ptr<ApiServer>(new ApiServer(std::move(impl)));
}

int ApiServer::port() const { return impl_->port; }

std::string ApiServer::base_url() const {
  const std::string& a = impl_->options.address;
  const std::string host = a.find(':') != std::string::npos ? "[" + a + "]" : a;
  return "http://" + host + ":" + std::to_string(impl_->port);
}

void ApiServer::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  impl_->http.stop();
  if (impl_->listener.joinable()) impl_->listener.join();
  impl_->stop_relays();  // after the listener: no relay can start any more
}

}  // namespace orion::api
