#!/usr/bin/python3
"""Live fan-out: N live.mp4 viewers of 4 cameras with the recorder running (issue 17).

--cameras camsim cameras (1280x720, 25 fps, 2 Mbit/s, 2-s GOP) recorded by `camvault record`
and served by `camvault serve` (http_max_connections raised to hold them). For each N of
--viewers, a load generator (--procs processes, one event loop each: build/live-load from
tests/bench/live_load.c, or this script's asyncio one with --generator asyncio) opens N live.mp4
streams spread evenly over the cameras and reads them as fast as they come; after --warmup, for
--seconds:

  - per viewer, the bytes received divided by what its camera's segment files grew by over the
    same window (1.0 = real time; the stream is the stored bytes, so this is the right ruler);
  - the server's CPU (cores) and its resident memory over the same server with no viewer, per
    viewer; the load generator's CPU beside it (it shares the 2 cores);
  - the time a new login takes (POST /api/v1/login, scrypt) while the load is on, --logins times;
  - the server's camvault_live_* metrics (hubs, viewers, skips of slow viewers).

The machine's open-file limit bounds N (the generator raises its soft limit to the hard one;
the server raises its own). Nothing is asserted; the result is one JSON file
(bench/results/live_viewers-*.json).
"""
import argparse
import asyncio
import http.client
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib as bl

PASSWORD = "bench password 1"
LIVE_LOAD = bl.BUILD / "live-load"  # tests/bench/live_load.c: the same protocol in C
PER_ADDRESS = 30  # viewers per source address with --slowloris (under the default limit, 32)


# ---- the load generator (a child process: --gen) ----

class Viewer(asyncio.BufferedProtocol):
    buf = bytearray(256 * 1024)  # shared: the bytes are counted, not kept

    def __init__(self, request, done):
        self.request, self.done, self.got, self.status = request, done, 0, None

    def connection_made(self, transport):
        transport.write(self.request)

    def get_buffer(self, sizehint):
        return self.buf

    def buffer_updated(self, nbytes):
        if self.status is None:
            self.status = bytes(self.buf[9:12])
        self.got += nbytes

    def connection_lost(self, exc):
        if not self.done.done():
            self.done.set_result(None)


async def generate(port, cookie, cams, first, count):
    loop = asyncio.get_running_loop()
    viewers = []

    async def connect(v):
        for attempt in range(20):
            try:
                await loop.create_connection(lambda: v, "127.0.0.1", port)
                return
            except OSError:
                await asyncio.sleep(0.2 * (attempt + 1))

    batch = []
    for i in range(first, first + count):
        cam = f"c{i % cams + 1}"
        req = (f"GET /api/v1/cameras/{cam}/live.mp4 HTTP/1.1\r\nHost: camvault\r\n"
               f"Cookie: cv_session={cookie}\r\n\r\n").encode()
        v = Viewer(req, loop.create_future())
        v.cam = cam
        viewers.append(v)
        batch.append(connect(v))
        if len(batch) == 50:  # 50 connects at a time: do not flood the accept queue
            await asyncio.gather(*batch)
            batch = []
    await asyncio.gather(*batch)
    print(json.dumps({"connected": len(viewers)}), flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    marks = []
    while True:
        line = (await reader.readline()).decode().strip()
        if line in ("mark", ""):
            marks.append([v.got for v in viewers])
            print(json.dumps({"marked": len(marks)}), flush=True)
        if line in ("quit", "") or len(marks) == 2:
            break
    print(json.dumps({"cams": [v.cam for v in viewers], "status": [
        (v.status or b"").decode(errors="replace") for v in viewers], "marks": marks}),
        flush=True)


def gen_main(args):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(generate(args.port, args.cookie, args.cameras, args.first, args.count))
    return 0


# ---- the driver ----

def login(port):
    """(seconds, cookie) of one login."""
    t0 = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request("POST", "/api/v1/login", json.dumps({"user": "bench", "password": PASSWORD}),
              {"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    dt = time.monotonic() - t0
    c.close()
    if r.status != 200:
        raise RuntimeError(f"login: HTTP {r.status}")
    return dt, r.getheader("Set-Cookie").split(";")[0].split("=", 1)[1]


def live_metrics(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", "/metrics")
    body = c.getresponse().read().decode()
    c.close()
    return {k: float(v) for k, v in (line.rsplit(" ", 1) for line in body.splitlines()
                                     if line.startswith(("camvault_live_", "camvault_http_conn")))}


def camera_bytes(root, cams):
    """Bytes of every camera's segment files now."""
    out = {}
    for i in range(1, cams + 1):
        out[f"c{i}"] = sum(p.stat().st_size for p in (root / "volumes").glob(f"*/c{i}/*/*.mp4"))
    return out


def one_n(args, root, port, srv, n, base_rss):
    _, cookie = login(port)
    procs = max(1, min(args.procs, n))
    gens = []
    for k in range(procs):
        first, count = n * k // procs, n * (k + 1) // procs - n * k // procs
        argv = ["--port", str(port), "--cookie", cookie, "--cameras", str(args.cameras),
                "--first", str(first), "--count", str(count)] + \
            (["--per-address", str(PER_ADDRESS)] if args.slowloris else [])
        gens.append(subprocess.Popen(
            [str(LIVE_LOAD)] + argv if args.generator == "c" else
            [sys.executable, __file__, "--gen"] + argv,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
    t0 = time.monotonic()
    for g in gens:
        json.loads(g.stdout.readline())  # all connected
    connect_s = time.monotonic() - t0
    time.sleep(args.warmup)
    gpids = [g.pid for g in gens]
    b0, cpu0, gcpu0, w0 = camera_bytes(root, args.cameras), bl.cpu_seconds([srv.pid]), \
        bl.cpu_seconds(gpids), time.monotonic()
    for g in gens:
        g.stdin.write("mark\n")
        g.stdin.flush()
        json.loads(g.stdout.readline())
    attack = None
    if args.slowloris:  # 8 loopback addresses trickle request headers through the window
        attack = bl.Slowloris(port, [f"127.0.0.{i}" for i in range(2, 10)], args.slowloris)
        while attack.rounds < 2:
            time.sleep(0.2)
    logins, rss = [], []
    end = w0 + args.seconds
    for i in range(args.logins):
        time.sleep(max(0.0, (end - time.monotonic()) / (args.logins - i + 1)))
        logins.append(login(port)[0])
        rss.append(bl.rss_bytes([srv.pid]))
    while time.monotonic() < end:
        rss.append(bl.rss_bytes([srv.pid]))
        time.sleep(min(0.5, max(0.0, end - time.monotonic())))
    attack_held = attack.held if attack else 0
    if attack:
        attack.close()
    for g in gens:
        g.stdin.write("mark\n")
        g.stdin.flush()
    marks = []
    for g in gens:
        json.loads(g.stdout.readline())
    dt = time.monotonic() - w0
    cpu, gcpu = (bl.cpu_seconds([srv.pid]) - cpu0) / dt, (bl.cpu_seconds(gpids) - gcpu0) / dt
    b1 = camera_bytes(root, args.cameras)
    m = live_metrics(port)
    cams, status = [], []
    got = []
    for g in gens:
        r = json.loads(g.stdout.readline())
        cams += r["cams"]
        status += r["status"]
        got += [b - a for a, b in zip(r["marks"][0], r["marks"][1])]
        marks.append(r)
        g.stdin.close()
        g.wait(60)
    grew = {c: b1[c] - b0[c] for c in b1}
    ratio = sorted(got[i] / grew[cams[i]] if grew[cams[i]] else 0.0 for i in range(n))
    ok = sum(1 for s in status if s == "200")
    peak = max(rss)
    res = {
        "viewers": n, "answered_200": ok, "connect_s": round(connect_s, 2),
        "window_s": round(dt, 2),
        "camera_mbit_s": {c: round(8 * v / dt / 1e6, 2) for c, v in grew.items()},
        "realtime_ratio": {"min": round(ratio[0], 3), "p10": round(ratio[n // 10], 3),
                           "median": round(statistics.median(ratio), 3),
                           "share_at_0_95": round(sum(1 for x in ratio if x >= 0.95) / n, 3)},
        "server_cpu_cores": round(cpu, 3),
        "server_cpu_pct_core_per_viewer": round(100 * cpu / n, 4),
        "generator_cpu_cores": round(gcpu, 3),
        "server_rss_mb": round(peak / 2**20, 1),
        "server_rss_kb_per_viewer": round((peak - base_rss) / 1024 / n, 1),
        "login_s": [round(x, 3) for x in logins],
        "slowloris": {"connections": 8 * args.slowloris, "held_at_end": attack_held}
        if attack else None,
        "metrics": m,
    }
    print(f"live_viewers: N={n}: {ok} answered, real time ratio median "
          f"{res['realtime_ratio']['median']}, min {res['realtime_ratio']['min']} "
          f"({100 * res['realtime_ratio']['share_at_0_95']:.0f} % at >= 0.95); server "
          f"{cpu:.2f} cores ({res['server_cpu_pct_core_per_viewer']} %/viewer), RSS "
          f"{res['server_rss_mb']} MB ({res['server_rss_kb_per_viewer']} KB/viewer); generator "
          f"{gcpu:.2f} cores; login {', '.join(f'{x:.2f}' for x in logins)} s"
          f"{f' (slowloris {8 * args.slowloris} connections)' if attack else ''}; skips "
          f"{m.get('camvault_live_skips_total', 0):.0f}", flush=True)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--viewers", default="100,1000,5000")
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=30, help="measurement window per N")
    ap.add_argument("--warmup", type=float, default=8, help="after all viewers connected")
    ap.add_argument("--logins", type=int, default=3, help="logins timed during each window")
    ap.add_argument("--procs", type=int, default=2, help="load generator processes")
    ap.add_argument("--slowloris", type=int, default=0, metavar="K",
                    help="during each window, K slowloris connections from each of 8 loopback "
                         "addresses (127.0.0.2-9), the server's per-address limit at its default")
    ap.add_argument("--generator", choices=("c", "asyncio"), default="c",
                    help="c: build/live-load (make bench builds it); asyncio: this script")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--bitrate", default="2000k")
    ap.add_argument("--out", default=str(bl.REPO / "bench" / "results"))
    ap.add_argument("--gen", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--cookie", help=argparse.SUPPRESS)
    ap.add_argument("--first", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.slowloris and args.generator != "c":
        ap.error("--slowloris needs --generator c (viewers spread over many addresses)")
    if args.gen:
        return gen_main(args)
    ns = [int(x) for x in args.viewers.split(",")]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = hard - 512  # the generator's limit, less what else it holds
    ns_run = [n for n in ns if n <= limit * max(1, args.procs)]
    work = Path(tempfile.mkdtemp(prefix="camvault-viewers-", dir=bl.WORK_DIR))
    sim = rec = srv = None
    runs = []
    try:
        cport, hport = bl.free_port(), bl.free_port()
        sim = bl.start_camsim(cport, args.cameras, work / "sim.json", width=args.width,
                              height=args.height, bitrate=args.bitrate)
        root = work / "root"
        bl.cv("init", root=root)
        for i in range(1, args.cameras + 1):
            bl.cv("camera", "add", f"c{i}", "--url", f"rtsp://127.0.0.1:{cport}/cam{i}",
                  root=root)
        conns = max(ns_run) + 256
        # Viewers from one address need the per-address limit raised; with --slowloris they
        # come from many (PER_ADDRESS each) and the limit stays at its default, 32.
        (root / "camvault.conf").write_text(
            f"http_max_connections = {conns}\n" + ("" if args.slowloris else
                                                   f"http_max_connections_per_address = {conns}\n"))
        r = subprocess.run([str(bl.CAMVAULT), "user", "add", "bench", "--role", "officer",
                            "--password-stdin", "--root", str(root)], input=PASSWORD + "\n",
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        rec = subprocess.Popen([str(bl.CAMVAULT), "record", "--root", str(root),
                                "--segment-seconds", "10"], stderr=subprocess.DEVNULL)
        srv = subprocess.Popen([str(bl.CAMVAULT), "serve", "--root", str(root), "--listen",
                                f"127.0.0.1:{hport}"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        t0 = time.monotonic()
        while True:  # every camera has a complete fragment: live.m3u8 answers
            try:
                _, cookie = login(hport)
                codes = []
                for i in range(1, args.cameras + 1):
                    c = http.client.HTTPConnection("127.0.0.1", hport, timeout=30)
                    c.request("GET", f"/api/v1/cameras/c{i}/live.m3u8",
                              headers={"Cookie": f"cv_session={cookie}"})
                    resp = c.getresponse()
                    resp.read()
                    codes.append(resp.status)
                    c.close()
                if all(x == 200 for x in codes):
                    break
            except (OSError, RuntimeError):
                pass
            if time.monotonic() - t0 > 90:
                sys.exit("live_viewers: the cameras did not come up within 90 s")
            time.sleep(1)
        base_rss = bl.rss_bytes([srv.pid])
        base_logins = [login(hport)[0] for _ in range(args.logins)]
        print(f"live_viewers: no viewers: server RSS {base_rss / 2**20:.1f} MB, login "
              f"{', '.join(f'{x:.2f}' for x in base_logins)} s", flush=True)
        for n in ns_run:
            runs.append(one_n(args, root, hport, srv, n, base_rss))
            time.sleep(3)  # the viewers' connections close; hubs stop
        bl.write_result(args.out, "live_viewers", {
            "stream": f"{args.cameras} cameras, {args.width}x{args.height} 25 fps "
                      f"{args.bitrate}bit/s, 2-s GOP, live_chunk_ms 200",
            "generator": f"{args.generator}, {args.procs} processes", "fd_limit": [soft, hard],
            "skipped_n": [n for n in ns if n not in ns_run],
            "idle_server_rss_mb": round(base_rss / 2**20, 1),
            "idle_login_s": [round(x, 3) for x in base_logins], "runs": runs})
    finally:
        bl.stop(srv)
        bl.stop(rec)
        bl.stop(sim)
        shutil.rmtree(work, ignore_errors=True)
    return 0 if runs else 1


if __name__ == "__main__":
    raise SystemExit(main())
