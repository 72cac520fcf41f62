#!/usr/bin/python3
"""gb_bench.py: the GB/T 28181 agent's figures for docs/gb28181.md (not part of make bench).

Runs camsim (1 camera, 640x360 25 fps 800 kbit/s), `camvault record` with the agent and the
test upper platform of tests/e2e/test_140_gb28181.py, then measures
  1. queries answered per second: DeviceInfo queries sent in windows of 20 (the Python platform's
     socket drops datagrams beyond that), each answered
     with 200 OK and a Response MESSAGE (which the platform acknowledges): 4 SIP messages each;
  2. the recorder process's CPU (utime + stime, /proc) over 20 s with 0 and with N live PS
     streams of the camera (N INVITEs; the receiver only drains its sockets).
Usage: tests/bench/gb_bench.py [N ...]  (default 16). Prints one line per figure.
"""
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "e2e"))
import conftest  # noqa: E402
from conftest import cv, free_port, start_camsim, start_recorder, wait_for  # noqa: E402
import test_140_gb28181 as t  # noqa: E402


def cpu_s(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def drain(socks, stop, counts):
    while not stop.is_set():
        for i, s in enumerate(socks):
            try:
                while True:
                    counts[i] += len(s.recv(65535))
            except (BlockingIOError, OSError):
                pass
        time.sleep(0.005)


def main(ns):
    tmp = Path(tempfile.mkdtemp(prefix="gb-bench-"))
    root = tmp / "root"
    cv("init", root=root)
    procs = []
    plat = t.Platform()
    try:
        sim = start_camsim(procs, tmp, cameras=1, name="c")
        cv("camera", "add", "gate", "--url", f"rtsp://127.0.0.1:{sim.port}/c1", root=root)
        t.write_conf(root, plat, free_port(), keepalive=60)
        rec = start_recorder(procs, root, tmp, segment=10)
        wait_for(lambda: plat.auth_ok, 30, what="registration")
        time.sleep(12)  # a recording to stream
        # 1. queries per second
        n, t0 = 2000, time.monotonic()
        for w in range(0, n, 20):
            for i in range(w, w + 20):
                plat.query("DeviceInfo", t.GB_ID, 100000 + i)
            wait_for(lambda: sum(1 for m in plat.messages if "DeviceInfo" in m) >= w + 20, 30,
                     step=0.002, what="answers")
        dt = time.monotonic() - t0
        print(f"gb-bench: {n} DeviceInfo queries answered in {dt:.2f} s: {n / dt:.0f} queries/s "
              f"({4 * n / dt:.0f} SIP messages/s through the agent)")
        # 2. CPU of N live streams
        base = cpu_s(rec.p.pid)
        time.sleep(20)
        idle = cpu_s(rec.p.pid) - base
        print(f"gb-bench: recorder CPU with 0 streams: {100 * idle / 20:.1f} % of one core")
        for k in ns:
            socks, byes = [], []
            for i in range(k):
                rtp, bye = t.dialog(plat, t.derived(1), "Play", f"{200000000 + i:010d}")
                rtp.setblocking(False)
                socks.append(rtp)
                byes.append(bye)
            stop, counts = threading.Event(), [0] * k
            th = threading.Thread(target=drain, args=(socks, stop, counts))
            th.start()
            time.sleep(3)
            base, c0 = cpu_s(rec.p.pid), sum(counts)
            time.sleep(20)
            used, got = cpu_s(rec.p.pid) - base, sum(counts) - c0
            stop.set()
            th.join()
            for b in byes:
                b()
            for s in socks:
                s.close()
            print(f"gb-bench: recorder CPU with {k} live PS streams: {100 * used / 20:.1f} % of "
                  f"one core ({100 * (used - idle) / 20 / k:.2f} % per stream; "
                  f"{8 * got / 20 / 1e6:.1f} Mbit/s of RTP payload received)")
            time.sleep(2)
    finally:
        plat.close()
        for p in reversed(procs):
            p.close()


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [16])
