#!/usr/bin/python3
"""H.264 rendition benchmark: CPU of one transcoded stream (issue 18).

For each input size (default 1920x1080 and 1280x720, H.265, 25 fps, GOP 50) camsim serves one
camera, `camvault record --segment-seconds 5` records --record-seconds of it, and `camvault
serve` (default conf: at most 720 lines out, libx264 veryfast, one thread each for decoder and
encoder) is asked for:
1. video.mp4?rendition=h264 of the whole recording, read as fast as it comes: the server's CPU
   seconds over the media seconds delivered is the share of one core a real-time (25 fps)
   viewer costs, and media seconds over wall seconds how much faster than real time one core
   runs it;
2. live.mp4?rendition=h264 for --live-seconds while recording goes on: the server's CPU in
   cores over that window (the recorder's apart).
The server's CPU is utime+stime from /proc (benchlib.cpu_seconds), so other load on the shared
machine changes the wall times, not the CPU seconds.
"""
import http.client
import json
import subprocess
import tempfile
import time
from pathlib import Path

import benchlib as bl


def login(port, user, pw):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request("POST", "/api/v1/login", json.dumps({"user": user, "password": pw}),
              {"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    return r.getheader("Set-Cookie").split(";")[0]


def fetch(port, cookie, path, limit_s=None):
    """GET path; returns (bytes, seconds); stops after limit_s seconds when given."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    t0 = time.monotonic()
    c.request("GET", path, headers={"Cookie": cookie})
    r = c.getresponse()
    if r.status != 200:
        raise SystemExit(f"rendition bench: {path}: {r.status} {r.read()[:200]!r}")
    data = bytearray()
    while limit_s is None or time.monotonic() - t0 < limit_s:
        b = r.read1(65536)
        if not b:
            break
        data += b
    c.close()
    return bytes(data), time.monotonic() - t0


def probe(data, work, name):
    f = work / name
    f.write_bytes(data)
    r = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                        "-show_entries", "stream=codec_name,width,height,nb_read_frames", "-of",
                        "json", str(f)], capture_output=True, text=True, check=True)
    return json.loads(r.stdout)["streams"][0]


def one_size(args, w, h, bitrate, work):
    root = work / f"root-{h}"
    port, sport = bl.free_port(), bl.free_port()
    bl.cv("init", root=root)
    bl.cv("camera", "add", "c1", "--url", f"rtsp://127.0.0.1:{port}/cam1", root=root)
    subprocess.run([str(bl.CAMVAULT), "user", "add", "bench", "--role", "officer",
                    "--password-stdin", "--root", str(root)], input="bench-password\n",
                   text=True, check=True, capture_output=True)
    sim = bl.start_camsim(port, 1, work / f"camsim-{h}.json", w, h, 25, 50, bitrate,
                          extra=["--codec", "h265"], log=work / f"camsim-{h}.log")
    rec = srv = None
    try:
        rec = subprocess.Popen([str(bl.CAMVAULT), "record", "--root", str(root),
                                "--segment-seconds", "5"], stderr=open(work / "rec.log", "ab"))
        time.sleep(args.record_seconds)
        srv = subprocess.Popen([str(bl.CAMVAULT), "serve", "--root", str(root), "--listen",
                                f"127.0.0.1:{sport}"], stdout=subprocess.PIPE,
                               stderr=open(work / "serve.log", "ab"))
        srv.stdout.readline()
        cookie = login(sport, "bench", "bench-password")
        q = json.loads(bl.cv("query", "c1", "--from", "@0", "--to", "@4102444800", "--json",
                             root=root).stdout)["segments"]
        frm, to = q[0]["start_us"], q[-1]["end_us"]
        path = f"/api/v1/cameras/c1/video.mp4?from=@{frm / 1e6:.6f}&to=@{to / 1e6:.6f}"
        c0 = bl.cpu_seconds([srv.pid])
        data, secs = fetch(sport, cookie, path + "&rendition=h264")
        cpu = bl.cpu_seconds([srv.pid]) - c0
        p = probe(data, work, f"video-{h}.mp4")
        media_s = int(p["nb_read_frames"]) / 25
        res = {"input": f"{w}x{h} H.265 25 fps {bitrate}", "output": f"{p['width']}x{p['height']} {p['codec_name']}",
               "video_media_s": media_s, "video_wall_s": round(secs, 2), "video_cpu_s": round(cpu, 2),
               "video_core_share_per_realtime_stream": round(cpu / media_s, 3),
               "video_speed_x_realtime": round(media_s / secs, 2)}
        c0, t0 = bl.cpu_seconds([srv.pid]), time.monotonic()
        data, secs = fetch(sport, cookie, "/api/v1/cameras/c1/live.mp4?rendition=h264",
                           limit_s=args.live_seconds)
        res["live_cores"] = round((bl.cpu_seconds([srv.pid]) - c0) / (time.monotonic() - t0), 3)
        res["live_frames"] = int(probe(data, work, f"live-{h}.mp4")["nb_read_frames"])
        res["live_window_s"] = round(secs, 1)
        print(json.dumps(res), flush=True)
        return res
    finally:
        bl.stop(srv)
        bl.stop(rec)
        bl.stop(sim)


def main():
    ap = bl.arg_parser(__doc__, record_seconds=(float, 30), live_seconds=(float, 20))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=bl.WORK_DIR, prefix="camvault-rendition-") as d:
        runs = [one_size(args, 1920, 1080, "4000k", Path(d)),
                one_size(args, 1280, 720, "2000k", Path(d))]
    bl.write_result(args.out, "rendition", {"runs": runs})


if __name__ == "__main__":
    main()
