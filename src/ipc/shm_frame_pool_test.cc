// ShmFramePool + FrameReader in one process: zero copy, leases, exhaustion, statistics,
// reclaim, seals, the delivery window. The cross-process behaviour is in
// mailbox_process_test.cc, hostile readers in shm_frame_pool_hostile_test.cc.
#include "ipc/shm_frame_pool.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "core/frame_pool.h"
#include "ipc/frame_reader.h"
#include "ipc/futex.h"
#include "ipc/shared_memory.h"
#include "testing/frames.h"
#include "testing/watchdog.h"

namespace orion::ipc {
namespace {

constexpr int kW = 32, kH = 24;

class ShmFramePoolTest : public ::testing::Test {
 protected:
  std::shared_ptr<ShmFramePool> make_pool(uint32_t slots = 8) {
    ShmFramePoolOptions o;
    o.stream_id = 3;
    o.stream_name = "test";
    o.slot_count = slots;
    o.slot_capacity = size_t{kW} * kH * 3;
    auto p = ShmFramePool::create(o);
    EXPECT_TRUE(p.ok()) << p.error().to_string();
    return *p;
  }
  // A frame of `pool` whose bytes are all `seq % 251`.
  static FramePtr frame(FramePool& pool, uint64_t seq) {
    auto r = pool.acquire(FrameLayout::packed(PixelFormat::kBGR24, kW, kH));
    EXPECT_TRUE(r.ok()) << r.error().to_string();
    MutableFramePtr f = std::move(r).value();
    std::memset(f->mutable_data(), static_cast<int>(seq % 251), f->size());
    f->set_identity(FrameIdentity{3, seq, Duration::millis(static_cast<int64_t>(seq)),
                                  Timestamp::from_nanos(100 + static_cast<int64_t>(seq))});
    return freeze(std::move(f));
  }
  static std::unique_ptr<FrameReader> reader(ShmFramePool& pool, MailboxPort& port) {
    auto fd = pool.reader_fd();
    EXPECT_TRUE(fd.ok());
    auto r = FrameReader::open(std::move(fd).value(), UniqueFd(::dup(port.fd())));
    EXPECT_TRUE(r.ok()) << r.error().to_string();
    return std::move(r).value();
  }
  static bool all_bytes(const Frame& f, uint8_t v) {
    for (size_t i = 0; i < f.size(); ++i)
      if (f.data()[i] != v) return false;
    return true;
  }

  orion::testing::Watchdog watchdog_{Duration::seconds(60), "shm_frame_pool_test"};
};

TEST_F(ShmFramePoolTest, ReaderSeesThePublishedPixelsAndIdentityWithoutACopy) {
  auto pool = make_pool();
  auto port = *pool->attach("w");
  auto rd = reader(*pool, *port);
  ASSERT_TRUE(pool->publish(frame(*pool, 1)).ok());
  auto got = rd->next_frame(Duration::seconds(5));
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_EQ((*got)->identity(),
            (FrameIdentity{3, 1, Duration::millis(1), Timestamp::from_nanos(101)}));
  EXPECT_EQ((*got)->width(), kW);
  EXPECT_TRUE(all_bytes(**got, 1));
  EXPECT_EQ(pool->shm_stats().bytes_copied, 0u);
}

TEST_F(ShmFramePoolTest, TheWriterNeverReusesALeasedSlot) {
  auto pool = make_pool(4);
  auto port = *pool->attach("w");
  auto rd = reader(*pool, *port);
  ASSERT_TRUE(pool->publish(frame(*pool, 1)).ok());
  FramePtr held = *rd->next_frame(Duration::seconds(5));
  for (uint64_t s = 2; s < 200; ++s) ASSERT_TRUE(pool->publish(frame(*pool, s)).ok());
  EXPECT_TRUE(all_bytes(*held, 1));  // never overwritten while leased
  EXPECT_EQ(held->identity().sequence, 1u);
  EXPECT_EQ(pool->shm_stats().in_use, 2u);  // the lease and the pending offer
}

TEST_F(ShmFramePoolTest, ReleasingTheFrameEndsTheLease) {
  auto pool = make_pool();
  auto port = *pool->attach("w");
  auto rd = reader(*pool, *port);
  ASSERT_TRUE(pool->publish(frame(*pool, 1)).ok());
  {
    FramePtr f = *rd->next_frame(Duration::seconds(5));
    EXPECT_TRUE(port->stats().lease_held);
    EXPECT_EQ(pool->stats().in_use, 1u);
  }
  EXPECT_FALSE(port->stats().lease_held);
  EXPECT_EQ(pool->stats().in_use, 0u);
}

TEST_F(ShmFramePoolTest, AcquireFailsWhenEverySlotIsHeld) {
  auto pool = make_pool(2);
  FramePtr a = frame(*pool, 1), b = frame(*pool, 2);
  auto c = pool->acquire(FrameLayout::packed(PixelFormat::kBGR24, kW, kH));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, "pool.exhausted");
  a.reset();
  EXPECT_TRUE(pool->acquire(FrameLayout::packed(PixelFormat::kBGR24, kW, kH)).ok());
}

TEST_F(ShmFramePoolTest, AFrameLargerThanASlotIsABadLayout) {
  auto pool = make_pool();
  auto r = pool->acquire(FrameLayout::packed(PixelFormat::kBGR24, kW * 2, kH));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "pool.bad_layout");
}

TEST_F(ShmFramePoolTest, TheReaderGetsOnlyTheNewestFrameAndCountsConserve) {
  auto pool = make_pool();
  auto port = *pool->attach("w");
  auto rd = reader(*pool, *port);
  for (uint64_t s = 1; s <= 5; ++s) ASSERT_TRUE(pool->publish(frame(*pool, s)).ok());
  {
    auto f = rd->next_frame(Duration::seconds(5));
    ASSERT_TRUE(f.ok());
    EXPECT_EQ((*f)->identity().sequence, 5u);
  }
  ASSERT_TRUE(pool->publish(frame(*pool, 6)).ok());
  const MailboxStats s = port->stats();
  EXPECT_EQ(s.offered, 6u);
  EXPECT_EQ(s.dropped, 4u);
  EXPECT_EQ(s.taken, 1u);
  EXPECT_EQ(s.pending, 1u);
  EXPECT_EQ(s.offered, s.taken + s.dropped + s.pending);
  EXPECT_EQ(s.worker_taken, 1u);
}

TEST_F(ShmFramePoolTest, AnOlderOrEqualSequenceIsRejected) {
  auto pool = make_pool();
  ASSERT_TRUE(pool->publish(frame(*pool, 5)).ok());
  auto st = pool->publish(frame(*pool, 5));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "ipc.not_newer");
  EXPECT_EQ(pool->shm_stats().rejected_stale, 1u);
}

TEST_F(ShmFramePoolTest, AFrameFromAnotherPoolIsCopiedAndCounted) {
  auto pool = make_pool();
  auto port = *pool->attach("w");
  auto rd = reader(*pool, *port);
  HeapFramePool heap;
  ASSERT_TRUE(pool->publish(frame(heap, 9)).ok());
  auto f = rd->next_frame(Duration::seconds(5));
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(all_bytes(**f, 9));
  EXPECT_EQ(pool->shm_stats().bytes_copied, size_t{kW} * kH * 3);
  EXPECT_EQ(pool->shm_stats().published_by_copy, 1u);
}

// Readers sleep on PoolHeader::wake_word through a read-only mapping: the kernel must accept
// FUTEX_WAIT there (it only reads the word), or every idle reader would spin.
TEST_F(ShmFramePoolTest, AReaderCanSleepOnTheReadOnlyPoolWakeWord) {
  auto pool = make_pool();
  auto fd = pool->reader_fd();
  ASSERT_TRUE(fd.ok());
  const size_t size = pool->geometry().segment_size;
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd->get(), 0);
  ASSERT_NE(p, MAP_FAILED);
  auto* word = reinterpret_cast<std::atomic<uint32_t>*>(static_cast<uint8_t*>(p) +
                                                        offsetof(PoolHeader, wake_word));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(futex_wait(word, word->load(), Duration::millis(30)), WaitResult::kTimeout);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(25));
  EXPECT_EQ(futex_wait(word, word->load() + 1, Duration::millis(30)), WaitResult::kValueChanged);
  ::munmap(p, size);
}

TEST_F(ShmFramePoolTest, NextFrameTimesOutWhenNothingIsOffered) {
  auto pool = make_pool();
  auto port = *pool->attach("w");
  auto rd = reader(*pool, *port);
  auto f = rd->next_frame(Duration::millis(20));
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code, "timeout");
}

TEST_F(ShmFramePoolTest, ABlockedReaderIsWokenByPublish) {
  auto pool = make_pool();
  auto port = *pool->attach("w");
  auto rd = reader(*pool, *port);
  uint64_t got = 0;
  std::thread t([&] {
    auto f = rd->next_frame(Duration::seconds(10));
    if (f.ok()) got = (*f)->identity().sequence;
  });
  // Whether the reader is already asleep in the futex or not yet, it must get the frame.
  ASSERT_TRUE(pool->publish(frame(*pool, 1)).ok());
  t.join();
  EXPECT_EQ(got, 1u);
}

TEST_F(ShmFramePoolTest, ClosingTheMailboxWakesTheReaderWithClosed) {
  auto pool = make_pool();
  auto port = *pool->attach("w");
  auto rd = reader(*pool, *port);
  std::string code;
  std::thread t([&] {
    auto f = rd->next_frame();  // no timeout: only close ends it
    code = f.ok() ? "frame" : f.error().code;
  });
  port->close();
  t.join();
  EXPECT_EQ(code, "closed");
}

TEST_F(ShmFramePoolTest, OneLeaseAtATime) {
  auto pool = make_pool();
  auto port = *pool->attach("w");
  auto rd = reader(*pool, *port);
  ASSERT_TRUE(pool->publish(frame(*pool, 1)).ok());
  FramePtr a = *rd->next_frame(Duration::seconds(1));
  ASSERT_TRUE(pool->publish(frame(*pool, 2)).ok());
  auto b = rd->next_frame(Duration::seconds(1));
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code, "ipc.lease_held");
  a.reset();
  EXPECT_TRUE(rd->next_frame(Duration::seconds(1)).ok());
}

TEST_F(ShmFramePoolTest, DetachTakesBackTheOfferAndTheLease) {
  auto pool = make_pool();
  auto port = *pool->attach("w");
  auto rd = reader(*pool, *port);
  ASSERT_TRUE(pool->publish(frame(*pool, 1)).ok());
  FramePtr held = *rd->next_frame(Duration::seconds(1));
  ASSERT_TRUE(pool->publish(frame(*pool, 2)).ok());
  EXPECT_EQ(pool->stats().in_use, 2u);
  pool->detach_and_reclaim(port);
  const ShmPoolStats s = pool->shm_stats();
  EXPECT_EQ(s.in_use, 0u);
  EXPECT_EQ(s.leases_reclaimed, 1u);
  EXPECT_EQ(s.offers_reclaimed, 1u);
  EXPECT_EQ(s.mailboxes, 0u);
  const MailboxStats m = port->stats();
  EXPECT_TRUE(m.closed);
  EXPECT_EQ(m.offered, m.taken + m.dropped + m.pending);
}

TEST_F(ShmFramePoolTest, ACorruptedOfferIsRefusedNotACrash) {
  auto pool = make_pool();
  auto port = *pool->attach("w");
  auto rd = reader(*pool, *port);
  ASSERT_TRUE(pool->publish(frame(*pool, 1)).ok());
  // Forge an offer naming a slot that does not exist, as a buggy peer could.
  auto* block = reinterpret_cast<MailboxBlock*>(
      ::mmap(nullptr, kMailboxSegmentSize, PROT_READ | PROT_WRITE, MAP_SHARED, port->fd(), 0));
  ASSERT_NE(block, MAP_FAILED);
  block->offer.store(make_token(4000, 1));
  auto f = rd->next_frame(Duration::seconds(1));
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code, "ipc.bad_slot");
  block->offer.store(make_token(0, 999));  // a generation the slot does not hold
  f = rd->next_frame(Duration::seconds(1));
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code, "ipc.stale_slot");
  EXPECT_EQ(rd->stats().invalid, 2u);
  EXPECT_EQ(pool->stats().in_use, 0u);
  ::munmap(block, kMailboxSegmentSize);
}

TEST_F(ShmFramePoolTest, TheReaderDescriptorIsReadOnlyAndBothSegmentsAreSealed) {
  auto pool = make_pool();
  auto port = *pool->attach("w");
  auto fd = pool->reader_fd();
  ASSERT_TRUE(fd.ok()) << fd.error().to_string();
  EXPECT_EQ(::fcntl(fd->get(), F_GETFL) & O_ACCMODE, O_RDONLY);
  auto pool_seals = seals_of(fd->get());
  ASSERT_TRUE(pool_seals.ok()) << pool_seals.error().to_string();
  EXPECT_EQ(*pool_seals, unsigned{F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL});
  auto mailbox_seals = seals_of(port->fd());
  ASSERT_TRUE(mailbox_seals.ok());
  EXPECT_EQ(*mailbox_seals, unsigned{F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL});
  // And the engine still writes its pool through its own mapping.
  auto rd = reader(*pool, *port);
  ASSERT_TRUE(pool->publish(frame(*pool, 7)).ok());
  auto f = rd->next_frame(Duration::seconds(5));
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(all_bytes(**f, 7));
}

using Delivery = MailboxPort::Delivery;

TEST_F(ShmFramePoolTest, DeliveryTellsTakenDroppedAndPendingOffersApart) {
  auto pool = make_pool();
  auto port = *pool->attach("w");
  auto rd = reader(*pool, *port);
  ASSERT_TRUE(pool->publish(frame(*pool, 1)).ok());
  {
    auto f = rd->next_frame(Duration::seconds(5));
    ASSERT_TRUE(f.ok());
  }
  // Seen as taken at once, before any later offer replaces it.
  EXPECT_EQ(port->delivery(1), Delivery::kTaken);
  MailboxStats s = port->stats();
  EXPECT_EQ(s.taken, 1u);
  EXPECT_EQ(s.pending, 0u);
  ASSERT_TRUE(pool->publish(frame(*pool, 2)).ok());
  ASSERT_TRUE(pool->publish(frame(*pool, 3)).ok());
  EXPECT_EQ(port->delivery(2), Delivery::kDropped);  // replaced by 3
  EXPECT_EQ(port->delivery(3), Delivery::kPending);
  port->close();
  EXPECT_EQ(port->delivery(3), Delivery::kDropped);  // closed before it was taken
  EXPECT_EQ(port->delivery(1), Delivery::kTaken);
  s = port->stats();
  EXPECT_EQ(s.offered, 3u);
  EXPECT_EQ(s.taken, 1u);
  EXPECT_EQ(s.dropped, 2u);
  EXPECT_EQ(s.pending, 0u);
  EXPECT_EQ(s.scribbled, 0u);  // an honest reader never writes anything but a take
}

TEST_F(ShmFramePoolTest, DeliveryOfASequenceNeverOfferedToThisMailboxSaysSo) {
  auto pool = make_pool();
  auto other_stream = make_pool();
  ASSERT_TRUE(pool->publish(frame(*pool, 1)).ok());  // before the mailbox existed
  auto port = *pool->attach("w");
  EXPECT_EQ(port->delivery(1), Delivery::kNeverOffered);  // nothing offered yet
  ASSERT_TRUE(pool->publish(frame(*pool, 10)).ok());
  ASSERT_TRUE(pool->publish(frame(*pool, 12)).ok());
  ASSERT_TRUE(other_stream->publish(frame(*other_stream, 11)).ok());
  EXPECT_EQ(port->delivery(1), Delivery::kNeverOffered);   // published before attach
  EXPECT_EQ(port->delivery(11), Delivery::kNeverOffered);  // another stream's frame
  EXPECT_EQ(port->delivery(13), Delivery::kNeverOffered);  // not yet published
  EXPECT_EQ(port->delivery(uint64_t{1} << 63), Delivery::kNeverOffered);
  EXPECT_EQ(port->delivery(UINT64_MAX), Delivery::kNeverOffered);
  EXPECT_EQ(port->delivery(0), Delivery::kNeverOffered);
  EXPECT_EQ(port->delivery(10), Delivery::kDropped);
  EXPECT_EQ(port->delivery(12), Delivery::kPending);
  port->close();
  ASSERT_TRUE(pool->publish(frame(*pool, 14)).ok());
  EXPECT_EQ(port->delivery(14), Delivery::kNeverOffered);  // published after close
}

TEST_F(ShmFramePoolTest, DeliveryForgetsOffersOlderThanTheWindow) {
  auto pool = make_pool();
  auto port = *pool->attach("w");
  constexpr uint64_t kLast = MailboxPort::kDeliveryWindow + 44;  // 300
  for (uint64_t s = 1; s <= kLast; ++s) ASSERT_TRUE(pool->publish(frame(*pool, s)).ok());
  const uint64_t oldest = kLast - MailboxPort::kDeliveryWindow + 1;  // 45
  EXPECT_EQ(port->delivery(kLast), Delivery::kPending);
  EXPECT_EQ(port->delivery(oldest), Delivery::kDropped);
  EXPECT_EQ(port->delivery(oldest - 1), Delivery::kTooOld);
  EXPECT_EQ(port->delivery(1), Delivery::kTooOld);
  EXPECT_EQ(port->delivery(0), Delivery::kTooOld);
  EXPECT_EQ(port->delivery(kLast + 1), Delivery::kNeverOffered);
  EXPECT_EQ(port->stats().offered, kLast);
}

// delivery() and stats() run on the supervisor's thread while publish() runs on the bridge's
// and a reader takes frames: every snapshot conserves, the counts never go back, and every
// frame the reader took is kTaken (or kTooOld once it left the window). Run under TSan too.
TEST_F(ShmFramePoolTest, DeliveryAndStatsAreExactWhilePublishingFromAnotherThread) {
  auto pool = make_pool(8);
  auto port = *pool->attach("w");
  auto rd = reader(*pool, *port);
  constexpr uint64_t kFrames = 3000;
  std::atomic<bool> done{false};
  std::vector<uint64_t> took;
  std::string end_code;
  std::atomic<uint64_t> taken_count{0};
  std::thread reader_thread([&] {
    for (;;) {
      auto f = rd->next_frame(Duration::seconds(10));
      if (!f.ok()) {
        end_code = f.error().code;  // "closed" at the end
        return;
      }
      took.push_back((*f)->identity().sequence);
      taken_count.fetch_add(1);
      taken_count.notify_all();
    }
  });
  uint64_t bad_snapshots = 0, went_back = 0;
  std::atomic<uint64_t> snapshots{0};
  std::thread checker([&] {
    MailboxStats prev;
    while (!done.load()) {
      const MailboxStats s = port->stats();
      snapshots.fetch_add(1);
      snapshots.notify_all();
      if (s.offered != s.taken + s.dropped + s.pending) ++bad_snapshots;
      if (s.offered < prev.offered || s.taken < prev.taken || s.dropped < prev.dropped) ++went_back;
      if (s.offered > 0) (void)port->delivery(s.offered);  // any answer, never a race
      prev = s;
    }
  });
  for (uint64_t s = 1; s <= kFrames; ++s) {
    const uint64_t taken_before = taken_count.load();
    const uint64_t snapshots_before = snapshots.load();
    ASSERT_TRUE(pool->publish(frame(*pool, s)).ok());
    // Every 100 frames, wait for the reader to take one (frame s waits for it: nothing
    // replaces it meanwhile) and for the checker to take a snapshot, so that takes, drops and
    // snapshots interleave however the threads are scheduled.
    if (s % 100 != 0) continue;
    for (uint64_t c = taken_count.load(); c == taken_before; c = taken_count.load())
      taken_count.wait(c);
    for (uint64_t c = snapshots.load(); c == snapshots_before; c = snapshots.load())
      snapshots.wait(c);
  }
  port->close();
  reader_thread.join();
  done.store(true);
  checker.join();
  EXPECT_EQ(end_code, "closed");
  EXPECT_GE(snapshots.load(), kFrames / 100);
  EXPECT_EQ(bad_snapshots, 0u);
  EXPECT_EQ(went_back, 0u);
  const MailboxStats s = port->stats();
  EXPECT_EQ(s.offered, kFrames);
  EXPECT_EQ(s.taken, took.size());
  EXPECT_EQ(s.taken + s.dropped, kFrames);
  EXPECT_EQ(s.scribbled, 0u);
  ASSERT_FALSE(took.empty());
  uint64_t in_window = 0;
  for (uint64_t seq : took) {
    const Delivery d = port->delivery(seq);
    if (seq > kFrames - MailboxPort::kDeliveryWindow) {
      ++in_window;
      EXPECT_EQ(d, Delivery::kTaken) << "sequence " << seq << ": " << to_string(d);
    } else {
      EXPECT_EQ(d, Delivery::kTooOld) << "sequence " << seq;
    }
  }
  // Within the window every sequence the reader did not take was dropped.
  uint64_t dropped_in_window = 0;
  for (uint64_t seq = kFrames - MailboxPort::kDeliveryWindow + 1; seq <= kFrames; ++seq)
    if (port->delivery(seq) == Delivery::kDropped) ++dropped_in_window;
  EXPECT_EQ(in_window + dropped_in_window, MailboxPort::kDeliveryWindow);
}

}  // namespace
}  // namespace orion::ipc
