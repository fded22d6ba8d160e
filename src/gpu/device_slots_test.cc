// Device slots across processes (ADR 0074): a device pool allocated here, a frame copied into
// one of its slots on the GPU, published, and read in place by another process through the
// pool's CUDA IPC handle (FrameReader + device_mapper()): the reader gets a device pointer with
// the same pixels, and no host copy is made. Skips with a message where there is no GPU; the
// header and validation side runs everywhere (src/ipc/validate_test.cc).
#include "gpu/device_slots.h"

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "gpu/device.h"

extern char** environ;

namespace orion::gpu {
namespace {

constexpr int kW = 64, kH = 48;

uint8_t pattern(size_t i) { return static_cast<uint8_t>((i * 7 + 3) & 0xFF); }

TEST(GpuDeviceSlotsTest, WithoutAGpuTheErrorIsNamed) {
  if (device_count().ok()) GTEST_SKIP() << "a GPU is here: see CrossProcess";
  auto d = allocate_device_slots(0, 4096);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, "gpu.unavailable");
  EXPECT_NE(d.error().message.find("cuda:0"), std::string::npos) << d.error().message;
}

// The reader process (run by CrossProcess with the descriptors on fds 3 and 4; disabled so that
// it runs only when asked for).
TEST(GpuDeviceSlotsChild, DISABLED_ReadsTheFrameInPlace) {
  if (std::getenv("ORION_DEVICE_SLOTS_CHILD") == nullptr) GTEST_SKIP() << "run by CrossProcess";
  auto reader = ipc::FrameReader::open(ipc::UniqueFd(3), ipc::UniqueFd(4), device_mapper());
  ASSERT_TRUE(reader.ok()) << reader.error().to_string();
  auto f = (*reader)->next_frame(Duration::seconds(20));
  ASSERT_TRUE(f.ok()) << f.error().to_string();
  EXPECT_EQ((*f)->memory_kind(), MemoryKind::kDevice);
  EXPECT_EQ((*f)->identity().sequence, 5u);
  EXPECT_EQ((*f)->format(), PixelFormat::kNV12);
  cudaPointerAttributes attr{};
  ASSERT_EQ(cudaPointerGetAttributes(&attr, (*f)->data()), cudaSuccess);
  EXPECT_EQ(attr.type, cudaMemoryTypeDevice);
  std::vector<uint8_t> host((*f)->size());
  ASSERT_EQ(cudaMemcpy(host.data(), (*f)->data(), host.size(), cudaMemcpyDeviceToHost),
            cudaSuccess);
  size_t wrong = 0;
  for (size_t i = 0; i < host.size(); ++i) wrong += host[i] != pattern(i);
  EXPECT_EQ(wrong, 0u) << "of " << host.size() << " bytes";
}

TEST(GpuDeviceSlotsTest, CrossProcess) {
  auto n = device_count();
  if (!n) GTEST_SKIP() << "no GPU here: " << n.error().message;
  ipc::ShmFramePoolOptions o;
  o.stream_id = 2;
  o.stream_name = "dev-test";
  o.slot_count = 3;
  o.slot_capacity = size_t{kW} * kH * 3 / 2;
  auto pool = create_device_pool(o, 0);
  ASSERT_TRUE(pool.ok()) << pool.error().to_string();
  auto port = (*pool)->attach("child");
  ASSERT_TRUE(port.ok());

  // The source frame: NV12 in device memory with a row pitch wider than the picture.
  const int pitch = 128;
  const size_t src_bytes = size_t{pitch} * kH * 3 / 2;
  void* src_dev = nullptr;
  ASSERT_EQ(cudaMalloc(&src_dev, src_bytes), cudaSuccess);
  const FrameLayout packed = FrameLayout::packed(PixelFormat::kNV12, kW, kH);
  std::vector<uint8_t> expect(packed.size);
  for (size_t i = 0; i < expect.size(); ++i) expect[i] = pattern(i);
  for (int p = 0; p < 2; ++p) {
    const size_t rows = p == 0 ? kH : kH / 2;
    const size_t src_off = p == 0 ? 0 : size_t{pitch} * kH;
    ASSERT_EQ(cudaMemcpy2D(static_cast<uint8_t*>(src_dev) + src_off, pitch,
                           expect.data() + packed.offsets[static_cast<size_t>(p)], kW, kW, rows,
                           cudaMemcpyHostToDevice),
              cudaSuccess);
  }
  FrameLayout src_layout;
  src_layout.format = PixelFormat::kNV12;
  src_layout.width = kW;
  src_layout.height = kH;
  src_layout.plane_count = 2;
  src_layout.offsets = {0, size_t{pitch} * kH, 0};
  src_layout.strides = {pitch, pitch, 0};
  src_layout.size = src_bytes;
  Frame src(src_layout,
            PixelMemory{static_cast<uint8_t*>(src_dev), src_bytes, MemoryKind::kDevice, nullptr});
  src.set_identity(FrameIdentity{2, 5, Duration::millis(0), Timestamp::from_nanos(1)});
  auto slot = copy_into_slot(**pool, src);
  ASSERT_TRUE(slot.ok()) << slot.error().to_string();
  EXPECT_EQ((*slot)->memory_kind(), MemoryKind::kDevice);
  ASSERT_TRUE((*pool)->publish(freeze(std::move(slot).value())).ok());
  cudaFree(src_dev);

  auto pool_fd = (*pool)->reader_fd();
  ASSERT_TRUE(pool_fd.ok());
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pool_fd->get(), 3);
  posix_spawn_file_actions_adddup2(&fa, (*port)->fd(), 4);
  std::vector<std::string> args{"/proc/self/exe", "--gtest_also_run_disabled_tests",
                                "--gtest_filter=GpuDeviceSlotsChild.DISABLED_ReadsTheFrameInPlace"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env{"ORION_DEVICE_SLOTS_CHILD=1"};
  for (char** e = environ; *e; ++e) env.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, argv.data(), envp.data()), 0);
  posix_spawn_file_actions_destroy(&fa);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the reader process failed (its output is above)";
  const auto st = (*port)->stats();
  EXPECT_EQ(st.taken, 1u);
  EXPECT_EQ((*pool)->shm_stats().bytes_copied, 0u);  // no host copy anywhere
}

}  // namespace
}  // namespace orion::gpu
