#!/usr/bin/env bash
# Builds the unit tests under ThreadSanitizer and under AddressSanitizer+UBSan (separate build
# dirs) and runs them. Only targets labelled `unit` are built, to keep CI short.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
for san in thread address; do
  dir=build-${san/address/asan}
  dir=${dir/thread/tsan}
  echo "== ${san} sanitizer (${dir})"
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DORION_SANITIZE="$san" >/dev/null
  cmake --build "$dir" -j "$jobs" --target unit_tests
  (cd "$dir" && \
   TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
   ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
   ctest --output-on-failure -L unit -j "$jobs" --timeout 600)
done
