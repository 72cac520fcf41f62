#!/usr/bin/python3
"""Live view latency and what CMAF chunks cost the recorder (issue 12).

latency: one camsim camera (25 fps) recorded by `camvault record` and served by `camvault serve`;
  a client reads live.mp4 for --seconds and takes, for every chunk, the time its mdat has
  arrived minus the wall clock of its first sample (the chunk's prft). Median and p99 at each
  GOP of --gops (seconds), with chunks (live_chunk_ms default 200) and, at the first GOP, without
  (live_chunk_ms = 0: one moof+mdat per GOP, as before).
cpu: the recorder's CPU per camera recording N=--cameras camsim cameras, with and without chunks,
  alternated --rounds times (the machine is shared: alternating evens out its load).
Nothing is asserted; the result is one JSON file (bench/results/live-*.json).
"""
import http.client
import shutil
import statistics
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import benchlib as bl



def login(port, user, password):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = ('{"user": "%s", "password": "%s"}' % (user, password)).encode()
    c.request("POST", "/api/v1/login", body, {"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    return r.getheader("Set-Cookie").split(";")[0].split("=", 1)[1]


def read_live(port, cookie, seconds):
    """Latencies (s) of the chunks of live.mp4 read for `seconds`."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/api/v1/cameras/c1/live.mp4", headers={"Cookie": f"cv_session={cookie}"})
    r = c.getresponse()
    if r.status != 200:
        return None
    buf, off, prft, lat = b"", 0, None, []
    for now, data in bl.read_live(r, seconds):
        buf += data
        while off + 8 <= len(buf):
            size, typ = struct.unpack(">I4s", buf[off:off + 8])
            if size < 8 or off + size > len(buf):
                break
            if typ == b"prft":
                prft = bl.prft_wall(buf, off)
            elif typ == b"mdat" and prft is not None:
                lat.append(now - prft)
                prft = None
            off += size
        buf, off = buf[off:], 0  # keep only the incomplete box: the reader must keep up
    c.close()
    return lat


def setup_root(work, name, port, n, chunk_ms):
    root = work / name
    bl.cv("init", root=root)
    for i in range(1, n + 1):
        bl.cv("camera", "add", f"c{i}", "--url", f"rtsp://127.0.0.1:{port}/cam{i}", root=root)
    if chunk_ms is not None:
        (root / "camvault.conf").write_text(f"live_chunk_ms = {chunk_ms}\n")
    return root


def latency(args, work, gop_s, chunk_ms):
    port = bl.free_port()
    sim = bl.start_camsim(port, 1, work / "lat-sim.json", width=1280, height=720,
                          gop=int(gop_s * 25), bitrate="2000k")
    root = setup_root(work, f"lat-{gop_s}-{chunk_ms}", port, 1, chunk_ms)
    r = subprocess.run([str(bl.CAMVAULT), "user", "add", "bench", "--role", "officer",
                        "--password-stdin", "--root", str(root)], input="bench password 1\n",
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    hport = bl.free_port()
    rec = srv = None
    try:
        rec = subprocess.Popen([str(bl.CAMVAULT), "record", "--root", str(root),
                                "--segment-seconds", "60"], stderr=subprocess.DEVNULL)
        srv = subprocess.Popen([str(bl.CAMVAULT), "serve", "--root", str(root), "--listen",
                                f"127.0.0.1:{hport}"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        lat, t0 = None, time.monotonic()
        while time.monotonic() - t0 < 60:
            try:
                cookie = login(hport, "bench", "bench password 1")
                lat = read_live(hport, cookie, args.seconds)
                if lat:
                    break
            except (OSError, AttributeError):
                pass
            time.sleep(1)
    finally:
        bl.stop(srv)
        bl.stop(rec)
        bl.stop(sim)
        shutil.rmtree(root, ignore_errors=True)
    if not lat:
        return None
    lat.sort()
    return {"gop_s": gop_s, "live_chunk_ms": 200 if chunk_ms is None else chunk_ms,
            "chunks": len(lat), "median_ms": round(1000 * statistics.median(lat)),
            "p99_ms": round(1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))]),
            "max_ms": round(1000 * lat[-1])}


def cpu(args, work, chunk_ms, rnd):
    port = bl.free_port()
    sim = bl.start_camsim(port, args.cameras, work / "cpu-sim.json", width=1280, height=720,
                          bitrate="2000k")
    root = setup_root(work, f"cpu-{chunk_ms}-{rnd}", port, args.cameras, chunk_ms)
    rec = None
    try:
        rec = subprocess.Popen([str(bl.CAMVAULT), "record", "--root", str(root),
                                "--segment-seconds", "10"], stderr=subprocess.DEVNULL)
        time.sleep(args.warmup)
        m = bl.measure([rec.pid], args.cpu_seconds, others={"camsim": sim.pid})
    finally:
        bl.stop(rec)
        bl.stop(sim)
        shutil.rmtree(root, ignore_errors=True)
    return 100 * m["cpu_cores"] / args.cameras


def main():
    ap = bl.arg_parser(__doc__, seconds=(float, 60, "live.mp4 read per case"),
                       gops=(None, "2,4", "GOP lengths in seconds"), cameras=50,
                       cpu_seconds=(float, 30), warmup=(float, 8), rounds=2)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="camvault-live-", dir=bl.WORK_DIR))
    try:
        gops = [float(g) for g in args.gops.split(",")]
        lat = []
        for g in gops:
            for chunk in ([None, 0] if g == gops[0] else [None]):
                x = latency(args, work, g, chunk)
                if x:
                    print(f"live: GOP {g:g} s, live_chunk_ms {x['live_chunk_ms']}: median "
                          f"{x['median_ms']} ms, p99 {x['p99_ms']} ms ({x['chunks']} chunks)",
                          flush=True)
                    lat.append(x)
        runs = {"chunked": [], "unchunked": []}
        if args.rounds == 0:  # latency only
            bl.write_result(args.out, "live", {"latency": lat, "cpu": None})
            return 0 if lat else 1
        for rnd in range(args.rounds):
            for name, chunk in (("unchunked", 0), ("chunked", None)):
                v = cpu(args, work, chunk, rnd)
                runs[name].append(round(v, 4))
                print(f"live: N={args.cameras} {name}: {v:.3f} % of a core per camera",
                      flush=True)
        before, after = statistics.mean(runs["unchunked"]), statistics.mean(runs["chunked"])
        res = {"latency": lat, "cpu": {"cameras": args.cameras, "stream": "1280x720 25 fps 2 Mbit/s",
                                       "pct_core_per_camera_unchunked": runs["unchunked"],
                                       "pct_core_per_camera_chunked": runs["chunked"],
                                       "change_pct": round(100 * (after - before) / before, 1)}}
        bl.write_result(args.out, "live", res)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if lat else 1


if __name__ == "__main__":
    raise SystemExit(main())
