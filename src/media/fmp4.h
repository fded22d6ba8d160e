// Fragmented MP4 (ISO BMFF, the form Media Source Extensions take) for one H.264 video track,
// built by hand from the encoder's Annex B access units — the live view's container
// (docs/design/live_view.md). No GStreamer here: bytes in, bytes out.
//
//   - init segment: ftyp + moov (mvhd, one trak with an avc1 sample entry whose avcC is made
//     from the stream's SPS and PPS, empty sample tables, mvex/trex). Timescale 90000.
//   - media segment: moof (mfhd, traf: tfhd default-base-is-moof, tfdt version 1, trun with
//     one sample: duration, size, flags, data offset) + mdat, holding exactly one access unit
//     converted to AVCC (4-byte lengths; SPS, PPS and access unit delimiters left out, they
//     are in avcC).
//
// Terms: "decode time" is in 1/90000 s on the fragment's own timeline (the viewer's: it starts
// at 0 with the first fragment sent to it); with no B-frames presentation = decode time.
//
// Thread-safety: pure functions; Fmp4Track is a value type (thread-compatible).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace orion::media {

inline constexpr uint32_t kFmp4Timescale = 90000;

// The NAL units of an Annex B byte stream (start codes 00 00 01 or 00 00 00 01 removed),
// each a view into `annexb`. Empty units are skipped.
std::vector<std::string_view> split_annexb(std::string_view annexb);

// What the init segment needs, from the SPS and PPS of the stream.
struct Fmp4Track {
  std::string sps;  // one NAL unit, with its header byte (type 7)
  std::string pps;  // type 8
  int width = 0;
  int height = 0;

  // "avc1.PPCCLL" (profile_idc, constraint flags, level_idc as upper-case hex), the codec
  // string of the MIME type: video/mp4; codecs="avc1.42C01F".
  std::string codec() const;
  bool operator==(const Fmp4Track&) const = default;
};

// The track of an access unit that carries an SPS and a PPS (every keyframe of Orion's
// encoder, h264parse config-interval=-1); nullopt when it has neither.
// Errors: "fmp4.bad_sps" (an SPS shorter than 4 bytes).
Result<std::optional<Fmp4Track>> track_from_access_unit(std::string_view annexb, int width,
                                                        int height);

// ftyp + moov. Errors: "fmp4.bad_track" (no SPS or PPS, or a size outside 1..65535).
Result<std::string> fmp4_init_segment(const Fmp4Track& track);

// moof + mdat of one access unit. `sequence` is mfhd's sequence number (1, 2, ... per viewer),
// `decode_time` and `duration` in 1/90000 s. Errors: "fmp4.empty" (no NAL unit left to store).
Result<std::string> fmp4_media_segment(std::string_view annexb, uint32_t sequence,
                                       uint64_t decode_time, uint32_t duration, bool keyframe);

}  // namespace orion::media
