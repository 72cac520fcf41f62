"""A known outage for the online-rate tests (test_130::test_online_rate, test_209_ui_online):
two cameras recording, one of them offline for a while and back."""
import time

from conftest import cameras, cv, query, start_camsim, start_recorder, wait_for


def _online(root, cid):
    st = cameras(root)[cid]["status"]
    return st is not None and st["online"]


def one_camera_down(procs, root, tmp_path, flaky, steady, down=6, after=1):
    """Add camera flaky = (id, area) and steady = (id, area) on camera simulators of their own,
    record them (2 s segments), stop flaky's simulator for at least `down` seconds once it has 2
    segments, start it again and wait for `after` segments that start after it went down, then
    stop the recorder. Returns the time it went down (Unix seconds)."""
    sims = {}
    for cid, area in (flaky, steady):
        sims[cid] = start_camsim(procs, tmp_path, cameras=1, name="cam")
        cv("camera", "add", cid, "--url", f"rtsp://127.0.0.1:{sims[cid].port}/cam1", "--area", area,
           root=root)
    fid, sid = flaky[0], steady[0]
    rec = start_recorder(procs, root, tmp_path, segment=2)
    wait_for(lambda: _online(root, fid) and _online(root, sid), 20, what="cameras online")
    wait_for(lambda: len(query(root, fid)["segments"]) >= 2, 20, what="footage before")
    sims[fid].close()
    t_down = time.time()
    wait_for(lambda: not _online(root, fid), 15, what=f"{fid} offline")
    time.sleep(max(0.0, down - (time.time() - t_down)))  # the outage lasts at least `down` s
    back = start_camsim(procs, tmp_path, cameras=1, name="cam", port=sims[fid].port)
    wait_for(lambda: len([s for s in query(root, fid)["segments"] if s["start_us"] / 1e6 > t_down])
             >= after, 40, what="footage after the outage")
    rec.close()
    back.close()
    return t_down
