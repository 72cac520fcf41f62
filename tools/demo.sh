#!/bin/sh
# make demo: record four simulated cameras into a demo data root, in the foreground.
#
#   DEMO_ROOT  data root (default ./demo-data)     DEMO_PORT  camsim's RTSP port (default 8554)
#   DEMO_SEGMENT_SECONDS  segment length (default 60)
#
# Stop it with Ctrl-C (SIGINT) or SIGTERM: the recorder closes its segments and camsim stops.
# Running it again resumes recording into the same root.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
bin="$here/build"
root=${DEMO_ROOT:-$PWD/demo-data}
port=${DEMO_PORT:-8554}
seg=${DEMO_SEGMENT_SECONDS:-60}
media="$here/build/camsim-media"

"$bin/camvault" init --root "$root" >/dev/null
mkdir -p "$root/demo"
echo "demo: preparing simulated cameras (the first run encodes a test clip with ffmpeg)..."
"$bin/camsim" --port "$port" --cameras 4 --name cam --width 1280 --height 720 --fps 25 \
    --gop 50 --bitrate 2000k --audio aac --loop-seconds 20 --media-dir "$media" \
    --stats "$root/demo/camsim-stats.json" >"$root/demo/camsim.out" 2>"$root/demo/camsim.log" &
sim=$!
rec=""
cleanup() {
    trap - INT TERM EXIT
    [ -n "$rec" ] && kill -TERM "$rec" 2>/dev/null && wait "$rec" 2>/dev/null || true
    kill -TERM "$sim" 2>/dev/null && wait "$sim" 2>/dev/null || true
    echo "demo: stopped. Footage stays in $root"
}
trap cleanup INT TERM EXIT

i=0
until grep -q "camsim: serving" "$root/demo/camsim.out" 2>/dev/null; do
    if ! kill -0 "$sim" 2>/dev/null; then
        echo "demo: camsim failed: $(tail -n 1 "$root/demo/camsim.log")" >&2
        exit 1
    fi
    i=$((i + 1))
    [ "$i" -gt 1800 ] && { echo "demo: camsim did not start in 180 s" >&2; exit 1; }
    sleep 0.1
done

for n in 1 2 3 4; do
    if ! "$bin/camvault" camera show "demo-cam$n" --root "$root" >/dev/null 2>&1; then
        "$bin/camvault" camera add "demo-cam$n" --url "rtsp://127.0.0.1:$port/cam$n" \
            --name "Demo camera $n" --location "Simulated street $n" --root "$root" >/dev/null
    fi
done

cat <<EOF2

camvault demo: recording 4 simulated cameras (camsim on rtsp://127.0.0.1:$port/cam1..cam4)
  footage:  $root/volumes/main/demo-cam1..4/<date>/*.mp4
  status:   build/camvault camera list --root $root
  query:    build/camvault query demo-cam1 --from @$(date +%s) --to @$(( $(date +%s) + 3600 )) --root $root
  stop:     press Ctrl-C (segments are closed properly; run 'make demo' again to resume)
  (the web UI is not built yet: see README.md)

EOF2
"$bin/camvault" record --root "$root" --segment-seconds "$seg" &
rec=$!
wait "$rec" || true
rec=""
