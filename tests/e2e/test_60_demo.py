"""Issue 2, acceptance 7 (and issue 5's demo): `make demo` ends with four cameras recording and
the web UI served with demo users whose passwords it prints; Ctrl-C stops it all.

Runs tools/demo.sh (what `make demo` runs after installing and building) with its own data root
and ports, waits until all four cameras are online and have written a segment, logs in as the
printed demo officer, then sends SIGINT as a user's Ctrl-C would and checks that everything
stopped and the segments were closed.
"""
import json
import os
import urllib.request
import signal
import subprocess

from conftest import REPO, cameras, free_port, query, wait_for


def test_demo_records_four_cameras_and_stops_on_ctrl_c(tmp_path):
    root = tmp_path / "demo"
    http = f"127.0.0.1:{free_port()}"
    env = dict(os.environ, DEMO_ROOT=str(root), DEMO_PORT=str(free_port()),
               DEMO_SEGMENT_SECONDS="4", DEMO_HTTP=http)
    log = open(tmp_path / "demo.log", "wb")
    p = subprocess.Popen(["sh", str(REPO / "tools" / "demo.sh")], env=env, stdout=log,
                         stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def four_recording():
            if not (root / "index" / "data.mdb").exists():
                return False
            try:
                c = cameras(root)
            except AssertionError:
                return False
            ids = [f"demo-cam{i}" for i in range(1, 5)]
            return all(i in c and c[i]["status"] and c[i]["status"]["online"] for i in ids)

        wait_for(four_recording, 240, step=1, what="four demo cameras online")
        out = (tmp_path / "demo.log").read_text()
        users = dict(l.split()[:2] for l in out.splitlines() if l.strip().startswith("demo-"))
        assert set(users) == {"demo-admin", "demo-officer", "demo-mediator", "demo-resident"}, out
        with urllib.request.urlopen(f"http://{http}/", timeout=10) as r:
            assert r.status == 200 and "text/html" in r.headers["Content-Type"]
        body = json.dumps({"user": "demo-officer", "password": users["demo-officer"]}).encode()
        req = urllib.request.Request(f"http://{http}/api/v1/login", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200 and json.load(r)["user"]["role"] == "officer"
        wait_for(lambda: all(query(root, f"demo-cam{i}")["segments"] for i in range(1, 5)), 60,
                 what="a segment of each demo camera")
        os.killpg(p.pid, signal.SIGINT)
        assert p.wait(30) == 0
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        log.close()
    out = (tmp_path / "demo.log").read_text()
    assert "press Ctrl-C" in out and "demo: stopped" in out, out
    for i in range(1, 5):
        segs = query(root, f"demo-cam{i}")["segments"]
        assert segs and not any(s["recovered"] for s in segs), (i, segs)
    # camsim is gone: nothing is left listening
    r = subprocess.run(["pgrep", "-f", f"camsim --port {env['DEMO_PORT']}"], capture_output=True)
    assert r.returncode == 1, r.stdout
