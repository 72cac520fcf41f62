#!/bin/sh
# Install exactly the Debian packages camvault needs that are not installed yet.
# Usage: tools/deps.sh [build|test|demo]   (default: test). Needs root only if something is missing.
set -eu
kind=${1:-test}

build="gcc make pkg-config libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
liblmdb-dev libarchive-dev libssl-dev libmicrohttpd-dev"
media="ffmpeg fonts-dejavu-core"
test="python3 python3-pytest python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-tools
gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
gstreamer1.0-plugins-ugly gstreamer1.0-libav openssl curl lmdb-utils procps coreutils"

# Benchmarks (make bench; make bench-quick runs in make test): the plot, the export baseline.
test="$test gnuplot-nox zip"

case "$kind" in
build) want="$build" ;;
demo) want="$build $media" ;;
test) want="$build $media $test" ;;
*) echo "deps.sh: unknown set '$kind' (build, test or demo)" >&2; exit 2 ;;
esac

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "deps.sh: installing:$missing"
if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: these packages are missing and installing them needs root:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
