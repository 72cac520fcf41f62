"""Issue 3, acceptance 4: 20 kill -9 at random moments, including during retention deletion.

Two cameras with 2-s segments, a retention of 12 s and a retention pass every second, so the
recorder is deleting most of the time. Each run lasts 1-3 s (at least one segment boundary and
one retention pass; deleting from about the sixth run on), then is killed and restarted. At the end fsck
finds nothing, and every segment that was indexed before a kill is either still indexed and
plays, or was deleted by retention (and shows as a retention gap).
"""
import random
import signal
import time

from conftest import cv, decode_errors, query, start_camsim, start_recorder, wait_for

CYCLES = 20


def covered_by_retention(q, seg):
    return any(g["reason"] == "retention" and g["start_us"] <= seg["start_us"] and
               g["end_us"] >= seg["end_us"] for g in q["gaps"])


def test_twenty_kill_9_cycles(root, tmp_path, procs):
    rnd = random.Random(20261122)
    sim = start_camsim(procs, tmp_path, cameras=2, name="cam")
    for i in (1, 2):
        cv("camera", "add", f"c{i}", "--url", f"rtsp://127.0.0.1:{sim.port}/cam{i}", root=root)
        cv("retention", "set", f"c{i}", str(12 / 86400), root=root)
    seen = {}
    for n in range(CYCLES):
        rec = start_recorder(procs, root, tmp_path, segment=2, name=f"rec{n}",
                             extra=["--retention-interval", "1"])
        time.sleep(rnd.uniform(1.0, 3.0))
        for i in (1, 2):
            for s in query(root, f"c{i}")["segments"]:
                seen[s["path"]] = (f"c{i}", s)
        rec.close(signal.SIGKILL)
    # Wait for segments this last run wrote itself: the ones left by earlier runs prove nothing,
    # and a SIGTERM before the recorder has even recovered the last kill's files would leave
    # them for fsck to find.
    newest = {c: max((s["start_us"] for s in query(root, c)["segments"]), default=0)
              for c in ("c1", "c2")}
    rec = start_recorder(procs, root, tmp_path, segment=2, name="final",
                         extra=["--retention-interval", "1"])
    wait_for(lambda: all(any(s["start_us"] > newest[c] for s in query(root, c)["segments"])
                         for c in ("c1", "c2")), 60, what="both cameras recording again")
    assert rec.close() == 0, rec.logfile.read_text()

    r = cv("fsck", root=root, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 findings" in r.stdout, r.stdout
    qs = {c: query(root, c) for c in ("c1", "c2")}
    present = {s["path"]: s for q in qs.values() for s in q["segments"]}
    kept = 0
    for path, (cam, s) in seen.items():
        if path in present:
            assert present[path]["sha256"] == s["sha256"]
            assert decode_errors(root / path) == "", path
            kept += 1
        else:
            assert covered_by_retention(qs[cam], s), f"{path} vanished without a retention gap"
            assert not (root / path).exists()
    assert kept > 0 and len(seen) > kept, (len(seen), kept)
