// Validation of shared-memory headers: every way a header can be wrong gives a clear error,
// never a crash (this file also runs under ASan+UBSan: `make sanitize`).
#include "ipc/validate.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <vector>

#include "ipc/frame_reader.h"
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

TEST_F(ValidateTest, UnknownOrMismatchedMemoryKindsAreRefusedByName) {
  auto base = header();
  header().memory_kind = 9;
  EXPECT_EQ(pool_error(), "ipc.memory_kind");
  auto r = validate_pool_header(bytes_.data(), bytes_.size());
  EXPECT_NE(r.error().message.find("memory_kind 9"), std::string::npos) << r.error().message;
  header() = base;
  header().device_bytes = 4096;  // a host pool naming a device allocation
  EXPECT_EQ(pool_error(), "ipc.bad_header");
  header() = base;
  header().memory_kind = 1;  // a device pool without an allocation or handle
  EXPECT_EQ(pool_error(), "ipc.bad_header");
  header() = base;

  const PoolGeometry g = geo();
  EXPECT_EQ(g.memory_kind, MemoryKind::kHost);
  SlotHeader x = slot(0);
  x.memory_kind = 7;
  auto v = validate_slot_header(g, x, 0, 0);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, "ipc.memory_kind");
  EXPECT_NE(v.error().message.find("memory_kind 7"), std::string::npos) << v.error().message;
  x = slot(0);
  x.memory_kind = 1;  // device slot in a host pool
  v = validate_slot_header(g, x, 0, 0);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, "ipc.memory_kind");
  EXPECT_NE(v.error().message.find("device"), std::string::npos) << v.error().message;
  EXPECT_NE(v.error().message.find("host"), std::string::npos) << v.error().message;
  x = slot(0);
  x.device_index = 2;  // host slots name no device
  v = validate_slot_header(g, x, 0, 0);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, "ipc.memory_kind");
}

// A device pool's headers, on the CPU: the pool never dereferences its device allocation, so a
// stand-in address range exercises every header, validation and bookkeeping path here (CI has
// no GPU); src/gpu/device_slots_test.cc runs the same with a real cudaMalloc'd allocation
// opened by another process.
TEST(ValidateDeviceTest, DevicePoolHeadersCarryKindDeviceAndHandleAndAreChecked) {
  ShmFramePoolOptions o;
  o.stream_id = 3;
  o.stream_name = "gpu-cam";
  o.slot_count = 3;
  o.slot_capacity = 64 * 48 * 3 / 2;  // NV12 64x48
  o.memory_kind = MemoryKind::kDevice;
  const uint64_t need = ShmFramePool::device_bytes_needed(o);
  EXPECT_EQ(need, 3 * 2 * kPageSize);   // 4608 bytes: two pages a slot
  std::vector<uint8_t> stand_in(need);  // never touched by the pool
  o.device.device_index = 3;
  o.device.base = stand_in.data();
  o.device.bytes = need;

  auto no_handle = ShmFramePool::create(o);
  ASSERT_FALSE(no_handle.ok());
  EXPECT_EQ(no_handle.error().code, "pool.bad_options");
  EXPECT_NE(no_handle.error().message.find("no handle"), std::string::npos);
  for (size_t i = 0; i < o.device.ipc_handle.size(); ++i)
    o.device.ipc_handle[i] = static_cast<uint8_t>(i + 1);
  o.device.bytes = need - 1;
  EXPECT_EQ(ShmFramePool::create(o).error().code, "pool.bad_options");
  o.device.bytes = need;

  auto pool = ShmFramePool::create(o);
  ASSERT_TRUE(pool.ok()) << pool.error().to_string();
  auto port = (*pool)->attach("gpu-worker");
  ASSERT_TRUE(port.ok());
  auto f = (*pool)->acquire(FrameLayout::packed(PixelFormat::kNV12, 64, 48));
  ASSERT_TRUE(f.ok()) << f.error().to_string();
  EXPECT_EQ((*f)->memory_kind(), MemoryKind::kDevice);
  EXPECT_GE((*f)->data(), stand_in.data());
  EXPECT_LT((*f)->data(), stand_in.data() + need);
  (*f)->set_identity(FrameIdentity{3, 1, Duration::millis(0), Timestamp::from_nanos(9)});
  ASSERT_TRUE((*pool)->publish(freeze(std::move(f).value())).ok());

  // A host frame (or any frame not of its slots) is refused by a device pool.
  auto host = std::make_unique<Frame>(
      FrameLayout::packed(PixelFormat::kNV12, 64, 48),
      PixelMemory{stand_in.data(), 64 * 48 * 3 / 2, MemoryKind::kHost, nullptr});
  host->set_identity(FrameIdentity{3, 2, Duration::millis(0), Timestamp::from_nanos(10)});
  auto st = (*pool)->publish(freeze(std::move(host)));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "ipc.memory_kind");
  EXPECT_NE(st.error().message.find("device pool 'gpu-cam'"), std::string::npos);

  auto fd = (*pool)->reader_fd();
  ASSERT_TRUE(fd.ok());
  std::vector<uint8_t> bytes = read_segment(std::move(fd).value());
  auto g = validate_pool_header(bytes.data(), bytes.size());
  ASSERT_TRUE(g.ok()) << g.error().to_string();
  EXPECT_EQ(g->memory_kind, MemoryKind::kDevice);
  EXPECT_EQ(g->device_index, 3);
  EXPECT_EQ(g->device_bytes, need);
  EXPECT_EQ(g->device_handle, o.device.ipc_handle);
  EXPECT_EQ(g->payload_offset, 0u);
  EXPECT_LT(g->segment_size, 2 * kPageSize);  // headers only: no pixels in shared memory
  auto v = read_slot_header(*g, bytes.data(), bytes.size(), 0, 0);
  ASSERT_TRUE(v.ok()) << v.error().to_string();
  EXPECT_EQ(v->memory_kind, MemoryKind::kDevice);
  EXPECT_EQ(v->device_index, 3);
  EXPECT_EQ(v->layout.format, PixelFormat::kNV12);

  SlotHeader h;
  std::memcpy(&h, bytes.data() + g->slot_header_offset(0), sizeof h);
  SlotHeader x = h;
  x.device_index = 4;  // another device than the pool's
  auto bad = validate_slot_header(*g, x, 0, 0);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "ipc.memory_kind");
  EXPECT_NE(bad.error().message.find("device_index 4"), std::string::npos);
  x = h;
  x.memory_kind = 0;  // a host slot in a device pool
  EXPECT_EQ(validate_slot_header(*g, x, 0, 0).error().code, "ipc.memory_kind");
  auto* ph = reinterpret_cast<PoolHeader*>(bytes.data());
  ph->device_bytes = need - kPageSize;  // payloads would end beyond the allocation
  EXPECT_EQ(validate_pool_header(bytes.data(), bytes.size()).error().code, "ipc.bad_header");

  // A reader without a device mapper refuses the pool by name; with one, it hands out device
  // frames at the mapped base + the slot's offset.
  auto fd2 = (*pool)->reader_fd();
  ASSERT_TRUE(fd2.ok());
  auto r1 = FrameReader::open(std::move(fd2).value(), UniqueFd(::dup((*port)->fd())));
  ASSERT_FALSE(r1.ok());
  EXPECT_EQ(r1.error().code, "ipc.memory_kind");
  EXPECT_NE(r1.error().message.find("gpu-cam"), std::string::npos);
  std::vector<uint8_t> mapped(need);
  int mapper_calls = 0;
  DeviceMapper mapper = [&](const PoolGeometry& pg) -> Result<DeviceMapping> {
    ++mapper_calls;
    EXPECT_EQ(pg.device_handle, o.device.ipc_handle);
    return DeviceMapping{mapped.data(), nullptr};
  };
  auto fd3 = (*pool)->reader_fd();
  ASSERT_TRUE(fd3.ok());
  auto r2 = FrameReader::open(std::move(fd3).value(), UniqueFd(::dup((*port)->fd())), mapper);
  ASSERT_TRUE(r2.ok()) << r2.error().to_string();
  EXPECT_EQ(mapper_calls, 1);
  auto frame = (*r2)->next_frame(Duration::seconds(5));
  ASSERT_TRUE(frame.ok()) << frame.error().to_string();
  EXPECT_EQ((*frame)->memory_kind(), MemoryKind::kDevice);
  EXPECT_EQ((*frame)->data(), mapped.data() + v->payload_offset);
  EXPECT_EQ((*frame)->identity().sequence, 1u);
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
    const bool device = pg->memory_kind == MemoryKind::kDevice;
    ASSERT_LE(pg->payload_offset + uint64_t{pg->slot_count} * pg->payload_stride,
              device ? pg->device_bytes : pg->segment_size);
    if (device) continue;  // no pixels in this mapping to touch
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
