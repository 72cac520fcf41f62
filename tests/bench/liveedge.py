#!/usr/bin/python3
"""Live-edge benchmark (issue 12): how soon footage is readers' and how long an export of the
last 20 s takes, with 60-s segments (the default), so that the live edge is always inside the
segment being written.

Setup: camsim serves --cameras cameras (GOP --gop frames at 25 fps), `camvault record
--segment-seconds 60` records them, `camvault serve` answers; one officer with a bearer token.

1. Event -> timeline: at random moments T (an "event" happening now), the client polls
   GET /timeline until the answer ends at or after T (its "open" object: the segment being
   written, up to its newest complete fragment); the figure is the wall time from T to that
   answer. The same for video.mp4: GET video.mp4?from=T-2s&to=T+2s (Range: bytes=0-0, so only
   the plan is made) until its X-Camvault-End is at or after T. Bounded below by the fragment
   length: a frame is readable once its GOP is complete in the file.
2. Export of the last 20 s: POST /exports {from: now-20 s, to: now}, then GET the job every
   50 ms until it is done; the figure is POST to done (the recorder seals the open segment at its
   next keyframe and signs a checkpoint, then the package is written). Every package is checked
   with `camvault verify`.
Nothing is timed against a limit; the figures go into one JSON file.
"""
import http.client
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib as bl
from http_bench import add_site, cli, start_record, start_serve, us_of


def at(us):
    return f"@{us / 1e6:.6f}"


def now_us():
    return int(time.time() * 1e6)


class Client:
    def __init__(self, port, token):
        self.port, self.token = port, token

    def call(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        h = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        data = json.dumps(body).encode() if body is not None else None
        if data:
            h["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        out = (r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read())
        c.close()
        return out


def timeline_end(cl, cam):
    n = now_us()
    st, _, body = cl.call("GET", f"/api/v1/cameras/{cam}/timeline?from={at(n - 600e6)}"
                                 f"&to={at(n + 60e6)}")
    if st != 200:
        return None
    tl = json.loads(body)
    ends = [s["end_us"] for s in tl["segments"]] + ([tl["open"]["end_us"]] if tl["open"] else [])
    return max(ends) if ends else None


def video_end(cl, cam, t):
    st, h, _ = cl.call("GET", f"/api/v1/cameras/{cam}/video.mp4?from={at(t - 2e6)}"
                              f"&to={at(t + 2e6)}", headers={"Range": "bytes=0-0"})
    return us_of(h["x-camvault-end"]) if st in (200, 206) else None


def event_delays(cl, cams, samples, what, timeout=30):
    """Seconds from an event at T to the first answer of `what` that reaches T."""
    out = []
    for i in range(samples):
        time.sleep(random.uniform(0.2, 1.5))
        cam = cams[i % len(cams)]
        t = now_us()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            e = timeline_end(cl, cam) if what == "timeline" else video_end(cl, cam, t)
            if e is not None and e >= t:
                out.append((now_us() - t) / 1e6)
                break
            time.sleep(0.05)
    return out


def summary(vals):
    if not vals:
        return {"n": 0}
    v = sorted(vals)
    return {"n": len(v), "median_s": round(statistics.median(v), 3),
            "p90_s": round(v[min(len(v) - 1, int(0.9 * len(v)))], 3), "max_s": round(v[-1], 3),
            "min_s": round(v[0], 3)}


def exports(cl, root, work, cams, n):
    times, verified, failed = [], 0, []
    cid = json.loads(cl.call("POST", "/api/v1/cases", {"title": "live edge bench"})[2])["case"]["id"]
    for i in range(n):
        cam = cams[i % len(cams)]
        t = now_us()
        t0 = time.monotonic()
        st, _, body = cl.call("POST", "/api/v1/exports", {"case": cid, "cameras": [cam],
                                                          "from": at(t - 20e6), "to": at(t)})
        if st != 202:
            failed.append(f"POST {st}: {body[:200]!r}")
            continue
        eid = json.loads(body)["export"]["id"]
        while time.monotonic() - t0 < 120:
            e = json.loads(cl.call("GET", f"/api/v1/exports/{eid}")[2])["export"]
            if e["status"] in ("done", "failed", "canceled"):
                break
            time.sleep(0.05)
        if e["status"] != "done":
            failed.append(f"{eid}: {e['status']} {e.get('error')}")
            continue
        times.append(time.monotonic() - t0)
        st, _, zipb = cl.call("GET", f"/api/v1/exports/{eid}/download")
        pkg = work / f"{eid}.zip"
        pkg.write_bytes(zipb)
        v = subprocess.run([str(bl.CAMVAULT), "verify", str(pkg)], capture_output=True, text=True)
        verified += v.returncode == 0
        pkg.unlink()
        time.sleep(random.uniform(2, 5))
    return times, verified, failed


def main():
    ap = bl.arg_parser(__doc__, cameras=4, gop=50, segment_seconds=60, warmup=(float, 8),
                       samples=(int, 30, "events per figure"), exports=8)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cv-liveedge-", dir=bl.WORK_DIR))
    root = work / "root"
    sim = rec = srv = None
    res = {"stream": f"640x360 25 fps GOP {args.gop} ({args.gop / 25:g} s) H.264 800 kbit/s",
           "cameras": args.cameras, "segment_seconds": args.segment_seconds}
    try:
        cli(root, "init")
        port = bl.free_port()
        sim = bl.start_camsim(port, args.cameras, work / "camsim.json", 640, 360, 25, args.gop,
                              "800k", log=work / "camsim.log")
        cams = [f"cam{i}" for i in range(1, args.cameras + 1)]
        token = add_site(root, port, cams)
        rec = start_record(root, work, args.segment_seconds)
        srv, hport = start_serve(root, work, lambda log: "liveedge: camvault serve did not start")
        time.sleep(args.warmup)
        cl = Client(hport, token)
        res["event_to_timeline"] = summary(event_delays(cl, cams, args.samples, "timeline"))
        res["event_to_video_mp4"] = summary(event_delays(cl, cams, args.samples, "video"))
        times, verified, failed = exports(cl, root, work, cams, args.exports)
        res["export_last_20s"] = {**summary(times), "verified": verified, "failed": failed}
        for k in ("event_to_timeline", "event_to_video_mp4", "export_last_20s"):
            print(f"liveedge: {k}: {res[k]}", flush=True)
    finally:
        bl.stop(srv)
        bl.stop(rec)
        bl.stop(sim)
    bl.write_result(args.out, "liveedge", res)
    return 0 if res["export_last_20s"].get("n") and not res["export_last_20s"]["failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
