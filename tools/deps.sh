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
gstreamer1.0-plugins-ugly gstreamer1.0-libav openssl curl lmdb-utils procps coreutils chromium"
# Node.js and npm drive the browser tests (playwright-core from the npm registry); a machine
# that has them from elsewhere keeps its own.
command -v npm >/dev/null 2>&1 || test="$test nodejs npm"

# Benchmarks (make bench; make bench-quick runs in make test): the plot, the export baseline.
test="$test gnuplot-nox zip"

case "$kind" in
build) want="$build" ;;
demo) want="$build $media" ;;
test) want="$build $media $test" ;;
*) echo "deps.sh: unknown set '$kind' (build, test or demo)" >&2; exit 2 ;;
esac

# The browser tests' one npm package, pinned by tests/browser/package-lock.json.
npm_ci() {
    [ "$kind" = test ] || return 0
    dir=$(dirname "$0")/../tests/browser
    [ -d "$dir/node_modules/playwright-core" ] && return 0
    echo "deps.sh: npm ci in tests/browser"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
}

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    npm_ci
    exit 0
fi

echo "deps.sh: installing:$missing"
if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: these packages are missing and installing them needs root:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
npm_ci
