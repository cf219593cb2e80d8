#!/bin/sh
# Installs cos-ftp-server from this unpacked package (see README.md, "Running as a service"):
#
#   package       -> $PREFIX (default /opt/cos-ftp-server)
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
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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

# The package: everything in this directory, replacing an older copy's files.
mkdir -p "$DESTDIR$PREFIX"
cp -R "$SRC/." "$DESTDIR$PREFIX/"
say "package in $DESTDIR$PREFIX"

mkdir -p "$DESTDIR/usr/local/bin"
ln -sf "$PREFIX/cos-ftp-server" "$DESTDIR/usr/local/bin/cos-ftp-server"
say "launcher linked at $DESTDIR/usr/local/bin/cos-ftp-server"

if [ -z "$DESTDIR" ] && ! getent passwd "$USER_NAME" >/dev/null; then
  useradd --system --user-group --no-create-home --home-dir /var/lib/cos-ftp-server \
    --shell /usr/sbin/nologin "$USER_NAME"
  say "created the system user $USER_NAME"
fi

mkdir -p "$ETC"
if [ -e "$ETC/vsftpd.conf" ]; then
  say "kept the existing $ETC/vsftpd.conf"
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
