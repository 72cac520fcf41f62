#!/usr/bin/python3
"""HTTP benchmark (for the issue note, not a test): `camvault serve` while `camvault record`
records N simulated cameras (default 20: 640x360, 25 fps, GOP 50, 800 kbit/s, 10-s segments).

1. Timeline requests per second and latency percentiles: --requests timeline requests over
   --concurrency keep-alive clients (bearer token; spread over loopback source addresses so the
   per-address connection limit is not what is measured). Each request is a real view: it reads
   the index and appends one audit record (one LMDB write transaction).
2. Concurrent video.mp4 viewers: V viewers each fetch a --clip-seconds clip of a different
   camera as fast as they can, for V = 1, 5, 10, 20, 40, 80; a viewer is "at full rate" when its
   throughput is at least the clip's own bitrate (bytes / clip duration). Reported: the largest
   V at which every viewer was at full rate, and the aggregate MB/s.
3. Server memory: VmRSS after each phase and VmHWM (peak).

Results as JSON on stdout (and bench/results/http-<time>.json).
"""
import argparse
import concurrent.futures
import http.client
import json
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CAMVAULT = REPO / "build" / "camvault"
CAMSIM = REPO / "build" / "camsim"
PASSWORD = "correct horse battery"


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cv(root, *args, inp=None):
    return subprocess.run([str(CAMVAULT), args[0], "--root", str(root), *map(str, args[1:])],
                          input=inp, capture_output=True, text=True, check=True)


def mem(pid):
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            out[k] = int(v.split()[0]) * 1024
    return out


def pool_run(n, conc, fn):
    with concurrent.futures.ThreadPoolExecutor(conc) as pool:
        return list(pool.map(fn, range(n)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cameras", type=int, default=20)
    ap.add_argument("--requests", type=int, default=10000)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--clip-seconds", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=55, help="seconds of recording before")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cv-httpbench-"))
    root = tmp / "root"
    procs = []
    res = {"cameras": args.cameras}
    try:
        cv(root, "init")
        port = free_port()
        sim = subprocess.Popen([str(a) for a in [CAMSIM, "--port", port, "--cameras", args.cameras, "--name", "c",
                                "--width", 640, "--height", 360, "--fps", 25, "--gop", 50,
                                "--bitrate", "800k", "--loop-seconds", 8, "--media-dir",
                                REPO / "build" / "camsim-media", "--duration", 3600]],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        procs.append(sim)
        sim.stdout.readline()
        for i in range(1, args.cameras + 1):
            cv(root, "camera", "add", f"cam{i}", "--url", f"rtsp://127.0.0.1:{port}/c{i}")
        cv(root, "user", "add", "olga", "--role", "officer", "--password-stdin",
           inp=PASSWORD + "\n")
        token = cv(root, "user", "token", "olga").stdout.split()[-1]
        rec = subprocess.Popen([str(CAMVAULT), "record", "--root", str(root),
                                "--segment-seconds", "10"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(rec)
        time.sleep(args.warmup)
        hport = free_port()
        srv = subprocess.Popen([str(CAMVAULT), "serve", "--root", str(root), "--listen",
                                f"127.0.0.1:{hport}"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
        procs.append(srv)
        srv.stdout.readline()
        res["rss_idle"] = mem(srv.pid)["VmRSS"]
        now = int(time.time())
        frm, to = now - args.warmup, now
        local = threading.local()
        counter = iter(range(1 << 30))
        lock = threading.Lock()

        def conn():
            if not hasattr(local, "c"):
                with lock:
                    n = next(counter)
                local.c = http.client.HTTPConnection(
                    "127.0.0.1", hport, timeout=120, source_address=(f"127.0.0.{2 + n % 8}", 0))
            return local.c

        def get(path):
            c = conn()
            t = time.perf_counter()
            try:
                c.request("GET", path, headers={"Authorization": f"Bearer {token}"})
                r = c.getresponse()
                body = r.read()
            except (OSError, http.client.HTTPException):
                local.__dict__.pop("c", None)
                return None, 0, time.perf_counter() - t
            return r.status, len(body), time.perf_counter() - t

        # 1. timeline
        def tl(i):
            return get(f"/api/v1/cameras/cam{1 + i % args.cameras}/timeline?from=@{frm}&to=@{to}")
        t0 = time.perf_counter()
        out = pool_run(args.requests, args.concurrency, tl)
        wall = time.perf_counter() - t0
        lat = sorted(x[2] for x in out)
        res["timeline"] = {
            "requests": args.requests, "concurrency": args.concurrency,
            "failed": sum(1 for x in out if x[0] != 200),
            "per_second": round(args.requests / wall, 1),
            "p50_ms": round(lat[len(lat) // 2] * 1000, 2),
            "p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 2),
            "max_ms": round(lat[-1] * 1000, 2)}
        res["rss_after_timeline"] = mem(srv.pid)["VmRSS"]

        # 2. video viewers
        vto = to - 15  # closed 10-s segments only
        vfrom = vto - args.clip_seconds
        viewers = []
        for v in (1, 5, 10, 20, 40, 80):
            def view(i):
                return get(f"/api/v1/cameras/cam{1 + i % args.cameras}/video.mp4"
                           f"?from=@{vfrom}&to=@{vto}")
            t0 = time.perf_counter()
            out = pool_run(v, v, view)
            wall = time.perf_counter() - t0
            ok = [x for x in out if x[0] == 200]
            need = [x[1] / args.clip_seconds for x in ok]  # bytes/s of the clip itself
            rate = [x[1] / x[2] for x in ok]
            full = len(ok) == v and all(r >= n for r, n in zip(rate, need))
            viewers.append({"viewers": v, "ok": len(ok), "all_full_rate": full,
                            "slowest_x_realtime": round(min(r / n for r, n in zip(rate, need)), 1)
                            if ok else 0,
                            "aggregate_MBps": round(sum(x[1] for x in ok) / wall / 1e6, 1)})
        res["video"] = viewers
        res["video_full_rate_viewers"] = max([x["viewers"] for x in viewers
                                              if x["all_full_rate"]], default=0)
        m = mem(srv.pid)
        res["rss_after_video"], res["rss_peak"] = m["VmRSS"], m["VmHWM"]
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    for k in [k for k in res if k.startswith("rss")]:
        res[k + "_MB"] = round(res.pop(k) / 1e6, 1)
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"http-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
