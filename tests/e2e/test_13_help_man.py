"""Issue 16, acceptance 5 (and the install half of 1): --help, the man pages, make install.

Every command of camvault's table answers `camvault COMMAND --help` and `-h` with exit 0 (before
the command parses its options), and its man page camvault-COMMAND(1), rendered by man(1), says
the same words as --help: both come from one source, docs/man/camvault-COMMAND.txt (cli/help.h).
The options a command's C code accepts and the options its page documents are the same set.
`make install` puts the binary, the man pages, the web UI and the systemd unit under PREFIX, and
the installed binary serves the UI without --web; `systemd-analyze verify` accepts the unit.
"""
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest

from conftest import BUILD, CAMVAULT, REPO, Proc, cv, free_port, wait_for

GLOBAL_OPTS = {"--root", "--json", "--help"}


def commands():
    """The command table, as `camvault --help` lists it (COMMANDS section)."""
    text = cv("--help").stdout
    section = re.search(r"\nCOMMANDS\n(.*?)(\n[A-Z]|\Z)", text, re.S).group(1)
    names = re.findall(r"^  camvault ([a-z-]+)\n", section, re.M)
    assert len(names) >= 17, text
    return names


def words(text):
    return text.split()


def render(page):
    """The man page as man(1) shows it, without its header and footer lines."""
    env = dict(os.environ, LC_ALL="C", MANWIDTH="120", MAN_KEEP_FORMATTING="")
    r = subprocess.run(["man", "--warnings", "-E", "ascii", "-l", str(page)], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 0 and not r.stderr.strip(), (page, r.stderr)
    lines = r.stdout.splitlines()
    body = [l for l in lines if l.strip()]
    assert body[0].startswith(page.stem.upper()), body[0]  # header: CAMVAULT-X(1) ... CAMVAULT-X(1)
    assert body[-1].rstrip().endswith(page.stem.upper() + "(1)"), body[-1]  # footer
    return "\n".join(body[1:-1])


def test_every_command_has_help():
    overview = cv("--help").stdout
    assert "(no help page)" not in overview
    assert cv("help").stdout == overview and cv("-h").stdout == overview
    for name in commands():
        page = cv(name, "--help").stdout
        assert page.startswith(f"camvault-{name} - "), (name, page[:80])
        assert "\nSYNOPSIS\n" in page and f"  camvault {name}" in page, name
        assert cv(name, "-h").stdout == page
        assert cv("help", name).stdout == page
        # Anywhere among the command's words: it is answered before the command parses them.
        assert cv(name, "--bogus-option", "--help").stdout == page
    r = cv("record", "--", "--help", check=False)
    assert r.returncode == 2 and "unexpected argument '--help'" in r.stderr, r.stderr
    r = cv("help", "frobnicate", check=False)
    assert r.returncode == 2 and r.stderr == "camvault: no help for 'frobnicate' (see 'camvault help')\n"
    assert re.fullmatch(r"camvault \d+\.\d+\.\d+\S*\n", cv("--version").stdout)


@pytest.mark.skipif(shutil.which("man") is None, reason="man (man-db) is not installed")
def test_man_page_says_what_help_says():
    pages = {"": BUILD / "man" / "camvault.1"}
    pages.update({n: BUILD / "man" / f"camvault-{n}.1" for n in commands()})
    for name, page in pages.items():
        assert page.exists(), f"{page} is missing (make man)"
        helptext = cv(*([name] if name else []), "--help").stdout
        shown = render(page)
        # NAME is the man page's own heading of the first line.
        assert words(shown) == ["NAME"] + words(helptext), name or "camvault"


def options_by_file():
    """{cli file: (its commands, the options its C code accepts)} from cli/cli.h and cli/*.c."""
    decl = (REPO / "cli" / "cli.h").read_text()
    out = {}
    for cmd, f in re.findall(r"int cli_cmd_(\w+)\(int argc, char \*\*argv\);\s*/\* (cli/\w+\.c) \*/",
                             decl):
        src = (REPO / f).read_text()
        opts = set(re.findall(r'\{"(--[a-z][a-z-]*)"', src))
        out.setdefault(f, (set(), opts))[0].add(cmd)
    assert len(out) >= 9, out
    return out


def test_pages_document_exactly_the_options_accepted():
    for f, (cmds, accepted) in options_by_file().items():
        pages = "".join(cv(c, "--help").stdout for c in sorted(cmds))
        documented = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", pages)) - GLOBAL_OPTS
        assert accepted - documented == set(), f"{f}: options of {sorted(cmds)} with no help"
        assert documented - accepted == set(), f"{f}: options in the help that {f} does not take"


def install(tmp_path, prefix, destdir=None):
    args = ["make", "-s", "-C", str(REPO), f"BUILD={BUILD}", f"PREFIX={prefix}", "install"]
    if destdir:
        args.append(f"DESTDIR={destdir}")
    r = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr


def test_make_install_tree(tmp_path):
    dest = tmp_path / "dest"
    install(tmp_path, "/usr/local", dest)
    top = dest / "usr" / "local"
    assert os.access(top / "bin" / "camvault", os.X_OK)
    man1 = top / "share" / "man" / "man1"
    for name in [""] + commands():
        page = man1 / (f"camvault-{name}.1" if name else "camvault.1")
        assert page.exists(), page
    assert (top / "share" / "camvault" / "web" / "index.html").exists()
    unit = (top / "lib" / "systemd" / "system" / "camvault.service").read_text()
    assert "ExecStart=/usr/local/bin/camvault run --root /var/lib/camvault" in unit
    if shutil.which("man"):
        env = dict(os.environ, LC_ALL="C", MANWIDTH="120")
        r = subprocess.run(["man", "-M", str(top / "share" / "man"), "camvault-hold"],
                           capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 0 and "camvault hold add --case C" in r.stdout, r.stderr


def test_installed_binary_serves_the_ui_without_web(tmp_path, procs):
    """The web UI is found under PREFIX/share/camvault/web, not in the source tree."""
    dest = tmp_path / "dest"
    install(tmp_path, "/opt/cv", dest)
    exe = dest / "opt" / "cv" / "bin" / "camvault"
    root = tmp_path / "root"
    subprocess.run([exe, "init", "--root", root], check=True, capture_output=True, timeout=60)
    port = free_port()
    log = tmp_path / "serve.log"
    procs.append(Proc([exe, "serve", "--root", root, "--listen", f"127.0.0.1:{port}"], log=log))

    def get(path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, ""
        except OSError:
            return None
    wait_for(lambda: get("/healthz"), 30, what="the installed server's /healthz")
    want = (dest / "opt" / "cv" / "share" / "camvault" / "web" / "index.html").read_text()
    assert get("/") == (200, want)
    assert "no web directory" not in log.read_text()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze (package systemd) is not installed")
def test_unit_verifies(tmp_path):
    """The installed unit (ExecStart pointed at the installed binary) passes systemd-analyze."""
    prefix = tmp_path / "usr"
    install(tmp_path, prefix)
    unit = prefix / "lib" / "systemd" / "system" / "camvault.service"
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(unit)],
                       capture_output=True, text=True, timeout=120)
    m = re.search(r"Overall exposure level for camvault.service: (\d+\.\d+)", r.stdout)
    assert m and float(m.group(1)) <= 2.5, r.stdout[-400:]
