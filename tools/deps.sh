#!/bin/sh
# Install exactly the Debian packages camvault needs that are not installed yet, then check that
# every program, GStreamer element, Python module and Node.js version the chosen set uses is
# really there (a package can be installed and still lack a plugin; a machine can have its own
# Node.js). Each missing thing is named on one line of its own; the exit status is then 1.
# Usage: tools/deps.sh [build|test|demo|check]   (default: test). `check` installs nothing and
# checks the test set. Needs root only if a package is missing.
# Checking the check: CAMVAULT_DEPS_EXTRA_ELEMENTS, CAMVAULT_DEPS_EXTRA_BINARIES and
# CAMVAULT_DEPS_EXTRA_PYTHON (space-separated names; a Python entry is a module or gi:NS-VERSION)
# add things to check (tests/e2e/test_01_deps.py asks for ones that do not exist).
set -eu
kind=${1:-test}
here=$(cd "$(dirname "$0")" && pwd)

build="gcc make pkg-config libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
liblmdb-dev libarchive-dev libssl-dev libmicrohttpd-dev"
media="ffmpeg fonts-dejavu-core"
# gstreamer1.0-x has the pango plugin (timeoverlay), -ugly x264enc, -bad x265enc, -libav
# avenc_aac; gir1.2-gst-rtsp-server-1.0 the RTSP server of tests/e2e/peers/gst_rtsp.py; vlc-bin
# (cvlc) and vlc-plugin-base VLC's RTSP server, a camera of the conformance corpus (test_21).
test="python3 python3-pytest python3-pytest-xdist python3-gi gir1.2-gstreamer-1.0
gir1.2-gst-plugins-base-1.0 gir1.2-gst-rtsp-server-1.0 gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-x
gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
openssl curl lmdb-utils procps coreutils mount chromium libfaketime man-db vlc-bin
vlc-plugin-base"
# Node.js (18 or newer) and npm drive the browser tests (playwright-core from the npm registry,
# which drives Debian's chromium); a machine that has them from elsewhere keeps its own.
command -v npm >/dev/null 2>&1 || test="$test nodejs npm"
# Benchmarks (make bench; make bench-quick runs in make test): the plot, the export baseline.
test="$test gnuplot-nox zip"

# What the sets use, checked after installing. The GStreamer elements are those of the peer
# tests/e2e/peers/gst_rtsp.py (avenc_aac, or voaacenc where it is missing).
check_bins_demo="ffmpeg ffprobe"
check_enc_demo="libx264 libx265 aac pcm_mulaw pcm_alaw"
check_bins_test="$check_bins_demo openssl curl mdb_dump mdb_load mdb_stat dd mount umount pgrep ps
sha256sum gst-inspect-1.0 node npm gnuplot zip man cvlc setpriv"
check_elements="videotestsrc timeoverlay videoconvert capsfilter x264enc rtph264pay x265enc
rtph265pay audiotestsrc audioconvert audioresample avenc_aac|voaacenc rtpmp4gpay mulawenc
rtppcmupay alawenc rtppcmapay opusenc rtpopuspay identity"
check_python="pytest xdist gi gi:Gst-1.0 gi:GstRtsp-1.0 gi:GstRtspServer-1.0"
node_major=18

case "$kind" in
build) want="$build" ;;
demo) want="$build $media" ;;
test | check) want="$build $media $test" ;;
*) echo "deps.sh: unknown set '$kind' (build, test, demo or check)" >&2; exit 2 ;;
esac

# The browser tests' npm packages (tests/browser/package.json's dependencies), pinned by its
# package-lock.json.
npm_packages="playwright-core hls.js"
npm_missing() {
    for p in $npm_packages; do
        [ -f "$here/../tests/browser/node_modules/$p/package.json" ] || echo "$p"
    done
}
npm_ci() {
    [ "$kind" = test ] || return 0
    dir=$here/../tests/browser
    [ -z "$(npm_missing)" ] && return 0
    echo "deps.sh: npm ci in tests/browser"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
}

# Prints one line per missing thing; returns 1 if anything is missing.
check() {
    [ "$kind" = build ] && return 0
    bad=0
    bins=$check_bins_demo
    [ "$kind" = demo ] || bins="$check_bins_test ${CAMVAULT_DEPS_EXTRA_BINARIES:-}"
    for b in $bins; do
        command -v "$b" >/dev/null 2>&1 || { echo "deps.sh: missing program: $b" >&2; bad=1; }
    done
    if command -v ffmpeg >/dev/null 2>&1; then
        encs=$(ffmpeg -hide_banner -encoders 2>/dev/null | awk '{print $2}')
        for e in $check_enc_demo; do
            echo "$encs" | grep -qx "$e" || { echo "deps.sh: missing ffmpeg encoder: $e" >&2; bad=1; }
        done
    fi
    [ "$kind" = demo ] && return $bad
    chromium=${CAMVAULT_CHROMIUM:-/usr/bin/chromium}
    [ -x "$chromium" ] || { echo "deps.sh: missing program: $chromium (chromium)" >&2; bad=1; }
    if command -v node >/dev/null 2>&1; then
        v=$(node -p 'process.versions.node' 2>/dev/null || echo 0)
        [ "${v%%.*}" -ge "$node_major" ] 2>/dev/null ||
            { echo "deps.sh: Node.js $v is too old: the browser tests need $node_major or newer" >&2; bad=1; }
    fi
    # libfaketime: tests/e2e/test_24_timeline.py steps the recorder's clock back.
    ft=0
    for f in /usr/lib/*/faketime/libfaketimeMT.so.1 /usr/lib/faketime/libfaketimeMT.so.1; do
        [ -e "$f" ] && ft=1
    done
    [ $ft = 1 ] || { echo "deps.sh: missing library: libfaketimeMT.so.1 (libfaketime)" >&2; bad=1; }
    for p in $(npm_missing); do
        echo "deps.sh: missing npm package: $p (npm ci in tests/browser)" >&2
        bad=1
    done
    # One Python for the modules and every element (Gst.ElementFactory.find is gst-inspect-1.0
    # NAME's look-up, without a process per element).
    /usr/bin/python3 - "$check_elements ${CAMVAULT_DEPS_EXTRA_ELEMENTS:-}" \
        "$check_python ${CAMVAULT_DEPS_EXTRA_PYTHON:-}" <<'PY' || bad=1
import importlib, importlib.util, sys
bad = False
def missing(what):
    global bad
    bad = True
    print("deps.sh: missing " + what, file=sys.stderr)
gi = None
for m in sys.argv[2].split():
    try:
        if m.startswith("gi:"):
            ns, ver = m[3:].rsplit("-", 1)
            gi.require_version(ns, ver)
            importlib.import_module("gi.repository." + ns)
        elif m == "gi":
            gi = importlib.import_module(m)
        elif importlib.util.find_spec(m) is None:  # found, not imported (pytest is slow to)
            raise ImportError("No module named '%s'" % m)
    except Exception as e:  # ImportError, ValueError (no such version), AttributeError (no gi)
        missing("Python module: %s (%s)" % (m[3:] + " (GObject introspection)" if m.startswith("gi:") else m, e))
Gst = sys.modules.get("gi.repository.Gst")
if Gst is None:
    missing("GStreamer elements: cannot look them up without gi:Gst-1.0")
else:
    Gst.init(None)
    for alts in sys.argv[1].split():
        if not any(Gst.ElementFactory.find(n) for n in alts.split("|")):
            missing("GStreamer element: " + alts.replace("|", " (or ") + (")" if "|" in alts else ""))
sys.exit(1 if bad else 0)
PY
    return $bad
}

finish() {
    npm_ci
    if ! check; then
        echo "deps.sh: the '$kind' set is incomplete (see the lines above)" >&2
        exit 1
    fi
    exit 0
}

[ "$kind" = check ] && { kind=test; check || exit 1; exit 0; }

# One dpkg-query for every package (a package it does not know is missing too).
# shellcheck disable=SC2086
have=$(dpkg-query -W -f='${Package} ${Status}\n' $want 2>/dev/null | awk '/ install ok installed$/ {print $1}' || true)
missing=""
for p in $want; do
    echo "$have" | grep -qx "$p" || missing="$missing $p"
done
[ -z "$missing" ] && finish

echo "deps.sh: installing:$missing"
if [ "$(id -u)" != 0 ]; then
    echo "deps.sh: these packages are missing and installing them needs root:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
finish
