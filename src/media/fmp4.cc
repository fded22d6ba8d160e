#include "media/fmp4.h"

#include <cstdio>

namespace orion::media {

namespace {

// Big-endian writers into a growing byte string, and boxes whose size is patched on close.
class Writer {
 public:
  void u8(uint32_t v) { out_.push_back(static_cast<char>(v & 0xff)); }
  void u16(uint32_t v) {
    u8(v >> 8);
    u8(v);
  }
  void u24(uint32_t v) {
    u8(v >> 16);
    u16(v);
  }
  void u32(uint32_t v) {
    u16(v >> 16);
    u16(v);
  }
  void u64(uint64_t v) {
    u32(static_cast<uint32_t>(v >> 32));
    u32(static_cast<uint32_t>(v));
  }
  void bytes(std::string_view b) { out_.append(b); }
  void zeros(size_t n) { out_.append(n, '\0'); }
  // Starts a box: its size is written by close().
  size_t open(const char* type) {
    const size_t at = out_.size();
    u32(0);
    bytes(std::string_view(type, 4));
    return at;
  }
  size_t open_full(const char* type, uint32_t version, uint32_t flags) {
    const size_t at = open(type);
    u8(version);
    u24(flags);
    return at;
  }
  void close(size_t at) { patch32(at, static_cast<uint32_t>(out_.size() - at)); }
  void patch32(size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) out_[at + i] = static_cast<char>((v >> (24 - 8 * i)) & 0xff);
  }
  size_t size() const { return out_.size(); }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

void matrix(Writer& w) {
  for (uint32_t v : {0x00010000u, 0u, 0u, 0u, 0x00010000u, 0u, 0u, 0u, 0x40000000u}) w.u32(v);
}

int nal_type(std::string_view nal) {
  return nal.empty() ? -1 : static_cast<uint8_t>(nal[0]) & 0x1f;
}

}  // namespace

std::vector<std::string_view> split_annexb(std::string_view b) {
  std::vector<std::string_view> out;
  size_t i = 0;
  size_t start = std::string_view::npos;
  auto finish = [&](size_t end) {
    if (start == std::string_view::npos) return;
    size_t e = end;
    while (e > start && b[e - 1] == '\0') --e;  // trailing zero bytes belong to the next code
    if (e > start) out.push_back(b.substr(start, e - start));
  };
  while (i + 3 <= b.size()) {
    if (b[i] == 0 && b[i + 1] == 0 && b[i + 2] == 1) {
      finish(i);
      i += 3;
      start = i;
    } else {
      ++i;
    }
  }
  finish(b.size());
  return out;
}

std::string Fmp4Track::codec() const {
  char buf[16] = "avc1";
  if (sps.size() >= 4) {
    std::snprintf(buf, sizeof buf, "avc1.%02X%02X%02X", static_cast<uint8_t>(sps[1]),
                  static_cast<uint8_t>(sps[2]), static_cast<uint8_t>(sps[3]));
  }
  return buf;
}

Result<std::optional<Fmp4Track>> track_from_access_unit(std::string_view annexb, int width,
                                                        int height) {
  Fmp4Track t;
  t.width = width;
  t.height = height;
  for (std::string_view nal : split_annexb(annexb)) {
    if (nal_type(nal) == 7 && t.sps.empty()) {
      if (nal.size() < 4) {
        return make_error("fmp4.bad_sps", "SPS of " + std::to_string(nal.size()) +
                                              " bytes: profile, constraints and level need 4");
      }
      t.sps = std::string(nal);
    } else if (nal_type(nal) == 8 && t.pps.empty()) {
      t.pps = std::string(nal);
    }
  }
  if (t.sps.empty() || t.pps.empty()) return std::optional<Fmp4Track>();
  return std::optional<Fmp4Track>(std::move(t));
}

Result<std::string> fmp4_init_segment(const Fmp4Track& t) {
  if (t.sps.size() < 4 || t.pps.empty() || t.sps.size() > 0xffff || t.pps.size() > 0xffff) {
    return make_error("fmp4.bad_track",
                      "an init segment needs one SPS (4 bytes or more) and one PPS");
  }
  if (t.width < 1 || t.width > 65535 || t.height < 1 || t.height > 65535) {
    return make_error("fmp4.bad_track", "picture size " + std::to_string(t.width) + "x" +
                                            std::to_string(t.height) + " is outside 1..65535");
  }
  Writer w;
  size_t b = w.open("ftyp");
  w.bytes("isom");
  w.u32(0x200);
  for (const char* brand : {"isom", "iso6", "avc1", "mp41"}) w.bytes(std::string_view(brand, 4));
  w.close(b);

  const size_t moov = w.open("moov");
  b = w.open_full("mvhd", 0, 0);
  w.u32(0);  // creation
  w.u32(0);  // modification
  w.u32(kFmp4Timescale);
  w.u32(0);           // duration: unknown (fragmented)
  w.u32(0x00010000);  // rate 1.0
  w.u16(0x0100);      // volume 1.0
  w.zeros(10);
  matrix(w);
  w.zeros(24);  // pre_defined
  w.u32(2);     // next_track_ID
  w.close(b);

  const size_t trak = w.open("trak");
  b = w.open_full("tkhd", 0, 0x3);  // enabled, in movie
  w.u32(0);
  w.u32(0);
  w.u32(1);  // track_ID
  w.u32(0);
  w.u32(0);  // duration
  w.zeros(8);
  w.u16(0);  // layer
  w.u16(0);  // alternate group
  w.u16(0);  // volume (video)
  w.u16(0);
  matrix(w);
  w.u32(static_cast<uint32_t>(t.width) << 16);
  w.u32(static_cast<uint32_t>(t.height) << 16);
  w.close(b);

  const size_t mdia = w.open("mdia");
  b = w.open_full("mdhd", 0, 0);
  w.u32(0);
  w.u32(0);
  w.u32(kFmp4Timescale);
  w.u32(0);
  w.u16(0x55c4);  // language "und"
  w.u16(0);
  w.close(b);
  b = w.open_full("hdlr", 0, 0);
  w.u32(0);
  w.bytes("vide");
  w.zeros(12);
  w.bytes(std::string_view("Orion\0", 6));
  w.close(b);

  const size_t minf = w.open("minf");
  b = w.open_full("vmhd", 0, 1);
  w.zeros(8);
  w.close(b);
  const size_t dinf = w.open("dinf");
  b = w.open_full("dref", 0, 0);
  w.u32(1);
  const size_t url = w.open_full("url ", 0, 1);  // self-contained
  w.close(url);
  w.close(b);
  w.close(dinf);

  const size_t stbl = w.open("stbl");
  b = w.open_full("stsd", 0, 0);
  w.u32(1);
  const size_t avc1 = w.open("avc1");
  w.zeros(6);
  w.u16(1);  // data_reference_index
  w.zeros(16);
  w.u16(static_cast<uint32_t>(t.width));
  w.u16(static_cast<uint32_t>(t.height));
  w.u32(0x00480000);  // 72 dpi
  w.u32(0x00480000);
  w.u32(0);
  w.u16(1);     // frame_count
  w.zeros(32);  // compressorname
  w.u16(0x18);  // depth
  w.u16(0xffff);
  const size_t avcc = w.open("avcC");
  const uint8_t profile = static_cast<uint8_t>(t.sps[1]);
  w.u8(1);
  w.u8(profile);
  w.u8(static_cast<uint8_t>(t.sps[2]));
  w.u8(static_cast<uint8_t>(t.sps[3]));
  w.u8(0xff);  // 4-byte NAL lengths
  w.u8(0xe1);  // one SPS
  w.u16(static_cast<uint32_t>(t.sps.size()));
  w.bytes(t.sps);
  w.u8(1);  // one PPS
  w.u16(static_cast<uint32_t>(t.pps.size()));
  w.bytes(t.pps);
  if (profile == 100 || profile == 110 || profile == 122 || profile == 144) {
    w.u8(0xfc | 1);  // chroma_format_idc 1 (4:2:0: the encoder is fed I420)
    w.u8(0xf8);      // bit_depth_luma_minus8 0
    w.u8(0xf8);      // bit_depth_chroma_minus8 0
    w.u8(0);         // no SPS extensions
  }
  w.close(avcc);
  w.close(avc1);
  w.close(b);
  for (const char* empty : {"stts", "stsc", "stco"}) {
    b = w.open_full(empty, 0, 0);
    w.u32(0);
    w.close(b);
  }
  b = w.open_full("stsz", 0, 0);
  w.u32(0);
  w.u32(0);
  w.close(b);
  w.close(stbl);
  w.close(minf);
  w.close(mdia);
  w.close(trak);

  const size_t mvex = w.open("mvex");
  b = w.open_full("trex", 0, 0);
  w.u32(1);  // track_ID
  w.u32(1);  // default sample description index
  w.u32(0);
  w.u32(0);
  w.u32(0);
  w.close(b);
  w.close(mvex);
  w.close(moov);
  return w.take();
}

Result<std::string> fmp4_media_segment(std::string_view annexb, uint32_t sequence,
                                       uint64_t decode_time, uint32_t duration, bool keyframe) {
  std::string sample;
  for (std::string_view nal : split_annexb(annexb)) {
    const int type = nal_type(nal);
    if (type == 7 || type == 8 || type == 9) continue;  // SPS, PPS (in avcC), delimiters
    const uint32_t n = static_cast<uint32_t>(nal.size());
    for (int i = 0; i < 4; ++i) sample.push_back(static_cast<char>((n >> (24 - 8 * i)) & 0xff));
    sample.append(nal);
  }
  if (sample.empty()) {
    return make_error("fmp4.empty", "access unit of " + std::to_string(annexb.size()) +
                                        " bytes holds no picture NAL unit");
  }
  Writer w;
  const size_t moof = w.open("moof");
  size_t b = w.open_full("mfhd", 0, 0);
  w.u32(sequence);
  w.close(b);
  const size_t traf = w.open("traf");
  b = w.open_full("tfhd", 0, 0x020000);  // default-base-is-moof
  w.u32(1);
  w.close(b);
  b = w.open_full("tfdt", 1, 0);
  w.u64(decode_time);
  w.close(b);
  // data-offset, sample-duration, sample-size, sample-flags present.
  b = w.open_full("trun", 0, 0x000001 | 0x000100 | 0x000200 | 0x000400);
  w.u32(1);
  const size_t data_offset_at = w.size();
  w.u32(0);
  w.u32(duration);
  w.u32(static_cast<uint32_t>(sample.size()));
  w.u32(keyframe ? 0x02000000u : 0x01010000u);  // depends on none / depends, non-sync
  w.close(b);
  w.close(traf);
  w.close(moof);
  const uint32_t moof_size = static_cast<uint32_t>(w.size() - moof);
  w.patch32(data_offset_at, moof_size + 8);  // from the moof's first byte to the mdat's data
  const size_t mdat = w.open("mdat");
  w.bytes(sample);
  w.close(mdat);
  return w.take();
}

}  // namespace orion::media
