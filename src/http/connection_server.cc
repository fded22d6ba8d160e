#include "http/connection_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace orion::http {

namespace {

thread_local bool t_close_after = false;
thread_local bool t_taken = false;  // the current connection was taken over: drop writes

// Waits until `fd` is readable (or writable); false on timeout or error. EINTR restarts with the
// time left.
bool wait_fd(int fd, short events, std::chrono::microseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
    if (rc > 0) return (p.revents & (events | POLLHUP | POLLERR)) != 0;
    if (rc == 0) return false;
    if (errno != EINTR) return false;
  }
}

std::chrono::microseconds micros(time_t sec, time_t usec) {
  return std::chrono::seconds(sec) + std::chrono::microseconds(usec);
}

std::string ip_of(const sockaddr_storage& a) {
  char buf[INET6_ADDRSTRLEN] = "";
  if (a.ss_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(a).sin_addr, buf, sizeof buf);
  } else if (a.ss_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(a).sin6_addr, buf, sizeof buf);
  }
  return buf;
}

int port_of(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
  if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
  return 0;
}

// One connection's bytes, with a small read buffer (httplib reads request lines byte by byte).
class ConnStream final : public httplib::Stream {
 public:
  ConnStream(socket_t sock, std::chrono::microseconds read_timeout,
             std::chrono::microseconds write_timeout)
      : sock_(sock), read_timeout_(read_timeout), write_timeout_(write_timeout) {}

  bool buffered() const { return pos_ < len_; }
  std::string take_buffered() {
    std::string out(buf_ + pos_, len_ - pos_);
    pos_ = len_ = 0;
    return out;
  }

  bool is_readable() const override { return buffered() || wait_fd(sock_, POLLIN, read_timeout_); }
  bool is_writable() const override { return wait_fd(sock_, POLLOUT, write_timeout_); }

  ssize_t read(char* ptr, size_t size) override {
    if (!buffered()) {
      if (!wait_fd(sock_, POLLIN, read_timeout_)) return -1;
      ssize_t n;
      do {
        n = ::recv(sock_, buf_, sizeof buf_, 0);
      } while (n < 0 && errno == EINTR);
      if (n <= 0) return n;
      pos_ = 0;
      len_ = static_cast<size_t>(n);
    }
    const size_t n = std::min(size, len_ - pos_);
    std::memcpy(ptr, buf_ + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (t_taken) return static_cast<ssize_t>(size);  // the new owner answers instead
    if (!wait_fd(sock_, POLLOUT, write_timeout_)) return -1;
    ssize_t n;
    do {
      n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    if (::getpeername(sock_, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      ip = ip_of(a);
      port = port_of(a);
    }
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    if (::getsockname(sock_, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      ip = ip_of(a);
      port = port_of(a);
    }
  }
  socket_t socket() const override { return sock_; }

 private:
  socket_t sock_;
  std::chrono::microseconds read_timeout_, write_timeout_;
  char buf_[4096];
  size_t pos_ = 0, len_ = 0;
};

// Lets the client read the last answer before the connection goes: no more writes, then drop
// what it still sends (at most 1 MiB, 2 s), then close.
void lingering_close(socket_t sock) {
  ::shutdown(sock, SHUT_WR);
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  size_t dropped = 0;
  char buf[16384];
  while (dropped < (1u << 20)) {
    const auto left = std::chrono::duration_cast<std::chrono::microseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !wait_fd(sock, POLLIN, left)) break;
    const ssize_t n = ::recv(sock, buf, sizeof buf, 0);
    if (n <= 0 && !(n < 0 && errno == EINTR)) break;
    if (n > 0) dropped += static_cast<size_t>(n);
  }
  ::close(sock);
}

}  // namespace

ConnectionServer::ConnectionServer() {
  set_socket_options([](socket_t sock) {
    int yes = 1;
    // Without it a restart may find the port busy until TIME_WAIT ends, which bind reports.
    if (::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes) != 0) return;
  });
}

void ConnectionServer::close_after_this_request() { t_close_after = true; }

namespace {
thread_local ConnStream* t_stream = nullptr;
}

std::optional<ConnectionServer::TakenConnection> ConnectionServer::take_over_connection() {
  if (t_stream == nullptr || t_taken) return std::nullopt;
  const int fd = ::dup(t_stream->socket());
  if (fd < 0) return std::nullopt;
  t_taken = true;
  return TakenConnection{fd, t_stream->take_buffered()};
}

bool ConnectionServer::process_and_close_socket(socket_t sock) {
  // An answer goes out in several writes (status and headers, then the body): with Nagle on,
  // the second waits for the client's delayed ACK, ~40 ms per request on a kept-alive connection.
  int yes = 1;
  ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
  ConnStream strm(sock, micros(read_timeout_sec_, read_timeout_usec_),
                  micros(write_timeout_sec_, write_timeout_usec_));
  bool ret = false;
  bool graceful = false;  // the last answer may have left client bytes unread
  for (size_t count = keep_alive_max_count_; count > 0 && svr_sock_ != INVALID_SOCKET; --count) {
    // Wait for the next request: what is buffered, or bytes within the keep-alive timeout
    // (in slices, so that stop() is seen).
    if (!strm.buffered()) {
      const auto end =
          std::chrono::steady_clock::now() + std::chrono::seconds(keep_alive_timeout_sec_);
      bool readable = false;
      while (!readable && svr_sock_ != INVALID_SOCKET && std::chrono::steady_clock::now() < end) {
        readable = wait_fd(sock, POLLIN, std::chrono::milliseconds(100));
      }
      if (!readable) break;
    }
    t_close_after = false;
    t_taken = false;
    bool connection_closed = false;
    t_stream = &strm;
    ret = process_request(strm, count == 1, connection_closed, nullptr);
    t_stream = nullptr;
    if (t_taken) {  // the socket is someone else's now (through its dup): just let go of ours
      t_taken = false;
      t_close_after = false;
      ::close(sock);
      return ret;
    }
    if (t_close_after) {
      graceful = true;
      break;
    }
    if (!ret || connection_closed) break;
  }
  t_close_after = false;
  if (graceful) {
    lingering_close(sock);
  } else {
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
  }
  return ret;
}

}  // namespace orion::http
