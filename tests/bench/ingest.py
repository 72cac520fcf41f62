#!/usr/bin/python3
"""Ingest benchmark: N simulated cameras recorded by camvault, and by one ffmpeg per camera.

camsim serves N cameras (1080p, 25 fps, GOP 50, 4 Mbit/s by default). camvault records them for
--seconds; then, on the same streams, N `ffmpeg -rtsp_transport tcp -i URL -c copy -f segment
-segment_time 10` processes do (how popular recorders do it). For each: CPU % of one core per
camera (utime+stime from /proc over the steady window, after a warm-up), resident memory per
camera (peak of summed VmRSS), frames served by camsim vs frames stored, and bytes written per
second. Results go to bench/results/ingest-<time>.json and a table on stdout.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CAMVAULT = REPO / "build" / "camvault"
CAMSIM = REPO / "build" / "camsim"
HZ = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
        except (OSError, IndexError):
            pass
    return total / HZ


def rss_bytes(pids):
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def measure(pids, warmup, seconds):
    time.sleep(warmup)
    c0, t0, peak = cpu_seconds(pids), time.monotonic(), 0
    end = t0 + seconds
    while time.monotonic() < end:
        peak = max(peak, rss_bytes(pids))
        time.sleep(0.5)
    return (cpu_seconds(pids) - c0) / (time.monotonic() - t0), peak


def camsim_frames(stats):
    d = json.loads(Path(stats).read_text())
    return {k: v["video_frames_sent"] for k, v in d["cameras"].items()}


def start_camsim(args, work):
    port = args.port
    stats = work / "camsim.json"
    p = subprocess.Popen([CAMSIM, "--port", str(port), "--cameras", str(args.cameras), "--name",
                          "cam", "--width", "1920", "--height", "1080", "--fps", "25", "--gop",
                          "50", "--bitrate", args.bitrate, "--loop-seconds", "10", "--media-dir",
                          str(REPO / "build" / "camsim-media"), "--stats", str(stats)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = p.stdout.readline().decode()
    if "serving" not in line:
        sys.exit(f"ingest: camsim did not start: {line!r}")
    return p, port, stats


def run_camvault(args, work, port, stats):
    root = work / "cv"
    subprocess.run([CAMVAULT, "init", "--root", root], check=True, capture_output=True)
    for i in range(1, args.cameras + 1):
        subprocess.run([CAMVAULT, "camera", "add", f"c{i}", "--url",
                        f"rtsp://127.0.0.1:{port}/cam{i}", "--root", root], check=True,
                       capture_output=True)
    before = camsim_frames(stats) if Path(stats).exists() else {}
    rec = subprocess.Popen([CAMVAULT, "record", "--root", root, "--segment-seconds", "10"],
                           stderr=open(work / "camvault.log", "wb"))
    cpu, rss = measure([rec.pid], args.warmup, args.seconds)
    rec.send_signal(signal.SIGTERM)
    rec.wait()
    time.sleep(1.5)
    after = camsim_frames(stats)
    served = sum(after[k] - before.get(k, 0) for k in after)
    stored, nbytes = 0, 0
    for i in range(1, args.cameras + 1):
        q = json.loads(subprocess.run([CAMVAULT, "query", f"c{i}", "--from", "@0", "--to",
                                       "@4102444800", "--json", "--root", root],
                                      capture_output=True, text=True, check=True).stdout)
        stored += sum(s["frames"] for s in q["segments"])
        nbytes += sum(s["bytes"] for s in q["segments"])
    shutil.rmtree(root, ignore_errors=True)
    return {"cpu_pct_core_per_camera": 100 * cpu / args.cameras,
            "rss_mb_per_camera": rss / 1e6 / args.cameras, "rss_mb_total": rss / 1e6,
            "frames_served": served, "frames_stored": stored,
            "frames_lost": served - stored, "bytes_stored": nbytes}


def count_frames(files):
    n = 0
    for f in files:
        r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-count_packets",
                            "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", str(f)],
                           capture_output=True, text=True)
        try:
            n += int(r.stdout.strip() or 0)
        except ValueError:
            pass
    return n


def run_ffmpeg(args, work, port, stats):
    out = work / "ff"
    out.mkdir()
    before = camsim_frames(stats)
    procs = []
    for i in range(1, args.cameras + 1):
        d = out / f"c{i}"
        d.mkdir()
        procs.append(subprocess.Popen(
            ["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i",
             f"rtsp://127.0.0.1:{port}/cam{i}", "-c", "copy", "-f", "segment", "-segment_time",
             "10", str(d / "%05d.mp4")], stderr=subprocess.DEVNULL))
    cpu, rss = measure([p.pid for p in procs], args.warmup, args.seconds)
    for p in procs:
        p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
    time.sleep(1.5)
    after = camsim_frames(stats)
    served = sum(after[k] - before.get(k, 0) for k in after)
    files = sorted(out.rglob("*.mp4"))
    stored = count_frames(files)
    nbytes = sum(f.stat().st_size for f in files)
    shutil.rmtree(out, ignore_errors=True)
    return {"cpu_pct_core_per_camera": 100 * cpu / args.cameras,
            "rss_mb_per_camera": rss / 1e6 / args.cameras, "rss_mb_total": rss / 1e6,
            "frames_served": served, "frames_stored": stored,
            "frames_lost": served - stored, "bytes_stored": nbytes}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cameras", type=int, default=50)
    ap.add_argument("--seconds", type=int, default=120)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--bitrate", default="4000k")
    ap.add_argument("--port", type=int, default=18654)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--out", default=str(REPO / "bench" / "results"))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cv-bench-", dir="/var/tmp"))
    sim, port, stats = start_camsim(args, work)
    try:
        res = {"cameras": args.cameras, "seconds": args.seconds, "bitrate": args.bitrate,
               "stream": "1920x1080 25 fps GOP 50 H.264", "machine": os.uname().nodename,
               "cores": os.cpu_count(), "camvault": run_camvault(args, work, port, stats)}
        if not args.no_baseline:
            res["ffmpeg_per_camera"] = run_ffmpeg(args, work, port, stats)
    finally:
        sim.send_signal(signal.SIGTERM)
        sim.wait()
        shutil.rmtree(work, ignore_errors=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    dst = Path(args.out) / time.strftime("ingest-%Y%m%dT%H%M%SZ.json", time.gmtime())
    dst.write_text(json.dumps(res, indent=2) + "\n")
    print(f"ingest: {args.cameras} cameras x {args.bitrate} for {args.seconds}s ({dst})")
    print(f"{'recorder':20} {'CPU %/cam':>10} {'RSS MB/cam':>11} {'served':>9} {'stored':>9} {'lost':>6}")
    for k in ("camvault", "ffmpeg_per_camera"):
        if k in res:
            r = res[k]
            print(f"{k:20} {r['cpu_pct_core_per_camera']:10.3f} {r['rss_mb_per_camera']:11.2f} "
                  f"{r['frames_served']:9d} {r['frames_stored']:9d} {r['frames_lost']:6d}")


if __name__ == "__main__":
    main()
