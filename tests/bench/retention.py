#!/usr/bin/python3
"""Retention benchmark: deletions per second while 20 cameras record.

Builds (with build/index-bench) a data root whose 20 cameras have one day of old 60-s segments,
each with a real file (28,800 files), points the cameras at camsim and records them; then makes
the backlog expire and times `camvault retention run` deleting it (tombstone, gap, unlink) while
the recorder keeps recording. Prints one JSON line and writes it to bench/results/.
"""
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
B = REPO / "build"


def cv(*args, root):
    return subprocess.run([B / "camvault", *map(str, args), "--root", str(root)], check=True,
                          capture_output=True, text=True)


def main():
    cams = 20
    work = Path(tempfile.mkdtemp(prefix="cv-ret-", dir="/var/tmp"))
    root = work / "root"
    subprocess.run([B / "index-bench", "build", root, "--cameras", str(cams), "--days", "1",
                    "--files", "1440"], check=True, capture_output=True)
    port = 18754
    sim = subprocess.Popen([B / "camsim", "--port", str(port), "--cameras", str(cams), "--name",
                            "cam", "--width", "1280", "--height", "720", "--bitrate", "2000k",
                            "--media-dir", str(B / "camsim-media")], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL)
    if "serving" not in sim.stdout.readline().decode():
        sys.exit("retention bench: camsim did not start")
    rec = None
    try:
        for i in range(cams):
            cv("camera", "edit", f"cam{i:03d}", "--url", f"rtsp://127.0.0.1:{port}/cam{i + 1}",
               root=root)
            cv("camera", "enable", f"cam{i:03d}", root=root)
        rec = subprocess.Popen([B / "camvault", "record", "--root", str(root),
                                "--segment-seconds", "10", "--retention-interval", "3600"],
                               stderr=open(work / "rec.log", "wb"))
        time.sleep(12)
        for i in range(cams):
            cv("retention", "set", f"cam{i:03d}", "1", root=root)
        t0 = time.monotonic()
        out = cv("retention", "run", root=root).stdout
        dt = time.monotonic() - t0
        deleted = int(out.split()[2])
        left = sum(1 for _ in (root / "volumes").rglob("*-0.mp4") if _.stat().st_size == 14)
        res = {"cameras_recording": cams, "deleted": deleted, "seconds": round(dt, 3),
               "deletions_per_second": round(deleted / dt), "backlog_files_left": left,
               "recorder_alive": rec.poll() is None}
    finally:
        if rec:
            rec.send_signal(signal.SIGTERM)
            rec.wait()
        sim.send_signal(signal.SIGTERM)
        sim.wait()
        shutil.rmtree(work, ignore_errors=True)
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / time.strftime("retention-%Y%m%dT%H%M%SZ.json", time.gmtime())).write_text(
        json.dumps(res) + "\n")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
