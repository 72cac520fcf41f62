"""Issue 5: `camvault run` records and serves in two processes and restarts whichever dies;
the timeline of a recording camera shows its segments over HTTP, /healthz sees the recorder
alive and /metrics counts cameras, bytes and responses; SIGTERM stops both children.
"""
import os
import signal
import subprocess
import time

from conftest import CAMVAULT, Proc, cv, free_port, start_camsim, wait_for
from httpapi import Client, add_user, logged_in


def children(pid):
    out = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True,
                         text=True).stdout
    kids = {}
    for line in out.splitlines():
        p, args = line.strip().split(None, 1)
        role = "serve" if " serve " in args else "record" if " record " in args else None
        if role:
            kids[role] = int(p)
    return kids


def test_run_records_serves_and_restarts(root, tmp_path, procs):
    sim = start_camsim(procs, tmp_path, cameras=1, name="cam")
    cv("camera", "add", "gate", "--url", f"rtsp://127.0.0.1:{sim.port}/cam1", root=root)
    add_user(root, "olga", "officer")
    port = free_port()
    run = Proc([CAMVAULT, "run", "--root", root, "--listen", f"127.0.0.1:{port}",
                "--segment-seconds", 2], log=tmp_path / "run.log")
    procs.append(run)
    c = Client(port)

    def health():
        try:
            r = c.raw("GET", "/healthz")
        except OSError:
            return None
        return r.json() if r.status == 200 else None

    h = wait_for(lambda: (lambda j: j if j and j["recorder"]["running"] and
                          j["cameras"]["online"] == 1 else None)(health()), 60,
                 what="the recorder online behind /healthz")
    assert h["status"] == "ok" and h["cameras"] == {"total": 1, "enabled": 1, "online": 1}
    o = logged_in(port, "olga")
    now = int(time.time())
    tl = f"/api/v1/cameras/gate/timeline?from=@{now - 3600}&to=@{now + 3600}"
    segs = wait_for(lambda: o.get(tl).json()["segments"] or None, 60,
                    what="segments in the timeline")
    assert segs[0]["video"].startswith("h264") and segs[0]["bytes"] > 0
    assert segs[0]["end_us"] > segs[0]["start_us"]
    m = c.raw("GET", "/metrics")
    assert m.status == 200 and m.header("Content-Type").startswith("text/plain; version=0.0.4")
    text = m.body.decode()
    assert 'camvault_cameras{state="online"} 1' in text
    assert 'camvault_camera_online{camera="gate"} 1' in text
    assert 'camvault_http_requests_total{code="200"}' in text
    used = [l for l in text.splitlines() if l.startswith('camvault_volume_used_bytes{volume="main"}')]
    assert used and int(used[0].split()[-1]) > 0

    # Kill the server: the supervisor starts a new one; recording is untouched.
    kids = wait_for(lambda: (lambda k: k if len(k) == 2 else None)(children(run.p.pid)), 10,
                    what="two children")
    os.kill(kids["serve"], signal.SIGKILL)
    wait_for(lambda: (lambda k: k if k.get("serve") not in (None, kids["serve"]) else None)(
        children(run.p.pid)), 30, what="a restarted server")
    wait_for(lambda: health(), 30, what="the restarted server to answer")
    assert children(run.p.pid)["record"] == kids["record"]
    assert logged_in(port, "olga").get(tl).status == 200

    # SIGTERM stops both, and the run exits 0.
    assert run.close(signal.SIGTERM, timeout=60) == 0
    assert children(run.p.pid) == {}
    for pid in (kids["record"],):
        assert not os.path.exists(f"/proc/{pid}") or \
            open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    log = (tmp_path / "run.log").read_text()
    assert "restarting" in log and "stopping the recorder and the server" in log
