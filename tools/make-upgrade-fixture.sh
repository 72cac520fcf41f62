#!/bin/sh
# make-upgrade-fixture.sh: build the data root that tests/e2e/test_80_upgrade.py opens with
# today's camvault, using the previous release's camvault.
#
#   tools/make-upgrade-fixture.sh REV OUT.tar.gz
#
# REV is the last landed release (a tag or commit: the commit before this round's changes).
# It is checked out into a temporary git worktree and built there (its own build/), so the
# tree you run this from is not touched. The root it records:
#   - two camsim cameras (prev-1, prev-2), a few small 2-s segments each, checkpoints;
#   - the site keys made by `init`, users (admin, officer1: passwords fixture-password-1 and
#     -2), a bearer token, a hold over all of it (case UPG-1, so retention keeps it whenever
#     the test runs), a case made through the API (POST /api/v1/cases), and an export package
#     of two segments in ROOT/exports/ (so the audit log has export lines);
# then it is packed without index/space.reserve (the recorder remakes it) and tmp/.
# Needs: git, make, the build dependencies, ffmpeg (camsim media), curl, python3, mdb_copy.
# Prints the tarball's size. The next release runs this with its own previous commit.
set -eu

rev=${1:?usage: $0 REV OUT.tar.gz}
out=${2:?usage: $0 REV OUT.tar.gz}
case $out in /*) ;; *) out=$(pwd)/$out ;; esac
repo=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
src=$tmp/src
root=$tmp/root
pids=""

cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    git -C "$repo" worktree remove --force "$src" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for SECONDS COMMAND...: run COMMAND every 0.2 s until it succeeds.
wait_for() {
    n=$(($1 * 5)); shift
    while ! "$@" >/dev/null 2>&1; do
        n=$((n - 1))
        [ "$n" -gt 0 ] || { echo "make-upgrade-fixture: timed out waiting for: $*" >&2; exit 1; }
        sleep 0.2
    done
}

segments_at_least() { # CAMERA N
    [ "$("$cv" query "$1" --root "$root" --from @0 --to @4102444800 --json |
        python3 -c 'import json,sys; print(len(json.load(sys.stdin)["segments"]))')" -ge "$2" ]
}

git -C "$repo" worktree add --detach "$src" "$rev" >/dev/null
make -C "$src" -j2 build/camvault build/camsim >"$tmp/build.log" 2>&1 ||
    { tail -20 "$tmp/build.log" >&2; exit 1; }
cv=$src/build/camvault

rtsp=$(free_port)
"$src/build/camsim" --port "$rtsp" --cameras 2 --name cam --width 320 --height 180 --fps 10 \
    --gop 20 --bitrate 100k --loop-seconds 4 --media-dir "$tmp/media" --duration 120 \
    >"$tmp/camsim.log" 2>&1 &
pids="$pids $!"
wait_for 120 grep -q "camsim: serving" "$tmp/camsim.log"

"$cv" init --root "$root"
for i in 1 2; do
    "$cv" camera add "prev-$i" --root "$root" --url "rtsp://127.0.0.1:$rtsp/cam$i" \
        --name "Previous $i" --location "Fixture"
done
echo "fixture-password-1" | "$cv" user add admin --root "$root" --role admin --password-stdin
echo "fixture-password-2" | "$cv" user add officer1 --root "$root" --role officer \
    --password-stdin
"$cv" record --root "$root" --segment-seconds 2 --checkpoint-interval 2 \
    >"$tmp/record.log" 2>&1 &
rec=$!
pids="$pids $rec"
wait_for 90 segments_at_least prev-1 3
wait_for 90 segments_at_least prev-2 3
kill -TERM "$rec"
wait "$rec" || true

from=$("$cv" query prev-1 --root "$root" --from @0 --to @4102444800 --json |
    python3 -c 'import json,sys; s=json.load(sys.stdin)["segments"]; print("@%d" % (s[0]["start_us"]//1000000))')
to=$("$cv" query prev-1 --root "$root" --from @0 --to @4102444800 --json |
    python3 -c 'import json,sys; s=json.load(sys.stdin)["segments"]; print("@%d" % (s[-1]["end_us"]//1000000 + 60))')
two=$("$cv" query prev-1 --root "$root" --from @0 --to @4102444800 --json |
    python3 -c 'import json,sys; s=json.load(sys.stdin)["segments"]; print("@%d" % (s[1]["end_us"]//1000000))')
"$cv" hold add --root "$root" --case UPG-1 --camera prev-1,prev-2 --from "$from" --to "$to" \
    --reason "upgrade fixture" --by fixture
"$cv" export --root "$root" --camera prev-1 --from "$from" --to "$two" --case UPG-1 \
    --out "$root/exports/upg-1.zip" --reason "upgrade fixture" --requester fixture

# A case exists only through the API: serve, log in with a token, create one.
token=$("$cv" user token officer1 --root "$root" | awk '{print $NF}')
http=$(free_port)
"$cv" serve --root "$root" --listen "127.0.0.1:$http" >"$tmp/serve.log" 2>&1 &
srv=$!
pids="$pids $srv"
wait_for 30 curl -sf "http://127.0.0.1:$http/healthz"
curl -sf -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"title":"UPG-1","description":"made by make-upgrade-fixture.sh","members":["officer1"]}' \
    "http://127.0.0.1:$http/api/v1/cases" >/dev/null
kill -TERM "$srv"
wait "$srv" || true

# The index compacted (mdb_copy -c) so the fixture stays small; no lock file, no reserve.
mkdir "$tmp/index.c"
mdb_copy -c "$root/index" "$tmp/index.c"
mv "$tmp/index.c/data.mdb" "$root/index/data.mdb"
rm -f "$root/index/space.reserve" "$root/index/lock.mdb"
rm -rf "$root/tmp"
mkdir "$root/tmp"
tar czf "$out" -C "$root" --owner=0 --group=0 --numeric-owner .
echo "make-upgrade-fixture: $out from $(git -C "$repo" rev-parse --short "$rev"): $(stat -c %s "$out") bytes"
