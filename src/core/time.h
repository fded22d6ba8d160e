// Strong time types: Duration (a signed span) and Timestamp (a point on a clock's timeline).
//
// Both hold nanoseconds in an int64_t. Timestamps from SteadyClock are CLOCK_MONOTONIC based,
// which is system-wide on Linux, so a Timestamp written by one process (for example a capture
// time in a shared-memory header) is comparable with one read in another process.
//
// Thread-safety: value types, thread-compatible.
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <limits>

namespace orion {

class Duration {
 public:
  constexpr Duration() = default;
  static constexpr Duration nanos(int64_t n) { return Duration(n); }
  static constexpr Duration micros(int64_t n) { return Duration(n * 1'000); }
  static constexpr Duration millis(int64_t n) { return Duration(n * 1'000'000); }
  static constexpr Duration seconds(int64_t n) { return Duration(n * 1'000'000'000); }
  static constexpr Duration seconds_f(double s) { return Duration(static_cast<int64_t>(s * 1e9)); }
  static constexpr Duration zero() { return Duration(0); }
  static constexpr Duration max() { return Duration(std::numeric_limits<int64_t>::max()); }
  template <class Rep, class Period>
  static constexpr Duration from(std::chrono::duration<Rep, Period> d) {
    return Duration(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
  }

  constexpr int64_t count_nanos() const { return ns_; }
  constexpr double as_micros() const { return static_cast<double>(ns_) / 1e3; }
  constexpr double as_millis() const { return static_cast<double>(ns_) / 1e6; }
  constexpr double as_seconds() const { return static_cast<double>(ns_) / 1e9; }
  constexpr std::chrono::nanoseconds to_chrono() const { return std::chrono::nanoseconds(ns_); }

  constexpr Duration operator+(Duration o) const { return Duration(ns_ + o.ns_); }
  constexpr Duration operator-(Duration o) const { return Duration(ns_ - o.ns_); }
  constexpr Duration operator*(int64_t k) const { return Duration(ns_ * k); }
  constexpr Duration operator/(int64_t k) const { return Duration(ns_ / k); }
  constexpr Duration& operator+=(Duration o) { ns_ += o.ns_; return *this; }
  constexpr Duration& operator-=(Duration o) { ns_ -= o.ns_; return *this; }
  constexpr auto operator<=>(const Duration&) const = default;

 private:
  constexpr explicit Duration(int64_t ns) : ns_(ns) {}
  int64_t ns_ = 0;
};

class Timestamp {
 public:
  constexpr Timestamp() = default;  // the epoch of its clock; also "unset"
  static constexpr Timestamp from_nanos(int64_t n) { return Timestamp(n); }
  constexpr int64_t nanos() const { return ns_; }
  constexpr bool is_set() const { return ns_ != 0; }

  constexpr Timestamp operator+(Duration d) const { return Timestamp(ns_ + d.count_nanos()); }
  constexpr Timestamp operator-(Duration d) const { return Timestamp(ns_ - d.count_nanos()); }
  constexpr Duration operator-(Timestamp o) const { return Duration::nanos(ns_ - o.ns_); }
  constexpr Timestamp& operator+=(Duration d) { ns_ += d.count_nanos(); return *this; }
  constexpr auto operator<=>(const Timestamp&) const = default;

 private:
  constexpr explicit Timestamp(int64_t ns) : ns_(ns) {}
  int64_t ns_ = 0;
};

}  // namespace orion
