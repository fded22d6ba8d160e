#include "bench/ipc_bench.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <thread>
#include <vector>

#include "bench/percentiles.h"
#include "core/clock.h"
#include "ipc/frame_reader.h"
#include "ipc/futex.h"
#include "ipc/shm_frame_pool.h"

namespace orion::bench {
namespace {

int64_t now_ns() { return SteadyClock::instance().now().nanos(); }

// Shared with the forked workers (MAP_SHARED | MAP_ANONYMOUS). Worker w writes
// latency[w * frames + i] for the i-th frame it got, and counts.
struct Board {
  std::atomic<int> ready;
  std::atomic<uint64_t> received;  // total frames received by all workers
  std::atomic<uint64_t> errors;
  std::atomic<uint64_t> bytes_copied;  // bytes a worker had to copy to hold its frame
  int64_t latency[1];                  // really frames * workers entries
};

Board* make_board(size_t entries, size_t& bytes) {
  bytes = sizeof(Board) + entries * sizeof(int64_t);
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  return new (p) Board{};
}

// Waits by sleeping, never spinning: on a 2-core machine a spinning publisher would take a CPU
// away from the very workers being measured.
bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return true;
}

// Sleeps until `interval_us` after `t0_ns` (the publish time of the frame).
void pace(int64_t t0_ns, int interval_us) {
  const int64_t left = t0_ns + int64_t{interval_us} * 1000 - now_ns();
  if (left > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(left));
}

struct CaseResult {
  int workers = 0;
  Summary shm, pipe, floor, shm_publish, pipe_write;
  double shm_bytes_per_frame_worker = 0, pipe_bytes_per_frame_worker = 0;
  uint64_t shm_received = 0, pipe_received = 0, errors = 0;
};

// ---- Orion: shared memory + mailbox + futex --------------------------------------------------
bool run_shm(const IpcBenchOptions& o, int n, CaseResult& out) {
  ipc::ShmFramePoolOptions po;
  po.stream_name = "bench";
  po.slot_count = static_cast<uint32_t>(4 + 2 * n);
  po.slot_capacity = static_cast<size_t>(o.width) * o.height * 3;
  auto pool_r = ipc::ShmFramePool::create(po);
  if (!pool_r.ok()) {
    std::fprintf(stderr, "bench ipc: %s\n", pool_r.error().to_string().c_str());
    return false;
  }
  auto pool = *pool_r;
  const size_t frames = static_cast<size_t>(o.frames);
  size_t board_bytes = 0;
  Board* board = make_board(frames * static_cast<size_t>(n), board_bytes);
  std::vector<std::shared_ptr<ipc::MailboxPort>> ports;
  std::vector<pid_t> pids;
  for (int w = 0; w < n; ++w) {
    auto port = *pool->attach("bench-" + std::to_string(w));
    ports.push_back(port);
    auto pool_fd = pool->reader_fd();
    const int mfd = ::dup(port->fd());
    const pid_t pid = ::fork();
    if (pid == 0) {
      if (o.worker_nice != 0) (void)::setpriority(PRIO_PROCESS, 0, o.worker_nice);
      auto rd = ipc::FrameReader::open(std::move(pool_fd).value(), ipc::UniqueFd(mfd));
      if (!rd.ok()) ::_exit(2);
      board->ready.fetch_add(1);
      size_t i = 0;
      for (;;) {
        auto f = (*rd)->next_frame();
        const int64_t woke = now_ns();
        if (!f.ok()) ::_exit(f.error().code == "closed" ? 0 : 3);
        const Frame& fr = **f;
        // Holding the frame: its pixels are readable in place (touch first and last byte).
        if (fr.data()[0] != static_cast<uint8_t>(fr.identity().sequence) ||
            fr.data()[fr.size() - 1] != static_cast<uint8_t>(fr.identity().sequence))
          board->errors.fetch_add(1);
        if (i < frames)
          board->latency[static_cast<size_t>(w) * frames + i] =
              woke - fr.identity().capture_time.nanos();
        ++i;
        board->received.fetch_add(1);
      }
    }
    ::close(mfd);
    pids.push_back(pid);
  }
  bool ok = wait_until([&] { return board->ready.load() == n; }, std::chrono::seconds(10));
  std::vector<int64_t> publish_cost;
  const FrameLayout layout = FrameLayout::packed(PixelFormat::kBGR24, o.width, o.height);
  for (size_t i = 0; ok && i < frames; ++i) {
    auto r = pool->acquire(layout);
    if (!r.ok()) {
      std::fprintf(stderr, "bench ipc: %s\n", r.error().to_string().c_str());
      ok = false;
      break;
    }
    MutableFramePtr f = std::move(r).value();
    const uint64_t seq = i + 1;
    f->mutable_data()[0] = static_cast<uint8_t>(seq);  // the capture's single write (untimed)
    f->mutable_data()[f->size() - 1] = static_cast<uint8_t>(seq);
    const int64_t t0 = now_ns();
    f->set_identity(FrameIdentity{1, seq, Duration::millis(static_cast<int64_t>(seq)),
                                  Timestamp::from_nanos(t0)});
    Status st = pool->publish(freeze(std::move(f)));
    publish_cost.push_back(now_ns() - t0);
    if (!st.ok()) {
      std::fprintf(stderr, "bench ipc: %s\n", st.error().to_string().c_str());
      ok = false;
      break;
    }
    pace(t0, o.interval_us);  // first the frame interval, asleep; then make sure all took it
    ok = wait_until([&] { return board->received.load() >= seq * static_cast<uint64_t>(n); },
                    std::chrono::seconds(10));
  }
  for (auto& p : ports) p->close();
  for (pid_t pid : pids) ::waitpid(pid, nullptr, 0);
  std::vector<int64_t> lat;
  const uint64_t got = board->received.load();
  for (int w = 0; w < n; ++w)
    for (size_t i = 0; i < frames; ++i)
      lat.push_back(board->latency[static_cast<size_t>(w) * frames + i]);
  out.shm = summarize(lat);
  out.shm_publish = summarize(publish_cost);
  const ipc::ShmPoolStats ps = pool->shm_stats();
  // Pixel bytes copied between capture's write and the worker holding the frame: what
  // publish() copied (frames not from the pool) plus what workers copied (nothing: they read
  // the slot in place).
  out.shm_bytes_per_frame_worker =
      static_cast<double>(ps.bytes_copied + board->bytes_copied.load()) /
      static_cast<double>(std::max<uint64_t>(1, got));
  out.shm_received = got;
  out.errors += board->errors.load();
  for (auto& p : ports) pool->detach_and_reclaim(p);
  ::munmap(board, board_bytes);
  return ok;
}

// ---- Baseline: the frame's bytes through a pipe per worker ------------------------------------
bool write_all(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    const ssize_t k = ::write(fd, p, n);
    if (k < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

bool read_all(int fd, uint8_t* p, size_t n) {
  while (n > 0) {
    const ssize_t k = ::read(fd, p, n);
    if (k <= 0) {
      if (k < 0 && errno == EINTR) continue;
      return false;
    }
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

struct PipeHeader {
  uint64_t sequence;
  int64_t sent_ns;
};

bool run_pipe(const IpcBenchOptions& o, int n, CaseResult& out) {
  const size_t frames = static_cast<size_t>(o.frames);
  const size_t frame_bytes = static_cast<size_t>(o.width) * o.height * 3;
  size_t board_bytes = 0;
  Board* board = make_board(frames * static_cast<size_t>(n), board_bytes);
  std::vector<int> wfds;
  std::vector<pid_t> pids;
  for (int w = 0; w < n; ++w) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return false;
    (void)::fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);  // the largest an unprivileged user may ask
    const pid_t pid = ::fork();
    if (pid == 0) {
      if (o.worker_nice != 0) (void)::setpriority(PRIO_PROCESS, 0, o.worker_nice);
      ::close(fds[1]);
      for (int x : wfds) ::close(x);
      std::vector<uint8_t> buf(frame_bytes);
      board->ready.fetch_add(1);
      size_t i = 0;
      for (;;) {
        PipeHeader h{};
        if (!read_all(fds[0], reinterpret_cast<uint8_t*>(&h), sizeof h)) ::_exit(0);  // closed
        if (!read_all(fds[0], buf.data(), frame_bytes)) ::_exit(3);
        const int64_t woke = now_ns();  // holding the whole frame
        if (buf[0] != static_cast<uint8_t>(h.sequence) ||
            buf[frame_bytes - 1] != static_cast<uint8_t>(h.sequence))
          board->errors.fetch_add(1);
        if (i < frames) board->latency[static_cast<size_t>(w) * frames + i] = woke - h.sent_ns;
        ++i;
        board->bytes_copied.fetch_add(frame_bytes);
        board->received.fetch_add(1);
      }
    }
    ::close(fds[0]);
    wfds.push_back(fds[1]);
    pids.push_back(pid);
  }
  bool ok = wait_until([&] { return board->ready.load() == n; }, std::chrono::seconds(10));
  std::vector<uint8_t> frame(frame_bytes, 0);
  std::vector<int64_t> write_cost;
  for (size_t i = 0; ok && i < frames; ++i) {
    const uint64_t seq = i + 1;
    frame[0] = frame[frame_bytes - 1] = static_cast<uint8_t>(seq);
    const int64_t t0 = now_ns();
    const PipeHeader h{seq, t0};
    for (int fd : wfds) {
      ok = ok && write_all(fd, reinterpret_cast<const uint8_t*>(&h), sizeof h) &&
           write_all(fd, frame.data(), frame_bytes);
    }
    write_cost.push_back(now_ns() - t0);
    pace(t0, o.interval_us);
    ok = ok && wait_until([&] { return board->received.load() >= seq * static_cast<uint64_t>(n); },
                          std::chrono::seconds(20));
  }
  for (int fd : wfds) ::close(fd);
  for (pid_t pid : pids) ::waitpid(pid, nullptr, 0);
  std::vector<int64_t> lat;
  for (int w = 0; w < n; ++w)
    for (size_t i = 0; i < frames; ++i)
      lat.push_back(board->latency[static_cast<size_t>(w) * frames + i]);
  out.pipe = summarize(lat);
  out.pipe_write = summarize(write_cost);
  out.pipe_received = board->received.load();
  out.pipe_bytes_per_frame_worker = static_cast<double>(board->bytes_copied.load()) /
                                    static_cast<double>(std::max<uint64_t>(1, out.pipe_received));
  out.errors += board->errors.load();
  ::munmap(board, board_bytes);
  return ok;
}

// ---- Floor: what waking N sleeping processes costs on this machine, with no frame at all ------
// Each process sleeps on one shared futex word; the publisher stores the time, bumps the word
// and wakes them all with one FUTEX_WAKE. Nothing else: the scheduler's share of the figures.
struct FloorBoard {
  std::atomic<uint32_t> word;
  std::atomic<int64_t> sent_ns;
  std::atomic<int> ready;
  std::atomic<uint64_t> received;
  std::atomic<uint32_t> stop;
  int64_t latency[1];
};

bool run_floor(const IpcBenchOptions& o, int n, CaseResult& out) {
  const size_t frames = static_cast<size_t>(o.frames);
  const size_t bytes = sizeof(FloorBoard) + frames * static_cast<size_t>(n) * sizeof(int64_t);
  void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return false;
  auto* b = new (mem) FloorBoard{};
  std::vector<pid_t> pids;
  for (int w = 0; w < n; ++w) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      if (o.worker_nice != 0) (void)::setpriority(PRIO_PROCESS, 0, o.worker_nice);
      uint32_t seen = b->word.load();
      b->ready.fetch_add(1);
      for (size_t i = 0;;) {
        ipc::futex_wait(&b->word, seen, Duration::millis(100));
        const uint32_t now_word = b->word.load();
        if (b->stop.load()) ::_exit(0);
        if (now_word == seen) continue;  // timeout or spurious
        const int64_t woke = now_ns();
        seen = now_word;
        if (i < frames) b->latency[static_cast<size_t>(w) * frames + i] = woke - b->sent_ns.load();
        ++i;
        b->received.fetch_add(1);
      }
    }
    pids.push_back(pid);
  }
  bool ok = wait_until([&] { return b->ready.load() == n; }, std::chrono::seconds(10));
  for (size_t i = 0; ok && i < frames; ++i) {
    const int64_t t0 = now_ns();
    b->sent_ns.store(t0);
    b->word.fetch_add(1);
    ipc::futex_wake(&b->word, 1 << 30);
    pace(t0, o.interval_us);
    ok = wait_until([&] { return b->received.load() >= (i + 1) * static_cast<uint64_t>(n); },
                    std::chrono::seconds(10));
  }
  b->stop.store(1);
  b->word.fetch_add(1);
  ipc::futex_wake(&b->word, 1 << 30);
  for (pid_t pid : pids) ::waitpid(pid, nullptr, 0);
  std::vector<int64_t> lat(b->latency, b->latency + frames * static_cast<size_t>(n));
  out.floor = summarize(lat);
  ::munmap(mem, bytes);
  return ok;
}

}  // namespace

int run_ipc_bench(const IpcBenchOptions& o) {
  if (o.frames <= 0 || o.width <= 0 || o.height <= 0) {
    std::fprintf(stderr, "bench ipc: frames, width and height must be positive\n");
    return 2;
  }
  std::printf(
      "orion bench ipc: %d frames of %dx%d BGR (%zu bytes) per case, one every >= %d us, "
      "forked worker processes on one stream (worker nice %d)\n",
      o.frames, o.width, o.height, static_cast<size_t>(o.width) * o.height * 3, o.interval_us,
      o.worker_nice);
  std::printf(
      "designs: shm  = ShmFramePool::publish -> mailbox token + futex wake -> worker leases the "
      "slot\n"
      "         pipe = baseline: frame bytes written into one pipe per worker (seeds' stdout "
      "design)\n");
  std::vector<CaseResult> results;
  for (int n : o.worker_counts) {
    if (n <= 0) continue;
    CaseResult r;
    r.workers = n;
    const bool a = run_shm(o, n, r);
    const bool b = run_pipe(o, n, r);
    const bool c = run_floor(o, n, r);
    if (!a || !b || !c) {
      std::fprintf(stderr, "bench ipc: case %d workers failed (shm %s, pipe %s)\n", n,
                   a ? "ok" : "failed", b ? "ok" : "failed");
      return 1;
    }
    results.push_back(r);
    std::fprintf(stderr, "  measured %d workers\n", n);
  }
  std::printf("\npublish -> worker woken holding the frame, microseconds (per frame and worker)\n");
  std::printf("%7s | %28s | %28s | %11s | %23s\n", "workers", "shm p50 / p99 / max",
              "pipe p50 / p99 / max", "pipe/shm p50", "bytes copied/frame/worker");
  for (const auto& r : results) {
    std::printf(
        "%7d | %8.1f / %8.1f / %8.1f | %8.1f / %8.1f / %8.1f | %5.1fx %4.1fx | shm %6.0f  pipe "
        "%8.0f\n",
        r.workers, r.shm.p50, r.shm.p99, r.shm.max, r.pipe.p50, r.pipe.p99, r.pipe.max,
        r.pipe.p50 / std::max(r.shm.p50, 1e-3), r.pipe.p99 / std::max(r.shm.p99, 1e-3),
        r.shm_bytes_per_frame_worker, r.pipe_bytes_per_frame_worker);
  }
  std::printf("(pipe/shm columns: ratio at p50 and at p99; above 1 means shm is faster)\n");
  std::printf(
      "\nfloor: one FUTEX_WAKE of N sleeping processes, no frame (the scheduler alone), "
      "microseconds\n");
  for (const auto& r : results)
    std::printf("%7d workers: floor p50 %7.1f / p99 %7.1f   shm/floor p50 %.2fx\n", r.workers,
                r.floor.p50, r.floor.p99, r.shm.p50 / std::max(r.floor.p50, 1e-3));
  std::printf("\nengine-side cost of handing one frame to every worker, microseconds p50 / p99\n");
  for (const auto& r : results)
    std::printf("%7d workers: shm publish %7.1f / %7.1f   pipe writes %9.1f / %9.1f\n", r.workers,
                r.shm_publish.p50, r.shm_publish.p99, r.pipe_write.p50, r.pipe_write.p99);
  bool goals = true;
  std::printf("\nGoals (issue 6): shm p50 <= 20 us, p99 <= 200 us, 0 bytes copied\n");
  for (const auto& r : results) {
    const bool g = r.shm.p50 <= 20 && r.shm.p99 <= 200 && r.shm_bytes_per_frame_worker == 0;
    goals = goals && g;
    std::printf("  %2d workers: p50 %.1f us, p99 %.1f us, %.0f bytes copied: %s\n", r.workers,
                r.shm.p50, r.shm.p99, r.shm_bytes_per_frame_worker, g ? "met" : "NOT met");
  }
  uint64_t errors = 0;
  for (const auto& r : results) errors += r.errors;
  std::printf("pixel checks failed: %llu\n", static_cast<unsigned long long>(errors));
  if (!o.json_path.empty()) {
    std::ofstream js(o.json_path);
    js << "{\"frames\":" << o.frames << ",\"width\":" << o.width << ",\"height\":" << o.height
       << ",\"cases\":[";
    for (size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      js << (i ? "," : "") << "{\"workers\":" << r.workers << ",\"shm\":{\"p50_us\":" << r.shm.p50
         << ",\"p99_us\":" << r.shm.p99 << ",\"max_us\":" << r.shm.max
         << ",\"bytes_copied_per_frame_worker\":" << r.shm_bytes_per_frame_worker
         << "},\"pipe\":{\"p50_us\":" << r.pipe.p50 << ",\"p99_us\":" << r.pipe.p99
         << ",\"max_us\":" << r.pipe.max
         << ",\"bytes_copied_per_frame_worker\":" << r.pipe_bytes_per_frame_worker
         << "},\"floor\":{\"p50_us\":" << r.floor.p50 << ",\"p99_us\":" << r.floor.p99 << "}}";
    }
    js << "]}\n";
  }
  return errors == 0 ? 0 : 1;
}

}  // namespace orion::bench
