#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Builds the `debian` container image (the default penguin container): Debian 12 "bookworm" via
# debootstrap --variant=minbase plus bash, sudo, apt, ca-certificates, locales, less, procps,
# iproute2 and systemd as PID 1 (systemd-sysv, dbus, dbus-user-session, libpam-systemd, tzdata), sensible-utils (sensible-browser),
# openssh-sftp-server ("Linux files": garcon runs it for `bistro files`), fuse3, sshfs and squashfuse (FUSE in the container),
# foot, wl-clipboard and wayland-utils (a real Wayland app, the clipboard tools and wayland-info for the GUI
# tests; fonts-dejavu-core so that foot has a font),
# with an en_US.UTF-8 locale, the units that cannot work in an unprivileged container masked
# (docs/design/containers.md, "penguin runs systemd"), and open-on-host plumbing (xdg-open,
# x-www-browser, www-browser, $BROWSER -> /opt/bistro/bin/bistro-open; xdg-open also for files in
# /mnt/shared), packed into the image store as
# debian.tar.zst + debian.json. Minutes the first time (downloads ~60 MiB of .debs into a cache); afterwards it
# rebuilds only when an input changed, offline once the .debs are cached. Needs root (debootstrap).
#
# Usage: build-debian.sh [STORE]   (default ${XDG_DATA_HOME:-~/.local/share}/bistro/images/containers)
# Env:   BISTRO_DEBIAN_MIRROR (default http://deb.debian.org/debian)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
. "$here/common.sh"
die() { echo "debian: error: $*" >&2; exit 1; }

store=${1:-$(default_store)}
suite=bookworm
release=12
mirror=${BISTRO_DEBIAN_MIRROR:-http://deb.debian.org/debian}
include=bash,sudo,apt,ca-certificates,locales,less,procps,iproute2,systemd,systemd-sysv,dbus,dbus-user-session,libpam-systemd,tzdata,sensible-utils,fuse3,sshfs,squashfuse,openssh-sftp-server,foot,wl-clipboard,wayland-utils,fonts-dejavu-core
cache=${XDG_CACHE_HOME:-$HOME/.cache}/bistro/debootstrap-$suite
export PATH=$PATH:/usr/sbin:/sbin

[[ $(id -u) == 0 ]] || die "debootstrap needs root (run with sudo)"
command -v debootstrap >/dev/null || die "debootstrap not found (Debian package debootstrap)"

inputs=$( { sha256sum "$here/build-debian.sh" "$here/common.sh" | cut -d' ' -f1; echo "$suite $include"; } |
        sha256sum | cut -d' ' -f1)
if up_to_date "$store" debian "$inputs"; then
        echo "debian: up to date: $store/debian.tar.zst" >&2
        exit 0
fi

mkdir -p "$cache" "$store"
tmp=$(mktemp -d "$store/.debian-build.XXXXXX")
trap 'umount -R "$tmp/root/proc" 2>/dev/null || true; rm -rf "$tmp"' EXIT
root=$tmp/root

echo "debian: [1/3] debootstrap $suite ($include), .debs cached in $cache" >&2
debootstrap --variant=minbase --merged-usr --include="$include" --cache-dir="$cache" \
        "$suite" "$root" "$mirror" >&2 || die "debootstrap failed (see above)"

echo "debian: [2/3] configuring" >&2
echo "en_US.UTF-8 UTF-8" > "$root/etc/locale.gen"
chroot "$root" /usr/sbin/locale-gen >&2
echo 'LANG=en_US.UTF-8' > "$root/etc/default/locale"
echo penguin > "$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 penguin\n::1 localhost ip6-localhost ip6-loopback\n' > "$root/etc/hosts"
cat > "$root/etc/apt/sources.list" <<SOURCES
deb http://deb.debian.org/debian $suite main
deb http://deb.debian.org/debian $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main
SOURCES

# systemd in an unprivileged LXC container (cgroup2, no udev, no console login). Each masked unit
# is listed with its reason in docs/design/containers.md; keep the two lists in step.
masked=(
        # prompts for locale, zone and root password on the console at the first boot: nobody
        # reads that console, the boot would wait for ever
        systemd-firstboot.service
        # no one logs in on the container's console or ttys (vsh is the way in); agetty on a
        # console nobody reads only costs a process and a start
        getty.target console-getty.service container-getty@.service getty@.service
        # kernel file systems an unprivileged user namespace may not mount
        sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount
        sys-fs-fuse-connections.mount dev-hugepages.mount proc-sys-fs-binfmt_misc.automount
        proc-sys-fs-binfmt_misc.mount systemd-binfmt.service
        # the kernel audit socket is not per namespace
        systemd-journald-audit.socket
        # no kernel modules, no hardware clock, no block devices of its own in a container
        # (modprobe@drm, @dm_mod, @loop: 4 s each of a TCG boot, for nothing)
        modprobe@.service systemd-modules-load.service kmod-static-nodes.service systemd-hwdb-update.service
        systemd-pstore.service systemd-remount-fs.service
        # background work that costs minutes of CPU under TCG and belongs to the user's choice
        apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer
)
for u in "${masked[@]}"; do
        ln -sfn /dev/null "$root/etc/systemd/system/$u"
done
mkdir -p "$root/etc/systemd/system.conf.d" "$root/etc/systemd/user.conf.d" "$root/etc/systemd/journald.conf.d"
# tremplin gives a clean stop 10 s before it kills (docs/design/containers.md): units get 5 s.
printf '[Manager]\nDefaultTimeoutStopSec=5s\nDefaultTimeoutStartSec=30s\n' \
        > "$root/etc/systemd/system.conf.d/bistro.conf"
printf '[Manager]\nDefaultTimeoutStopSec=5s\n' > "$root/etc/systemd/user.conf.d/bistro.conf"
# The journal lives in /run (volatile) and stays small: the container's disk is the user's.
printf '[Journal]\nStorage=volatile\nRuntimeMaxUse=16M\n' > "$root/etc/systemd/journald.conf.d/bistro.conf"
# vsh sessions do not go through PAM, so pam_systemd does not set XDG_RUNTIME_DIR: a login shell
# gets it here when the user's manager runs (lingering), and `systemctl --user` works.
cat > "$root/etc/profile.d/bistro-xdg.sh" <<'PROFILE'
# Written by Bistro's image builder: the user manager's runtime directory for vsh sessions.
if [ -z "${XDG_RUNTIME_DIR:-}" ] && [ -d "/run/user/$(id -u)" ]; then
        XDG_RUNTIME_DIR=/run/user/$(id -u)
        export XDG_RUNTIME_DIR
fi
PROFILE

# Open on host (garcon, item 6): /opt/bistro/bin/bistro-open is garcon under another name, in the
# VM's read-only /opt/bistro. update-alternatives drops an alternative whose target is missing,
# so a placeholder stands there while it runs; the container sees the VM's /opt/bistro instead.
mkdir -p "$root/opt/bistro/bin"
placeholder=0
if [[ ! -e $root/opt/bistro/bin/bistro-open ]]; then
        printf '#!/bin/sh\nexit 1\n' > "$root/opt/bistro/bin/bistro-open"
        chmod 755 "$root/opt/bistro/bin/bistro-open"
        placeholder=1
fi
# As Crostini's cros-garcon: the graphical, text and GNOME browser alternatives (sensible-browser
# tries www-browser when there is no $DISPLAY).
for alt in x-www-browser www-browser gnome-www-browser; do
        chroot "$root" update-alternatives --install /usr/bin/$alt $alt /opt/bistro/bin/bistro-open 200 >&2
done
if [[ $placeholder == 1 ]]; then
        rm -f "$root/opt/bistro/bin/bistro-open"
fi
rm -rf "$root/opt/bistro/bin"
mkdir -p "$root/usr/local/bin"
cat > "$root/usr/local/bin/xdg-open" <<'XDGOPEN'
#!/bin/sh
# Written by Bistro's image builder: links open in the host's browser, and files of shared host
# folders (/mnt/shared/NAME) with the host's application for them (garcon -> cicerone -> the host's
# xdg-open); anything else goes to the container's own xdg-open when it has one.
case "${1:-}" in
http://* | https://* | mailto:* | HTTP://* | HTTPS://* | MAILTO:* | file:///mnt/shared/*)
        exec /opt/bistro/bin/bistro-open "$1"
        ;;
esac
if [ -e "${1:-}" ]; then
        case "$(realpath -- "$1")" in
        /mnt/shared/?*) exec /opt/bistro/bin/bistro-open "$1" ;;
        esac
fi
if [ -x /usr/bin/xdg-open ]; then
        exec /usr/bin/xdg-open "$@"
fi
echo "xdg-open: only http, https and mailto links, and files in /mnt/shared, can be opened on the host" >&2
exit 2
XDGOPEN
chmod 755 "$root/usr/local/bin/xdg-open"
echo 'BROWSER=/opt/bistro/bin/bistro-open' >> "$root/etc/environment"
printf '# Written by Bistro'"'"'s image builder: links open on the host.\nBROWSER=/opt/bistro/bin/bistro-open\nexport BROWSER\n' \
        > "$root/etc/profile.d/bistro-browser.sh"

# Image-specific state that must not be shared by every container made from it: each container
# gets its own machine id at its first boot (systemd-machine-id-setup commits it).
: > "$root/etc/machine-id"
# No zone in the image: tremplin sets the host's at each start, and keeps doing so until the user
# sets another one inside (docs/design/containers.md, "Timezone").
rm -f "$root/etc/localtime" "$root/etc/timezone"
rm -f "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/*_* \
        "$root"/var/log/*.log "$root"/var/log/apt/* "$root/etc/resolv.conf"
rm -rf "$root"/tmp/* "$root"/debootstrap

echo "debian: [3/3] packing" >&2
pack "$root" "$store" debian debian "$release" "$inputs"
