#!/usr/bin/env bash
# Clang's thread-safety analysis over Orion: builds the libraries and the `orion` binary with
# clang++ in a build dir of its own, where -Wthread-safety -Wthread-safety-beta are errors
# (cmake/OrionHelpers.cmake adds them for Clang). A field GUARDED_BY a lock touched without it,
# a REQUIRES function called without its lock, a lock left held or two locks taken against
# their ACQUIRED_AFTER order fails the build (src/core/thread_annotations.h, and
# docs/design/threads.md for the lock order).
# First it checks that the analysis is on at all: two bad snippets must fail to compile.
#
#   ORION_TSA_BUILD  build dir (default build-clang)
#   ORION_TSA_TESTS  1: also build the unit tests (their helpers are annotated too); slower
#   ORION_TSA_CXX    the compiler (default clang++)
set -euo pipefail
cd "$(dirname "$0")/.."
cxx=${ORION_TSA_CXX:-$(command -v clang++ || command -v clang++-14 || true)}
[ -n "$cxx" ] || { echo "thread-safety: clang++ is not installed (Debian clang)" >&2; exit 1; }
dir=${ORION_TSA_BUILD:-build-clang}
jobs=$(nproc)
started=$(date +%s)

# 1. The analysis must catch a bad access and a bad lock order, or this check proves nothing:
# a correct snippet compiles, and each bad one fails with a thread-safety error.
probe() {  # probe good|bad WHAT BODY
  local src out; src=$(mktemp --suffix=.cc)
  printf '#include "core/thread_annotations.h"\n%s\n' "$3" > "$src"
  if out=$("$cxx" -std=c++20 -Isrc -Wthread-safety -Wthread-safety-beta -Werror -fsyntax-only \
             "$src" 2>&1); then
    rm -f "$src"
    [ "$1" = good ] || { echo "thread-safety: $cxx did not catch $2: the analysis is off" >&2; exit 1; }
    return
  fi
  rm -f "$src"
  if [ "$1" = good ] || ! grep -q 'Werror,-Wthread-safety' <<<"$out"; then
    echo "$out" >&2; echo "thread-safety: the probe for $2 failed for another reason" >&2; exit 1
  fi
}
probe good "a guarded access under its lock" '
struct S { orion::Mutex mu; int x GUARDED_BY(mu) = 0;
  int get() { orion::MutexLock l(mu); return x; } };'
probe bad "an unguarded read" '
struct S { orion::Mutex mu; int x GUARDED_BY(mu) = 0; int get() { return x; } };'
probe bad "a lock order violation" '
struct S { orion::Mutex a; orion::Mutex b ACQUIRED_AFTER(a);
  void f() { orion::MutexLock lb(b); orion::MutexLock la(a); } };'

# 2. The build. -O0 without debug info: only the diagnostics matter here.
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=None \
      -DCMAKE_CXX_FLAGS=-O0 "${launcher[@]}" >/dev/null
# The flags come from cmake/OrionHelpers.cmake: make sure every C++ compile really gets them.
# CUDA sources (src/gpu/*.cu, where nvcc is found) go through nvcc, which has no such analysis.
if grep '"command"' "$dir/compile_commands.json" | grep -v -e '/nvcc ' \
     | grep -v -q -- '-Wthread-safety-beta'; then
  echo "thread-safety: some compile commands in $dir lack -Wthread-safety (OrionHelpers.cmake)" >&2
  exit 1
fi
targets=(orion)
if [ "${ORION_TSA_TESTS:-0}" = 1 ]; then targets+=(unit_tests); fi
if ! cmake --build "$dir" -j "$jobs" --target "${targets[@]}"; then
  echo "thread-safety: the Clang build failed (see the -Wthread-safety errors above)" >&2
  exit 1
fi
echo "thread-safety: ${targets[*]} built with -Wthread-safety, no warnings" \
     "($(( $(date +%s) - started )) s)"
