#include "http/websocket.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>

namespace orion::http {

namespace {

constexpr size_t kMaxPayload = 16u << 20;

// SHA-1 (FIPS 180-4), only for the handshake's accept key.
std::array<uint8_t, 20> sha1(std::string_view msg) {
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  std::string m(msg);
  const uint64_t bits = static_cast<uint64_t>(msg.size()) * 8;
  m.push_back(static_cast<char>(0x80));
  while (m.size() % 64 != 56) m.push_back('\0');
  for (int i = 7; i >= 0; --i) m.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
  auto rol = [](uint32_t v, int n) { return (v << n) | (v >> (32 - n)); };
  for (size_t off = 0; off < m.size(); off += 64) {
    uint32_t w[80];
    for (int i = 0; i < 16; ++i) {
      w[i] = (static_cast<uint32_t>(static_cast<uint8_t>(m[off + 4 * i])) << 24) |
             (static_cast<uint32_t>(static_cast<uint8_t>(m[off + 4 * i + 1])) << 16) |
             (static_cast<uint32_t>(static_cast<uint8_t>(m[off + 4 * i + 2])) << 8) |
             static_cast<uint32_t>(static_cast<uint8_t>(m[off + 4 * i + 3]));
    }
    for (int i = 16; i < 80; ++i) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; ++i) {
      uint32_t f, k;
      if (i < 20) {
        f = (b & c) | (~b & d);
        k = 0x5A827999;
      } else if (i < 40) {
        f = b ^ c ^ d;
        k = 0x6ED9EBA1;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8F1BBCDC;
      } else {
        f = b ^ c ^ d;
        k = 0xCA62C1D6;
      }
      const uint32_t t = rol(a, 5) + f + e + k + w[i];
      e = d;
      d = c;
      c = rol(b, 30);
      b = a;
      a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
  }
  std::array<uint8_t, 20> out{};
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 4; ++j) out[4 * i + j] = static_cast<uint8_t>(h[i] >> (24 - 8 * j));
  return out;
}

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64(const uint8_t* p, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = static_cast<uint32_t>(p[i]) << 16;
    if (i + 1 < n) v |= static_cast<uint32_t>(p[i + 1]) << 8;
    if (i + 2 < n) v |= p[i + 2];
    out.push_back(kB64[(v >> 18) & 63]);
    out.push_back(kB64[(v >> 12) & 63]);
    out.push_back(i + 1 < n ? kB64[(v >> 6) & 63] : '=');
    out.push_back(i + 2 < n ? kB64[v & 63] : '=');
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool wait_fd(int fd, short events, Duration timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout.to_chrono();
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) return false;
  }
}

}  // namespace

std::string websocket_accept(std::string_view key) {
  const auto d = sha1(std::string(key) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
  return base64(d.data(), d.size());
}

std::optional<std::string> websocket_upgrade_problem(std::string_view upgrade,
                                                     std::string_view connection,
                                                     std::string_view version,
                                                     std::string_view key) {
  if (lower(upgrade) != "websocket") {
    return "this path is a WebSocket: the request needs 'Upgrade: websocket'";
  }
  if (lower(connection).find("upgrade") == std::string::npos) {
    return "a WebSocket handshake needs 'Connection: Upgrade'";
  }
  if (version != "13") {
    return "Sec-WebSocket-Version '" + std::string(version.substr(0, 16)) + "': only 13 is spoken";
  }
  if (key.size() != 24 || key.substr(22) != "==" ||
      key.substr(0, 22).find_first_not_of(kB64) != std::string_view::npos) {
    return "Sec-WebSocket-Key must be 16 bytes in base64 (24 characters)";
  }
  return std::nullopt;
}

std::string websocket_handshake_response(std::string_view key) {
  return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: " +
         websocket_accept(key) + "\r\n\r\n";
}

std::string websocket_frame(WsOpcode op, std::string_view payload, std::optional<uint32_t> mask) {
  std::string f;
  f.push_back(static_cast<char>(0x80 | static_cast<uint8_t>(op)));
  const uint8_t m = mask ? 0x80 : 0;
  const uint64_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(m | n));
  } else if (n <= 0xffff) {
    f.push_back(static_cast<char>(m | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xff));
  } else {
    f.push_back(static_cast<char>(m | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  }
  if (!mask) {
    f.append(payload);
    return f;
  }
  uint8_t k[4];
  for (int i = 0; i < 4; ++i) k[i] = static_cast<uint8_t>(*mask >> (24 - 8 * i));
  f.append(reinterpret_cast<const char*>(k), 4);
  const size_t at = f.size();
  f.append(payload);
  for (size_t i = 0; i < payload.size(); ++i) f[at + i] = static_cast<char>(f[at + i] ^ k[i % 4]);
  return f;
}

WebSocketConnection::WebSocketConnection(int fd, bool client, std::string leftover,
                                         Duration write_timeout)
    : fd_(fd), client_(client), in_(std::move(leftover)), write_timeout_(write_timeout) {}

WebSocketConnection::~WebSocketConnection() {
  if (fd_ >= 0) {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
  }
}

Status WebSocketConnection::send(WsOpcode op, std::string_view payload) {
  std::optional<uint32_t> mask;
  if (client_) mask = static_cast<uint32_t>(std::random_device{}());
  const std::string frame = websocket_frame(op, payload, mask);
  size_t done = 0;
  const auto end = std::chrono::steady_clock::now() + write_timeout_.to_chrono();
  while (done < frame.size()) {
    const auto left = Duration::from(end - std::chrono::steady_clock::now());
    if (left <= Duration::zero() || !wait_fd(fd_, POLLOUT, left)) {
      return make_error("ws.timeout", "the peer read nothing for " +
                                          std::to_string(write_timeout_.as_millis()) + " ms");
    }
    const ssize_t n =
        ::send(fd_, frame.data() + done, frame.size() - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n <= 0)
      return make_error("ws.closed", std::string("the peer is gone: ") + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  if (op == WsOpcode::kClose) close_sent_ = true;
  return {};
}

void WebSocketConnection::close(uint16_t code, std::string_view reason) {
  if (close_sent_) return;
  std::string p;
  p.push_back(static_cast<char>(code >> 8));
  p.push_back(static_cast<char>(code & 0xff));
  p.append(reason.substr(0, 120));
  (void)send(WsOpcode::kClose, p);
  close_sent_ = true;
}

Result<WsMessage> WebSocketConnection::read(Duration timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout.to_chrono();
  for (;;) {
    auto left = Duration::from(end - std::chrono::steady_clock::now());
    if (left < Duration::zero()) left = Duration::zero();
    auto f = read_frame(left);
    if (!f) return f.error();
    switch (f->opcode) {
      case WsOpcode::kText:
      case WsOpcode::kBinary:
        return f;
      case WsOpcode::kPing:
        if (auto s = send(WsOpcode::kPong, f->payload); !s) return s.error();
        break;
      case WsOpcode::kPong:
        break;
      case WsOpcode::kClose:
        close(f->payload.size() >= 2
                  ? static_cast<uint16_t>((static_cast<uint8_t>(f->payload[0]) << 8) |
                                          static_cast<uint8_t>(f->payload[1]))
                  : 1000);
        return make_error("ws.closed", "the peer closed the connection");
    }
  }
}

Result<WsMessage> WebSocketConnection::read_frame(Duration timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout.to_chrono();
  for (;;) {
    // Parse what is buffered.
    if (in_.size() >= 2) {
      const uint8_t b0 = static_cast<uint8_t>(in_[0]), b1 = static_cast<uint8_t>(in_[1]);
      const bool masked = (b1 & 0x80) != 0;
      uint64_t len = b1 & 0x7f;
      size_t at = 2;
      bool complete = true;
      if (len == 126) {
        if (in_.size() < 4)
          complete = false;
        else
          len = (static_cast<uint64_t>(static_cast<uint8_t>(in_[2])) << 8) |
                static_cast<uint8_t>(in_[3]);
        at = 4;
      } else if (len == 127) {
        if (in_.size() < 10) {
          complete = false;
        } else {
          len = 0;
          for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<uint8_t>(in_[2 + i]);
        }
        at = 10;
      }
      if (complete) {
        const uint8_t op = b0 & 0x0f;
        if ((b0 & 0x80) == 0 || op == 0) {
          return make_error("ws.protocol", "fragmented messages are not taken");
        }
        if ((b0 & 0x70) != 0)
          return make_error("ws.protocol", "reserved bits set (no extension was agreed)");
        if (op != 1 && op != 2 && op != 8 && op != 9 && op != 10) {
          return make_error("ws.protocol", "opcode " + std::to_string(op) + " is reserved");
        }
        if (!client_ && !masked)
          return make_error("ws.protocol", "a client's frame must be masked");
        if (len > kMaxPayload) {
          return make_error("ws.protocol",
                            "a frame of " + std::to_string(len) + " bytes is over 16 MiB");
        }
        const size_t need = at + (masked ? 4 : 0) + static_cast<size_t>(len);
        if (in_.size() >= need) {
          WsMessage m;
          m.opcode = static_cast<WsOpcode>(op);
          const size_t data = at + (masked ? 4 : 0);
          m.payload = in_.substr(data, static_cast<size_t>(len));
          if (masked) {
            for (size_t i = 0; i < m.payload.size(); ++i)
              m.payload[i] = static_cast<char>(m.payload[i] ^ in_[at + (i % 4)]);
          }
          in_.erase(0, need);
          return m;
        }
      }
    }
    // Read more.
    const auto left = Duration::from(end - std::chrono::steady_clock::now());
    if (left <= Duration::zero() || !wait_fd(fd_, POLLIN, left)) {
      return make_error("ws.timeout", "no message yet");
    }
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n <= 0) return make_error("ws.closed", "the peer closed the connection");
    in_.append(buf, static_cast<size_t>(n));
  }
}

Result<int> tcp_connect(const std::string& host, int port, int receive_buffer) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string where = host + ":" + std::to_string(port);
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 ||
      res == nullptr) {
    return make_error("ws.connect", "cannot resolve " + where);
  }
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && receive_buffer > 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  }
  const int rc = fd < 0 ? -1 : ::connect(fd, res->ai_addr, res->ai_addrlen);
  const int err = errno;
  ::freeaddrinfo(res);
  if (rc != 0) {
    if (fd >= 0) ::close(fd);
    return make_error("ws.connect", "cannot connect to " + where + ": " + std::strerror(err));
  }
  int yes = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
  return fd;
}

Result<std::string> read_http_head(int fd, Duration timeout, std::string& rest) {
  std::string in;
  const auto end = std::chrono::steady_clock::now() + timeout.to_chrono();
  for (;;) {
    const size_t at = in.find("\r\n\r\n");
    if (at != std::string::npos) {
      rest = in.substr(at + 4);
      return in.substr(0, at);
    }
    if (in.size() > 65536) return make_error("ws.handshake", "an answer head over 64 KiB");
    const auto left = Duration::from(end - std::chrono::steady_clock::now());
    if (left <= Duration::zero() || !wait_fd(fd, POLLIN, left)) {
      return make_error("ws.handshake",
                        "no answer within " + std::to_string(timeout.as_millis()) + " ms");
    }
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return make_error("ws.handshake", "the connection closed before an answer");
    in.append(buf, static_cast<size_t>(n));
  }
}

std::pair<uint64_t, uint64_t> splice_sockets(int a, int b, const std::atomic<bool>& stop) {
  uint64_t ab = 0, ba = 0;
  char buf[65536];
  // Each direction's write is blocking (with poll), so a slow reader on one side slows only
  // the copy towards it: the engine's own bounded queue is what drops for it.
  auto copy = [&](int from, int to, uint64_t& count) {
    const ssize_t n = ::recv(from, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n <= 0) return false;
    size_t done = 0;
    while (done < static_cast<size_t>(n)) {
      if (stop.load()) return false;
      const ssize_t w =
          ::send(to, buf + done, static_cast<size_t>(n) - done, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w > 0) {
        done += static_cast<size_t>(w);
      } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        pollfd p{to, POLLOUT, 0};
        ::poll(&p, 1, 200);
      } else {
        return false;
      }
    }
    count += static_cast<uint64_t>(n);
    return true;
  };
  while (!stop.load()) {
    pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    const int rc = ::poll(p, 2, 200);
    if (rc < 0 && errno != EINTR) break;
    if (rc <= 0) continue;
    if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) && !copy(a, b, ab)) break;
    if ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) && !copy(b, a, ba)) break;
  }
  return {ab, ba};
}

Result<std::unique_ptr<WebSocketClient>> WebSocketClient::connect(
    const std::string& host, int port, const std::string& target,
    const std::map<std::string, std::string>& headers, Duration timeout, int receive_buffer) {
  const std::string where = host + ":" + std::to_string(port);
  auto connected = tcp_connect(host, port, receive_buffer);
  if (!connected) return connected.error();
  const int fd = *connected;
  uint8_t raw[16];
  std::random_device rd;
  for (auto& b : raw) b = static_cast<uint8_t>(rd());
  const std::string key = base64(raw, 16);
  std::string req = "GET " + target + " HTTP/1.1\r\nHost: " + where +
                    "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                    "Sec-WebSocket-Key: " +
                    key + "\r\n";
  for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
  req += "\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) {
    ::close(fd);
    return make_error("ws.connect", "cannot send the handshake to " + where);
  }
  // Read the answer's head (and, for a non-101, what body comes within the time).
  std::string in;
  const auto end = std::chrono::steady_clock::now() + timeout.to_chrono();
  size_t head_end = std::string::npos;
  auto client = std::make_unique<WebSocketClient>();
  while (head_end == std::string::npos) {
    const auto left = Duration::from(end - std::chrono::steady_clock::now());
    if (left <= Duration::zero() || !wait_fd(fd, POLLIN, left)) break;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
    head_end = in.find("\r\n\r\n");
  }
  if (head_end == std::string::npos) {
    ::close(fd);
    return make_error("ws.handshake", where + " sent no answer to the handshake");
  }
  const std::string head = in.substr(0, head_end);
  std::string rest = in.substr(head_end + 4);
  if (head.size() < 12 || head.compare(0, 5, "HTTP/") != 0) {
    ::close(fd);
    return make_error("ws.handshake", where + " answered something that is not HTTP");
  }
  client->answer_.status = std::atoi(head.c_str() + 9);
  size_t pos = head.find("\r\n");
  while (pos != std::string::npos && pos < head.size()) {
    const size_t next = head.find("\r\n", pos + 2);
    const std::string line =
        head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string v = line.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      client->answer_.headers[lower(line.substr(0, colon))] = v;
    }
    pos = next;
  }
  if (client->answer_.status != 101) {
    // The body: what its Content-Length says, or what comes before the close.
    size_t want = std::string::npos;
    if (auto it = client->answer_.headers.find("content-length");
        it != client->answer_.headers.end())
      want = static_cast<size_t>(std::atoll(it->second.c_str()));
    while (rest.size() < want) {
      const auto left = Duration::from(end - std::chrono::steady_clock::now());
      if (left <= Duration::zero() || !wait_fd(fd, POLLIN, left)) break;
      char buf[4096];
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      rest.append(buf, static_cast<size_t>(n));
    }
    client->answer_.body = std::move(rest);
    ::close(fd);
    return client;
  }
  if (client->answer_.headers["sec-websocket-accept"] != websocket_accept(key)) {
    ::close(fd);
    return make_error("ws.handshake", where + " answered 101 with a wrong Sec-WebSocket-Accept");
  }
  client->conn_ = std::make_unique<WebSocketConnection>(fd, true, std::move(rest));
  return client;
}

}  // namespace orion::http
