"""Issue 3, acceptance 1 and 2: retention by age never deletes held footage.

One camera keeps 20 s of footage (retention days = 20/86400) with 2-s segments and a retention
pass every 2 s. Old segments must go within a minute of passing that age, leaving `retention`
gaps; newer ones stay and recording never pauses; a hold over part of the old footage keeps it
however old it gets, until the hold is released.
"""
import time

from conftest import cv, decode_errors, query, start_camsim, start_recorder, wait_for

KEEP_S = 20


def test_age_retention_and_holds(root, tmp_path, procs):
    sim = start_camsim(procs, tmp_path, cameras=1, name="cam")
    cv("camera", "add", "c1", "--url", f"rtsp://127.0.0.1:{sim.port}/cam1", root=root)
    cv("retention", "set", "c1", str(KEEP_S / 86400), root=root)
    rec = start_recorder(procs, root, tmp_path, segment=2, extra=["--retention-interval", "2"])
    wait_for(lambda: len(query(root, "c1")["segments"]) >= 4, 60, what="four segments")
    segs = query(root, "c1")["segments"]
    # Hold the second and third segments: old footage someone still needs.
    h_from, h_to = segs[1]["start_us"], segs[2]["end_us"] - 1
    out = cv("hold", "add", "--case", "bike-12", "--camera", "c1", "--from", f"@{h_from / 1e6}",
             "--to", f"@{h_to / 1e6}", "--reason", "stolen e-bike", root=root).stdout
    hold_id = out.split()[1]
    held_paths = {s["path"] for s in segs[1:3]}
    first_path = segs[0]["path"]

    # Wait until the first segment is 20 s + 60 s old at most: it must be gone by then.
    deadline = segs[0]["end_us"] / 1e6 + KEEP_S + 60
    wait_for(lambda: first_path not in {s["path"] for s in query(root, "c1")["segments"]},
             deadline - time.time(), step=1, what="the oldest segment deleted within a minute")
    assert time.time() <= deadline
    assert not (root / first_path).exists()
    q = query(root, "c1")
    now = time.time()
    present = {s["path"]: s for s in q["segments"]}
    assert held_paths <= set(present), "held footage was deleted"
    for p in held_paths:
        assert decode_errors(root / p) == ""
    # Everything unheld that is older than 20 s + one pass is gone; everything newer is there.
    for s in q["segments"]:
        if s["path"] not in held_paths:
            assert s["end_us"] / 1e6 > now - KEEP_S - 15, (s["path"], now - s["end_us"] / 1e6)
    ret = [g for g in q["gaps"] if g["reason"] == "retention"]
    assert ret and ret[0]["start_us"] == segs[0]["start_us"], q["gaps"]
    assert "older than" in ret[0]["detail"]
    # Recording never paused: the footage after the held part is one unbroken run.
    newest = [s for s in q["segments"] if s["path"] not in held_paths]
    assert len({s["run_id"] for s in newest}) == 1
    for a, b in zip(newest, newest[1:]):
        assert b["start_us"] - a["end_us"] <= 40000, (a["path"], b["path"])
    assert [g for g in q["gaps"] if g["reason"] != "retention"] == []
    assert "active" in cv("query", "c1", "--from", "@0", "--to", "@4102444800",
                          root=root).stdout

    # Releasing the hold lets the held footage go at the next pass.
    cv("hold", "release", hold_id, root=root)
    wait_for(lambda: not (held_paths & {s["path"] for s in query(root, "c1")["segments"]}), 30,
             step=1, what="released footage deleted")
    assert rec.running()
    rec.close()
    for p in held_paths:
        assert not (root / p).exists()
    holds = query(root, "c1")["holds"]
    assert holds and holds[0]["released"] is not None
