#!/usr/bin/env bash
# Checks that the C++ lines changed since a base commit are clang-formatted (.clang-format):
# only the changed lines, through clang-format-diff, so touching a file never forces a
# reformat of code nobody changed.
# Base: $ORION_FORMAT_BASE, else the merge base with origin/main when there is one, else HEAD~1
# (a fresh CI clone: the commit under test). Uncommitted changes are included.
# Prints the diff that would fix them; exit 1 if any.
set -euo pipefail
cd "$(dirname "$0")/.."
fmt_diff=$(command -v clang-format-diff || command -v clang-format-diff-14 || true)
[ -n "$fmt_diff" ] || { echo "check-format: clang-format-diff is not installed (Debian clang-format)" >&2; exit 1; }
base="${ORION_FORMAT_BASE:-}"
if [ -z "$base" ]; then
  base=$(git merge-base HEAD origin/main 2>/dev/null || true)
  if [ -z "$base" ] || [ "$base" = "$(git rev-parse HEAD)" ]; then
    base=$(git rev-parse --verify -q HEAD~1 || git hash-object -t tree /dev/null)
  fi
fi
fix=$(git diff -U0 --no-color "$base" -- 'src/*.cc' 'src/*.h' 'apps/*.cc' 'apps/*.h' 'bench/*.cc' 'bench/*.h' \
      | "$fmt_diff" -p1 -regex '.*\.(cc|h)$' || true)
if [ -n "$fix" ]; then
  echo "$fix"
  echo "check-format: changed lines since ${base:0:12} are not clang-formatted; apply the diff above" \
       "(git diff -U0 $base | $fmt_diff -p1 -i)"
  exit 1
fi
echo "check-format: changed lines since ${base:0:12} are formatted"
