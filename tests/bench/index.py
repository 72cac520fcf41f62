#!/usr/bin/python3
"""Index benchmark: build/index-bench at --cameras x --days, then seek and day-listing latency.

`index-bench build` writes the cameras' 60-s segments (30 two-second fragments each) straight
through the indexer in time order; `index-bench measure` then times random (camera, instant)
lookups (idx_locate: segment and GOP byte offset) and random listings of one camera's day, in one
read transaction with a warm page cache, and reports bytes of index per segment. One JSON file.
"""
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import benchlib as bl


def main():
    ap = bl.arg_parser(__doc__, cameras=100, days=30, lookups=100000, days_listed=2000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cv-index-", dir=bl.WORK_DIR))
    tool = bl.BUILD / "index-bench"
    try:
        root = work / "root"
        built = json.loads(subprocess.run(
            [tool, "build", root, "--cameras", str(args.cameras), "--days", str(args.days)],
            check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        measured = json.loads(subprocess.run(
            [tool, "measure", root, "--lookups", str(args.lookups), "--days-listed",
             str(args.days_listed)], check=True, capture_output=True, text=True
        ).stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    bl.write_result(args.out, "index", {"build": built, "measure": measured,
                                         "lookups": args.lookups,
                                         "days_listed": args.days_listed})
    print(f"index: {args.cameras} cameras x {args.days} days: {built['built_segments']} segments "
          f"in {built['seconds']} s; seek p99 {measured['locate_p99_us']} us, day listing p99 "
          f"{measured['day_list_p99_us']} us, {measured['bytes_per_segment']} bytes/segment")
    return 0


if __name__ == "__main__":
    sys.exit(main())
