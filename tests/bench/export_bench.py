#!/usr/bin/python3
"""Export benchmark: one camera's hour (about 1.8 GB) to a signed package, against baselines.

The footage is real recorder output, made in less than an hour: camsim serves one camera at a
high bitrate (by default 3840x2160, 25 fps, GOP 50, 100 Mbit/s, 25 times a 4 Mbit/s camera) and
`camvault record --segment-seconds 2` records it until the camera's stored bytes reach
--target-bytes (default 1.8e9 = 3600 s x 4 Mbit/s / 8), which takes about 2.5 minutes. So the
package holds the bytes of one 4 Mbit/s hour in about 75 segments of ~24 MB (an hour of 60-s
segments would be 60 of 30 MB); only the media time span (2.5 min instead of 60) differs.

Then, each time with these files evicted from the page cache first (posix_fadvise DONTNEED on
just these files) so that every contender reads them from the disk:
1. `sha256sum` over the native segment files (read and hash each byte once; the issue's
   reference), and as stricter floors `cat` of them (the disk's read speed) and
   `openssl dgst -sha256` of them (the same hash with OpenSSL's SHA extensions, as export uses;
   coreutils' sha256sum is a portable C implementation, several times slower per byte);
2. `camvault export` of the whole recorded range to a signed ZIP (peak RSS from wait4);
3. the usual pipeline: `ffmpeg -f concat -c copy -movflags +faststart` into one MP4,
   `sha256sum` of it, `zip -0` of MP4 + sums, `sync` of the ZIP (export fsyncs its package too).
The package is then checked with `camvault verify` (not timed).
"""
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import benchlib as bl


def stored(root):
    q = json.loads(bl.cv("query", "c1", "--from", "@0", "--to", "@4102444800", "--json",
                         root=root).stdout)
    return q["segments"]


def record(args, work):
    root, stats = work / "root", work / "camsim.json"
    port = bl.free_port()
    bl.cv("init", root=root)
    bl.cv("camera", "add", "c1", "--url", f"rtsp://127.0.0.1:{port}/cam1", root=root)
    sim = bl.start_camsim(port, 1, stats, args.width, args.height, 25, 50, args.bitrate,
                          extra=["--max-queue", "64M"], log=work / "camsim.log")
    rec = None
    t0 = time.monotonic()
    try:
        rec = subprocess.Popen([str(bl.CAMVAULT), "record", "--root", str(root),
                                "--segment-seconds", str(args.segment_seconds)],
                               stderr=open(work / "record.log", "wb"))
        while time.monotonic() - t0 < args.max_record_seconds:
            time.sleep(2)
            if rec.poll() is not None:
                sys.exit(f"export bench: the recorder exited {rec.returncode}")
            if sum(s["bytes"] for s in stored(root)) >= args.target_bytes:
                break
    finally:
        bl.stop(rec)
        bl.stop(sim)
    return root, time.monotonic() - t0


def main():
    ap = bl.arg_parser(__doc__, target_bytes=1.8e9, width=3840, height=2160, bitrate="100M",
                       segment_seconds=2, max_record_seconds=(float, 400))
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cv-export-", dir=bl.WORK_DIR))
    try:
        root, rec_s = record(args, work)
        segs = stored(root)
        files = [str(root / s["path"]) for s in segs]
        nbytes = sum(s["bytes"] for s in segs)
        frm = math.floor(segs[0]["start_us"] / 1e6)
        to = math.ceil(segs[-1]["end_us"] / 1e6)

        bl.drop_file_cache(files)
        t_sha, _ = bl.timed(["sha256sum", *files])
        bl.drop_file_cache(files)
        t_cat, _ = bl.timed(["cat", *files])
        bl.drop_file_cache(files)
        t_ossl, _ = bl.timed(["openssl", "dgst", "-sha256", *files])

        pkg = work / "package.zip"
        bl.drop_file_cache(files)
        t_exp, rss_exp = bl.timed([bl.CAMVAULT, "export", "--root", root, "--camera", "c1",
                                   "--from", f"@{frm}", "--to", f"@{to}", "--case", "BENCH-1",
                                   "--out", pkg])
        pkg_bytes = pkg.stat().st_size
        v = bl.cv("verify", pkg, root=root, check=False)
        pkg.unlink()

        lst = work / "concat.txt"
        lst.write_text("".join(f"file '{f}'\n" for f in files))
        mp4, sums, zpkg = work / "clip.mp4", work / "SHA256SUMS", work / "clip.zip"
        bl.drop_file_cache(files)
        t_ff, rss_ff = bl.timed(["ffmpeg", "-nostdin", "-v", "error", "-f", "concat", "-safe",
                                 "0", "-i", lst, "-c", "copy", "-movflags", "+faststart", "-y",
                                 mp4])
        with open(sums, "wb") as out:
            t_sum, _ = bl.timed(["sha256sum", mp4.name], stdout=out, cwd=work)
        t_zip, _ = bl.timed(["zip", "-0", "-q", zpkg, mp4.name, sums.name], cwd=work)
        t_sync, _ = bl.timed(["sync", zpkg])
        t_pipe = t_ff + t_sum + t_zip + t_sync
        zbytes = zpkg.stat().st_size
    finally:
        shutil.rmtree(work, ignore_errors=True)

    res = {"stream": f"{args.width}x{args.height} 25 fps GOP 50 H.264 {args.bitrate}bit/s, "
                     f"{args.segment_seconds}-s segments",
           "recorded_seconds": round(rec_s, 1), "segments": len(segs), "bytes": nbytes,
           "hours_of_4mbit_camera": round(nbytes * 8 / 4e6 / 3600, 3),
           "sha256sum_s": round(t_sha, 2), "cat_s": round(t_cat, 2),
           "openssl_sha256_s": round(t_ossl, 2), "export_s": round(t_exp, 2),
           "export_mb_per_s": round(nbytes / 1e6 / t_exp), "export_peak_rss_mb":
           round(rss_exp / 1e6, 1), "package_bytes": pkg_bytes,
           "verify_exit": v.returncode, "verify_output": (v.stdout + v.stderr).strip()[-300:],
           "pipeline_s": round(t_pipe, 2), "pipeline_steps_s": {
               "ffmpeg_concat_faststart": round(t_ff, 2), "sha256sum": round(t_sum, 2),
               "zip_store": round(t_zip, 2), "sync": round(t_sync, 2)},
           "pipeline_ffmpeg_peak_rss_mb": round(rss_ff / 1e6, 1), "pipeline_zip_bytes": zbytes,
           "export_vs_sha256sum": round(t_exp / t_sha, 2),
           "export_vs_cat": round(t_exp / t_cat, 2),
           "export_vs_openssl_sha256": round(t_exp / t_ossl, 2),
           "export_vs_pipeline": round(t_exp / t_pipe, 2),
           "cache": "segment files evicted from the page cache before each of the three runs"}
    bl.write_result(args.out, "export", res)
    print(f"export: {nbytes / 1e9:.2f} GB in {len(segs)} segments: export {t_exp:.1f} s "
          f"({res['export_vs_sha256sum']}x sha256sum {t_sha:.1f} s, "
          f"{res['export_vs_pipeline']}x pipeline {t_pipe:.1f} s), peak RSS "
          f"{res['export_peak_rss_mb']} MB, verify exit {v.returncode}")
    return 0 if v.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
