"""Issue 2, acceptance 7: `make demo` ends with four cameras recording, and Ctrl-C stops it.

Runs tools/demo.sh (what `make demo` runs after installing and building) with its own data root
and port, waits until all four cameras are online and have written a segment, then sends SIGINT
as a user's Ctrl-C would and checks that everything stopped and the segments were closed.
"""
import os
import signal
import subprocess
import time

from conftest import REPO, cameras, free_port, query, wait_for


def test_demo_records_four_cameras_and_stops_on_ctrl_c(tmp_path):
    root = tmp_path / "demo"
    env = dict(os.environ, DEMO_ROOT=str(root), DEMO_PORT=str(free_port()),
               DEMO_SEGMENT_SECONDS="4")
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
        time.sleep(6)
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
