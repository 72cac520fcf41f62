#!/usr/bin/python3
"""check-includes.py: every #include "dir/..." must point the way docs/architecture.md allows.

Reads the fenced ```layering block of docs/architecture.md:

    module: dep dep ...          what files of `module` may include (besides their own module)
    dir/name: dep dep ...        a floor inside a module: the files dir/name.c, dir/name.h (and
                                 dir/name/...) form their own module, which may include only
                                 its deps; the rest of dir may include it, and so may every
                                 module allowed to include dir (integrity/chain, below indexer)
    except FILE: HEADER ...      a known wrong-way include of one file, kept until it is fixed
    # comment

scans every .c and .h under the module folders (and camvault.c at the top, which belongs to
the cli module until it moves to cli/) for #include "dir/..." and #include <dir/...> where dir
is a module or a folder of the tree ("../dir/..." is read as dir/...), and prints one line per
include that the block does not allow:

    recorder/x.c:12: recorder/x.c includes exporter/y.h, which docs/architecture.md does not allow
    (recorder may include: common storage-layout indexer)

Exit status: 0 all includes allowed, 1 some are not, 2 the block is missing or malformed.
Usage: check-includes.py [--root DIR] [--doc FILE]    (default root: the checkout holding this file)
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]')
LINE = re.compile(r'^(except\s+)?([A-Za-z0-9_./-]+)\s*:\s*(.*)$')
TOP_FILES = {"camvault.c": "cli"}  # files at the top of the tree and their module


def fail(msg):
    print("check-includes: " + msg, file=sys.stderr)
    sys.exit(2)


def read_block(doc):
    """The `layering` block as ({module: set(deps)}, {file: set(headers)})."""
    try:
        with open(doc, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        fail("cannot read %s: %s" % (doc, e.strerror))
    m = re.search(r"^```layering[ \t]*\n(.*?)^```", text, re.M | re.S)
    if not m:
        fail("%s: no ```layering block (module: allowed dependencies)" % doc)
    first = text[: m.start(1)].count("\n") + 1
    allowed, excepts = {}, {}
    for i, raw in enumerate(m.group(1).splitlines()):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        p = LINE.match(line)
        if not p:
            fail("%s:%d: cannot read '%s' (want 'module: deps' or 'except file: headers')"
                 % (doc, first + i, raw.strip()))
        words = p.group(3).split()
        if p.group(1):
            excepts.setdefault(p.group(2), set()).update(words)
        elif p.group(2) in allowed:
            fail("%s:%d: module '%s' listed twice" % (doc, first + i, p.group(2)))
        else:
            allowed[p.group(2)] = set(words)
    for mod, deps in allowed.items():
        if "/" in mod and mod.split("/", 1)[0] not in allowed:
            fail("%s: '%s' is a floor of module '%s', which is not a module of the block"
                 % (doc, mod, mod.split("/", 1)[0]))
        for d in deps - set(allowed):
            fail("%s: module '%s' may include '%s', which is not a module of the block"
                 % (doc, mod, d))
    if not allowed:
        fail("%s: the layering block lists no module" % doc)
    return allowed, excepts


def module_of(rel, modules):
    """The module a path (file or header) belongs to: the most specific one, so that
    integrity/chain.h is module integrity/chain and integrity/keys.h is module integrity."""
    stem = os.path.splitext(rel)[0]
    subs = [m for m in modules if "/" in m and (stem == m or rel.startswith(m + "/"))]
    if subs:
        return max(subs, key=len)
    return rel.split("/", 1)[0]


def may_include(mod, dep, allowed):
    """Whether files of module `mod` may include headers of module `dep`."""
    if dep == mod or dep in allowed[mod]:
        return True
    top = dep.split("/", 1)[0]
    # a module's own floor (integrity -> integrity/chain), and a floor of a module one may
    # include (recorder -> integrity/chain because recorder -> integrity)
    return dep != top and (top == mod or top in allowed[mod])


def sources(root, modules):
    """(relative path, module) of every .c/.h of the tree that belongs to a module."""
    for name, mod in sorted(TOP_FILES.items()):
        if mod in modules and os.path.isfile(os.path.join(root, name)):
            yield name, mod
    for top in sorted(m for m in modules if "/" not in m):
        for d, dirs, files in os.walk(os.path.join(root, top)):
            dirs.sort()
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    rel = os.path.relpath(os.path.join(d, f), root)
                    yield rel, module_of(rel, modules)


def main(argv):
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    root, doc = here, None
    args = list(argv)
    while args:
        a = args.pop(0)
        if a in ("--root", "--doc") and args:
            v = args.pop(0)
            if a == "--root":
                root = v
            else:
                doc = v
        else:
            fail("usage: check-includes.py [--root DIR] [--doc FILE] (bad argument '%s')" % a)
    doc = doc or os.path.join(root, "docs", "architecture.md")
    allowed, excepts = read_block(doc)
    docname = "docs/architecture.md"
    bad, nfiles, nincl, used = [], 0, 0, set()
    for rel, mod in sources(root, allowed):
        nfiles += 1
        try:
            with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
                lines = f.readlines()
        except OSError as e:
            fail("cannot read %s: %s" % (rel, e.strerror))
        for n, text in enumerate(lines, 1):
            m = INCLUDE.match(text)
            if not m or "/" not in m.group(1):
                continue
            hdr = m.group(1)
            if hdr.startswith(".") or "/../" in hdr or "/./" in hdr:
                # "../exporter/export.h" is exporter/export.h: a relative path is no way around
                hdr = os.path.normpath(os.path.join(os.path.dirname(rel), hdr))
            top = hdr.split("/", 1)[0]
            if top not in allowed and not os.path.isdir(os.path.join(root, top)):
                continue  # not a folder of this tree: a system header (<openssl/evp.h>)
            dep = module_of(hdr, allowed)
            nincl += 1
            if may_include(mod, dep, allowed):
                continue
            if hdr in excepts.get(rel, ()):
                used.add((rel, hdr))
                continue
            may = " ".join(sorted(allowed[mod])) or "nothing but itself"
            bad.append("%s:%d: %s includes %s, which %s does not allow (%s may include: %s)"
                       % (rel, n, rel, hdr, docname, mod, may))
    for rel, hdrs in sorted(excepts.items()):
        for hdr in sorted(hdrs - {h for r, h in used if r == rel}):
            print("check-includes: note: exception '%s: %s' matches no include any more; "
                  "remove it from %s" % (rel, hdr, docname), file=sys.stderr)
    for b in bad:
        print(b)
    print("check-includes: %d files, %d module includes, %d wrong-way, %d known exceptions"
          % (nfiles, nincl, len(bad), len(used)), file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
