// WebSocket (RFC 6455), the parts Orion needs: the server side of the opening handshake, frames
// (text, binary, ping, pong, close; fragmented messages are refused), a blocking server
// connection over a socket, and a small client (tests, `orion bench live`). Used by the
// engine's live view (engine/media_endpoint.h) and the API's relay of it (api/server.cc);
// docs/design/live_view.md.
//
// Ownership: WebSocketConnection and WebSocketClient own their socket (closed by the
// destructor). Thread-safety: a connection may be written by one thread and read by another
// at once; two writers (or two readers) need the caller's lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/result.h"
#include "core/time.h"

namespace orion::http {

// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + RFC 6455's GUID)).
std::string websocket_accept(std::string_view key);

// What is wrong with an opening handshake's headers (names lower-case), nullopt when it is a
// WebSocket upgrade this server can take: Upgrade: websocket, Connection containing "upgrade",
// Sec-WebSocket-Version: 13, a Sec-WebSocket-Key of 16 bytes in base64.
std::optional<std::string> websocket_upgrade_problem(std::string_view upgrade,
                                                     std::string_view connection,
                                                     std::string_view version,
                                                     std::string_view key);

// The 101 answer to a good handshake, ready to write.
std::string websocket_handshake_response(std::string_view key);

enum class WsOpcode : uint8_t { kText = 1, kBinary = 2, kClose = 8, kPing = 9, kPong = 10 };

// One whole frame: FIN set, masked with `mask` when it is set (a client's frames are masked).
std::string websocket_frame(WsOpcode op, std::string_view payload,
                            std::optional<uint32_t> mask = std::nullopt);

struct WsMessage {
  WsOpcode opcode = WsOpcode::kText;
  std::string payload;  // unmasked; a close's payload is its status code and reason
};

// A socket after a handshake. Writes block up to `write_timeout` (a viewer that reads nothing
// for that long is dropped). read() returns the next data message; pings are answered and
// pongs dropped on the way; a close is answered and ends the connection.
class WebSocketConnection {
 public:
  // `leftover`: bytes already read from the socket after the handshake.
  WebSocketConnection(int fd, bool client, std::string leftover = {},
                      Duration write_timeout = Duration::seconds(5));
  ~WebSocketConnection();
  WebSocketConnection(const WebSocketConnection&) = delete;
  WebSocketConnection& operator=(const WebSocketConnection&) = delete;

  // Errors: "ws.closed" (the peer is gone or closed), "ws.timeout" (write stalled).
  Status send(WsOpcode op, std::string_view payload);
  // The next text or binary message within `timeout`. Errors: "ws.timeout" (none yet: the
  // connection is still good), "ws.closed" (closed by the peer, who got its close back),
  // "ws.protocol" (a frame this side cannot take: fragmented, unmasked from a client, over
  // 16 MiB, a reserved opcode).
  Result<WsMessage> read(Duration timeout);
  // Sends a close frame (status `code`) unless one was sent; does not wait for the answer.
  void close(uint16_t code = 1000, std::string_view reason = {});
  int fd() const { return fd_; }

 private:
  Result<WsMessage> read_frame(Duration timeout);
  int fd_;
  bool client_;
  std::string in_;  // bytes read and not yet parsed
  Duration write_timeout_;
  bool close_sent_ = false;
};

// A TCP connection to host:port (TCP_NODELAY set), blocking; `receive_buffer` > 0 sets
// SO_RCVBUF before connecting (tests: a viewer that reads slowly). Errors: "ws.connect".
Result<int> tcp_connect(const std::string& host, int port, int receive_buffer = 0);

// Reads an HTTP answer's head (through the blank line) from `fd` within `timeout`: the head
// without its blank line, and in `rest` what came after it. Errors: "ws.handshake".
Result<std::string> read_http_head(int fd, Duration timeout, std::string& rest);

// Copies bytes both ways between two sockets until one side closes or errs, or `stop` is set
// (checked every 200 ms). Closes neither (the caller owns both). Returns the bytes copied
// a → b and b → a.
std::pair<uint64_t, uint64_t> splice_sockets(int a, int b, const std::atomic<bool>& stop);

// A client: connects to host:port, sends the opening handshake for `target` (path and query)
// with `headers`, and checks the 101 answer. Tests and `orion bench live`.
struct WebSocketClientAnswer {
  int status = 0;                              // the HTTP status of the answer
  std::map<std::string, std::string> headers;  // names lower-case
  std::string body;                            // of a non-101 answer (what came within time)
};
class WebSocketClient {
 public:
  // Errors: "ws.connect" (no connection), "ws.handshake" (no answer, or a bad 101; a non-101
  // answer is not an error: see answer()).
  static Result<std::unique_ptr<WebSocketClient>> connect(
      const std::string& host, int port, const std::string& target,
      const std::map<std::string, std::string>& headers = {},
      Duration timeout = Duration::seconds(5), int receive_buffer = 0);
  const WebSocketClientAnswer& answer() const { return answer_; }
  bool upgraded() const { return conn_ != nullptr; }
  WebSocketConnection& connection() { return *conn_; }

 private:
  WebSocketClientAnswer answer_;
  std::unique_ptr<WebSocketConnection> conn_;
};

}  // namespace orion::http
