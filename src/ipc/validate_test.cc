// Validation of shared-memory headers: every way a header can be wrong gives a clear error,
// never a crash (this file also runs under ASan+UBSan: `make sanitize`).
#include "ipc/validate.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cstring>
#include <random>
#include <vector>

#include "ipc/layout.h"
#include "ipc/shm_frame_pool.h"

namespace orion::ipc {
namespace {

// A private copy of a whole shared-memory segment.
std::vector<uint8_t> read_segment(UniqueFd fd) {
  struct stat st {};
  EXPECT_EQ(::fstat(fd.get(), &st), 0);
  std::vector<uint8_t> out(static_cast<size_t>(st.st_size));
  void* p = ::mmap(nullptr, out.size(), PROT_READ, MAP_SHARED, fd.get(), 0);
  EXPECT_NE(p, MAP_FAILED);
  std::memcpy(out.data(), p, out.size());
  ::munmap(p, out.size());
  return out;
}

// A real pool segment, copied into a private buffer that each test can corrupt.
class ValidateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ShmFramePoolOptions o;
    o.stream_id = 7;
    o.stream_name = "cam";
    o.slot_count = 4;
    o.slot_capacity = 64 * 48 * 3;
    auto p = ShmFramePool::create(o);
    ASSERT_TRUE(p.ok()) << p.error().to_string();
    pool_ = *p;
    auto f = pool_->acquire(FrameLayout::packed(PixelFormat::kBGR24, 64, 48));
    ASSERT_TRUE(f.ok());
    (*f)->set_identity(FrameIdentity{7, 1, Duration::millis(33), Timestamp::from_nanos(5)});
    ASSERT_TRUE(pool_->publish(freeze(std::move(f).value())).ok());
    auto fd = pool_->reader_fd();
    ASSERT_TRUE(fd.ok());
    bytes_ = read_segment(std::move(fd).value());
  }

  PoolHeader& header() { return *reinterpret_cast<PoolHeader*>(bytes_.data()); }
  SlotHeader slot(uint32_t i) {
    SlotHeader h;
    std::memcpy(&h, bytes_.data() + geo().slot_header_offset(i), sizeof h);
    return h;
  }
  PoolGeometry geo() { return *validate_pool_header(bytes_.data(), bytes_.size()); }
  std::string pool_error() {
    auto r = validate_pool_header(bytes_.data(), bytes_.size());
    return r.ok() ? "ok" : r.error().code;
  }

  std::shared_ptr<ShmFramePool> pool_;
  std::vector<uint8_t> bytes_;
};

TEST_F(ValidateTest, AWellFormedPoolValidatesAndDescribesItsFrame) {
  auto g = validate_pool_header(bytes_.data(), bytes_.size());
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  EXPECT_EQ(g->slot_count, 4u);
  EXPECT_EQ(g->stream_id, 7u);
  EXPECT_EQ(g->stream_name, "cam");
  auto v = read_slot_header(*g, bytes_.data(), bytes_.size(), 0, 0);
  ASSERT_TRUE(v.ok()) << v.error().to_string();
  EXPECT_EQ(v->identity.sequence, 1u);
  EXPECT_EQ(v->layout.width, 64);
  EXPECT_EQ(v->layout.strides[0], 64 * 3);
}

TEST_F(ValidateTest, CorruptPoolMagicIsBadMagic) {
  header().magic ^= 0x10;
  EXPECT_EQ(pool_error(), "ipc.bad_magic");
  auto r = validate_pool_header(bytes_.data(), bytes_.size());
  EXPECT_NE(r.error().message.find("ORNPOOL1"), std::string::npos) << r.error().message;
}

TEST_F(ValidateTest, WrongAbiVersionIsAbiMismatch) {
  header().abi_version = kAbiVersion + 1;
  EXPECT_EQ(pool_error(), "ipc.abi_mismatch");
}

TEST_F(ValidateTest, MappingSmallerThanTheHeaderIsTruncated) {
  auto r = validate_pool_header(bytes_.data(), sizeof(PoolHeader) - 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "ipc.truncated");
}

TEST_F(ValidateTest, MappingSmallerThanTheSegmentIsTruncated) {
  auto r = validate_pool_header(bytes_.data(), bytes_.size() - kPageSize);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "ipc.truncated");
}

TEST_F(ValidateTest, PayloadsBeyondTheSegmentAreTruncated) {
  header().slot_count = 5;  // one more slot than the segment holds
  EXPECT_EQ(pool_error(), "ipc.truncated");
}

TEST_F(ValidateTest, OutOfRangeGeometryIsBadHeader) {
  auto base = header();
  header().slot_count = 0;
  EXPECT_EQ(pool_error(), "ipc.bad_header");
  header() = base;
  header().payload_offset += 1;
  EXPECT_EQ(pool_error(), "ipc.bad_header");
  header() = base;
  header().payload_stride = header().payload_capacity - 1;
  EXPECT_EQ(pool_error(), "ipc.bad_header");
  header() = base;
  header().slot_header_size = 64;
  EXPECT_EQ(pool_error(), "ipc.bad_header");
}

TEST_F(ValidateTest, SlotErrorsNameWhatIsWrong) {
  const PoolGeometry g = geo();
  SlotHeader h = slot(0);
  auto check = [&](SlotHeader x, const char* code, uint32_t index = 0, uint64_t gen = 0) {
    auto r = validate_slot_header(g, x, index, gen);
    ASSERT_FALSE(r.ok()) << code;
    EXPECT_EQ(r.error().code, code) << r.error().message;
    EXPECT_NE(r.error().message.find("slot"), std::string::npos);
  };
  SlotHeader x = h;
  x.magic = 0;
  check(x, "ipc.bad_magic");
  x = h;
  x.abi_version = 99;
  check(x, "ipc.abi_mismatch");
  check(h, "ipc.bad_slot", 9);  // index beyond the pool
  check(h, "ipc.bad_slot", 1);  // header says slot 0
  check(h, "ipc.stale_slot", 0, h.generation + 1);
  x = h;
  x.payload_size = g.payload_capacity + 1;  // truncated slot: frame larger than the slot
  check(x, "ipc.bad_slot");
  x = h;
  x.height = 49;  // rows no longer fit in the payload
  check(x, "ipc.bad_slot");
  x = h;
  x.strides[0] = 10;
  check(x, "ipc.bad_slot");
  x = h;
  x.payload_offset += kPageSize;  // points at another slot's pixels
  check(x, "ipc.bad_slot");
  x = h;
  x.format = 42;
  check(x, "ipc.bad_slot");
  x = h;
  x.plane_count = 3;
  check(x, "ipc.bad_slot");
}

TEST_F(ValidateTest, SlotHeaderOutsideTheMappingIsTruncated) {
  const PoolGeometry g = geo();
  auto r = read_slot_header(g, bytes_.data(), g.slot_header_offset(3) + 10, 3, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "ipc.truncated");
}

// Fuzz-style: random and mutated headers never crash the validators, and whatever they accept
// describes memory inside the segment.
TEST_F(ValidateTest, RandomHeadersNeverCrashAndAcceptedOnesStayInBounds) {
  std::mt19937_64 rng(12345);
  const std::vector<uint8_t> pristine = bytes_;
  const PoolGeometry g = geo();
  int accepted_pools = 0, accepted_slots = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    bytes_ = pristine;
    const size_t span = sizeof(PoolHeader) + g.slot_count * sizeof(SlotHeader) + 64;
    const int mode = iter % 3;
    if (mode == 0) {  // fully random header bytes
      for (size_t i = 0; i < span; ++i) bytes_[i] = static_cast<uint8_t>(rng());
    } else {  // a few flipped bytes or random words in a valid header
      const int n = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < n; ++k) {
        const size_t at = rng() % span;
        if (rng() % 2)
          bytes_[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
        else
          bytes_[at] = static_cast<uint8_t>(rng());
      }
    }
    const size_t mapped = (mode == 2) ? rng() % (bytes_.size() + 1) : bytes_.size();
    auto pg = validate_pool_header(bytes_.data(), mapped);
    if (!pg.ok()) {
      EXPECT_FALSE(pg.error().code.empty());
      continue;
    }
    ++accepted_pools;
    ASSERT_LE(pg->segment_size, mapped);
    ASSERT_LE(pg->payload_offset + uint64_t{pg->slot_count} * pg->payload_stride, pg->segment_size);
    for (uint32_t i = 0; i < pg->slot_count + 1; ++i) {
      auto sv = read_slot_header(*pg, bytes_.data(), mapped, i, rng() % 3 == 0 ? 0 : 1);
      if (!sv.ok()) continue;
      ++accepted_slots;
      ASSERT_LE(sv->payload_offset + sv->layout.size, mapped);
      for (int p = 0; p < sv->layout.plane_count; ++p) {
        const auto pi = static_cast<size_t>(p);
        const uint64_t end =
            sv->layout.offsets[pi] +
            static_cast<uint64_t>(sv->layout.strides[pi]) *
                static_cast<uint64_t>(plane_rows(sv->layout.format, sv->layout.height, p));
        ASSERT_LE(end, sv->layout.size);
      }
      // Touch the accepted pixels: ASan flags any out-of-bounds acceptance.
      volatile uint8_t sink = bytes_[sv->payload_offset + sv->layout.size - 1];
      (void)sink;
    }
  }
  EXPECT_GT(accepted_pools, 0);  // the mutations do leave some headers valid
  EXPECT_GT(accepted_slots, 0);
}

}  // namespace
}  // namespace orion::ipc
