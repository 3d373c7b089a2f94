#!/bin/sh
# PostGuard @@{version}: uninstall (as root). Removes every file install.sh wrote, takes the CA out of the system
# store and every account's NSS database; each account's own record (~/.local/share/postguard) stays.
set -u
ROOT=${POSTGUARD_ROOT:-}
state="$ROOT/var/lib/postguard"
list="$state/installed-files"
[ "$(id -u)" = 0 ] || { echo "uninstall.sh: run as root" >&2; exit 2; }
if [ -z "$ROOT" ]; then
  systemctl --global disable postguard.service >/dev/null 2>&1 || true
  for d in /home/*/.pki/nssdb /root/.pki/nssdb; do
    [ -d "$d" ] && command -v certutil >/dev/null 2>&1 || continue
    owner=$(stat -c %U "$d")
    while runuser -u "$owner" -- certutil -d "sql:$d" -D -n PostGuard >/dev/null 2>&1; do :; done
  done
fi
if [ -f "$list" ]; then
  while read -r f; do
    case "$f" in /*) rm -rf "$ROOT$f" ;; esac
  done < "$list"
fi
if [ -z "$ROOT" ]; then update-ca-certificates --fresh >/dev/null 2>&1 || true; fi
rm -f "$list" "$state/installed-version"
rmdir "$state" "$ROOT$(dirname "@@{config}")" 2>/dev/null || true
echo "PostGuard removed"
