"""Issue 11, finding 3: a hold placed while a retention pass runs protects what it covers.

Two cameras record a few 1-s segments, then keep only ~1 s (so everything is old). `camvault
retention run` runs with the documented test hook CAMVAULT_TEST_RETENTION_DELAY_MS, which makes
it sleep before each deletion transaction after it has chosen what to delete; while it sleeps
before its first batch, `camvault hold add` holds all of c2's footage. The pass must delete
c1's footage and none of c2's: records and files stay, the files still decode.
"""
import os
import subprocess
import time

from conftest import CAMVAULT, cv, decode_errors, query, start_camsim, start_recorder, wait_for

DELAY_MS = 3000


def test_hold_placed_during_a_pass_protects_footage(root, tmp_path, procs):
    sim = start_camsim(procs, tmp_path, cameras=2, name="cam")
    for c in ("c1", "c2"):
        cv("camera", "add", c, "--url", f"rtsp://127.0.0.1:{sim.port}/cam{c[1]}", root=root)
    rec = start_recorder(procs, root, tmp_path, segment=1)
    wait_for(lambda: all(len(query(root, c)["segments"]) >= 4 for c in ("c1", "c2")), 90,
             what="four segments per camera")
    rec.close()
    c1 = query(root, "c1")["segments"]
    c2 = query(root, "c2")["segments"]
    for c in ("c1", "c2"):
        cv("retention", "set", c, str(1 / 86400), root=root)
    # Keep 1 s: let every segment be more than that old before the pass, however soon after a
    # segment began the recorder was stopped (a fresh-clone run once started the pass 0.9 s after
    # c1's second newest segment ended, and rightly kept it).
    newest = max(s["end_us"] for s in c1 + c2) / 1e6
    wait_for(lambda: time.time() > newest + 1.5, 10, what="the footage to be older than 1 s")
    env = dict(os.environ, CAMVAULT_TEST_RETENTION_DELAY_MS=str(DELAY_MS), CAMVAULT_LOG="info")
    run = subprocess.Popen([str(CAMVAULT), "retention", "run", "--root", str(root)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        # The pass has read the holds and chosen its candidates: it announces its first sleep.
        line = run.stderr.readline()
        assert "test delay" in line, line
        out = cv("hold", "add", "--case", "late-1", "--camera", "c2", "--from", "@0", "--to",
                 f"@{c2[-1]['end_us'] / 1e6 + 3600}", root=root).stdout
        assert "placed" in out, out
        stdout, stderr = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 0, stderr
    left1 = {s["path"] for s in query(root, "c1")["segments"]}
    left2 = {s["path"]: s for s in query(root, "c2")["segments"]}
    # (c1's newest segment may have ended less than 1 s before the pass: it may stay.)
    assert not left1 & {s["path"] for s in c1[:-1]}, "unheld old footage of c1 was not deleted"
    for s in c2:
        assert s["path"] in left2 and left2[s["path"]]["sha256"] == s["sha256"], \
            f"held segment {s['path']} deleted by a pass that started before the hold"
        assert (root / s["path"]).exists()
        assert decode_errors(root / s["path"]) == ""
    assert "kept" in stdout and "held" in stdout, stdout
