"""Issue 15: one place for each thing; dependencies point one way.

tools/check-includes.py reads the `layering` block of docs/architecture.md and checks every
#include "dir/..." of the tree. It passes on the tree as it is, with no known exception left
(recorder/recorder.c signs checkpoints through integrity/, below it), and on a copy with a
planted wrong-way include it fails with one line naming the file, the line and the header. The
integrity module has a floor, integrity/chain (the pure chain steps), that the indexer may
include while the rest of integrity is above the indexer.
"""
import shutil
import subprocess

import pytest

from conftest import PY, REPO

CHECKER = REPO / "tools" / "check-includes.py"
COPIED = ["common", "storage-layout", "indexer", "integrity", "recorder", "exporter", "server",
          "gb", "cli", "tools", "tests", "docs"]


def check(root=None, doc=None):
    args = [PY, str(CHECKER)]
    if root is not None:
        args += ["--root", str(root)]
    if doc is not None:
        args += ["--doc", str(doc)]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


@pytest.fixture
def tree(tmp_path):
    """A copy of the source tree (sources and docs only) to plant includes in."""
    dst = tmp_path / "src"
    dst.mkdir()
    for name in COPIED:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, dst / name,
                            ignore=shutil.ignore_patterns("node_modules", "*.png", "*.mp4",
                                                          "__pycache__", "corpus-*"))
    if (REPO / "camvault.c").is_file():
        shutil.copy(REPO / "camvault.c", dst / "camvault.c")
    return dst


def plant(path, header):
    """Add `#include "header"` (or `#include <...>` when header has its brackets) after the
    first include of a source file; its line number."""
    lines = path.read_text().splitlines(keepends=True)
    at = next(i for i, l in enumerate(lines) if l.startswith("#include"))
    lines.insert(at + 1, "#include %s\n" % (header if header[0] == "<" else '"%s"' % header))
    path.write_text("".join(lines))
    return at + 2


def test_make_test_runs_the_check_first():
    """`make check-includes` passes, and `make test` runs it right after the dependencies."""
    r = subprocess.run(["make", "--no-print-directory", "-s", "check-includes"], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 wrong-way" in r.stderr
    lines = (REPO / "Makefile").read_text().splitlines()
    at = lines.index("test: deps")
    assert "check-includes" in lines[at + 1], lines[at + 1]


def test_tree_passes():
    r = check()
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout == ""
    assert "0 wrong-way" in r.stderr
    assert "0 known exceptions" in r.stderr  # recorder.c -> exporter/checkpoint.h is gone
    assert "note:" not in r.stderr


WRONG_WAY = [
    # (file to plant in, header it must not include)
    ("recorder/camera.c", "exporter/export.h"),       # recording depends on export
    ("recorder/recorder.c", "exporter/export.h"),     # the old exception is gone
    ("recorder/recorder.c", "server/audit.h"),        # the audit chain is in integrity/
    ("recorder/sink.c", "server/srv.h"),              # recording depends on the web side
    ("exporter/export.c", "recorder/rec.h"),          # export depends on a live recorder
    ("indexer/idx_env.c", "exporter/export.h"),       # the index knows who reads it
    ("indexer/idx_segments.c", "integrity/checkpoint.h"),  # only the floor integrity/chain
    ("indexer/fsck.c", "integrity/keys.h"),           # fsck checks chains, never keys
    ("storage-layout/segfile.c", "integrity/chain.h"),  # the floor of integrity is above it
    ("integrity/chain.c", "indexer/idx.h"),           # the floor of integrity: common only
    ("integrity/chain.h", "integrity/keys.h"),        # ... not the rest of its own module
    ("integrity/checkpoint.c", "recorder/rec.h"),     # integrity is below the recorder
    ("integrity/keys.c", "exporter/exp_int.h"),       # ... and below the exporter
    ("integrity/audit_chain.c", "server/audit.h"),    # ... and below the server
    ("integrity/tsa.c", "cli/cli.h"),                 # ... and below the command line
    ("storage-layout/layout.c", "indexer/idx.h"),     # the floor looks up
    ("common/buf.h", "storage-layout/layout.h"),      # common is the floor
    ("server/jobs.c", "recorder/rec.h"),              # server and recorder are processes apart
    ("server/http.c", "tools/camsim/sim_util.h"),     # nothing includes tools/
    ("exporter/clip.c", "tests/unit/unit.h"),         # nothing ships test code
    ("camvault.c", "tools/camsim/sim_util.h"),        # the command line is a module too
    ("server/api_live.c", "gb/gb.h"),                 # only the record command runs GB/T 28181
    ("recorder/recorder.c", "gb/gb.h"),               # ... through rec_config.index_hook
    ("gb/agent.c", "recorder/rec.h"),                 # gb sits beside the recorder
    ("gb/agent.c", "server/audit.h"),                 # audit through the command's callback
]
# Other spellings of a wrong-way include: (file, as written, as reported).
SPELLINGS = [
    ("recorder/camera.c", "<exporter/export.h>", "exporter/export.h"),
    ("recorder/camera.c", "../exporter/export.h", "exporter/export.h"),
    ("indexer/idx_segments.c", "./../server/srv.h", "server/srv.h"),
]


@pytest.mark.parametrize("src,written,header",
                         [(s, h, h) for s, h in WRONG_WAY] + SPELLINGS,
                         ids=[s + "->" + h for s, h in WRONG_WAY] +
                             [s + "->" + w for s, w, _ in SPELLINGS])
def test_planted_wrong_way_include_fails(tree, src, written, header):
    if src == "camvault.c" and not (tree / src).exists():
        src = "cli/camvault.c"  # after the split of the command line into cli/
    line = plant(tree / src, written)
    r = check(root=tree)
    assert r.returncode == 1, r.stdout + r.stderr
    want = "%s:%d: %s includes %s, which docs/architecture.md does not allow" % (
        src, line, src, header)
    assert r.stdout.splitlines()[0].startswith(want), r.stdout
    assert len(r.stdout.splitlines()) == 1, r.stdout  # only the planted one
    assert "1 wrong-way" in r.stderr


def test_new_file_in_cli_may_include_everything_but_tools(tree):
    (tree / "cli").mkdir(exist_ok=True)
    f = tree / "cli" / "cmd_planted.c"
    f.write_text('#include "server/srv.h"\n#include "recorder/rec.h"\n'
                 '#include "tools/camsim/sim_util.h"\n')
    r = check(root=tree)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stdout.splitlines() == [
        "cli/cmd_planted.c:3: cli/cmd_planted.c includes tools/camsim/sim_util.h, which "
        "docs/architecture.md does not allow (cli may include: common exporter gb indexer "
        "integrity recorder server storage-layout)"]


def test_allowed_arrow_removed_from_doc_fails(tree):
    """The block is what is checked: drop `indexer` from recorder's line, its includes fail."""
    doc = tree / "docs" / "architecture.md"
    text = doc.read_text()
    old = "recorder:        common storage-layout indexer integrity\n"
    assert old in text
    doc.write_text(text.replace(old, "recorder:        common storage-layout integrity\n"))
    r = check(root=tree)
    assert r.returncode == 1
    assert "recorder/rec_int.h:" in r.stdout and "includes indexer/idx.h" in r.stdout


def test_indexer_reaches_integrity_only_through_its_floor(tree):
    """The indexer computes chain links with integrity/chain.h (allowed by name in its line);
    without that arrow its include fails, and recorder, exporter and server reach the floor
    because they may include integrity."""
    doc = tree / "docs" / "architecture.md"
    text = doc.read_text()
    old = "indexer:         common storage-layout integrity/chain\n"
    assert old in text
    doc.write_text(text.replace(old, "indexer:         common storage-layout\n"))
    for src in ("recorder/sink.c", "exporter/clip.c", "server/jobs.c"):
        plant(tree / src, "integrity/chain.h")
    r = check(root=tree)
    assert r.returncode == 1
    bad = r.stdout.splitlines()
    assert bad and all(l.startswith("indexer/") for l in bad), r.stdout
    assert any("indexer/idx_segments.c:" in l and "includes integrity/chain.h" in l
               for l in bad), r.stdout


@pytest.mark.parametrize("block,why", [
    ("", "no ```layering block"),
    ("```layering\nrecorder common\n```\n", "cannot read 'recorder common'"),
    ("```layering\ncommon:\ncommon:\n```\n", "module 'common' listed twice"),
    ("```layering\ncommon:\nrecorder: common integrity\n```\n",
     "module 'recorder' may include 'integrity', which is not a module of the block"),
    ("```layering\ncommon:\nintegrity/chain: common\n```\n",
     "'integrity/chain' is a floor of module 'integrity', which is not a module of the block"),
])
def test_bad_block_is_an_error(tmp_path, block, why):
    doc = tmp_path / "architecture.md"
    doc.write_text("# architecture\n\n" + block)
    r = check(doc=doc)
    assert r.returncode == 2, r.stdout + r.stderr
    assert why in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
