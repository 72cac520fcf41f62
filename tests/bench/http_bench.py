#!/usr/bin/python3
"""HTTP benchmark: timeline requests per second and concurrent video.mp4 viewers of the server.

`camvault serve` runs while `camvault record` records --cameras simulated cameras (camsim; by
default 640x360, 25 fps, GOP 50, 800 kbit/s, 10-s segments), after --warmup seconds of recording.
Every request carries a bearer token. The client keeps each connection for the next request
unless the server closes it (it counts the connections it opened); connections are spread over
the loopback addresses 127.0.0.2-127.0.0.33 so that the server's per-address connection limit
(32) is not what is measured.

1. Timeline: --requests GET /api/v1/cameras/{id}/timeline over --concurrency connections (one
   thread each, taking the next request as soon as the last is answered; the threads spread
   over --client-procs processes, as one Python process cannot keep a fast server busy), cameras
   in turn, range = all the recording so far. Each is a real view: it reads the index and
   appends one audit record, answering only once that record is committed (and synced).
   Figures: requests/s over the phase, p50/p99/max latency, failures (anything but a complete
   200), the server's and this client's CPU over the phase (the client shares the machine: when
   it nears a core, it is the limit, not the server), how many connections the client opened
   and how many audit records shared a write transaction on average (/metrics).
2. Viewers: for each V in --viewers, V connections fetch at once a clip of the last
   --clip-seconds of closed segments (a different camera each, in turn) as fast as they can. A
   viewer is at real time when its bytes/s are at least the clip's own (bytes / the media time
   the server says it delivered, X-Camvault-Start..End). Figures per V: answered, how many at
   real time, the slowest viewer's rate in multiples of real time, MB/s in all.
3. Server memory: VmRSS before the first request (idle), after each phase, VmHWM (peak) after
   the timeline phase and at the end.

At the end the server is stopped and `camvault audit --verify` must find the chain intact and
exactly one new record per view answered 200. The run fails (exit 1) on any failed request, any
viewer not answered in full, a broken chain or a wrong record count, or a process that died;
nothing is timed against a limit. Writes one JSON file (--out DIR).
"""
import calendar
import http.client
import itertools
import json
import multiprocessing
import os
import queue
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import benchlib as bl

PASSWORD = "correct horse battery"
SOURCES = 32  # loopback source addresses: 32 x 32 connections each > the server's 256


def cli(root, *args, inp=None):
    return subprocess.run([str(bl.CAMVAULT), args[0], "--root", str(root), *map(str, args[1:])],
                          input=inp, capture_output=True, text=True, check=True)


def add_site(root, port, cams):
    """Adds cams (camsim's cam1, cam2, ... on port, in order) and the officer olga to the data
    root; returns olga's API token."""
    for i, cam in enumerate(cams, 1):
        cli(root, "camera", "add", cam, "--url", f"rtsp://127.0.0.1:{port}/cam{i}")
    cli(root, "user", "add", "olga", "--role", "officer", "--password-stdin",
        inp=PASSWORD + "\n")
    return cli(root, "user", "token", "olga").stdout.split()[-1]


def start_record(root, work, segment_seconds):
    """Starts camvault record on root (its log in work/rec.log); returns the process."""
    return subprocess.Popen([str(bl.CAMVAULT), "record", "--root", str(root),
                             "--segment-seconds", str(segment_seconds)],
                            stdout=subprocess.DEVNULL, stderr=open(work / "rec.log", "wb"))


def start_serve(root, work, failed):
    """Starts camvault serve on root and a free port (its log in work/srv.log) and waits for its
    "serving" line; returns (process, port). If it does not start, exits with failed(log)."""
    hport = bl.free_port()
    srv = subprocess.Popen([str(bl.CAMVAULT), "serve", "--root", str(root), "--listen",
                            f"127.0.0.1:{hport}"], stdout=subprocess.PIPE,
                           stderr=open(work / "srv.log", "wb"))
    if "serving" not in srv.stdout.readline().decode(errors="replace"):
        sys.exit(failed((work / "srv.log").read_text(errors="replace")))
    return srv, hport


def audit_records(root):
    """(records, intact) from `camvault audit --verify --json`."""
    r = subprocess.run([str(bl.CAMVAULT), "audit", "--root", str(root), "--verify", "--json"],
                       capture_output=True, text=True)
    try:
        v = json.loads(r.stdout)
        return v["records"], bool(v["ok"]) and r.returncode == 0
    except (ValueError, KeyError):
        return None, False


def mem(pid):
    out = {"VmRSS": 0, "VmHWM": 0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            k, _, v = line.partition(":")
            if k in out:
                out[k] = int(v.split()[0]) * 1024
    except OSError:
        pass
    return out


def metrics(port):
    """The unlabelled counters of GET /metrics: {name: value}."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
    finally:
        c.close()
    return {f[0]: float(f[1]) for f in (line.split() for line in text.splitlines())
            if len(f) == 2 and not f[0].startswith("#") and "{" not in f[0]}


def client_cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def pct(sorted_vals, p):
    return sorted_vals[min(len(sorted_vals) - 1, int(len(sorted_vals) * p))]


class Client:
    """One connection with a bearer token, from its own loopback source address; kept open
    between requests unless the server closes it (then the next request opens a new one)."""
    _n = itertools.count()
    connects = itertools.count()  # connections opened in this process (next() is atomic)

    def __init__(self, port, token):
        self.port, self.token = port, token
        self.src = f"127.0.0.{2 + next(Client._n) % SOURCES}"
        self.c = None

    def get(self, path, sink=False):
        """(status or None, body bytes or None, headers, seconds). sink: count the body's bytes in
        64-KB reads instead of keeping it (a viewer's clip). A failed exchange drops the
        connection; the next get opens a new one."""
        t = time.perf_counter()
        try:
            if self.c is None:
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120,
                                                    source_address=(self.src, 0))
                next(Client.connects)
            self.c.request("GET", path, headers={"Authorization": f"Bearer {self.token}"})
            r = self.c.getresponse()
            if sink:
                n = 0
                while chunk := r.read(65536):
                    n += len(chunk)
                body = n
            else:
                body = r.read()
            if r.will_close:
                self.close()
            return r.status, body, dict(r.getheaders()), time.perf_counter() - t
        except (OSError, http.client.HTTPException):
            self.close()
            return None, None, {}, time.perf_counter() - t

    def close(self):
        if self.c is not None:
            self.c.close()
            self.c = None


def run_threads(n, fn):
    """Runs fn(i) in n threads started together; returns their results in order."""
    out = [None] * n
    go = threading.Barrier(n)

    def one(i):
        go.wait()
        out[i] = fn(i)

    ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def timeline_client(j, args, port, token, cams, frm, start, results):
    """Client process j of --client-procs: requests j, j + procs, ... over its share of the
    connections (one thread each). Puts its latencies, failures, 200s and CPU seconds."""
    procs = args.client_procs
    conns = args.concurrency // procs + (j < args.concurrency % procs)
    Client._n = itertools.count(j * (args.concurrency // procs + 1))  # its own source addresses
    mine = iter(range(j, args.requests, procs))  # next() of a range iterator is atomic
    lat, bad, ok200 = [], [], []  # list.append is too

    def worker(_):
        cl = Client(port, token)
        for i in mine:
            st, body, _, dt = cl.get(f"/api/v1/cameras/{cams[i % len(cams)]}/timeline"
                                     f"?from=@{frm}&to=@{int(time.time()) + 1}")
            lat.append(dt)
            ok200.append(st == 200)
            bad.append(st != 200 or not body or not body.startswith(b'{"camera"'))
        cl.close()

    start.wait()
    k0, c0 = client_cpu_seconds(), next(Client.connects)
    run_threads(conns, worker)
    results.put({"lat": lat, "bad": sum(bad), "ok200": sum(ok200),
                 "cpu": client_cpu_seconds() - k0, "connects": next(Client.connects) - c0 - 1})


def timeline_phase(args, port, token, cams, frm, srv):
    """The timeline requests, from --client-procs processes (one Python process cannot keep a
    fast server busy: the GIL); returns (figures, number answered 200)."""
    ctx = multiprocessing.get_context("fork")
    start, results = ctx.Barrier(args.client_procs + 1), ctx.Queue()
    procs = [ctx.Process(target=timeline_client, args=(j, args, port, token, cams, frm, start,
                                                       results))
             for j in range(args.client_procs)]
    for p in procs:
        p.start()
    m0 = metrics(port)
    c0 = bl.cpu_seconds([srv.pid])
    start.wait()
    t0 = time.perf_counter()
    out = []
    try:
        for _ in procs:
            out.append(results.get(timeout=900))  # a guard against a dead client, not a limit
    except queue.Empty:
        pass
    wall = time.perf_counter() - t0
    srv_cpu = bl.cpu_seconds([srv.pid]) - c0
    for p in procs:
        p.join(10)
        if p.is_alive():
            p.kill()
    m1 = metrics(port)
    all_lat = sorted(x for o in out for x in o["lat"])
    done = len(all_lat)
    recs, commits = (m1.get(k, 0) - m0.get(k, 0) for k in ("camvault_audit_view_records_total",
                                                           "camvault_audit_view_commits_total"))
    fig = {"requests": args.requests, "concurrency": args.concurrency,
           "client_processes": args.client_procs,
           "failed": sum(o["bad"] for o in out) + args.requests - done,
           "seconds": round(wall, 2), "per_second": round(done / wall, 1),
           "p50_ms": round(pct(all_lat, 0.50) * 1000, 2) if done else None,
           "p99_ms": round(pct(all_lat, 0.99) * 1000, 2) if done else None,
           "max_ms": round(all_lat[-1] * 1000, 2) if done else None,
           "server_cpu_cores": round(srv_cpu / wall, 2),
           "client_cpu_cores": round(sum(o["cpu"] for o in out) / wall, 2),
           # = requests when the server closes every connection after its answer
           "connections_opened": sum(o["connects"] for o in out),
           # audit records per write transaction (group commit); None: a server without it
           "audit_records_per_commit": round(recs / commits, 1) if commits else None}
    return fig, sum(o["ok200"] for o in out)


def clip_ranges(port, token, cams, frm, clip_seconds):
    """Per camera, the last clip_seconds (whole seconds) of its closed segments, from one timeline
    request each: {camera: (from, to)}. Returns (ranges, views answered 200)."""
    cl, ranges, answered = Client(port, token), {}, 0
    for cam in cams:
        st, body, _, _ = cl.get(f"/api/v1/cameras/{cam}/timeline?from=@{frm}"
                                f"&to=@{int(time.time()) + 1}")
        answered += st == 200
        segs = json.loads(body)["segments"] if st == 200 else []
        if segs:
            first, last = segs[0]["start_us"] // 10**6 + 1, segs[-1]["end_us"] // 10**6
            if last > first:
                ranges[cam] = (max(first, last - clip_seconds), last)
    cl.close()
    return ranges, answered


def us_of(stamp):
    """µs since the epoch of the server's "2026-11-22T09:30:00.123456Z"."""
    whole, _, frac = stamp.rstrip("Z").partition(".")
    t = time.strptime(whole, "%Y-%m-%dT%H:%M:%S")
    return calendar.timegm(t) * 10**6 + int((frac + "000000")[:6])


def viewer_phase(args, port, token, ranges):
    """Every step of --viewers; returns (figures, number answered 200)."""
    cams, steps, answered = sorted(ranges), [], 0
    for v in (int(x) for x in args.viewers.split(",")):
        def view(i):
            cam = cams[i % len(cams)]
            frm, to = ranges[cam]
            cl = Client(port, token)
            st, n, hdr, dt = cl.get(f"/api/v1/cameras/{cam}/video.mp4?from=@{frm}&to=@{to}",
                                    sink=True)
            cl.close()
            full = st == 200 and n and str(n) == hdr.get("Content-Length")
            media_s = (us_of(hdr["X-Camvault-End"]) - us_of(hdr["X-Camvault-Start"])) / 1e6 \
                if full and "X-Camvault-End" in hdr else 0
            return {"status": st, "bytes": n or 0, "seconds": dt, "media_s": media_s,
                    "complete": bool(full and media_s > 0)}
        t0 = time.perf_counter()
        out = run_threads(v, view)
        wall = time.perf_counter() - t0
        answered += sum(1 for x in out if x["status"] == 200)
        done = [x for x in out if x["complete"]]
        xrt = [(x["bytes"] / x["seconds"]) / (x["bytes"] / x["media_s"]) for x in done]
        steps.append({"viewers": v, "complete": len(done),
                      "at_real_time": sum(1 for r in xrt if r >= 1),
                      "slowest_x_real_time": round(min(xrt), 1) if xrt else 0,
                      "clip_mb": round(sum(x["bytes"] for x in done) / max(len(done), 1) / 1e6,
                                       2),
                      "clip_media_s": round(sum(x["media_s"] for x in done) /
                                            max(len(done), 1), 2),
                      "seconds": round(wall, 3),
                      "aggregate_mb_per_s": round(sum(x["bytes"] for x in done) / wall / 1e6, 1)})
    return steps, answered


def main():
    ap = bl.arg_parser(
        __doc__, cameras=20, width=640, height=360, gop=50, bitrate="800k", segment_seconds=10,
        warmup=(float, 55, "seconds of recording before serving"),
        requests=(int, 10000, "timeline requests"), concurrency=(int, 50, "timeline connections"),
        client_procs=(int, os.cpu_count(), "client processes sharing the timeline connections"),
        viewers=(None, "1,10,40,80,160,240", "comma-separated numbers of concurrent video.mp4 "
                 "viewers (the server takes at most 256 connections)"), clip_seconds=30)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cv-http-", dir=bl.WORK_DIR))
    root = work / "root"
    sim = rec = srv = None
    res = {"stream": f"{args.width}x{args.height} 25 fps GOP {args.gop} H.264 {args.bitrate}bit/s",
           "cameras": args.cameras, "segment_seconds": args.segment_seconds}
    problems = []
    try:
        cli(root, "init")
        port = bl.free_port()
        sim = bl.start_camsim(port, args.cameras, work / "camsim.json", args.width, args.height,
                              25, args.gop, args.bitrate, log=work / "camsim.log")
        cams = [f"cam{i:03d}" for i in range(1, args.cameras + 1)]
        token = add_site(root, port, cams)
        frm = int(time.time())
        rec = start_record(root, work, args.segment_seconds)
        time.sleep(args.warmup)
        records0, _ = audit_records(root)
        srv, hport = start_serve(root, work,
                                 lambda log: "http: camvault serve did not start: " + log[-500:])
        time.sleep(0.5)
        res["rss_idle_mb"] = round(mem(srv.pid)["VmRSS"] / 1e6, 1)

        res["timeline"], views = timeline_phase(args, hport, token, cams, frm, srv)
        m = mem(srv.pid)
        res["rss_after_timeline_mb"], res["rss_peak_timeline_mb"] = (round(m["VmRSS"] / 1e6, 1),
                                                                    round(m["VmHWM"] / 1e6, 1))
        ranges, n = clip_ranges(hport, token, cams, frm, args.clip_seconds)
        views += n
        if not ranges:
            problems.append("no camera has a closed segment to view (longer --warmup?)")
        else:
            res["video"], n = viewer_phase(args, hport, token, ranges)
            views += n
            full = [s["viewers"] for s in res["video"] if s["at_real_time"] == s["viewers"]]
            res["viewers_at_real_time"] = max(full, default=0)
            res["viewers_tried"] = max(s["viewers"] for s in res["video"])
            res["slowest_x_real_time_at_most_viewers"] = res["video"][-1]["slowest_x_real_time"]
        m = mem(srv.pid)
        res["rss_after_video_mb"], res["rss_peak_mb"] = (round(m["VmRSS"] / 1e6, 1),
                                                        round(m["VmHWM"] / 1e6, 1))
        res["server_alive"], res["recorder_alive"] = srv.poll() is None, rec.poll() is None
        srv_exit = bl.stop(srv)
        records1, intact = audit_records(root)
        res["audit"] = {"views_answered": views, "records_added":
                        records1 - records0 if None not in (records0, records1) else None,
                        "chain_intact": intact, "server_exit": srv_exit}
    finally:
        bl.stop(srv)
        bl.stop(rec)
        bl.stop(sim)
        shutil.rmtree(work, ignore_errors=True)

    tl = res["timeline"]
    if tl["failed"]:
        problems.append(f"{tl['failed']} timeline requests failed")
    for s in res.get("video", []):
        if s["complete"] != s["viewers"]:
            problems.append(f"{s['viewers'] - s['complete']} of {s['viewers']} viewers not "
                            "answered in full")
    if not (res["server_alive"] and res["recorder_alive"]):
        problems.append("the server or the recorder died")
    a = res["audit"]
    if not a["chain_intact"] or a["records_added"] != a["views_answered"]:
        problems.append(f"audit: {a['records_added']} records added for {a['views_answered']} "
                        f"views answered, chain intact: {a['chain_intact']}")
    res["problems"] = problems
    bl.write_result(args.out, "http", res)
    print(f"http: timeline {tl['per_second']} requests/s at concurrency {tl['concurrency']}, "
          f"p50 {tl['p50_ms']} ms, p99 {tl['p99_ms']} ms, max {tl['max_ms']} ms, "
          f"{tl['failed']} failed (server {tl['server_cpu_cores']} cores, client "
          f"{tl['client_cpu_cores']}; {tl['audit_records_per_commit']} audit records per commit)")
    for s in res.get("video", []):
        print(f"http: {s['viewers']} viewers: {s['at_real_time']} at real time, slowest "
              f"{s['slowest_x_real_time']}x, {s['aggregate_mb_per_s']} MB/s in all")
    print(f"http: server RSS idle {res['rss_idle_mb']} MB, peak {res['rss_peak_mb']} MB; audit "
          f"{a['records_added']} records for {a['views_answered']} views, chain intact "
          f"{a['chain_intact']}")
    for p in problems:
        print(f"http: FAILED: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
