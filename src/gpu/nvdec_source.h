// NvdecSource: decodes one H.264/H.265 file on the GPU (GStreamer nvcodec: nvh264dec /
// nvh265dec, NVDEC) into frames that stay in device memory: NV12 in CUDA memory of the
// process's primary context on the chosen device, handed over as Frames of MemoryKind::kDevice
// whose data() is a device pointer (no host round trip). The decoder is given Orion's CUDA
// context (gst_cuda_context_new_wrapped), so the pointers are usable by LibTorch and the
// kernels of this module directly.
//
// Lifecycle: open() builds the pipeline (errors name what is missing); start() plays it;
// every decoded frame is passed to `on_frame` on a GStreamer streaming thread (keep it short:
// it should hand the frame to a BatchCollector); stop() (or destruction) stops the pipeline
// and joins the bus thread. A frame keeps its GStreamer buffer (and the decoder's surface
// copy) until the last FramePtr goes away. At end of file the source seeks back to the start
// when `loop`, else it stops producing (finished() turns true).
// Thread-safety: start/stop/destruction from one owner thread; counters from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/frame.h"
#include "core/result.h"

namespace orion::gpu {

struct NvdecOptions {
  std::string path;            // an MP4/MKV with H.264 or H.265 video
  int device = 0;              // CUDA device ordinal
  bool realtime = true;        // pace frames at the clip's rate (else as fast as NVDEC decodes)
  // Where real time is kept: false = the appsink waits for each decoded picture's time (the
  // decoder can run ahead by a picture or two); true = the compressed frames enter the decoder
  // at the clip's rate, as a camera delivers them, and decoded pictures go on at once.
  // Experimental: `identity sync=true` before the decoder let ~37.5 pictures per second through
  // for a 30 fps clip on the H200 (docs/gpu.md); not yet a model of a camera.
  bool pace_input = false;
  // With output pacing: decoded pictures that may wait between the decoder and the paced sink
  // (a queue), so the decoder works ahead of the clock instead of idling while the sink waits
  // for each picture's time; 0 = none (the decoder only runs when the sink has taken the last
  // picture). A camera's decoder is never idle this way: its input arrives at the camera's
  // pace and it decodes as it comes.
  int decode_ahead = 0;
  bool loop = true;            // seek to the start at end of file
  StreamId stream = 0;         // identity of the frames
  // Decoders of the same clip in this one GStreamer pipeline (a branch each); their frames are
  // streams `stream`, `stream` + 1, ... With several, end of file is when every branch ended
  // (the pipeline's EOS), so a looping fast branch waits for the slowest. Benchmarks only:
  // NVDEC on the H200 decodes far more with many branches in one pipeline than with one
  // pipeline per stream (docs/gpu.md, "One pipeline or many").
  int branches = 1;
  // Leave the decoders to make GStreamer's own CUDA context instead of Orion's (the primary
  // context): the frames are then NOT usable by Orion's kernels or LibTorch. For decode-only
  // measurements that compare the two.
  bool gstreamer_context = false;
  // Count decoded pictures and let them go at once: a fakesink in place of the appsink, no
  // mapping, no Frames (on_frame is not called). For decode-only measurements.
  bool count_only = false;
  std::string codec = "h264";  // "h264" | "h265"
};

class NvdecSource {
 public:
  using OnFrame = std::function<void(FramePtr)>;

  // Errors: "gpu.unavailable" (built without NVDEC support, or no nvcodec decoder for the
  // device: GStreamer's nvcodec plugin not found or it found no NVDEC), "media.bad_source"
  // (the file is missing), "media.pipeline" (GStreamer's message).
  static Result<std::unique_ptr<NvdecSource>> open(const NvdecOptions& options, OnFrame on_frame);

  virtual ~NvdecSource() = default;
  virtual Status start() = 0;
  virtual void stop() = 0;
  virtual uint64_t frames() const = 0;    // frames decoded and passed to on_frame
  virtual bool finished() const = 0;      // end of file (not looping) or an error
  virtual std::string error() const = 0;  // the error that finished it, or empty
};

using NvdecSourcePtr = std::unique_ptr<NvdecSource>;

// Whether nvcodec can decode `codec` on `device` here; `why` says what is missing when not.
bool nvdec_available(int device, const std::string& codec, std::string* why);

}  // namespace orion::gpu
