#!/usr/bin/env bash
# Installs Orion's build and test dependencies from Debian 12 packages.
# Idempotent: packages already present are not reinstalled, and apt is not touched at all
# when everything is there. Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev nlohmann-json3-dev libyaml-cpp-dev libspdlog-dev libfmt-dev
  libsqlite3-dev libpqxx-dev libcpp-httplib-dev prometheus-cpp-dev
  postgresql
  libopencv-dev python3-opencv
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
  gstreamer1.0-x gstreamer1.0-rtsp
  ffmpeg
  wrk  # HTTP load generator, used by bench/ (API and /metrics figures)
  glib-networking openssl
  clang clang-format  # scripts/thread-safety.sh (clang++), scripts/check-format.sh
  systemd  # systemd-analyze verify of deploy/systemd/*.service (deploy_files_test)
  nodejs chromium  # web/: the dashboard's build (npm ci + esbuild) and its browser test
)
# npm: Debian's package, unless an npm is already there (NodeSource's nodejs carries its own
# and conflicts with Debian's npm package).
if ! command -v npm >/dev/null 2>&1; then packages+=(npm); fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
