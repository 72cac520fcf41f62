#!/bin/sh
# deb.sh: `make deb`. Installs what building the package needs and is missing (dpkg-dev and
# lintian, then with `apt-get build-dep ./` the Build-Depends of debian/control: build-essential,
# debhelper, pkg-config and the -dev packages), copies the tree into
# build/deb/camvault-VERSION/ (dpkg-buildpackage writes its results beside the source it builds,
# and the copy keeps debian/'s build droppings out of the tree), builds there with
# `dpkg-buildpackage -us -uc -b`, and runs lintian on the result. The package:
# build/deb/camvault_VERSION_ARCH.deb. Lintian tags that remain are explained in docs/install.md.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export DEBIAN_FRONTEND=noninteractive
updated=""
apt_update() {
    [ -n "$updated" ] && return 0
    [ "$(id -u)" = 0 ] || { echo "deb.sh: installing $1 needs root" >&2; exit 1; }
    apt-get update -qq
    updated=1
}
want="dpkg-dev lintian"
# shellcheck disable=SC2086
have=$(dpkg-query -W -f='${Package} ${Status}\n' $want 2>/dev/null | awk '/ install ok installed$/ {print $1}' || true)
missing=""
for p in $want; do
    echo "$have" | grep -qx "$p" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    apt_update "$missing"
    echo "deb.sh: installing:$missing"
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# The Build-Depends of debian/control (and build-essential), the one list of them.
if ! dpkg-checkbuilddeps >/dev/null 2>&1; then
    apt_update "the Build-Depends of debian/control"
    echo "deb.sh: installing the Build-Depends of debian/control"
    apt-get build-dep -y -qq --no-install-recommends ./ >/dev/null
fi
version=$(dpkg-parsechangelog -S Version)
out=build/deb
src=$out/camvault-$version
rm -rf "$out"
mkdir -p "$src"
# The tree without builds, browser modules or git: what the package is built from.
tar -cf - --exclude=./build --exclude='./build-*' --exclude=./.git --exclude=node_modules \
    --exclude='./bench/results' . | tar -xf - -C "$src"
(cd "$src" && dpkg-buildpackage -us -uc -b)
deb=$(ls "$out"/camvault_"$version"_*.deb)
echo "deb.sh: built $deb"
lintian --info --display-info "$out"/camvault_"$version"_*.changes || {
    echo "deb.sh: lintian found errors or warnings in $deb (see above)" >&2
    exit 1
}
