#!/usr/bin/python3
"""Ingest benchmark: N simulated cameras recorded by camvault, and by one ffmpeg per camera.

For each N of --cameras (and, with --until-lost, N + --step ... until frames are lost or
--max-cameras), camsim serves N cameras (1080p, 25 fps, GOP 50, 4 Mbit/s by default) and one
`camvault record` records all of them for --seconds after a --warmup. At the --baseline-at N, N
processes of `ffmpeg -rtsp_transport tcp -i URL -c copy -f segment -segment_time 10` then
record the same streams (how popular recorders work).

Figures per run: CPU % of one core per camera (utime+stime from /proc over the window), peak
summed RSS per camera, bytes written per second (/proc/PID/io write_bytes over the window) as a
fraction of `dd if=/dev/zero bs=1M conv=fdatasync` into the same directory, camsim's CPU, and
frames lost. At the end of a run camsim is stopped first (it hands the kernel what it can and
closes every connection), the recorders read to the end of their streams, and only then are they
stopped; so frames lost are, per camera, the frames camsim counted as sent minus the frames
stored, plus 25 per second of camera-offline gap the recorder logged before camsim stopped
(frames never sent because camsim dropped a client that fell behind; such drops are counted
too). Results: one JSON file, a table on stdout.
"""
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import benchlib as bl


def template_root(work, n, have, port):
    """A data root with cameras c1..cN at cam1..camN of the camsim on port (every run's camsim
    uses the same port). It grows across runs (camera add costs ~40 ms); each run records in a
    copy of it."""
    tpl = work / "template"
    if have == 0:
        bl.cv("init", root=tpl)
    for i in range(have + 1, n + 1):
        bl.cv("camera", "add", f"c{i}", "--url", f"rtsp://127.0.0.1:{port}/cam{i}", root=tpl)
    return tpl


def camera_frames(root, cam, cutoff_us):
    """(frames stored, bytes stored, seconds offline before cutoff_us) of one camera."""
    q = json.loads(bl.cv("query", cam, "--from", "@0", "--to", "@4102444800", "--json",
                         root=root).stdout)
    offline = sum(min(g["end_us"], cutoff_us) - g["start_us"] for g in q["gaps"]
                  if g["reason"] == "camera-offline" and g["start_us"] < cutoff_us) / 1e6
    return (sum(s["frames"] for s in q["segments"]), sum(s["bytes"] for s in q["segments"]),
            offline)


def loss(n, after, stored, offline_s, fps, dropped):
    """Frames lost: per camera, frames camsim handed to the kernel minus frames stored, plus
    frames never sent while the camera was offline to the recorder (gaps x fps)."""
    served = {k: v for k, v in after.items()}
    in_transit = sum(max(0, served.get(f"cam{i}", 0) - stored[i - 1]) for i in range(1, n + 1))
    missed = round(sum(offline_s) * fps)
    return {"frames_served": sum(served.values()), "frames_stored": sum(stored),
            "frames_lost": in_transit + missed, "frames_lost_in_transit": in_transit,
            "frames_missed_offline": missed, "sessions_dropped": dropped}


def start_sim(args, n, work, port, who):
    stats = work / f"camsim-{who}-{n}.json"
    sim = bl.start_camsim(port, n, stats, args.width, args.height, args.fps, 50, args.bitrate,
                          extra=["--max-queue", "4M"], log=work / f"camsim-{who}-{n}.log")
    return sim, stats


def end_sim(sim, stats):
    """Stops camsim first: it hands the kernel what it can, counts it, writes its final stats and
    closes every connection, so each recorder reads to the end of its stream and stores (or
    loses) everything counted as sent; nothing is left in flight when the recorder stops."""
    bl.stop(sim)
    return bl.read_stats(stats)


def run_camvault(args, n, work, port, dd_rate):
    root = work / f"cv-{n}"
    shutil.copytree(work / "template", root)
    sim, stats = start_sim(args, n, work, port, "camvault")
    rec = None
    try:
        rec = subprocess.Popen([str(bl.CAMVAULT), "record", "--root", str(root),
                                "--segment-seconds", "10"],
                               stderr=open(work / f"camvault-{n}.log", "wb"))
        time.sleep(args.warmup)
        m = bl.measure([rec.pid], args.seconds, others={"camsim": sim.pid})
        cutoff_us = int(time.time() * 1e6)
        final = end_sim(sim, stats)
        time.sleep(args.drain)  # the recorder reads to EOF and closes its segments
    finally:
        bl.stop(rec)
        bl.stop(sim)
    with ThreadPoolExecutor(max_workers=2) as pool:
        per_cam = list(pool.map(lambda i: camera_frames(root, f"c{i}", cutoff_us),
                                range(1, n + 1)))
    shutil.rmtree(root, ignore_errors=True)
    res = figures(m, n, dd_rate)
    res.update(loss(n, {k: v["video_frames_sent"] for k, v in final["cameras"].items()},
                    [c[0] for c in per_cam], [c[2] for c in per_cam], args.fps,
                    final["sessions_dropped"]))
    res["bytes_stored"] = sum(c[1] for c in per_cam)
    # Frames the recorder itself dropped because writing fell behind (recorder/loop.h): one
    # warning per episode in its log; the count is in each camera's status reason.
    log = (work / f"camvault-{n}.log").read_text(errors="replace")
    res["queue_drop_episodes"] = log.count("writing fell behind")
    return res


def figures(m, n, dd_rate):
    return {"cpu_pct_core_per_camera": round(100 * m["cpu_cores"] / n, 4),
            "cpu_pct_core_total": round(100 * m["cpu_cores"], 1),
            "rss_mb_per_camera": round(m["rss_peak_bytes"] / 1e6 / n, 2),
            "rss_mb_total": round(m["rss_peak_bytes"] / 1e6, 1),
            "write_mb_per_s": round(m["write_bytes_per_s"] / 1e6, 1),
            "write_fraction_of_dd": round(m["write_bytes_per_s"] / dd_rate, 3),
            "camsim_cpu_pct_core": round(100 * m["camsim_cpu_cores"], 1),
            "window_s": m["window_s"]}


def count_frames(files):
    def one(f):
        r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-count_packets",
                            "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", str(f)],
                           capture_output=True, text=True)
        try:
            return int(r.stdout.strip() or 0)
        except ValueError:
            return 0
    with ThreadPoolExecutor(max_workers=2) as pool:
        return sum(pool.map(one, files))


def run_ffmpeg(args, n, work, port, dd_rate):
    out = work / "ff"
    out.mkdir()
    sim, stats = start_sim(args, n, work, port, "ffmpeg")
    procs = []
    for i in range(1, n + 1):
        d = out / f"c{i}"
        d.mkdir()
        procs.append(subprocess.Popen(
            ["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i",
             f"rtsp://127.0.0.1:{port}/cam{i}", "-c", "copy", "-f", "segment", "-segment_time",
             "10", str(d / "%05d.mp4")], stderr=subprocess.DEVNULL))
    time.sleep(args.warmup)
    m = bl.measure([p.pid for p in procs], args.seconds, others={"camsim": sim.pid})
    died = sum(1 for p in procs if p.poll() is not None)
    final = end_sim(sim, stats)
    time.sleep(args.drain)  # each ffmpeg reads to EOF, finishes its file and exits
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
    stored = [count_frames(sorted((out / f"c{i}").glob("*.mp4"))) for i in range(1, n + 1)]
    nbytes = sum(f.stat().st_size for f in out.rglob("*.mp4"))
    shutil.rmtree(out, ignore_errors=True)
    res = figures(m, n, dd_rate)
    res.update(loss(n, {k: v["video_frames_sent"] for k, v in final["cameras"].items()}, stored,
                    [0.0] * n, args.fps, final["sessions_dropped"]))
    res["processes_died"] = died
    res["bytes_stored"] = nbytes
    return res


def lost(r):
    return r["frames_lost"] > 0 or r["sessions_dropped"] > 0


def main():
    ap = bl.arg_parser(
        __doc__, cameras=(None, "50,200,500", "comma-separated N, always run"), step=150,
        max_cameras=1000, baseline_at=(int, 50, "N at which ffmpeg-per-camera runs too (0: never)"),
        seconds=(float, 60), warmup=(float, 10), width=1920, height=1080, fps=25,
        bitrate="4000k", dd_mb=2048,
        drain=(float, 3, "seconds between stopping camsim and stopping the recorder"))
    ap.add_argument("--until-lost", action="store_true",
                    help="after the last N, add --step cameras until frames are lost")
    args = ap.parse_args()

    ns = [int(x) for x in args.cameras.split(",")]
    work = Path(tempfile.mkdtemp(prefix="cv-ingest-", dir=bl.WORK_DIR))
    runs, have, port = [], 0, bl.free_port()
    try:
        dd_rate = bl.dd_write_rate(work, args.dd_mb)
        print(f"ingest: dd conv=fdatasync into {bl.WORK_DIR}: {dd_rate / 1e6:.0f} MB/s", flush=True)
        i = 0
        while i < len(ns):
            n = ns[i]
            template_root(work, n, have, port)
            have = max(have, n)
            run = {"cameras": n, "camvault": run_camvault(args, n, work, port, dd_rate)}
            if runs and n > runs[-1]["cameras"]:
                # what one more camera costs: the libraries' shared pages are paid once, not by
                # each camera, so this is the figure that scales
                prev = runs[-1]
                run["camvault"]["rss_mb_per_added_camera"] = round(
                    (run["camvault"]["rss_mb_total"] - prev["camvault"]["rss_mb_total"]) /
                    (n - prev["cameras"]), 2)
            if n == args.baseline_at:
                run["ffmpeg_per_camera"] = run_ffmpeg(args, n, work, port, dd_rate)
            runs.append(run)
            c = run["camvault"]
            print(f"ingest: N={n}: camvault {c['cpu_pct_core_per_camera']:.3f} %/cam, "
                  f"{c['rss_mb_per_camera']:.2f} MB/cam, lost {c['frames_lost']}, "
                  f"dropped {c['sessions_dropped']}, {c['write_fraction_of_dd']:.2f} of dd",
                  flush=True)
            i += 1
            if i == len(ns) and args.until_lost and not lost(c) and \
                    n + args.step <= args.max_cameras:
                ns.append(n + args.step)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    bl.write_result(args.out, "ingest", {
        "stream": f"{args.width}x{args.height} {args.fps} fps GOP 50 H.264 {args.bitrate}bit/s, "
                  "RTP over RTSP/TCP from camsim", "seconds": args.seconds,
        "warmup": args.warmup, "dd_write_bytes_per_s": round(dd_rate),
        "work_dir": bl.WORK_DIR, "runs": runs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
