#!/usr/bin/python3
"""Picture health benchmark: what the keyframe checks cost (recorder/picture.h).

camsim serves N cameras (1080p, 25 fps, GOP 50, 4 Mbit/s by default) and one `camvault record`
records them twice for --seconds after a --warmup: with picture_check_s = --every (default 5,
the default) and with the checks off (0). Figures: the recorder's CPU (utime+stime, cores) in
each run, the picture worker thread's own CPU (the thread named cv-picture), keyframes decoded
per second (N / the sampling period: the first keyframe after each due time) and the worker's CPU
per decoded keyframe and per camera. Results: one JSON file, a table on stdout.
"""
import shutil
import tempfile
import time
from pathlib import Path

import benchlib as bl


def thread_cpu(pid, name):
    """utime + stime (s) of the threads of pid called name."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if (task / "comm").read_text().strip() != name:
                continue
            f = (task / "stat").read_text().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
        except OSError:
            continue
    return total / bl.HZ


def run(args, work, port, every):
    root = work / f"root-{every}"
    bl.cv("init", root=root)
    for i in range(1, args.cameras + 1):
        bl.cv("camera", "add", f"c{i}", "--url", f"rtsp://127.0.0.1:{port}/cam{i}", root=root)
    (root / "camvault.conf").write_text(f"picture_check_s = {every}\nsegment_seconds = 10\n")
    rec = bl.subprocess.Popen([str(bl.CAMVAULT), "record", "--root", str(root)],
                              stderr=open(work / f"rec-{every}.log", "wb"))
    try:
        time.sleep(args.warmup)
        w0 = thread_cpu(rec.pid, "cv-picture")
        m = bl.measure([rec.pid], args.seconds)
        m["worker_cpu_cores"] = (thread_cpu(rec.pid, "cv-picture") - w0) / m["window_s"]
    finally:
        bl.stop(rec)
    shutil.rmtree(root, ignore_errors=True)
    return m


def main():
    ap = bl.arg_parser(__doc__, cameras=50, every=(float, 5), seconds=(float, 60),
                       warmup=(float, 15), width=1920, height=1080, gop=50, bitrate="4000k")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="picture-bench-", dir=bl.WORK_DIR))
    port = bl.free_port()
    sim = bl.start_camsim(port, args.cameras, work / "camsim.json", width=args.width,
                          height=args.height, gop=args.gop, bitrate=args.bitrate)
    try:
        on = run(args, work, port, args.every)
        off = run(args, work, port, 0)
    finally:
        bl.stop(sim)
        shutil.rmtree(work, ignore_errors=True)
    gop_s = args.gop / 25
    period = -(-args.every // gop_s) * gop_s  # the first keyframe at or after each due time
    decodes = args.cameras / period
    res = {"cameras": args.cameras, "every_s": args.every, "sampling_period_s": period,
           "size": f"{args.width}x{args.height}", "bitrate": args.bitrate, "on": on, "off": off,
           "decodes_per_s": decodes,
           "worker_ms_per_keyframe": 1000 * on["worker_cpu_cores"] / decodes,
           "worker_cpu_percent_per_camera": 100 * on["worker_cpu_cores"] / args.cameras,
           "recorder_cpu_delta_cores": on["cpu_cores"] - off["cpu_cores"]}
    bl.write_result(args.out, "picture", res)
    print(f"{args.cameras} cameras {res['size']}, a keyframe each every {period:g} s: "
          f"recorder {on['cpu_cores']:.3f} cores with checks, {off['cpu_cores']:.3f} without; "
          f"worker {on['worker_cpu_cores']:.3f} cores = {res['worker_ms_per_keyframe']:.1f} ms "
          f"per keyframe, {res['worker_cpu_percent_per_camera']:.3f} % of a core per camera")


if __name__ == "__main__":
    main()
