#!/usr/bin/python3
"""camsim benchmark: camsim's own CPU and memory while it serves N sessions.

For each N, one camsim serves N cameras (1080p, 25 fps, GOP 50, 4 Mbit/s by default) and
tests/bench/rtsp_load.py plays all N over TCP interleaved in drain mode (bytes discarded in the
kernel). After a warm-up, camsim's CPU (utime+stime, % of one core), peak RSS, frames sent and
its system calls (perf stat, if perf is installed) are taken over the window; the run fails unless
all N sessions play and camsim drops none.
"""
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib as bl


def start_syscall_count(pid, seconds):
    """Starts `perf stat` counting pid's system calls for `seconds`; None without perf."""
    try:
        return subprocess.Popen(["perf", "stat", "-x", ",", "-e", "raw_syscalls:sys_enter", "-p",
                                 str(pid), "--", "sleep", str(seconds)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    except OSError:
        return None


def syscall_count(perf):
    """The count from start_syscall_count's perf, or None."""
    if perf is None:
        return None
    err = perf.communicate()[1]
    for line in err.splitlines():
        f = line.split(",")
        if len(f) > 2 and "raw_syscalls:sys_enter" in f[2] and f[0].isdigit():
            return int(f[0])
    return None


def run_one(args, n, work):
    port, stats = bl.free_port(), work / f"camsim-{n}.json"
    sim = bl.start_camsim(port, n, stats, args.width, args.height, 25, 50, args.bitrate,
                          log=work / f"camsim-{n}.log")
    load = None
    try:
        load = subprocess.Popen([sys.executable, str(Path(__file__).parent / "rtsp_load.py"),
                                 "--port", str(port), "--sessions", str(n), "--seconds",
                                 str(args.warmup + args.seconds + 2), "--mode", "drain"],
                                stdout=subprocess.PIPE, text=True)
        ready = json.loads(load.stdout.readline() or "{}")
        time.sleep(args.warmup)
        f0, perf = bl.read_stats(stats), start_syscall_count(sim.pid, args.seconds)
        m = bl.measure([sim.pid], args.seconds, others={"client": load.pid})
        f1, nsys = bl.read_stats(stats), syscall_count(perf)
        out = json.loads(load.stdout.readline() or "{}")
        load.wait(60)
    finally:
        bl.stop(load)
        bl.stop(sim)
    frames = sum(v["video_frames_sent"] for v in f1["cameras"].values()) - \
        sum(v["video_frames_sent"] for v in f0["cameras"].values())
    dt = m["window_s"]
    return {"sessions": n, "playing": ready.get("playing", 0),
            "cpu_pct_core": round(100 * m["cpu_cores"], 2),
            "cpu_pct_core_per_session": round(100 * m["cpu_cores"] / n, 4),
            "rss_mb": round(m["rss_peak_bytes"] / 1e6, 1),
            "client_cpu_pct_core": round(100 * m["client_cpu_cores"], 1),
            "frames_per_s": round(frames / dt), "expected_frames_per_s": 25 * n,
            "syscalls_per_s": round(nsys / args.seconds) if nsys is not None else None,
            "syscalls_per_frame": round(nsys / args.seconds / (frames / dt), 2)
            if nsys is not None and frames else None,
            "client_mbit_per_s": round(out.get("bytes", 0) * 8 / 1e6 /
                                       (args.warmup + args.seconds + 2), 1),
            "sessions_active": f1.get("sessions_active"),
            "sessions_dropped": f1.get("sessions_dropped"),
            "client_errors": out.get("errors", ["client gave no result"])}


def main():
    ap = bl.arg_parser(__doc__, sessions=(None, "500,1000", "comma-separated N"),
                       seconds=(float, 20), warmup=(float, 6), width=1920, height=1080,
                       bitrate="4000k")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="cv-camsim-", dir=bl.WORK_DIR) as d:
        runs = [run_one(args, int(n), Path(d)) for n in args.sessions.split(",")]
    bad = [r for r in runs if r["playing"] != r["sessions"] or r["sessions_dropped"] or
           r["client_errors"]]
    bl.write_result(args.out, "camsim", {
        "stream": f"{args.width}x{args.height} 25 fps GOP 50 H.264 {args.bitrate}bit/s, "
                  "RTP over RTSP/TCP", "seconds": args.seconds, "runs": runs})
    for r in runs:
        print(f"camsim: {r['sessions']} sessions: {r['cpu_pct_core']}% of a core, "
              f"{r['rss_mb']} MB, {r['syscalls_per_s']} syscalls/s, "
              f"dropped {r['sessions_dropped']}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
