#include "gpu/decode_procs.h"

#include <poll.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/thread_annotations.h"
#include "gpu/device_slots.h"
#include "gpu/nvdec_source.h"
#include "ipc/frame_reader.h"
#include "ipc/shm_frame_pool.h"
#include "ipc/unique_fd.h"

extern char** environ;

namespace orion::gpu {

namespace {

using ipc::UniqueFd;

constexpr uint32_t kMagic = 0x5044524F;  // "ORDP"
enum : uint32_t { kMsgStream = 1, kMsgReady = 2, kMsgError = 3 };

// Child -> parent, during setup: one per stream (with the pool and mailbox descriptors), then
// ready (or error).
struct SetupMsg {
  uint32_t magic = kMagic;
  uint32_t kind = 0;
  int32_t stream = -1;
  uint32_t pad = 0;
  char error[240] = {};
};

// Child -> parent, the answer to 'C'.
struct CountsMsg {
  uint32_t magic = kMagic;
  uint32_t pad = 0;
  uint64_t frames = 0;
  uint64_t published = 0;
  uint64_t errors = 0;
  double cpu_seconds = 0;
  char error[240] = {};
};

void set_text(char* dst, size_t cap, const std::string& s) {
  std::memset(dst, 0, cap);
  std::memcpy(dst, s.data(), std::min(cap - 1, s.size()));
}
std::string get_text(const char* src, size_t cap) { return std::string(src, strnlen(src, cap)); }

double self_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

bool send_msg(int sock, const void* data, size_t len, const int* fds, int nfds) {
  iovec iov{const_cast<void*>(data), len};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int) * 2)] = {};
  if (nfds > 0) {
    mh.msg_control = ctrl;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * static_cast<size_t>(nfds));
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * static_cast<size_t>(nfds));
    std::memcpy(CMSG_DATA(c), fds, sizeof(int) * static_cast<size_t>(nfds));
  }
  ssize_t n;
  do {
    n = ::sendmsg(sock, &mh, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(len);
}

// One message; descriptors that came with it are appended to `fds` (close-on-exec).
ssize_t recv_msg(int sock, void* data, size_t len, std::vector<UniqueFd>* fds) {
  iovec iov{data, len};
  msghdr mh{};
  alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int) * 4)] = {};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = ctrl;
  mh.msg_controllen = sizeof ctrl;
  ssize_t n;
  do {
    n = ::recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return n;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; ++i) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (fds) {
        fds->emplace_back(fd);
      } else {
        ::close(fd);
      }
    }
  }
  return n;
}

// Waits until `fd` is readable or `deadline` (SteadyClock) passes.
bool wait_readable(int fd, Timestamp deadline) {
  for (;;) {
    const Timestamp now = SteadyClock::instance().now();
    if (now >= deadline) return false;
    pollfd p{fd, POLLIN, 0};
    const int ms = static_cast<int>(std::min<int64_t>((deadline - now).as_millis() + 1, 60000));
    const int r = ::poll(&p, 1, ms);
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

// Lets a stream's reader thread wait until the frame it handed on is gone (one lease at a
// time per mailbox, see decode_procs.h).
struct Gate {
  Mutex mu;
  std::condition_variable_any cv;
  bool busy GUARDED_BY(mu) = false;
  void take() {
    MutexLock lock(mu);
    busy = true;
  }
  void release() {
    {
      MutexLock lock(mu);
      busy = false;
    }
    cv.notify_all();
  }
};

}  // namespace

// ---------------------------------------------------------------------------------------------
struct DecodeProcs::Impl {
  struct Child {
    pid_t pid = -1;
    UniqueFd sock;
    bool reaped = false;
  };
  struct Stream {
    std::unique_ptr<ipc::FrameReader> reader;
    std::shared_ptr<Gate> gate = std::make_shared<Gate>();
    std::thread thread;
  };

  DecodeProcsOptions options;
  OnFrame on_frame;
  std::vector<Child> children;
  std::vector<Stream> streams;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> invalid{0};
  Mutex err_mu;
  std::string reader_error GUARDED_BY(err_mu);
  bool started = false;
  bool stopped = false;

  void read_stream(int index) {
    Stream& s = streams[static_cast<size_t>(index)];
    while (!stopping.load(std::memory_order_relaxed)) {
      auto f = s.reader->next_frame(Duration::millis(100));
      if (!f.ok()) {
        const std::string& code = f.error().code;
        if (code == "timeout") continue;
        if (code == "closed") return;
        invalid.fetch_add(1, std::memory_order_relaxed);
        MutexLock lock(err_mu);
        if (reader_error.empty()) reader_error = f.error().to_string();
        continue;
      }
      // Hand on a Frame whose release first ends the lease (the reader's frame) and then opens
      // the gate for the next take.
      FramePtr inner = std::move(f).value();
      std::shared_ptr<Gate> gate = s.gate;
      gate->take();
      PixelMemory mem;
      mem.data = const_cast<uint8_t*>(inner->data());  // only ever read (a frozen frame)
      mem.size = inner->size();
      mem.kind = inner->memory_kind();
      const FrameLayout layout = inner->layout();
      const FrameIdentity id = inner->identity();
      mem.release = [inner = std::move(inner), gate]() mutable {
        inner.reset();
        gate->release();
      };
      auto out = std::make_unique<Frame>(layout, std::move(mem));
      out->set_identity(id);
      on_frame(index, freeze(std::move(out)));
      UniqueLock lock(gate->mu);
      gate->cv.wait(lock.native(), [&]() NO_THREAD_SAFETY_ANALYSIS {
        return !gate->busy || stopping.load(std::memory_order_relaxed);
      });
    }
  }

  Status send_all(char command) {
    for (auto& c : children) {
      if (!send_msg(c.sock.get(), &command, 1, nullptr, 0))
        return make_error("gpu.spawn", "decoder process " + std::to_string(c.pid) +
                                           " is gone (could not send '" + command + "')");
    }
    return {};
  }

  void reap_all(double timeout_s) {
    const Timestamp deadline = SteadyClock::instance().now() + Duration::seconds_f(timeout_s);
    for (auto& c : children) {
      if (c.reaped || c.pid <= 0) continue;
      for (;;) {
        int status = 0;
        const pid_t r = ::waitpid(c.pid, &status, WNOHANG);
        if (r == c.pid || (r < 0 && errno != EINTR)) break;
        if (SteadyClock::instance().now() >= deadline) {
          ::kill(c.pid, SIGKILL);
          ::waitpid(c.pid, &status, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // a child's exit: no event
      }
      c.reaped = true;
    }
  }

  // After it, on_frame is never called again; frames handed on stay valid.
  void stop_readers() {
    stopping = true;
    for (auto& s : streams) {
      { MutexLock lock(s.gate->mu); }  // a reader between its check and its wait sees `stopping`
      s.gate->cv.notify_all();
    }
    for (auto& s : streams)
      if (s.thread.joinable()) s.thread.join();
  }

  void stop_all() {
    if (stopped) return;
    stopped = true;
    stop_readers();
    // The readers' mappings close once the frames they handed out are gone too; the children
    // free the device slots only after that (CUDA: freeing memory another process has open is
    // undefined), which is why the caller drops every frame before stop().
    streams.clear();
    const char quit = 'Q';  // to every child, whether or not another one is gone
    for (auto& c : children) (void)send_msg(c.sock.get(), &quit, 1, nullptr, 0);
    reap_all(10);
  }
};

DecodeProcs::DecodeProcs(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DecodeProcs::~DecodeProcs() { stop(); }
void DecodeProcs::stop_readers() { impl_->stop_readers(); }
void DecodeProcs::stop() { impl_->stop_all(); }

Result<std::unique_ptr<DecodeProcs>> DecodeProcs::spawn(const DecodeProcsOptions& o,
                                                        OnFrame on_frame) {
  if (o.streams < 1 || o.procs < 1 || o.procs > o.streams)
    return make_error("bench.bad_option", "decoder processes: need 1 <= procs (" +
                                              std::to_string(o.procs) + ") <= streams (" +
                                              std::to_string(o.streams) + ")");
  if (!o.decode_only && !on_frame)
    return make_error("bench.bad_option", "decoder processes: no frame consumer");
  auto impl = std::make_unique<Impl>();
  impl->options = o;
  impl->on_frame = std::move(on_frame);
  impl->streams.resize(static_cast<size_t>(o.streams));
  auto fail = [&impl](Error e) -> Error {
    impl->stop_all();
    return e;
  };
  for (int k = 0; k < o.procs; ++k) {
    const int first = static_cast<int>(int64_t{k} * o.streams / o.procs);
    const int end = static_cast<int>(int64_t{k + 1} * o.streams / o.procs);
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
      return fail(make_error("gpu.spawn", std::string("socketpair: ") + std::strerror(errno)));
    UniqueFd mine(sv[0]), theirs(sv[1]);
    std::vector<std::string> args{o.exe,
                                  "bench",
                                  "gpu-decoder",
                                  "--clip",
                                  o.clip,
                                  "--device",
                                  "cuda:" + std::to_string(o.device),
                                  "--first-stream",
                                  std::to_string(first),
                                  "--count",
                                  std::to_string(end - first),
                                  "--slots",
                                  std::to_string(o.slots),
                                  "--slot-bytes",
                                  std::to_string(o.slot_bytes)};
    if (o.decode_only) args.push_back("--decode-only");
    if (!o.realtime) args.push_back("--no-realtime");
    if (o.pace_input) args.push_back("--pace-input");
    if (o.decode_ahead > 0) {
      args.push_back("--decode-ahead");
      args.push_back(std::to_string(o.decode_ahead));
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, theirs.get(), 3);  // dup2 clears close-on-exec
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, o.exe.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
      return fail(make_error("gpu.spawn", "posix_spawn " + o.exe + ": " + std::strerror(rc)));
    impl->children.push_back(Impl::Child{pid, std::move(mine), false});
  }
  // Setup messages from every child, in any order, until each said ready.
  const Timestamp deadline = SteadyClock::instance().now() + Duration::seconds_f(o.setup_timeout_s);
  for (auto& c : impl->children) {
    for (;;) {
      if (!wait_readable(c.sock.get(), deadline))
        return fail(make_error("gpu.spawn", "decoder process " + std::to_string(c.pid) +
                                                " not ready within " +
                                                std::to_string(o.setup_timeout_s) + " s"));
      SetupMsg m;
      std::vector<UniqueFd> fds;
      const ssize_t n = recv_msg(c.sock.get(), &m, sizeof m, &fds);
      if (n <= 0)
        return fail(make_error("gpu.spawn", "decoder process " + std::to_string(c.pid) +
                                                " exited during setup (its output is above)"));
      if (n != static_cast<ssize_t>(sizeof m) || m.magic != kMagic)
        return fail(make_error("gpu.spawn", "decoder process " + std::to_string(c.pid) +
                                                " sent a malformed setup message"));
      if (m.kind == kMsgReady) break;
      if (m.kind == kMsgError)
        return fail(make_error("gpu.spawn", "decoder process " + std::to_string(c.pid) + ": " +
                                                get_text(m.error, sizeof m.error)));
      if (m.kind != kMsgStream || m.stream < 0 || m.stream >= o.streams || fds.size() != 2 ||
          impl->streams[static_cast<size_t>(m.stream)].reader)
        return fail(make_error("gpu.spawn", "decoder process " + std::to_string(c.pid) +
                                                " sent a bad stream message (stream " +
                                                std::to_string(m.stream) + ", " +
                                                std::to_string(fds.size()) + " descriptors)"));
      auto reader = ipc::FrameReader::open(std::move(fds[0]), std::move(fds[1]), device_mapper());
      if (!reader.ok()) return fail(reader.error());
      if (reader->get()->pool().device_index != o.device)
        return fail(make_error("ipc.memory_kind",
                               "stream " + std::to_string(m.stream) + "'s pool is on cuda:" +
                                   std::to_string(reader->get()->pool().device_index) +
                                   ", this worker runs on cuda:" + std::to_string(o.device)));
      impl->streams[static_cast<size_t>(m.stream)].reader = std::move(reader).value();
    }
  }
  if (!o.decode_only) {
    for (int i = 0; i < o.streams; ++i)
      if (!impl->streams[static_cast<size_t>(i)].reader)
        return fail(make_error("gpu.spawn", "no pool was sent for stream " + std::to_string(i)));
  }
  return std::unique_ptr<DecodeProcs>(new DecodeProcs(std::move(impl)));
}

Status DecodeProcs::start() {
  Impl& m = *impl_;
  if (m.started) return {};
  m.started = true;
  if (!m.options.decode_only) {
    for (int i = 0; i < m.options.streams; ++i)
      m.streams[static_cast<size_t>(i)].thread = std::thread([&m, i] { m.read_stream(i); });
  }
  return m.send_all('S');
}

Result<DecodeCounts> DecodeProcs::counts() {
  Impl& m = *impl_;
  if (auto st = m.send_all('C'); !st) return st.error();
  DecodeCounts total;
  const Timestamp deadline = SteadyClock::instance().now() + Duration::seconds(10);
  for (auto& c : m.children) {
    if (!wait_readable(c.sock.get(), deadline))
      return make_error("gpu.spawn",
                        "decoder process " + std::to_string(c.pid) + " did not answer 'C'");
    CountsMsg r;
    const ssize_t n = recv_msg(c.sock.get(), &r, sizeof r, nullptr);
    if (n != static_cast<ssize_t>(sizeof r) || r.magic != kMagic)
      return make_error("gpu.spawn",
                        "decoder process " + std::to_string(c.pid) + " sent bad counts");
    total.frames += r.frames;
    total.published += r.published;
    total.errors += r.errors;
    total.cpu_seconds += r.cpu_seconds;
    if (total.first_error.empty()) total.first_error = get_text(r.error, sizeof r.error);
  }
  total.invalid = m.invalid.load();
  if (total.first_error.empty()) {
    MutexLock lock(m.err_mu);
    total.first_error = m.reader_error;
  }
  return total;
}

// ---------------------------------------------------------------------------------------------
int run_decoder_child(const DecoderChildOptions& o) {
  const int sock = o.socket_fd;
  auto send_error = [sock](const std::string& what) {
    SetupMsg m;
    m.kind = kMsgError;
    set_text(m.error, sizeof m.error, what);
    (void)send_msg(sock, &m, sizeof m, nullptr, 0);
    std::fprintf(stderr, "orion bench gpu-decoder: %s\n", what.c_str());
    return 1;
  };
  if (o.count < 1 || o.first_stream < 0) return send_error("bad --first-stream/--count");
  struct StreamState {
    std::shared_ptr<ipc::ShmFramePool> pool;
    std::shared_ptr<ipc::MailboxPort> port;
  };
  std::vector<StreamState> st(static_cast<size_t>(o.count));
  std::atomic<uint64_t> frames{0}, published{0}, errors{0};
  Mutex err_mu;
  std::string first_error;  // guarded by err_mu (a local: no annotation)
  if (!o.decode_only) {
    for (int i = 0; i < o.count; ++i) {
      const int stream = o.first_stream + i;
      ipc::ShmFramePoolOptions po;
      po.stream_id = static_cast<StreamId>(stream + 1);
      po.stream_name = "gpu-bench-" + std::to_string(stream);
      po.slot_count = o.slots;
      po.slot_capacity = o.slot_bytes;
      auto pool = create_device_pool(po, o.device);
      if (!pool.ok()) return send_error(pool.error().to_string());
      auto port = (*pool)->attach("gpu-worker-" + std::to_string(stream));
      if (!port.ok()) return send_error(port.error().to_string());
      auto rfd = (*pool)->reader_fd();
      if (!rfd.ok()) return send_error(rfd.error().to_string());
      SetupMsg m;
      m.kind = kMsgStream;
      m.stream = stream;
      const int fds[2] = {rfd->get(), (*port)->fd()};
      if (!send_msg(sock, &m, sizeof m, fds, 2)) return 1;  // the parent is gone
      st[static_cast<size_t>(i)] = {std::move(pool).value(), std::move(port).value()};
    }
  }
  std::vector<NvdecSourcePtr> sources;
  for (int i = 0; i < o.count; ++i) {
    NvdecOptions no;
    no.path = o.clip;
    no.device = o.device;
    no.realtime = o.realtime;
    no.pace_input = o.pace_input;
    no.decode_ahead = o.decode_ahead;
    no.loop = true;
    no.stream = static_cast<StreamId>(o.first_stream + i + 1);
    ipc::ShmFramePool* pool = st[static_cast<size_t>(i)].pool.get();
    auto src = NvdecSource::open(no, [&, pool](FramePtr f) {
      frames.fetch_add(1, std::memory_order_relaxed);
      if (pool == nullptr) return;  // decode only
      auto slot = copy_into_slot(*pool, *f);
      f.reset();  // the decoder's surface goes back at once
      Status s = slot.ok() ? pool->publish(freeze(std::move(slot).value())) : Status(slot.error());
      if (s.ok()) {
        published.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      errors.fetch_add(1, std::memory_order_relaxed);
      MutexLock lock(err_mu);
      if (first_error.empty()) first_error = s.error().to_string();
    });
    if (!src.ok()) return send_error(src.error().to_string());
    sources.push_back(std::move(src).value());
  }
  {
    SetupMsg m;
    m.kind = kMsgReady;
    if (!send_msg(sock, &m, sizeof m, nullptr, 0)) return 1;
  }
  int code = 0;
  for (;;) {
    char cmd = 0;
    const ssize_t n = recv_msg(sock, &cmd, 1, nullptr);
    if (n <= 0 || cmd == 'Q') break;
    if (cmd == 'S') {
      for (auto& s : sources) {
        if (auto r = s->start(); !r.ok()) {
          errors.fetch_add(1, std::memory_order_relaxed);
          MutexLock lock(err_mu);
          if (first_error.empty()) first_error = r.error().to_string();
          code = 1;
        }
      }
    } else if (cmd == 'C') {
      CountsMsg r;
      r.frames = frames.load();
      r.published = published.load();
      r.errors = errors.load();
      r.cpu_seconds = self_cpu_seconds();
      {
        MutexLock lock(err_mu);
        std::string e = first_error;
        for (auto& s : sources)
          if (e.empty() && !s->error().empty()) e = "decoder: " + s->error();
        set_text(r.error, sizeof r.error, e);
      }
      if (!send_msg(sock, &r, sizeof r, nullptr, 0)) break;
    }
  }
  for (auto& s : sources) s->stop();
  sources.clear();
  return code;
}

}  // namespace orion::gpu
