#!/bin/sh
# Installs cos-ftp-server from this unpacked package (see README.md, "Running as a service"):
#
#   package       -> $PREFIX (default /opt/cos-ftp-server): the files the tarball ships,
#                    never a conf/vsftpd.conf created beside them
#   launcher link -> /usr/local/bin/cos-ftp-server
#   config        -> /etc/cos-ftp-server/vsftpd.conf, from conf/vsftpd.conf.example, only
#                    when there is none yet (an existing config is never overwritten)
#   unit          -> /etc/systemd/system/cos-ftp-server.service
#   logrotate     -> /etc/logrotate.d/cos-ftp-server
#   user          -> cos-ftp (system user and group the unit runs as)
#
# then systemctl daemon-reload. Options:
#   --prefix DIR   where the package goes (default /opt/cos-ftp-server)
#   --destdir DIR  install under DIR as if it were / (also DESTDIR=DIR); for packaging and
#                  tests: no user is created and systemctl is not run
#   --no-systemctl do not run systemctl daemon-reload
set -eu

PREFIX=/opt/cos-ftp-server
DESTDIR=${DESTDIR:-}
SYSTEMCTL=yes
while [ $# -gt 0 ]; do
  case $1 in
    --prefix) PREFIX=${2:?--prefix needs a directory}; shift 2 ;;
    --prefix=*) PREFIX=${1#--prefix=}; shift ;;
    --destdir) DESTDIR=${2:?--destdir needs a directory}; shift 2 ;;
    --destdir=*) DESTDIR=${1#--destdir=}; shift ;;
    --no-systemctl) SYSTEMCTL=no; shift ;;
    -h|--help) sed -n '2,/^set -eu/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case $PREFIX in /*) ;; *) echo "install.sh: --prefix must be absolute" >&2; exit 2 ;; esac

SRC=$(CDPATH= cd -P -- "$(dirname -- "$0")" && pwd)
USER_NAME=cos-ftp
ETC=$DESTDIR/etc/cos-ftp-server
say() { echo "install.sh: $*"; }

if [ -z "$DESTDIR" ] && [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (or with --destdir DIR)" >&2
  exit 1
fi

# The package: exactly the files tools/dist.ts puts in the tarball, replacing an older
# copy's. Not the whole directory: the operator may have created conf/vsftpd.conf here
# (README "Delivery"), and its keys must not land world-readable in $PREFIX.
EXECUTABLES="cos-ftp-server bin/deno install.sh"
DATA="app/cos-ftp-server.js conf/vsftpd.conf.example README.md
  deploy/systemd/cos-ftp-server.service deploy/logrotate/cos-ftp-server"
for file in $EXECUTABLES $DATA; do
  if [ ! -f "$SRC/$file" ]; then
    echo "install.sh: $SRC/$file is missing: run install.sh from an unpacked package" >&2
    exit 1
  fi
done
# Through a temporary name and a rename: a running server keeps its bin/deno (copying
# over an executing file fails with "Text file busy").
put() { # put FILE MODE
  mkdir -p "$(dirname -- "$DESTDIR$PREFIX/$1")"
  cp "$SRC/$1" "$DESTDIR$PREFIX/$1.new.$$"
  chmod "$2" "$DESTDIR$PREFIX/$1.new.$$"
  mv -f "$DESTDIR$PREFIX/$1.new.$$" "$DESTDIR$PREFIX/$1"
}
for file in $EXECUTABLES; do put "$file" 0755; done
for file in $DATA; do put "$file" 0644; done
say "package in $DESTDIR$PREFIX"
if [ -e "$DESTDIR$PREFIX/conf/vsftpd.conf" ]; then
  # An older install.sh copied it there; it is not read from there, and may hold keys.
  echo "install.sh: warning: $DESTDIR$PREFIX/conf/vsftpd.conf is a copy of a config (the" \
    "service reads $ETC/vsftpd.conf); remove it: it may hold keys" >&2
fi

mkdir -p "$DESTDIR/usr/local/bin"
ln -sf "$PREFIX/cos-ftp-server" "$DESTDIR/usr/local/bin/cos-ftp-server"
say "launcher linked at $DESTDIR/usr/local/bin/cos-ftp-server"

if [ -z "$DESTDIR" ] && ! getent passwd "$USER_NAME" >/dev/null; then
  useradd --system --user-group --no-create-home --home-dir /var/lib/cos-ftp-server \
    --shell /usr/sbin/nologin "$USER_NAME"
  say "created the system user $USER_NAME"
fi

# An existing config stays, but the unit (group cos-ftp) must be able to read it and
# others must not (it holds passwords and keys).
keep_config() {
  before=$(stat -c '%a %U:%G' "$1")
  chmod o-rwx "$1"
  if [ -z "$DESTDIR" ]; then
    chgrp "$USER_NAME" "$1"
    say "kept the existing $1: group $USER_NAME, no access for others (was $before, now $(stat -c '%a %U:%G' "$1"))"
  else
    say "kept the existing $1: no access for others (was $before, now $(stat -c '%a' "$1"))"
    echo "install.sh: warning: with --destdir its group is not set: give it group $USER_NAME" \
      "on the target (chgrp $USER_NAME /etc/cos-ftp-server/vsftpd.conf)" >&2
  fi
}

mkdir -p "$ETC"
if [ -e "$ETC/vsftpd.conf" ]; then
  keep_config "$ETC/vsftpd.conf"
else
  # The service's log directory (LogsDirectory=) instead of a relative "log".
  sed 's|^log_dir = log$|log_dir = /var/log/cos-ftp-server|' \
    "$SRC/conf/vsftpd.conf.example" >"$ETC/vsftpd.conf"
  chmod 0640 "$ETC/vsftpd.conf"
  if [ -z "$DESTDIR" ]; then chgrp "$USER_NAME" "$ETC/vsftpd.conf"; fi
  say "wrote $ETC/vsftpd.conf from the example: edit it, then cos-ftp-server --config $ETC/vsftpd.conf --check"
fi

mkdir -p "$DESTDIR/etc/systemd/system" "$DESTDIR/etc/logrotate.d"
# The unit runs the launcher link, whatever the prefix.
cp "$SRC/deploy/systemd/cos-ftp-server.service" "$DESTDIR/etc/systemd/system/"
chmod 0644 "$DESTDIR/etc/systemd/system/cos-ftp-server.service"
cp "$SRC/deploy/logrotate/cos-ftp-server" "$DESTDIR/etc/logrotate.d/"
chmod 0644 "$DESTDIR/etc/logrotate.d/cos-ftp-server"
say "unit in $DESTDIR/etc/systemd/system, logrotate in $DESTDIR/etc/logrotate.d"

if [ -z "$DESTDIR" ] && [ "$SYSTEMCTL" = yes ] && command -v systemctl >/dev/null; then
  systemctl daemon-reload
  say "systemctl daemon-reload done; start it with: systemctl enable --now cos-ftp-server"
else
  say "not running systemctl daemon-reload (--destdir, --no-systemctl or no systemctl)"
fi
