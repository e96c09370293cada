#!/usr/bin/env bash
# Installs the Debian 12 packages attnscope needs to build, test and run (idempotent).
# apt-get as root, through sudo otherwise. Sourced by bootstrap.sh and test.sh.
ATS_PACKAGES=(
  meson ninja-build pkg-config gcc clang-format
  libglib2.0-dev libjson-glib-dev libopenblas-dev libhdf5-dev hdf5-tools libdeflate-dev
  libgtk-4-dev libcairo2-dev
  python3-numpy python3-h5py
  xvfb xauth dbus dbus-x11 appstream desktop-file-utils poppler-utils
  nodejs npm
)

ats_install_deps () {
  local missing=()
  for p in "${ATS_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # node/npm may come from elsewhere than Debian (e.g. a preinstalled toolchain)
  if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    local keep=()
    for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || keep+=("$p"); done
    missing=("${keep[@]}")
  fi
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "attnscope: installing ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

ats_build () {
  local top="$1" builddir="$2"
  if [ ! -f "$builddir/build.ninja" ]; then
    meson setup "$builddir" "$top" --buildtype=release >/dev/null || return 1
  fi
  ninja -C "$builddir" >/dev/null || ninja -C "$builddir"
}
