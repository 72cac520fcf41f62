"""Issue 11: power loss, I/O errors and a read-only index, injected for real.

The recorder runs under build/fsyncshim.so (tests/faults/fsyncshim.c, LD_PRELOAD), which logs
every successful fsync with the file's size at that moment and every file creation, and which
can make fsync or write fail (EIO, EROFS) for paths matching a pattern, while a trigger file
exists.

- Power loss: after kill -9, every segment file is cut back to what was fsynced; a file whose
  directory was not fsynced after it was created disappears (the page cache a power cut loses).
  Every segment the index reported closed must then be intact (SHA-256 of the file = record),
  and `camvault fsck` after a restart must find nothing.
- fsync fails with EIO for one camera: recording goes on, every closed segment is kept and
  indexed, and the failure is loud: the camera's status, the log, /healthz, /metrics.
- write fails with EIO for one camera: the other camera records on, the camera comes back when
  the disk does, nothing closed is lost, status, log, /healthz and /metrics say so meanwhile.
- The index's filesystem turns read-only (EROFS on every write to ROOT/index): segments keep
  being written, the commits fail loudly, and once the index is writable again they are indexed.
  (A read-only bind remount is refused by the kernel while LMDB holds data.mdb open for
  writing, so the shim gives the recorder what a kernel's errors=remount-ro gives it: EROFS.)
"""
import hashlib
import json
import os
import re
import signal
import subprocess

import pytest

from conftest import BUILD, CAMVAULT, Proc, cameras, cv, decode_errors, query, start_camsim, \
    wait_for
from httpapi import Client, start_server

SHIM = BUILD / "fsyncshim.so"
SUMMARY = re.compile(r"^fsck: (\d+) files, (\d+) records, (\d+) findings, (\d+) repaired$")

pytestmark = pytest.mark.skipif(not SHIM.exists(), reason="build/fsyncshim.so not built "
                                "(make build/fsyncshim.so)")


def start_shimmed(procs, root, tmp_path, name, segment=3, **shim_env):
    env = dict(os.environ, LD_PRELOAD=str(SHIM), **shim_env)
    log = tmp_path / f"{name}.log"
    p = Proc([CAMVAULT, "record", "--root", root, "--segment-seconds", segment], log=log,
             env=env)
    p.logfile = log
    procs.append(p)
    return p


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def assert_intact(root, segs):
    for s in segs:
        f = root / s["path"]
        assert f.exists(), f"closed segment {s['path']} is gone"
        assert f.stat().st_size == s["bytes"], s["path"]
        assert sha256(f) == s["sha256"], f"closed segment {s['path']} differs from its record"


def two_cameras(procs, root, tmp_path):
    sim = start_camsim(procs, tmp_path, cameras=2, name="cam")
    for i in (1, 2):
        cv("camera", "add", f"c{i}", "--url", f"rtsp://127.0.0.1:{sim.port}/cam{i}", root=root)
    return sim


def health(port):
    r = Client(port).raw("GET", "/healthz")
    assert r.status == 200, r
    return r.json()


def metric(port, name, camera):
    r = Client(port).raw("GET", "/metrics")
    assert r.status == 200, r
    m = re.search(rf'^{name}{{camera="{camera}"}} (\d+)$', r.body.decode(), re.M)
    return int(m.group(1)) if m else None


def fsck(root):
    r = cv("fsck", root=root, check=False, timeout=120)
    out = r.stdout.strip().splitlines()
    assert out and SUMMARY.match(out[-1]), (r.stdout, r.stderr)
    return r.returncode, out[:-1]


def lose_page_cache(root, shim_log):
    """What a power cut keeps of the segment files: each one cut to its size at its last
    successful fsync (0 if none); a file created after its directory's last fsync is gone."""
    created, synced, dir_synced_after = {}, {}, set()
    for n, line in enumerate(shim_log.read_text().splitlines()):
        what, rest = line.split(" ", 1)
        if what == "create":
            created[rest] = n
        elif what == "fsync":
            size, path = rest.split(" ", 1)
            synced[path] = int(size)
            for f, at in created.items():
                if os.path.dirname(f) == path and at < n:
                    dir_synced_after.add(f)
    gone, cut = [], []
    for f in (root / "volumes").rglob("*.mp4"):
        p = str(f.resolve())
        if p in created and p not in dir_synced_after:
            f.unlink()
            gone.append(p)
            continue
        keep = synced.get(p, 0)
        if f.stat().st_size > keep:
            os.truncate(f, keep)
            cut.append(p)
    return gone, cut


def test_power_loss_keeps_every_closed_segment(root, tmp_path, procs):
    two_cameras(procs, root, tmp_path)
    shim_log = tmp_path / "fsyncs.log"
    rec = start_shimmed(procs, root, tmp_path, "rec1", CV_SHIM_LOG=str(shim_log))
    wait_for(lambda: all(len(query(root, c)["segments"]) >= 3 for c in ("c1", "c2")), 40,
             what="three closed segments per camera")
    rec.close(signal.SIGKILL)
    closed = {c: query(root, c)["segments"] for c in ("c1", "c2")}

    gone, cut = lose_page_cache(root, shim_log)
    # the segments being written when the power went: not durable yet, so lost or cut
    assert gone or cut, "the kill left nothing unsynced: the test did not simulate anything"
    for c in ("c1", "c2"):
        assert_intact(root, closed[c])

    rec2 = start_shimmed(procs, root, tmp_path, "rec2")
    wait_for(lambda: all(len(query(root, c)["segments"]) > len(closed[c]) for c in ("c1", "c2")),
             40, what="recording after the restart")
    rec2.close()
    status, findings = fsck(root)
    assert (status, findings) == (0, []), findings
    for c in ("c1", "c2"):
        after = {s["path"]: s for s in query(root, c)["segments"]}
        for s in closed[c]:
            assert after[s["path"]]["sha256"] == s["sha256"], s["path"]
        assert_intact(root, closed[c])


def test_fsync_eio_is_loud_and_keeps_recording(root, tmp_path, procs):
    two_cameras(procs, root, tmp_path)
    srv = start_server(procs, root, tmp_path)
    # c1's first segment and its directory sync fine, every later fsync of c1 fails
    rec = start_shimmed(procs, root, tmp_path, "rec", CV_SHIM_FAIL="fsync:/c1/:2")

    def c1_says_so():
        st = cameras(root)["c1"]["status"]
        return st and "not durable" in st["reason"] and "Input/output error" in st["reason"]

    wait_for(c1_says_so, 40, what="c1's status to report the failed fsync")
    wait_for(lambda: len(query(root, "c1")["segments"]) >= 3 and
             len(query(root, "c2")["segments"]) >= 3, 40, what="both cameras recording on")
    assert rec.running()
    reason = cameras(root)["c1"]["status"]["reason"]
    assert "cannot fsync segment" in reason and "volumes/main/c1/" in reason, reason
    assert "not durable" not in (cameras(root)["c2"]["status"]["reason"] or "")

    h = health(srv.port)
    assert h["status"] == "degraded", h
    assert h["segments_not_durable"] >= 1, h
    assert metric(srv.port, "camvault_camera_segments_not_durable_total", "c1") >= 1
    assert metric(srv.port, "camvault_camera_segments_not_durable_total", "c2") == 0
    rec.close()
    log = rec.logfile.read_text()
    assert re.search(r"camera 'c1': segment '\S+' is not durable \(kept and indexed as such\): "
                     r"cannot fsync segment '\S+': Input/output error", log), log[-2000:]
    # nothing closed is lost: every segment is on disk as recorded, none was deleted
    for c in ("c1", "c2"):
        segs = query(root, c)["segments"]
        assert_intact(root, segs)
        on_disk = {str(p.relative_to(root)) for p in (root / "volumes" / "main" / c).rglob("*.mp4")}
        assert on_disk == {s["path"] for s in segs}, c
    c1 = query(root, "c1")["segments"]
    assert c1[0]["durable"] is True  # its fsyncs succeeded
    assert all(s["durable"] is False for s in c1[1:]), c1  # marked in the index record
    assert all(s["durable"] is True for s in query(root, "c2")["segments"])
    for s in c1:
        assert decode_errors(root / s["path"]) == "", s["path"]


def test_write_eio_one_camera_others_record_on(root, tmp_path, procs):
    two_cameras(procs, root, tmp_path)
    srv = start_server(procs, root, tmp_path)
    trigger = tmp_path / "disk-broken"
    rec = start_shimmed(procs, root, tmp_path, "rec", CV_SHIM_FAIL="write:/c1/:0",
                        CV_SHIM_FAIL_WHILE=str(trigger))
    wait_for(lambda: len(query(root, "c1")["segments"]) >= 2, 40, what="c1 recording")
    before = query(root, "c1")["segments"]
    trigger.touch()

    def c1_down():
        st = cameras(root)["c1"]["status"]
        return st and not st["online"] and "Input/output error" in st["reason"]

    wait_for(c1_down, 30, what="c1's status to report the write error")
    n2 = len(query(root, "c2")["segments"])
    wait_for(lambda: len(query(root, "c2")["segments"]) >= n2 + 1, 30, what="c2 recording on")
    h = health(srv.port)
    assert h["status"] == "degraded" and h["cameras"]["online"] == 1, h
    assert metric(srv.port, "camvault_camera_online", "c1") == 0
    assert metric(srv.port, "camvault_camera_online", "c2") == 1

    trigger.unlink()
    n1 = len(query(root, "c1")["segments"])
    wait_for(lambda: len(query(root, "c1")["segments"]) >= n1 + 1, 40, what="c1 back")
    rec.close()
    assert "Input/output error" in rec.logfile.read_text()
    after = {s["path"]: s for s in query(root, "c1")["segments"]}
    for s in before:
        assert after[s["path"]]["sha256"] == s["sha256"]
    for c in ("c1", "c2"):
        assert_intact(root, query(root, c)["segments"])
    status, findings = fsck(root)
    assert (status, findings) == (0, []), findings


def test_read_only_index_then_writable_again(root, tmp_path, procs):
    two_cameras(procs, root, tmp_path)
    srv = start_server(procs, root, tmp_path)
    trigger = tmp_path / "index-read-only"
    rec = start_shimmed(procs, root, tmp_path, "rec",
                        CV_SHIM_FAIL="write:/index/:0:EROFS,fsync:/index/:0:EROFS",
                        CV_SHIM_FAIL_WHILE=str(trigger))
    wait_for(lambda: all(len(query(root, c)["segments"]) >= 2 for c in ("c1", "c2")), 40,
             what="two closed segments per camera")
    indexed = {c: query(root, c)["segments"] for c in ("c1", "c2")}
    trigger.touch()

    def unindexed():
        paths = {s["path"] for c in ("c1", "c2") for s in query(root, c)["segments"]}
        return [str(p.relative_to(root)) for p in (root / "volumes").rglob("*.mp4")
                if str(p.relative_to(root)) not in paths]

    # recording goes on: files pile up on disk that the index cannot take (each camera has one
    # open file besides, so more than two means closed segments waiting)
    wait_for(lambda: len(unindexed()) >= 6, 40, what="segments written while the index is read-only")
    log = rec.logfile.read_text()
    assert "cannot write the index, will retry every second" in log, log[-2000:]
    assert "Read-only file system" in log, log[-2000:]
    # the recorder's status cannot reach the index: /healthz sees it silent
    wait_for(lambda: health(srv.port)["status"] == "degraded", 30, what="/healthz degraded")
    assert health(srv.port)["recorder"]["running"] is False
    assert rec.running()
    for c in ("c1", "c2"):
        assert query(root, c)["segments"] == indexed[c]  # nothing committed meanwhile
    waiting = set(unindexed())

    trigger.unlink()
    wait_for(lambda: not waiting & set(unindexed()), 30,
             what="the waiting segments indexed once the index is writable")
    wait_for(lambda: health(srv.port)["recorder"]["running"], 20, what="status back")
    rec.close()
    for c in ("c1", "c2"):
        segs = query(root, c)["segments"]
        assert_intact(root, segs)
        assert [s["path"] for s in segs[:len(indexed[c])]] == [s["path"] for s in indexed[c]]
    assert unindexed() == []
    status, findings = fsck(root)
    assert (status, findings) == (0, []), findings


def test_read_only_index_at_shutdown_recovered_at_next_start(root, tmp_path, procs):
    two_cameras(procs, root, tmp_path)
    trigger = tmp_path / "index-read-only"
    trigger.touch()
    rec = start_shimmed(procs, root, tmp_path, "rec1",
                        CV_SHIM_FAIL="write:/index/:0:EROFS,fsync:/index/:0:EROFS",
                        CV_SHIM_FAIL_WHILE=str(trigger))
    files = lambda: {str(p.relative_to(root)) for p in (root / "volumes").rglob("*.mp4")}
    wait_for(lambda: len(files()) >= 6, 40, what="segments written beside a read-only index")
    rec.close()  # SIGTERM: every open segment is closed, none can be committed
    log = rec.logfile.read_text()
    assert "index unwritable at shutdown; the unindexed segment files stay on disk" in log, log
    on_disk = files()
    assert all(query(root, c)["segments"] == [] for c in ("c1", "c2"))

    trigger.unlink()
    rec2 = start_shimmed(procs, root, tmp_path, "rec2")
    wait_for(lambda: on_disk <= {s["path"] for c in ("c1", "c2")
                                 for s in query(root, c)["segments"]}, 30,
             what="the files of the read-only time indexed at the next start")
    rec2.close()
    for c in ("c1", "c2"):
        assert_intact(root, query(root, c)["segments"])
    status, findings = fsck(root)
    assert (status, findings) == (0, []), findings
