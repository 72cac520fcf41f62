#!/usr/bin/python3
"""Runs every camvault benchmark, prints one table and plots ingest scaling.

  run.py            the full suite (`make bench`, ~15-20 min on the 2-core VM); results as JSON
                    in bench/results/, the plot in docs/ingest-scaling.png
  run.py --quick    the same drivers on a few cameras for seconds each (`make bench-quick`, part
                    of `make test` as a smoke run); results and plot under build/bench-quick/

Each driver (camsim_scale.py, ingest.py, export_bench.py, index.py, retention.py, http_bench.py,
liveedge.py, live_bench.py, live_viewers.py)
is a separate process that writes one JSON file; a driver that exits non-zero or writes nothing
counts as failed, and the others still run. Nothing is timed against a limit. The last line is a
runner summary, `bench: N passed, N failed in S s`; the exit status is 1 if anything failed.
"""
import argparse
import json
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import benchlib as bl

HERE = Path(__file__).resolve().parent

FULL = [
    ("camsim", "camsim_scale.py", ["--sessions", "500,1000", "--seconds", "20", "--warmup", "6"]),
    ("ingest", "ingest.py", ["--cameras", "50,100,200,500", "--until-lost", "--step", "150",
                             "--max-cameras", "1100", "--baseline-at", "50", "--seconds", "45",
                             "--warmup", "10", "--dd-mb", "2048"]),
    ("export", "export_bench.py", []),
    ("index", "index.py", ["--cameras", "100", "--days", "30"]),
    ("retention", "retention.py", ["--cameras", "20"]),
    ("http", "http_bench.py", ["--cameras", "20", "--requests", "10000", "--concurrency", "50",
                               "--viewers", "1,10,40,80,160,240", "--clip-seconds", "30",
                               "--warmup", "55"]),
    ("liveedge", "liveedge.py", ["--cameras", "4", "--samples", "30", "--exports", "8"]),
    ("live", "live_bench.py", ["--seconds", "60", "--gops", "2,4", "--cameras", "50",
                               "--cpu-seconds", "30", "--rounds", "2"]),
    ("live_viewers", "live_viewers.py", ["--viewers", "100,1000,5000", "--seconds", "30"]),
]

SMALL = ["--width", "1280", "--height", "720", "--bitrate", "2000k"]
QUICK = [
    ("camsim", "camsim_scale.py", ["--sessions", "40", "--seconds", "2", "--warmup", "1", *SMALL]),
    ("ingest", "ingest.py", ["--cameras", "2", "--until-lost", "--step", "2", "--max-cameras", "4",
                             "--baseline-at", "2", "--seconds", "3", "--warmup", "3",
                             "--dd-mb", "32", "--drain", "1.5", *SMALL]),
    ("export", "export_bench.py", ["--target-bytes", "2e6", *SMALL]),
    ("index", "index.py", ["--cameras", "3", "--days", "2", "--lookups", "2000",
                           "--days-listed", "20"]),
    ("retention", "retention.py", ["--cameras", "2", "--record-seconds", "3"]),
    ("http", "http_bench.py", ["--cameras", "3", "--requests", "300", "--concurrency", "8",
                               "--viewers", "1,4", "--clip-seconds", "4", "--warmup", "7",
                               "--segment-seconds", "2", "--gop", "25"]),
    ("liveedge", "liveedge.py", ["--cameras", "1", "--samples", "3", "--exports", "1",
                                 "--warmup", "5"]),
    ("live", "live_bench.py", ["--seconds", "6", "--gops", "2", "--cameras", "2",
                               "--cpu-seconds", "3", "--warmup", "3", "--rounds", "1"]),
    ("live_viewers", "live_viewers.py", ["--viewers", "20", "--seconds", "3", "--warmup", "2",
                                         "--logins", "1", "--procs", "1", "--width", "640",
                                         "--height", "360", "--bitrate", "500k"]),
]


def run_driver(name, script, argv, out, timeout):
    """Runs one driver, echoing its output; returns (ok, result dict or None)."""
    cmd = [sys.executable, str(HERE / script), *argv, "--out", str(out)]
    print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
    path = None
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=HERE)
        watchdog = threading.Timer(timeout, p.kill)  # a hung driver fails, the suite goes on
        watchdog.start()
        for line in p.stdout:
            print(f"   {line.rstrip()}", flush=True)
            m = re.match(rf"{name}: wrote (\S+)$", line.strip())
            if m:
                path = Path(m.group(1))
        rc = p.wait()
        watchdog.cancel()
        if rc < 0:
            print(f"   {name}: killed (signal {-rc}; limit {timeout} s)", flush=True)
    except OSError as e:
        print(f"   {name}: {e}", flush=True)
        return False, None
    res = json.loads(path.read_text()) if path and path.exists() else None
    return rc == 0 and res is not None, res


def lost_share(x):
    """'L of E (P %)': frames lost of the frames the cameras had (sent, or due while offline)."""
    due = x["frames_served"] + x.get("frames_missed_offline", 0)
    return f"{x['frames_lost']} of {due} ({100 * x['frames_lost'] / max(due, 1):.1f} %)" \
        if x["frames_lost"] else f"0 of {due}"


def rows_for(name, r):
    """(benchmark, case, figures) table rows for one driver's result."""
    if r is None:
        return [(name, "-", "FAILED: no result (see the output above)")]
    if name == "camsim":
        return [("camsim", f"{x['sessions']} sessions x {r['stream'].split(',')[0].split()[-1]}",
                 f"{x['cpu_pct_core']:.1f} % of a core, {x['rss_mb']:.0f} MB RSS, "
                 f"{x['syscalls_per_frame']} syscalls/frame, dropped {x['sessions_dropped']}")
                for x in r["runs"]]
    if name == "ingest":
        out = [("ingest", "dd conv=fdatasync", f"{r['dd_write_bytes_per_s'] / 1e6:.0f} MB/s")]
        for run in r["runs"]:
            for who in ("camvault", "ffmpeg_per_camera"):
                if who in run:
                    x = run[who]
                    out.append(("ingest", f"N={run['cameras']} {who.replace('_', ' ')}",
                                f"{x['cpu_pct_core_per_camera']:.3f} %/cam, "
                                f"{x['rss_mb_per_camera']:.2f} MB/cam"
                                + (f" ({x['rss_mb_per_added_camera']:.2f} MB per camera added)"
                                   if "rss_mb_per_added_camera" in x else "") + ", lost "
                                f"{lost_share(x)}, dropped "
                                f"{x['sessions_dropped']}, write {x['write_mb_per_s']:.0f} MB/s "
                                f"= {x['write_fraction_of_dd']:.2f} of dd"))
        return out
    if name == "export":
        return [("export", f"{r['bytes'] / 1e9:.2f} GB, {r['segments']} segments",
                 f"{r['export_s']:.1f} s = {r['export_vs_sha256sum']}x sha256sum "
                 f"({r['sha256sum_s']:.1f} s), {r['export_vs_cat']}x cat ({r['cat_s']:.1f} s), "
                 f"{r['export_vs_openssl_sha256']}x openssl sha256 ({r['openssl_sha256_s']:.1f} s), "
                 f"{r['export_vs_pipeline']}x ffmpeg+sha256sum+zip "
                 f"({r['pipeline_s']:.1f} s), peak RSS {r['export_peak_rss_mb']:.0f} MB, "
                 f"verify exit {r['verify_exit']}")]
    if name == "index":
        b, m = r["build"], r["measure"]
        return [("index", f"{b['cameras']} cameras x {b['days']} days",
                 f"seek p99 {m['locate_p99_us']:.0f} us, day listing p99 "
                 f"{m['day_list_p99_us'] / 1000:.2f} ms, {m['bytes_per_segment']:.0f} B/segment")]
    if name == "retention":
        return [("retention", f"{r['cameras_recording']} cameras recording",
                 f"{r['deletions_per_second']} deletions/s ({r['deleted']} in {r['seconds']} s)")]
    if name == "http":
        t, a = r["timeline"], r["audit"]
        out = [("http", f"timeline, {r['cameras']} cameras recording, {t['concurrency']} "
                        "connections",
                f"{t['per_second']:.0f} requests/s, p50 {t['p50_ms']:.1f} ms, p99 "
                f"{t['p99_ms']:.1f} ms, max {t['max_ms']:.0f} ms, failed {t['failed']} of "
                f"{t['requests']}, {t['connections_opened']} connections opened, "
                f"{t['audit_records_per_commit']} audit records per commit (server "
                f"{t['server_cpu_cores']} cores, client {t['client_cpu_cores']})")]
        if r.get("video"):
            v = r["video"][-1]
            out.append(("http", f"video.mp4 viewers ({r['stream'].split()[0]}, "
                                f"{v['clip_media_s']:.0f}-s clips)",
                        f"{r['viewers_at_real_time']} of {r['viewers_tried']} at real time or "
                        f"faster; at {v['viewers']} the slowest at {v['slowest_x_real_time']}x, "
                        f"{v['aggregate_mb_per_s']:.0f} MB/s in all"))
        out.append(("http", "server memory; audit log",
                    f"RSS idle {r['rss_idle_mb']:.0f} MB, peak {r['rss_peak_mb']:.0f} MB; "
                    f"{a['records_added']} audit records for {a['views_answered']} views, chain "
                    f"{'intact' if a['chain_intact'] else 'BROKEN'}"))
        return out
    if name == "liveedge":
        f = lambda x: (f"median {x['median_s']:.2f} s, p90 {x['p90_s']:.2f} s, max "
                       f"{x['max_s']:.2f} s (n={x['n']})" if x.get("n") else "no sample")
        e = r["export_last_20s"]
        return [("liveedge", f"event -> timeline ({r['stream'].split(' H.264')[0]})",
                 f(r["event_to_timeline"])),
                ("liveedge", "event -> video.mp4", f(r["event_to_video_mp4"])),
                ("liveedge", f"export of the last 20 s, {r['segment_seconds']}-s segments",
                 f(e) + f", verify valid {e['verified']} of {e['n']}"
                 + (f", failed {len(e['failed'])}" if e["failed"] else ""))]
    if name == "live":
        out = [("live", f"live.mp4, GOP {x['gop_s']:g} s, live_chunk_ms {x['live_chunk_ms']}",
                f"median {x['median_ms']} ms, p99 {x['p99_ms']} ms ({x['chunks']} chunks)")
               for x in r["latency"]]
        c = r["cpu"]
        if c:
            out.append(("live", f"recorder CPU, N={c['cameras']}",
                        f"{statistics.mean(c['pct_core_per_camera_chunked']):.3f} %/cam with "
                        f"chunks, {statistics.mean(c['pct_core_per_camera_unchunked']):.3f} "
                        f"without ({c['change_pct']:+.1f} %)"))
        return out
    if name == "live_viewers":
        return [("live_viewers", f"N={x['viewers']} live.mp4 viewers, {r['stream'].split(',')[0]}",
                 f"{x['answered_200']} answered, {100 * x['realtime_ratio']['share_at_0_95']:.0f} % "
                 f"at real time (median {x['realtime_ratio']['median']}), server "
                 f"{x['server_cpu_cores']:.2f} cores, {x['server_rss_kb_per_viewer']:.0f} KB/viewer, "
                 f"login {max(x['login_s']):.2f} s")
                for x in r["runs"]]
    return []


def figures_for(name, r):
    """The figures a driver's row summarizes, for the summary JSON (None: the table says it)."""
    if name == "http" and r:
        t = r["timeline"]
        return {"timeline_per_second": t["per_second"], "p50_ms": t["p50_ms"],
                "p99_ms": t["p99_ms"], "max_ms": t["max_ms"], "failed": t["failed"],
                "viewers_at_real_time": r.get("viewers_at_real_time"),
                "viewers_tried": r.get("viewers_tried"),
                "slowest_x_real_time": r.get("slowest_x_real_time_at_most_viewers"),
                "rss_idle_mb": r["rss_idle_mb"], "rss_peak_mb": r["rss_peak_mb"]}
    return None


GNUPLOT = r"""
set terminal pngcairo size 1100,460 font "DejaVu Sans,10"
set output '{png}'
set multiplot layout 1,2 title "camvault ingest, {stream}; {note}"
set grid
set key top right
set xlabel "cameras recorded at once (N)"
set xrange [0:*]
set ylabel "CPU, % of one core per camera"
set yrange [0:*]
plot '{dat}' u 1:2 w linespoints lw 2 pt 7 t 'camvault', \
     '{dat}' u 1:($4 > 0 ? $2 : 1/0) w points pt 6 ps 3 lw 2 lc rgb "red" \
         t 'frames lost (CPU-bound: got less than it needed)', \
     '{ff}' u 1:2 w points pt 9 ps 2 lc rgb "dark-green" t 'one ffmpeg per camera', \
     0.1 w lines dt 2 lc rgb "gray40" t 'target 0.1 % (issue 17)'
set ylabel "resident memory per camera, MB"
set logscale y
set yrange [0.5:200]
plot '{dat}' u 1:3 w linespoints lw 2 pt 7 t 'camvault', \
     '{ff}' u 1:3 w points pt 9 ps 2 lc rgb "dark-green" t 'one ffmpeg per camera', \
     1.0 w lines dt 2 lc rgb "gray40" t 'target 1.0 MB (issue 17)'
unset multiplot
"""


def plot(ingest, png, work):
    """Draws CPU and RSS per camera against N with gnuplot; returns True if the PNG was made."""
    dat, ff = work / "ingest.dat", work / "ffmpeg.dat"
    lines, fl = [], []
    for run in ingest["runs"]:
        c = run["camvault"]
        lines.append(f"{run['cameras']} {c['cpu_pct_core_per_camera']} {c['rss_mb_per_camera']}"
                     f" {c['frames_lost'] + c['sessions_dropped']}")
        if "ffmpeg_per_camera" in run:
            f = run["ffmpeg_per_camera"]
            fl.append(f"{run['cameras']} {f['cpu_pct_core_per_camera']} {f['rss_mb_per_camera']}")
    dat.write_text("\n".join(lines) + "\n")
    ff.write_text("\n".join(fl or ["NaN NaN NaN"]) + "\n")
    lost = [r["cameras"] for r in ingest["runs"] if r["camvault"]["frames_lost"] or
            r["camvault"]["sessions_dropped"]]
    note = f"frames lost from N = {lost[0]}" if lost else "no frame lost"
    script = GNUPLOT.format(png=png, dat=dat, ff=ff, note=note,
                            stream=ingest["stream"].split(",")[0])
    png.parent.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if r.returncode != 0:
        print(f"   plot: gnuplot failed: {r.stderr.strip()}", flush=True)
    return r.returncode == 0 and png.exists()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated driver names to run")
    args = ap.parse_args()
    label = "bench-quick" if args.quick else "bench"
    out = bl.BUILD / "bench-quick" if args.quick else bl.REPO / "bench" / "results"
    png = (bl.BUILD / "bench-quick" if args.quick else bl.REPO / "docs") / "ingest-scaling.png"
    suite = QUICK if args.quick else FULL
    if args.only:
        suite = [s for s in suite if s[0] in args.only.split(",")]
    t0 = time.monotonic()
    passed, failed, rows, results = 0, [], [], {}
    for name, script, argv in suite:
        ok, res = run_driver(name, script, argv, out, 300 if args.quick else 900)
        results[name] = res
        rows += rows_for(name, res)
        if ok:
            passed += 1
        else:
            failed.append(name)
    if results.get("ingest"):
        work = bl.BUILD / "bench-plot"
        work.mkdir(parents=True, exist_ok=True)
        if plot(results["ingest"], png, work):
            passed += 1
            rows.append(("plot", "CPU and RSS per camera against N", str(png)))
        else:
            failed.append("plot")

    w0 = max(len("benchmark"), *(len(r[0]) for r in rows))
    w1 = max(len("case"), *(len(r[1]) for r in rows))
    print(f"\n{'benchmark':{w0}}  {'case':{w1}}  figures")
    print(f"{'-' * w0}  {'-' * w1}  {'-' * 60}")
    for b, c, f in rows:
        print(f"{b:{w0}}  {c:{w1}}  {f}")
    bl.write_result(out, "summary", {"suite": label, "passed": passed, "failed": failed,
                                     "results": {k: v and v.get("time") for k, v in
                                                 results.items()},
                                     "figures": {k: f for k, v in results.items()
                                                 if (f := figures_for(k, v))},
                                     "table": [list(r) for r in rows]})
    print(f"{label}: {passed} passed, {len(failed)} failed"
          f"{' (' + ', '.join(failed) + ')' if failed else ''} "
          f"in {time.monotonic() - t0:.0f}s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
