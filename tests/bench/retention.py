#!/usr/bin/python3
"""Retention benchmark: deletions per second while cameras record.

Builds (with build/index-bench) a data root whose --cameras cameras have one day of old 60-s
segments, each with a real (tiny) file (1,440 per camera; 28,800 for 20 cameras), points the
cameras at camsim and records them; then makes the backlog expire and times
`camvault retention run` deleting it (tombstone, gap, unlink) while the recorder keeps recording.
Writes one JSON file.
"""
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib as bl


def main():
    ap = bl.arg_parser(__doc__, cameras=20, record_seconds=(
        float, 12, "recording before the deletion starts"))
    args = ap.parse_args()
    cams = args.cameras
    work = Path(tempfile.mkdtemp(prefix="cv-ret-", dir=bl.WORK_DIR))
    root = work / "root"
    subprocess.run([bl.BUILD / "index-bench", "build", root, "--cameras", str(cams), "--days",
                    "1", "--files", "1440"], check=True, capture_output=True)
    port = bl.free_port()
    sim = bl.start_camsim(port, cams, work / "camsim.json", 1280, 720, 25, 50, "2000k")
    rec = None
    try:
        for i in range(cams):
            bl.cv("camera", "edit", f"cam{i:03d}", "--url", f"rtsp://127.0.0.1:{port}/cam{i + 1}",
                  root=root)
            bl.cv("camera", "enable", f"cam{i:03d}", root=root)
        rec = subprocess.Popen([str(bl.CAMVAULT), "record", "--root", str(root),
                                "--segment-seconds", "10", "--retention-interval", "3600"],
                               stderr=open(work / "rec.log", "wb"))
        time.sleep(args.record_seconds)
        for i in range(cams):
            bl.cv("retention", "set", f"cam{i:03d}", "1", root=root)
        t0 = time.monotonic()
        out = bl.cv("retention", "run", root=root).stdout
        dt = time.monotonic() - t0
        deleted = int(out.split()[2])
        left = sum(1 for f in (root / "volumes").rglob("*-0.mp4") if f.stat().st_size == 14)
        res = {"cameras_recording": cams, "deleted": deleted, "seconds": round(dt, 3),
               "deletions_per_second": round(deleted / dt), "backlog_files_left": left,
               "recorder_alive": rec.poll() is None}
    finally:
        bl.stop(rec)
        bl.stop(sim)
        shutil.rmtree(work, ignore_errors=True)
    bl.write_result(args.out, "retention", res)
    print(f"retention: {deleted} deletions in {dt:.2f} s = {res['deletions_per_second']}/s while "
          f"{cams} cameras record; recorder alive: {res['recorder_alive']}")
    return 0 if res["recorder_alive"] and left == 0 and deleted == cams * 1440 else 1


if __name__ == "__main__":
    sys.exit(main())
