"""Issue 2, acceptance 5: cameras that cannot be recorded, and a recorder that keeps going.

An unreachable URL, a server that answers HTTP instead of RTSP, one that sends garbage and one
that accepts and stays silent each leave their camera offline with a reason that says what is
wrong, while a good camera next to them records normally.
"""
import time

from conftest import PEERS, PY, Proc, cameras, cv, free_port, query, start_camsim, \
    start_recorder, wait_for


def start_hostile(procs, tmp_path, mode):
    port = free_port()
    p = Proc([PY, PEERS / "garbage_server.py", "--port", port, "--mode", mode, "--duration", 300],
             ready="garbage_server:", log=tmp_path / f"hostile-{mode}.log")
    procs.append(p)
    return port


def test_bad_sources_are_offline_with_reasons(root, tmp_path, procs):
    good = start_camsim(procs, tmp_path, cameras=1, name="cam")
    dead_port = free_port()
    ports = {m: start_hostile(procs, tmp_path, m) for m in ("http", "garbage", "silent")}
    cv("camera", "add", "good", "--url", f"rtsp://127.0.0.1:{good.port}/cam1", root=root)
    cv("camera", "add", "unreachable", "--url", f"rtsp://127.0.0.1:{dead_port}/x", root=root)
    cv("camera", "add", "not-rtsp", "--url", f"rtsp://127.0.0.1:{ports['http']}/x", root=root)
    cv("camera", "add", "garbage", "--url", f"rtsp://127.0.0.1:{ports['garbage']}/x", root=root)
    cv("camera", "add", "silent", "--url", f"rtsp://user:secret@127.0.0.1:{ports['silent']}/x",
       root=root)
    rec = start_recorder(procs, root, tmp_path, segment=4)

    def all_reported():
        c = cameras(root)
        return all(c[x]["status"] and not c[x]["status"]["online"] and
                   "connecting" not in c[x]["status"]["reason"]
                   for x in ("unreachable", "not-rtsp", "garbage", "silent"))

    wait_for(all_reported, 30, what="every bad camera reported offline")
    c = cameras(root)
    reason = {k: c[k]["status"]["reason"] for k in c}
    assert "Connection refused" in reason["unreachable"], reason
    assert f"127.0.0.1:{dead_port}" in reason["unreachable"]
    assert "not valid RTSP" in reason["not-rtsp"], reason
    assert "RTSP" in reason["garbage"], reason
    assert "within 10 s" in reason["silent"], reason
    # Camera passwords never appear in reasons or logs.
    assert "secret" not in reason["silent"]
    time.sleep(8)
    assert rec.running()
    rec.close()
    assert "secret" not in rec.logfile.read_text()
    segs = query(root, "good")["segments"]
    assert sum(s["frames"] for s in segs) > 25 * 15, segs
    for bad in ("unreachable", "not-rtsp", "garbage", "silent"):
        assert query(root, bad)["segments"] == []
