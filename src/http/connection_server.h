// ConnectionServer: httplib::Server with Orion's own connection loop, so that a connection is
// closed whenever the bytes after a request can no longer be trusted to start the next one.
//
// Why: cpp-httplib 0.11 keeps a connection alive after any answer and parses whatever follows
// as the next request. A body it did not read (a GET or a chunked DELETE with a body, a chunked
// body cut off at the size limit, a request refused before its body was read) would then be
// read as requests of their own — request smuggling behind a proxy, and noise otherwise. It has
// no way for a handler to close the connection. This class runs the keep-alive loop itself
// (httplib's protected process_request() per request) and ends it after
//   - any answer with status >= 400 (errors are rare; a client that erred starts afresh), and
//   - any request a handler marks with close_after_this_request().
// It then closes gracefully ("lingering close"): shutdown(SHUT_WR), then reads and drops what
// the client still sends, at most 1 MiB and 2 s, so the client reads the answer instead of a
// TCP reset.
//
// Its listening socket is its own: SO_REUSEADDR (a restart need not wait for TIME_WAIT) but not
// httplib's default SO_REUSEPORT, with which a second server on the same port bound without an
// error and took a share of the connections (an engine could answer for another one).
//
// Everything else is httplib's: routing, handlers, timeouts (read/write/keep-alive as set on the
// Server), keep_alive_max_count.
//
// Thread-safety: as httplib::Server. close_after_this_request() acts on the request being
// handled on the calling thread (each connection is served by one worker thread at a time).
#pragma once

#include <httplib.h>

#include <optional>
#include <string>

namespace orion::http {

class ConnectionServer : public httplib::Server {
 public:
  ConnectionServer();

  // From a handler, the pre-routing handler or the logger: end the connection after the answer
  // to the current request.
  static void close_after_this_request();

  // From a handler: takes the connection of the current request away from the server (a
  // WebSocket upgrade, a long-lived multipart answer). The caller owns `fd` (a dup of the
  // socket) and writes its own answer on it; httplib's answer to this request is dropped, and
  // the server's loop for this connection ends without touching the socket. `leftover` holds
  // bytes the server had read past the request. nullopt outside a request of this server.
  struct TakenConnection {
    int fd = -1;
    std::string leftover;
  };
  static std::optional<TakenConnection> take_over_connection();

 private:
  bool process_and_close_socket(socket_t sock) override;
};

}  // namespace orion::http
