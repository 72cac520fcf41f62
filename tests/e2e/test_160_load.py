"""Issue 5, acceptance 6: a bounded load on the HTTP server while the recorder records.

10,000 timeline requests at concurrency 50 (a thread pool of keep-alive clients, spread over a
few loopback source addresses so that the per-address connection limit of 32 is not what is
tested) against `camvault serve`, while `camvault record` records two simulated cameras in 2-s
segments into the same data root. Every request must succeed (200 with the camera's timeline),
every one is in the audit log, and the recorder must not lose a frame: the frames in its
segments equal the frames camsim says it sent (within what is in flight at start and stop, as
in test_20).
"""
import concurrent.futures
import http.client
import json
import signal
import threading
import time

from conftest import cv, query, read_json, start_camsim, start_recorder, wait_for
from httpapi import add_user, start_server

REQUESTS = 10000
CONCURRENCY = 50
GOP = 50


def test_timeline_load_while_recording(root, tmp_path, procs):
    sim = start_camsim(procs, tmp_path, cameras=2, name="c")
    for i in (1, 2):
        cv("camera", "add", f"cam{i}", "--url", f"rtsp://127.0.0.1:{sim.port}/c{i}", root=root)
    add_user(root, "olga", "officer")
    token = cv("user", "token", "olga", root=root).stdout.split()[-1]
    rec = start_recorder(procs, root, tmp_path, segment=2)
    wait_for(lambda: all(len(query(root, f"cam{i}")["segments"]) >= 2 for i in (1, 2)), 90,
             what="two segments per camera")
    srv = start_server(procs, root, tmp_path)
    t0 = query(root, "cam1")["segments"][0]["start_us"] // 1000000 - 60
    target = f"/api/v1/cameras/cam{{}}/timeline?from=@{t0}&to=@{t0 + 3600}"
    local = threading.local()
    counter = iter(range(REQUESTS))
    lock = threading.Lock()

    def conn():
        if not hasattr(local, "c"):
            with lock:
                n = next(counter, 0)
            # 127.0.0.2 .. 127.0.0.5: at most ~13 connections per address.
            local.c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60,
                                                 source_address=(f"127.0.0.{2 + n % 4}", 0))
        return local.c

    def one(i):
        c = conn()
        try:
            c.request("GET", target.format(1 + i % 2), headers={"Authorization": f"Bearer {token}"})
            r = c.getresponse()
            body = r.read()
        except (OSError, http.client.HTTPException) as e:
            local.__dict__.pop("c", None)
            return f"request {i}: {e!r}"
        if r.status != 200:
            return f"request {i}: {r.status} {body[:200]!r}"
        tl = json.loads(body)
        if tl["camera"] != f"cam{1 + i % 2}" or not tl["segments"]:
            return f"request {i}: unexpected timeline {body[:200]!r}"
        return None

    with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
        errors = [e for e in pool.map(one, range(REQUESTS)) if e]
    assert not errors, f"{len(errors)} failed, first: {errors[:5]}"
    alive = rec.running()
    assert rec.close(signal.SIGTERM) == 0 and alive
    time.sleep(1.5)  # camsim writes its final counts once a second
    st = read_json(sim.stats)
    for i in (1, 2):
        served = st["cameras"][f"c{i}"]["video_frames_sent"]
        recorded = sum(s["frames"] for s in query(root, f"cam{i}")["segments"])
        assert served - GOP - 8 <= recorded <= served, f"cam{i}: served {served}, recorded {recorded}"
        assert served - recorded <= 8, f"cam{i}: served {served}, recorded {recorded}"
    # Every one of them is in the audit log, and the chain holds.
    v = cv("audit", "--verify", root=root)
    assert v.returncode == 0
    n = sum(1 for a in json.loads(cv("audit", "--json", root=root).stdout)
            if a["action"] == "view-timeline")
    assert n == REQUESTS
    srv.close()
