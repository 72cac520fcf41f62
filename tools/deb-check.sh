#!/bin/sh
# deb-check.sh: what the Debian package does on the machine it is installed on, checked on a
# scratch Debian 12 (it installs and purges the package and adds the user camvault: never run it
# on a machine you care about). Issue 16's acceptance 1:
#   ../shared/tools/fresh-check 'make deb && tools/deb-check.sh'
# Installs build/deb/camvault_*.deb with its dependencies; checks the binary, the user, the data
# root and its conf link, what the unit's ExecStartPre does (camvault init as camvault: keys 0600
# owned by camvault), `camvault run` as camvault serving the installed UI and stopping with exit 0
# on SIGTERM, the man pages, `systemd-analyze verify` and the exposure figure of the unit, then
# that remove keeps the data root and purge deletes it. Exit 0 when every check holds.
set -eu
export DEBIAN_FRONTEND=noninteractive
root=/var/lib/camvault
say() { echo "deb-check: $*"; }
fail() { echo "deb-check: FAILED: $*" >&2; exit 1; }

apt-get install -y -qq ./build/deb/camvault_*.deb >/dev/null
say "installed: $(camvault --version)"
getent passwd camvault >/dev/null || fail "no user camvault"
[ "$(readlink $root/camvault.conf)" = /etc/camvault/camvault.conf ] || fail "$root/camvault.conf is not a link to /etc/camvault/camvault.conf"
grep -qx /etc/camvault/camvault.conf /var/lib/dpkg/info/camvault.conffiles || fail "camvault.conf is not a conffile"

# The unit's ExecStartPre, as its user.
runuser -u camvault -- camvault init --root $root
for k in $root/keys/*.key; do
    [ "$(stat -c '%a %U' "$k")" = "600 camvault" ] || fail "$k is $(stat -c '%a %U' "$k"), not 600 camvault"
done
say "data root initialised: $(ls $root/keys | tr '\n' ' ')"

# camvault run as the unit runs it: the UI from /usr/share/camvault/web, a clean stop on SIGTERM.
# (setpriv execs camvault itself, so that $! is camvault run and SIGTERM goes to it, as systemd's.)
setpriv --reuid=camvault --regid=camvault --init-groups -- \
    camvault run --root $root --listen 127.0.0.1:18080 >/tmp/run.log 2>&1 &
pid=$!
python3 - <<'PY' || { cat /tmp/run.log; fail "camvault run did not serve the installed UI"; }
import time, urllib.request
want = open("/usr/share/camvault/web/index.html").read()
for _ in range(150):
    try:
        with urllib.request.urlopen("http://127.0.0.1:18080/", timeout=2) as r:
            if r.read().decode() == want:
                raise SystemExit(0)
    except OSError:
        pass
    time.sleep(0.2)
raise SystemExit(1)
PY
kill -TERM $pid
rc=0
wait $pid || rc=$?
[ $rc = 0 ] || { cat /tmp/run.log; fail "camvault run exited $rc on SIGTERM"; }
say "camvault run served the UI and stopped cleanly on SIGTERM"

apt-get install -y -qq --no-install-recommends man-db systemd >/dev/null
man -w camvault-camera >/dev/null || fail "no man page camvault-camera"
[ -f /usr/share/doc/camvault/install.md ] || fail "no /usr/share/doc/camvault/install.md (the unit's Documentation=)"
systemd-analyze verify /lib/systemd/system/camvault.service || fail "systemd-analyze verify"
say "systemd-analyze verify: the unit is accepted"
systemd-analyze security --offline=yes /lib/systemd/system/camvault.service | tail -n 1

apt-get remove -y -qq camvault >/dev/null
[ -d $root/index ] && [ -f $root/keys/signing.key ] || fail "remove deleted the data root"
say "remove kept $root"
apt-get purge -y -qq camvault >/dev/null
[ ! -e $root ] || fail "purge kept $root"
! getent passwd camvault >/dev/null || fail "purge kept the user camvault"
say "purge deleted $root and the user"
say "all checks hold"
