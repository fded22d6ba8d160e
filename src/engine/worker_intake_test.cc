// Worker intake on bytes and values: what a lying worker sends, and what comes out.
#include "engine/worker_intake.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>

#include "protocol/result.h"

namespace orion::engine {
namespace {

const Timestamp t0 = Timestamp::from_nanos(5'000'000'000);

std::string result_json(uint64_t seq, uint32_t stream, std::vector<Detection> dets) {
  DetectionResult r;
  r.frame.stream = stream;
  r.frame.sequence = seq;
  r.frame.capture_time = Timestamp::from_nanos(1'000);
  r.done_time = Timestamp::from_nanos(2'000);
  r.detections = std::move(dets);
  return protocol::encode_result(r);
}

Detection det(float x1, float y1, float x2, float y2, float score = 0.5f) {
  return Detection{0, "person", score, Box{x1, y1, x2, y2}};
}

class ResultIntakeTest : public ::testing::Test {
 protected:
  ResultIntakeTest() : intake(context()) {}
  ResultIntake::Context context() {
    ResultIntake::Context c;
    c.stream_id = 7;
    c.pipeline = "people";
    c.max_detections = 3;
    c.offer_state = [this](uint64_t seq) {
      if (taken.count(seq)) return OfferState::kTaken;
      if (dropped.count(seq)) return OfferState::kNotTaken;
      if (seq < 10) return OfferState::kTooOld;
      return OfferState::kNeverOffered;
    };
    return c;
  }
  std::optional<DetectionResult> feed(const std::string& s) {
    return intake.on_datagram(s, s.size(), FrameSize{640, 480}, v);
  }
  std::set<uint64_t> taken{10, 11, 12}, dropped{13};
  Violations v;
  ResultIntake intake;
};

TEST_F(ResultIntakeTest, AResultForATakenFrameIsAcceptedAndAttributedToThePipeline) {
  auto r = feed(result_json(10, 7, {det(10, 10, 50, 50)}));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->pipeline, "people");
  EXPECT_EQ(r->detections.size(), 1u);
  EXPECT_TRUE(v.counts.empty());
}

TEST_F(ResultIntakeTest, ASequenceNeverOfferedIsRefused_2Pow63) {
  EXPECT_FALSE(feed(result_json(uint64_t{1} << 62, 7, {})).has_value());
  EXPECT_EQ(v.counts["result.never_offered"] + v.counts["result.malformed"], 1u);
  // Honest results keep being accepted afterwards.
  EXPECT_TRUE(feed(result_json(11, 7, {})).has_value());
}

TEST_F(ResultIntakeTest, AFrameOfferedButNeverTakenIsRefused) {
  EXPECT_FALSE(feed(result_json(13, 7, {})).has_value());
  EXPECT_EQ(v.counts["result.not_leased"], 1u);
  EXPECT_EQ(v.counted, 1u);
}

TEST_F(ResultIntakeTest, AnotherStreamsIdIsRefused) {
  EXPECT_FALSE(feed(result_json(10, 8, {})).has_value());
  EXPECT_EQ(v.counts["result.wrong_stream"], 1u);
}

TEST_F(ResultIntakeTest, ASecondResultForOneFrameIsADuplicate) {
  EXPECT_TRUE(feed(result_json(12, 7, {})).has_value());
  EXPECT_FALSE(feed(result_json(12, 7, {})).has_value());
  EXPECT_EQ(v.counts["result.duplicate"], 1u);
}

TEST_F(ResultIntakeTest, TooOldIsRefusedWithoutCountingTowardTheLimit) {
  EXPECT_FALSE(feed(result_json(5, 7, {})).has_value());
  EXPECT_EQ(v.counts["result.too_old"], 1u);
  EXPECT_EQ(v.counted, 0u);
}

TEST_F(ResultIntakeTest, BoxesAreClampedToTheFrameAndBoxesOutsideItDropped) {
  auto r = feed(
      result_json(10, 7, {det(-1e7f, -5, 1e7f, 9e6f), det(700, 10, 800, 50), det(50, 50, 40, 60)}));
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->detections.size(), 1u);
  EXPECT_EQ(r->detections[0].box, (Box{0, 0, 640, 480}));
  EXPECT_EQ(v.counts["result.box_out_of_frame"], 1u);  // one entry for the result, 2 boxes
}

TEST_F(ResultIntakeTest, DetectionsOverTheCapKeepTheBestScores) {
  auto r = feed(result_json(10, 7,
                            {det(0, 0, 9, 9, 0.1f), det(0, 0, 9, 9, 0.9f), det(0, 0, 9, 9, 0.5f),
                             det(0, 0, 9, 9, 0.7f), det(0, 0, 9, 9, 0.2f)}));
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ(r->detections.size(), 3u);
  EXPECT_FLOAT_EQ(r->detections[0].score, 0.9f);
  EXPECT_FLOAT_EQ(r->detections[2].score, 0.5f);
  EXPECT_EQ(v.counts["result.too_many_detections"], 1u);
}

TEST_F(ResultIntakeTest, GarbageAndTruncatedDatagramsAreRefused) {
  EXPECT_FALSE(feed("{not json").has_value());
  EXPECT_EQ(v.counts["result.malformed"], 1u);
  const std::string big(10, 'x');
  EXPECT_FALSE(intake.on_datagram(big, 300 * 1024, FrameSize{640, 480}, v).has_value());
  EXPECT_EQ(v.counts["result.oversized"], 1u);
}

TEST(LineFramer, SplitsLinesAcrossFeeds) {
  LineFramer f;
  std::vector<std::string> lines;
  EXPECT_EQ(f.feed("ab", lines), 0u);
  EXPECT_EQ(f.feed("c\nde\n", lines), 0u);
  EXPECT_EQ(lines, (std::vector<std::string>{"abc", "de"}));
}

TEST(LineFramer, AnOverlongLineIsDroppedWholeAndTheNextOneSurvives) {
  LineFramer f;
  std::vector<std::string> lines;
  const std::string chunk(16 * 1024, 'x');
  uint64_t dropped = 0;
  for (int k = 0; k < 300; ++k) dropped += f.feed(chunk, lines);  // ~4.8 MiB, no newline
  dropped += f.feed("tail of the long line\n{\"type\":\"ready\"}\n", lines);
  EXPECT_EQ(dropped, 1u);
  EXPECT_EQ(lines, (std::vector<std::string>{"{\"type\":\"ready\"}"}));
}

TEST(ControlIntake, GarbageAndUnknownTypesAreViolationsNotFacts) {
  ControlIntake c;
  WorkerFacts f;
  Violations v;
  c.on_line("garbage", t0, f, v);
  c.on_line("{\"type\":\"launch_missiles\"}", t0, f, v);
  EXPECT_EQ(v.counts["protocol.bad_line"], 2u);
  EXPECT_FALSE(f.spoke);
}

TEST(ControlIntake, AHelloWithoutVersionsIsFatal) {
  ControlIntake c;
  WorkerFacts f;
  Violations v;
  c.on_line("{\"type\":\"hello\",\"pid\":3}", t0, f, v);
  EXPECT_TRUE(f.fatal);
  EXPECT_NE(f.fatal_error.find("protocol.missing_version"), std::string::npos) << f.fatal_error;
}

TEST(ControlIntake, AHugeBusyTimeIsBoundedNotOverflowed) {
  ControlIntake c;
  WorkerFacts f;
  Violations v;
  c.on_line("{\"type\":\"heartbeat\",\"seq\":1,\"busy_ms\":9223372036854775807}", t0, f, v);
  if (v.counts.empty()) {
    EXPECT_GT(f.busy, Duration::seconds(3600));  // accepted: read as a day, hung either way
    EXPECT_LE(f.busy, Duration::seconds(86400));
  } else {
    EXPECT_EQ(f.busy, Duration::nanos(-1));  // or refused by the decoder
  }
}

TEST(ControlIntake, MoreLinesPerSecondThanAllowedIsAFlood) {
  ControlIntake c(100);
  WorkerFacts f;
  Violations v;
  for (int k = 0; k < 100; ++k) c.on_line("{\"type\":\"state\"}", t0 + Duration::millis(k), f, v);
  EXPECT_FALSE(c.flood());
  c.on_line("{\"type\":\"state\"}", t0 + Duration::millis(500), f, v);
  EXPECT_TRUE(c.flood());
  EXPECT_EQ(v.counts["protocol.flood"], 1u);
  ControlIntake d(100);  // the same lines spread over two seconds are fine
  for (int k = 0; k < 150; ++k)
    d.on_line("{\"type\":\"state\"}", t0 + Duration::millis(k * 14), f, v);
  EXPECT_FALSE(d.flood());
}

}  // namespace
}  // namespace orion::engine
