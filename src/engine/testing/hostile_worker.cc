// orion_hostile_worker: a test-only worker program that attacks the engine from the worker's
// side of the boundary (src/engine/hostile_worker_test.cc runs it as one pipeline's `worker`
// beside an honest `orion worker`; issue 9).
//
//   orion_hostile_worker --mode MODE [--report FILE] [--marker TEXT] [--exec CMD...]
//                        --parent-pid PID
//
// It speaks the worker protocol by hand (docs/design/worker_protocol.md): raw JSON strings, no
// protocol library, so it can say anything. It maps the pool (fd 3, read-only) and its mailbox
// (fd 4, read-write) with plain mmap, sends results on fd 5 and reads `configure` from stdin.
// Unless the mode is about the handshake it first behaves like a worker: hello (protocol 1,
// ABI 1), ready, heartbeats answered, frames taken and released, one plausible result per frame
// (a box in the middle of the frame), progress marked. Then it misbehaves as MODE says; the
// modes are listed in kModes below.
//
// What it did goes to FILE (append, one line each): "mode M", "attacking" (written when the
// misbehaviour starts, which waits for the file FILE.go: the test creates it once its baseline
// is taken, and measures from the "attacking" line on), "result NAME ok|ERRNO" (each attempt of
// the pool/mailbox attacks), "forked N", "final taken=T results_sent=R" (at a clean stop), and
// "sent 3000 detections in B bytes" (each such result), in relay mode the real worker's
// "stopped" line. The test reads that file; the engine never
// sees it.
//
// --marker TEXT: descendants started by fork-children re-execute this program as
// `orion_hostile_worker --orphan TEXT` so the test can find them in /proc/*/cmdline (their pids
// may live in another PID namespace: the test never uses pids this program reports).
// --exec CMD...: relay mode runs CMD... (up to --parent-pid) as its child, with this
// program's own pid as the child's --parent-pid, and copies the child's stdout to the engine.
//
// Single-threaded. Exit status: 0 after "stop" or end of stdin, 2 bad arguments, 3 setup
// failure (the engine's descriptors are not what the protocol says).
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ipc/layout.h"  // the shared-memory ABI: offsets and token helpers only

namespace {

using orion::ipc::MailboxBlock;
using orion::ipc::PoolHeader;
using orion::ipc::SlotHeader;

constexpr const char* kModes[] = {
    "honest",            // a correct worker (control case; counts its own takes and results)
    "garbage-lines",     // 50 invalid control lines per second, heartbeats still answered
    "long-line",         // one 8 MiB line without a newline, then honest
    "stdout-flood",      // valid control lines as fast as the pipe takes them
    "result-flood",      // the last result re-sent as fast as the socket takes it
    "bad-boxes",         // boxes huge, negative, inverted, degenerate, partly outside
    "nan-box",           // NaN, Infinity and 1e39 coordinates
    "many-detections",   // 3000 detections per result, every frame (10^5 within ~1.5 s)
    "oversized-result",  // one datagram of 320 KiB per frame
    "huge-sequence",     // results with sequences 2^63 and 2^63 - 1, then honest results
    "never-offered",     // each result names a frame 25 sequences in the future
    "wrong-stream",      // each result carries the stream id of another stream
    "not-leased",        // takes no more frames: results for offers it watched being dropped
    "pool-write",        // reopens the pool read-write: write(), mmap(PROT_WRITE), mprotect
    "ftruncate",         // ftruncate of the mailbox fd and of a reopened pool fd
    "punch-hole",        // fallocate(PUNCH_HOLE) over the pool's pixels via a reopened fd
    "scribble-mailbox",  // forges the mailbox's offered/dropped counters and its offer word
    "hold-lease",        // takes one frame and keeps it, answering heartbeats "idle"
    "busy-overflow",     // keeps a lease and reports busy_ms = 2^62 (overflows * 10^6)
    "no-version",        // hello without protocol and abi
    "wrong-version",     // hello with protocol 99 and abi 7
    "fork-children",     // forks 4 children that setsid(), each with a grandchild; SIGTERM ignored
    "relay",             // runs --exec CMD (the real worker) and records its "stopped" line
};

// ---- small helpers ---------------------------------------------------------------------------
int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

std::string errno_name(int e) {
  switch (e) {
    case EPERM:
      return "EPERM";
    case EACCES:
      return "EACCES";
    case EBADF:
      return "EBADF";
    case EINVAL:
      return "EINVAL";
    case EROFS:
      return "EROFS";
    case EBUSY:
      return "EBUSY";
    case ENOTSUP:
      return "ENOTSUP";
    case EMSGSIZE:
      return "EMSGSIZE";
    default:
      return "errno" + std::to_string(e);
  }
}

class Report {
 public:
  void open(const std::string& path) {
    if (!path.empty()) fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  }
  void line(const std::string& s) const {
    if (fd_ < 0) return;
    const std::string l = s + "\n";  // one write with O_APPEND: lines never interleave
    (void)!::write(fd_, l.data(), l.size());
  }
  // "result NAME ok" or "result NAME EPERM" for a syscall result (rc < 0: failed with errno).
  void outcome(const std::string& name, long rc) const {
    line("result " + name + " " + (rc < 0 ? errno_name(errno) : std::string("ok")));
  }

 private:
  int fd_ = -1;
};

// Writes all of `s` to fd 1 (blocking). The engine gone: exit quietly.
void out(const std::string& s) {
  const char* p = s.data();
  size_t n = s.size();
  while (n > 0) {
    const ssize_t k = ::write(1, p, n);
    if (k < 0) {
      if (errno == EINTR) continue;
      ::_exit(0);
    }
    p += k;
    n -= static_cast<size_t>(k);
  }
}
void out_line(const std::string& s) { out(s + "\n"); }

// The number after `"key":` in a JSON text, read by hand (0 when absent).
uint64_t json_u64(const std::string& text, const char* key) {
  const std::string k = std::string("\"") + key + "\":";
  const size_t at = text.find(k);
  if (at == std::string::npos) return 0;
  return std::strtoull(text.c_str() + at + k.size(), nullptr, 10);
}
bool has_type(const std::string& line, const char* type) {
  return line.find(std::string("\"type\":\"") + type + "\"") != std::string::npos;
}

// Non-blocking line reader on fd 0.
class Input {
 public:
  // Waits up to `timeout_ms` for input, then returns the complete lines read (may be none).
  // Sets `eof` when the engine closed stdin.
  std::vector<std::string> poll_lines(int timeout_ms) {
    std::vector<std::string> lines;
    pollfd p{0, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) > 0) {
      char buf[4096];
      const ssize_t k = ::read(0, buf, sizeof buf);
      if (k <= 0) {
        if (k == 0 || errno != EINTR) eof = true;
      } else {
        buf_.append(buf, static_cast<size_t>(k));
      }
    }
    size_t nl;
    while ((nl = buf_.find('\n')) != std::string::npos) {
      lines.push_back(buf_.substr(0, nl));
      buf_.erase(0, nl + 1);
    }
    return lines;
  }
  bool eof = false;

 private:
  std::string buf_;
};

// ---- the worker --------------------------------------------------------------------------------
struct Options {
  std::string mode;
  std::string report;
  std::string marker;
  std::vector<std::string> exec;
  long parent = 0;
};

struct Taken {
  uint64_t token = 0;
  SlotHeader header{};  // private copy, as the protocol asks
};

class Hostile {
 public:
  explicit Hostile(Options o) : o_(std::move(o)) { report_.open(o_.report); }

  int run() {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (o_.parent != 0 && ::getppid() != 0 && ::getppid() != o_.parent)
      return 1;  // 0: own PID namespace
    ::signal(SIGPIPE, SIG_IGN);
    report_.line("mode " + o_.mode);
    if (o_.mode == "relay") return relay();
    hello();
    if (!configure()) return 3;
    out_line(R"({"type":"ready","model":{"kind":"hostile","classes":1}})");
    for (;;) {
      const int wait_ms = wait_between_turns_ms();
      for (const std::string& line : in_.poll_lines(wait_ms)) {
        if (has_type(line, "heartbeat")) {
          heartbeat(json_u64(line, "seq"));
        } else if (has_type(line, "state")) {
          out_line(R"({"type":"state","state":"running","frames":)" + std::to_string(frames_) +
                   "}");
        } else if (has_type(line, "stop")) {
          return stop();
        }
      }
      if (in_.eof) return stop();
      step();
      mark_progress();
    }
  }

 private:
  // The floods block in write()/poll(POLLOUT) instead; the pool attacks repeat every 2 ms
  // (often enough to hit most frames, light on the CPU); the rest polls every 5 ms.
  int wait_between_turns_ms() const {
    const std::string& m = o_.mode;
    if (m == "stdout-flood" || m == "result-flood") return 0;
    if (m == "pool-write" || m == "punch-hole") return 2;
    return 5;
  }
  // Misbehaviour starts once the worker has shown it works (a few honest results) and the test
  // is ready to watch: it creates FILE.go (FILE = --report) when its baseline is taken.
  bool attacking() {
    if (attacking_) return true;
    if (results_sent_ < 5) return false;
    const int64_t now = now_ns();
    if (!o_.report.empty()) {
      if (now < next_go_check_ns_) return false;
      next_go_check_ns_ = now + 10'000'000;
      if (::access((o_.report + ".go").c_str(), F_OK) != 0) return false;
    }
    attacking_ = true;
    report_.line("attacking");
    return true;
  }

  void hello() {
    const std::string pid = std::to_string(::getpid());
    if (o_.mode == "no-version") {
      report_.line("attacking");
      out_line(R"({"type":"hello","pid":)" + pid + "}");
    } else if (o_.mode == "wrong-version") {
      report_.line("attacking");
      out_line(R"({"type":"hello","pid":)" + pid + R"(,"protocol":99,"abi":7})");
    } else {
      out_line(R"({"type":"hello","pid":)" + pid + R"(,"protocol":1,"abi":1})");
    }
  }

  bool configure() {
    std::vector<std::string> lines;
    while (lines.empty()) {
      lines = in_.poll_lines(1000);
      if (in_.eof && lines.empty()) return false;
    }
    config_ = lines[0];
    if (!has_type(config_, "configure")) {
      report_.line("setup: first line is not configure: " + config_.substr(0, 200));
      return false;
    }
    stream_id_ = static_cast<uint32_t>(json_u64(config_, "stream_id"));
    struct stat st {};
    if (::fstat(3, &st) != 0 || st.st_size < static_cast<off_t>(sizeof(PoolHeader))) {
      report_.line("setup: fd 3 is not a pool segment");
      return false;
    }
    pool_size_ = static_cast<size_t>(st.st_size);
    void* p = ::mmap(nullptr, pool_size_, PROT_READ, MAP_SHARED, 3, 0);
    void* m =
        ::mmap(nullptr, orion::ipc::kMailboxSegmentSize, PROT_READ | PROT_WRITE, MAP_SHARED, 4, 0);
    if (p == MAP_FAILED || m == MAP_FAILED) {
      report_.line("setup: mmap of fd 3 / fd 4 failed: " + errno_name(errno));
      return false;
    }
    pool_ = static_cast<const uint8_t*>(p);
    std::memcpy(&pool_header_, pool_, sizeof pool_header_);
    mailbox_ = static_cast<MailboxBlock*>(m);
    mailbox_->worker_pid.store(static_cast<uint32_t>(::getpid()));
    if (pool_header_.slot_count == 0 || pool_header_.slot_count > orion::ipc::kMaxSlots ||
        pool_header_.payload_offset +
                uint64_t{pool_header_.slot_count} * pool_header_.payload_stride >
            pool_size_) {
      report_.line("setup: pool header out of range");
      return false;
    }
    return true;
  }

  void heartbeat(uint64_t seq) {
    std::string busy = "-1";
    if (o_.mode == "busy-overflow" && lease_.token != 0) busy = "4611686018427387904";  // 2^62
    out_line(R"({"type":"heartbeat","seq":)" + std::to_string(seq) +
             R"(,"state":"running","frames":)" + std::to_string(frames_) + R"(,"results_sent":)" +
             std::to_string(results_sent_) + R"(,"busy_ms":)" + busy + "}");
  }

  int stop() {
    release();
    report_.line("final taken=" + std::to_string(frames_) +
                 " results_sent=" + std::to_string(results_sent_));
    out_line(R"({"type":"stopped","state":"closed","frames":)" + std::to_string(frames_) +
             R"(,"results_sent":)" + std::to_string(results_sent_) + "}");
    return 0;
  }

  void mark_progress() { mailbox_->progress_ns.store(now_ns()); }

  const SlotHeader* slot(uint32_t i) const {
    return reinterpret_cast<const SlotHeader*>(pool_ + pool_header_.slot_table_offset +
                                               uint64_t{i} * pool_header_.slot_header_size);
  }
  uint64_t payload_offset(uint32_t i) const {
    return pool_header_.payload_offset + uint64_t{i} * pool_header_.payload_stride;
  }

  // The worker's side of the mailbox protocol: lease first, then take.
  bool take() {
    const uint64_t t = mailbox_->offer.load();
    if (t == 0 || t == forged_) return false;  // its own forgery stays for the engine to find
    mailbox_->lease.store(t);
    uint64_t expected = t;
    if (!mailbox_->offer.compare_exchange_strong(expected, 0)) return false;
    mailbox_->taken.fetch_add(1);
    const uint32_t i = orion::ipc::token_slot(t);
    if (i >= pool_header_.slot_count) {
      mailbox_->lease.store(0);
      return false;
    }
    lease_.token = t;
    std::memcpy(&lease_.header, slot(i), sizeof(SlotHeader));
    if (lease_.header.generation != orion::ipc::token_generation(t)) {
      release();
      return false;
    }
    mailbox_->last_sequence.store(lease_.header.sequence);
    ++frames_;
    return true;
  }
  void release() {
    lease_.token = 0;
    mailbox_->lease.store(0);
  }

  // ---- results, written by hand ----
  std::string result_json(uint32_t stream, uint64_t sequence, const SlotHeader& h,
                          const std::string& detections) const {
    char head[512];
    std::snprintf(head, sizeof head,
                  R"({"type":"result","stream":%u,"sequence":%)" PRIu64 R"(,"pts_ns":%)" PRId64
                  R"(,"capture_ns":%)" PRId64 R"(,"done_ns":%)" PRId64
                  R"(,"inference_ns":1000,"detections":[)",
                  stream, sequence, h.pts_ns, h.capture_time_ns, now_ns());
    return std::string(head) + detections + "]}";
  }
  static std::string detection(const std::string& x1, const std::string& y1, const std::string& x2,
                               const std::string& y2) {
    return R"({"class_id":0,"class":"hostile","score":0.9,"box":[)" + x1 + "," + y1 + "," + x2 +
           "," + y2 + "]}";
  }
  std::string middle_box(const SlotHeader& h) const {
    return detection(std::to_string(h.width / 4), std::to_string(h.height / 4),
                     std::to_string(h.width * 3 / 4), std::to_string(h.height * 3 / 4));
  }
  bool send(const std::string& datagram) {
    const ssize_t k = ::send(5, datagram.data(), datagram.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (k < 0) {
      if (errno == EPIPE || errno == ECONNRESET) ::_exit(0);  // the engine is gone
      if (errno != EAGAIN && !send_error_reported_) {
        send_error_reported_ = true;
        report_.line("result send " + errno_name(errno) + " (" + std::to_string(datagram.size()) +
                     " bytes)");
      }
      return false;
    }
    ++results_sent_;
    return true;
  }
  void honest_result(const SlotHeader& h) {
    last_result_ = result_json(stream_id_, h.sequence, h, middle_box(h));
    send(last_result_);
  }

  // ---- one turn of the frame loop, per mode ----
  void step() {
    const std::string& m = o_.mode;
    if (m == "not-leased" && attacking()) return watch_offers();
    if ((m == "hold-lease" || m == "busy-overflow") && attacking()) {
      if (!held_ && take()) {  // keeps this lease for ever
        held_ = true;
        report_.line("holding lease of sequence " + std::to_string(lease_.header.sequence));
        honest_result(lease_.header);
      }
      return;
    }
    if (m == "fork-children" && attacking() && !forked_) fork_children();
    if (m == "garbage-lines" && attacking()) garbage();
    if (m == "long-line" && attacking() && !long_line_sent_) long_line();
    if (m == "stdout-flood" && attacking()) stdout_flood();
    if (m == "result-flood" && attacking() && !last_result_.empty()) result_flood();
    if (m == "pool-write" && attacking()) pool_write();
    if (m == "ftruncate" && attacking() && !truncated_) truncate_attack();
    if (m == "punch-hole" && attacking()) punch_hole();
    if (m == "scribble-mailbox" && attacking()) scribble();
    if (!take()) return;
    const SlotHeader h = lease_.header;
    release();  // done "reading": the result goes out after the lease ends, as a worker does
    if (m == "bad-boxes" && attacking()) return bad_boxes(h);
    if (m == "nan-box" && attacking()) return nan_box(h);
    if (m == "many-detections" && attacking()) return many_detections(h);
    if (m == "oversized-result" && attacking()) return oversized(h);
    if (m == "never-offered" && attacking()) {
      send(result_json(stream_id_, h.sequence + 25, h, middle_box(h)));
      return;
    }
    if (m == "wrong-stream" && attacking()) {
      send(result_json(stream_id_ + 1, h.sequence, h, middle_box(h)));
      return;
    }
    if (m == "huge-sequence" && attacking() && !huge_sent_) {
      huge_sent_ = true;
      // 2^63 itself is beyond the protocol's int64 sequences (refused as malformed); 2^63 - 1 is
      // a valid number that no frame will reach: only the delivery window can refuse it.
      send(result_json(stream_id_, uint64_t{1} << 63, h, middle_box(h)));
      send(result_json(stream_id_, (uint64_t{1} << 63) - 1, h, middle_box(h)));
      report_.line("sent sequences 9223372036854775808 and 9223372036854775807");
      return;
    }
    honest_result(h);
  }

  void garbage() {
    const int64_t now = now_ns();
    if (now < next_garbage_ns_) return;
    next_garbage_ns_ = now + 20'000'000;  // 50 per second
    static const char* kGarbage[] = {
        "not json at all", "{\"type\":",       "[1,2,3]",     "{\"type\":\"no_such_message\"}",
        "{\"type\":42}",   "\x01\x02\xff\xfe", "{\"seq\":1}", "{}}"};
    out_line(kGarbage[garbage_n_++ % (sizeof kGarbage / sizeof kGarbage[0])]);
  }

  void long_line() {
    long_line_sent_ = true;
    const std::string chunk(1 << 20, 'A');
    for (int i = 0; i < 8; ++i) out(chunk);  // 8 MiB, the pipe blocks us as the engine reads
    out("\n");
    report_.line("long line sent");
  }

  void stdout_flood() {
    static const std::string block = [] {
      std::string b;
      while (b.size() < 60'000)
        b += R"({"type":"state","state":"running","frames":0})"
             "\n";
      return b;
    }();
    out(block);
  }

  // Refills the socket the moment the engine makes room (as a blocking sender would), yet
  // stays responsive to heartbeats: waits for room on fd 5 or a line on fd 0.
  void result_flood() {
    pollfd fds[2] = {{5, POLLOUT, 0}, {0, POLLIN, 0}};
    if (::poll(fds, 2, 5) <= 0 || !(fds[0].revents & POLLOUT)) return;
    while (send(last_result_)) {
    }
  }

  void bad_boxes(const SlotHeader& h) {
    const std::string w = std::to_string(h.width), hh = std::to_string(h.height);
    std::string d;
    d += detection("10", "10", "60", "60") + ",";            // fine
    d += detection("-20", "-20", "50", "50") + ",";          // partly outside: clamp
    d += detection("-1e30", "-1e30", "1e30", "1e30") + ",";  // covers the frame: clamp
    d += detection("1e30", "1e30", "2e30", "2e30") + ",";    // far outside
    d += detection("-100", "-100", "-10", "-10") + ",";      // outside, negative
    d += detection("200", "200", "100", "100") + ",";        // inverted
    d += detection("50", "50", "50", "80");                  // zero width
    send(result_json(stream_id_, h.sequence, h, d));
  }

  void nan_box(const SlotHeader& h) {
    static const char* kValues[] = {"NaN", "Infinity", "1e39", "-nan"};
    const std::string v = kValues[nan_n_++ % 4];
    send(result_json(stream_id_, h.sequence, h, detection(v, "10", "20", "30")));
  }

  void many_detections(const SlotHeader& h) {
    std::string d;
    d.reserve(200'000);
    for (int i = 0; i < 3000; ++i) {
      const int x = (i * 37) % (h.width - 12), y = (i * 53) % (h.height - 12);
      if (i) d += ",";
      d += detection(std::to_string(x), std::to_string(y), std::to_string(x + 10),
                     std::to_string(y + 10));
    }
    const std::string r = result_json(stream_id_, h.sequence, h, d);
    if (send(r)) report_.line("sent 3000 detections in " + std::to_string(r.size()) + " bytes");
  }

  void oversized(const SlotHeader& h) {
    if (!sndbuf_set_) {
      sndbuf_set_ = true;
      int size = 1 << 20;
      (void)::setsockopt(5, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    }
    const std::string pad(320 * 1024, 'x');
    const std::string d = R"({"class_id":0,"class":")" + pad + R"(","score":0.9,"box":[1,1,9,9]})";
    send(result_json(stream_id_, h.sequence, h, d));
  }

  // Never takes: remembers the pending offer and, once the engine replaced it (a drop), sends
  // a result for that frame as if it had been read.
  void watch_offers() {
    const uint64_t t = mailbox_->offer.load();
    if (watched_.token != 0 && t != watched_.token) {
      send(result_json(stream_id_, watched_.header.sequence, watched_.header,
                       middle_box(watched_.header)));
      watched_.token = 0;
    }
    if (watched_.token == 0 && t != 0) {
      const uint32_t i = orion::ipc::token_slot(t);
      if (i >= pool_header_.slot_count) return;
      watched_.token = t;
      std::memcpy(&watched_.header, slot(i), sizeof(SlotHeader));  // protected while offered
    }
  }

  // The signature the test looks for in the pool's pixels.
  static constexpr char kSignature[] = "HOSTILE!";

  void scribble_bytes(uint8_t* p, size_t n) {
    for (size_t k = 0; k + 8 <= n; k += 8) std::memcpy(p + k, kSignature, 8);
  }

  void pool_write() {
    if (!pool_write_tried_) {
      pool_write_tried_ = true;
      // mprotect of the read-only shared mapping: refused while fd 3 is read-only.
      const long mp = ::mprotect(const_cast<uint8_t*>(pool_), pool_size_, PROT_READ | PROT_WRITE);
      report_.outcome("pool.mprotect", mp);
      const void* w = ::mmap(nullptr, pool_size_, PROT_READ | PROT_WRITE, MAP_SHARED, 3, 0);
      report_.outcome("pool.mmap_fd3_write", w == MAP_FAILED ? -1 : 0);
      rw_fd_ = ::open("/proc/self/fd/3", O_RDWR | O_CLOEXEC);
      report_.outcome("pool.reopen_rdwr", rw_fd_);
      if (rw_fd_ >= 0) {
        void* m = ::mmap(nullptr, pool_size_, PROT_READ | PROT_WRITE, MAP_SHARED, rw_fd_, 0);
        report_.outcome("pool.mmap_write", m == MAP_FAILED ? -1 : 0);
        if (m != MAP_FAILED) rw_map_ = static_cast<uint8_t*>(m);
      }
    }
    // Scribble over the first 16 KiB of every slot's pixels, by write() and by the mapping.
    static std::string block = [] {
      std::string b;
      while (b.size() < 16 * 1024) b += kSignature;
      return b;
    }();
    if (rw_fd_ >= 0) {
      long rc = 0;
      for (uint32_t i = 0; i < pool_header_.slot_count && rc >= 0; ++i)
        rc = ::pwrite(rw_fd_, block.data(), block.size(), static_cast<off_t>(payload_offset(i)));
      if (!pwrite_reported_) {
        pwrite_reported_ = true;
        report_.outcome("pool.pwrite", rc);
      }
    }
    if (rw_map_ != nullptr)
      for (uint32_t i = 0; i < pool_header_.slot_count; ++i)
        scribble_bytes(rw_map_ + payload_offset(i) + 32 * 1024, 16 * 1024);
  }

  void truncate_attack() {
    truncated_ = true;
    // If any of these succeeded the engine's own mappings would fault (SIGBUS) on next touch;
    // this process then stops touching the mailbox and exits.
    const long grow = ::ftruncate(4, 2 * orion::ipc::kMailboxSegmentSize);
    report_.outcome("mailbox.ftruncate_grow", grow);
    const long shrink = ::ftruncate(4, 0);
    report_.outcome("mailbox.ftruncate_zero", shrink);
    const long ro = ::ftruncate(3, 0);
    report_.outcome("pool.ftruncate_fd3", ro);
    const int rw = ::open("/proc/self/fd/3", O_RDWR | O_CLOEXEC);
    report_.outcome("pool.reopen_rdwr", rw);
    long pool_shrink = -1;
    if (rw >= 0) {
      pool_shrink = ::ftruncate(rw, 4096);
      report_.outcome("pool.ftruncate_rdwr", pool_shrink);
      ::close(rw);
    }
    if (shrink == 0 || grow == 0 || ro == 0 || pool_shrink == 0) {
      report_.line("truncated: exiting");
      ::_exit(0);
    }
  }

  void punch_hole() {
    if (!punch_tried_) {
      punch_tried_ = true;
      rw_fd_ = ::open("/proc/self/fd/3", O_RDWR | O_CLOEXEC);
      report_.outcome("pool.reopen_rdwr", rw_fd_);
    }
    if (rw_fd_ < 0) return;
    const off_t start = static_cast<off_t>(pool_header_.payload_offset);
    const off_t len =
        static_cast<off_t>(uint64_t{pool_header_.slot_count} * pool_header_.payload_stride);
    const long rc = ::fallocate(rw_fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, start, len);
    if (!punch_reported_) {
      punch_reported_ = true;
      report_.outcome("pool.punch_hole", rc);
    }
  }

  void scribble() {
    // The engine's counters: "taken" as the engine derives it (offered - dropped - pending)
    // becomes about 2^60. A forged offer word: a token of slot 0 the engine never wrote.
    mailbox_->offered.store(uint64_t{1} << 60);
    mailbox_->dropped.store(3);
    uint64_t expected = 0;
    const uint64_t forged = orion::ipc::make_token(0, (uint64_t{1} << 40) + forge_n_++);
    if (mailbox_->offer.compare_exchange_strong(expected, forged)) forged_ = forged;
    if (!scribble_reported_) {
      scribble_reported_ = true;
      report_.line("scribbled offered=2^60 dropped=3 offer=forged");
    }
  }

  void fork_children() {
    forked_ = true;
    // Only the first instance forks: the test waits for these to disappear.
    const std::string once = o_.report + ".forked";
    const int f = ::open(once.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (f < 0) return;
    ::close(f);
    char self[4096];
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return;
    self[n] = 0;
    int forked = 0;
    for (int c = 0; c < 4; ++c) {
      const pid_t pid = ::fork();
      if (pid < 0) break;
      if (pid == 0) {
        ::setsid();
        const pid_t g = ::fork();
        if (g == 0) {
          ::setsid();  // fails harmlessly when already a group leader
          orphan_exec(self);
        }
        orphan_exec(self);
      }
      ++forked;
    }
    report_.line("forked " + std::to_string(forked) + " children (each with a grandchild)");
  }
  [[noreturn]] void orphan_exec(const char* self) {
    const std::string marker = o_.marker.empty() ? o_.report : o_.marker;
    std::vector<std::string> args = {self, "--orphan", marker};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(self, argv.data());
    ::_exit(127);
  }

  // Runs the real worker as a child (stdin and fds 3-5 inherited), copies its stdout to the
  // engine and records its last "stopped" line.
  int relay() {
    if (o_.exec.empty()) {
      report_.line("relay: no --exec command");
      return 2;
    }
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return 3;
    const pid_t child = ::fork();
    if (child < 0) return 3;
    if (child == 0) {
      if (::dup2(p[1], 1) != 1) ::_exit(127);
      std::vector<std::string> args = o_.exec;
      args.push_back("--parent-pid");
      args.push_back(std::to_string(::getppid()));
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(args[0].c_str(), argv.data());
      ::_exit(127);
    }
    ::close(p[1]);
    std::string buf;
    char tmp[8192];
    for (;;) {
      const ssize_t k = ::read(p[0], tmp, sizeof tmp);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) break;
      out(std::string(tmp, static_cast<size_t>(k)));
      buf.append(tmp, static_cast<size_t>(k));
      size_t nl;
      while ((nl = buf.find('\n')) != std::string::npos) {
        const std::string line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        if (has_type(line, "stopped")) report_.line("stopped-line " + line);
      }
    }
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    report_.line("child status " + std::to_string(status));
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
  }

  Options o_;
  Report report_;
  Input in_;
  std::string config_;
  uint32_t stream_id_ = 0;
  const uint8_t* pool_ = nullptr;
  size_t pool_size_ = 0;
  PoolHeader pool_header_{};
  MailboxBlock* mailbox_ = nullptr;
  Taken lease_, watched_;
  uint64_t frames_ = 0, results_sent_ = 0, forge_n_ = 0;
  int64_t next_garbage_ns_ = 0, next_go_check_ns_ = 0;
  unsigned garbage_n_ = 0, nan_n_ = 0;
  std::string last_result_;
  int rw_fd_ = -1;
  uint8_t* rw_map_ = nullptr;
  bool attacking_ = false, long_line_sent_ = false, huge_sent_ = false, forked_ = false;
  bool held_ = false;
  bool truncated_ = false, pool_write_tried_ = false, pwrite_reported_ = false;
  uint64_t forged_ = 0;  // the offer token it forged last
  bool punch_tried_ = false, punch_reported_ = false, scribble_reported_ = false;
  bool sndbuf_set_ = false, send_error_reported_ = false;
};

// A marked descendant of fork-children: outlives everyone unless killed (SIGTERM ignored).
[[noreturn]] void orphan() {
  ::signal(SIGTERM, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  ::signal(SIGINT, SIG_IGN);
  for (;;) ::pause();
}

bool known_mode(const std::string& m) {
  for (const char* k : kModes)
    if (m == k) return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "orion_hostile_worker: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--orphan") {
      orphan();
    } else if (a == "--mode") {
      o.mode = value();
    } else if (a == "--report") {
      o.report = value();
    } else if (a == "--marker") {
      o.marker = value();
    } else if (a == "--parent-pid") {
      o.parent = std::strtol(value().c_str(), nullptr, 10);
    } else if (a == "--exec") {
      while (i + 1 < argc && std::string(argv[i + 1]) != "--parent-pid")
        o.exec.push_back(argv[++i]);
    } else {
      std::fprintf(stderr, "orion_hostile_worker: unknown argument '%s'\n", a.c_str());
      return 2;
    }
  }
  if (!known_mode(o.mode)) {
    std::fprintf(stderr, "orion_hostile_worker: --mode '%s' is not one of:", o.mode.c_str());
    for (const char* k : kModes) std::fprintf(stderr, " %s", k);
    std::fprintf(stderr, "\n");
    return 2;
  }
  return Hostile(std::move(o)).run();
}
