// ApiClient: a real HTTP client (cpp-httplib) for the API's integration tests, over loopback.
// Each call is one request; answers come back as status, headers and the body parsed as JSON
// (null when it is not JSON). A token, when set, goes in every request.
//
// Thread-safety: one ApiClient per thread (httplib::Client is not shared here).
#pragma once

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace orion::api::testing {

struct Answer {
  int status = 0;  // 0: no answer (connection failed); `transport` says why
  std::string transport;
  httplib::Headers headers;
  std::string body;
  nlohmann::json json;  // parsed body, or null

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
  std::string error_code() const {
    return json.is_object() && json.contains("error") ? json["error"].value("code", "") : "";
  }
  std::string error_field() const {
    if (!json.is_object() || !json.contains("error") || !json["error"]["field"].is_string())
      return "";
    return json["error"]["field"].get<std::string>();
  }
  std::string error_message() const {
    return json.is_object() && json.contains("error") ? json["error"].value("message", "") : "";
  }
};

class ApiClient {
 public:
  explicit ApiClient(std::string base_url, std::string token = "")
      : client_(base_url), token_(std::move(token)) {
    client_.set_connection_timeout(5, 0);
    client_.set_read_timeout(10, 0);
    client_.set_write_timeout(10, 0);
  }

  void set_token(std::string token) { token_ = std::move(token); }

  Answer get(const std::string& path, httplib::Headers extra = {}) {
    return finish(client_.Get(path.c_str(), with_auth(std::move(extra))));
  }
  Answer post(const std::string& path, const std::string& body,
              const std::string& content_type = "application/json", httplib::Headers extra = {}) {
    return finish(
        client_.Post(path.c_str(), with_auth(std::move(extra)), body, content_type.c_str()));
  }
  Answer post(const std::string& path, const nlohmann::json& body) {
    return post(path, body.dump());
  }
  Answer patch(const std::string& path, const std::string& body, httplib::Headers extra = {},
               const std::string& content_type = "application/json") {
    return finish(
        client_.Patch(path.c_str(), with_auth(std::move(extra)), body, content_type.c_str()));
  }
  Answer patch(const std::string& path, const nlohmann::json& body, httplib::Headers extra = {}) {
    return patch(path, body.dump(), std::move(extra));
  }
  Answer del(const std::string& path, httplib::Headers extra = {}) {
    return finish(client_.Delete(path.c_str(), with_auth(std::move(extra))));
  }
  // Any method, raw (for methods the API does not serve).
  Answer send(const std::string& method, const std::string& path, const std::string& body = "",
              httplib::Headers extra = {}) {
    httplib::Request req;
    req.method = method;
    req.path = path;
    req.headers = with_auth(std::move(extra));
    req.body = body;
    if (!body.empty()) req.set_header("Content-Type", "application/json");
    return finish(client_.send(req));
  }

  httplib::Client& raw() { return client_; }

 private:
  httplib::Headers with_auth(httplib::Headers h) const {
    if (!token_.empty()) h.emplace("Authorization", "Bearer " + token_);
    return h;
  }
  static Answer finish(httplib::Result r) {
    Answer a;
    if (!r) {
      a.transport = httplib::to_string(r.error());
      return a;
    }
    a.status = r->status;
    a.headers = r->headers;
    a.body = r->body;
    a.json = nlohmann::json::parse(a.body, nullptr, /*allow_exceptions=*/false);
    if (a.json.is_discarded()) a.json = nullptr;
    return a;
  }

  httplib::Client client_;
  std::string token_;
};

}  // namespace orion::api::testing
