#!/bin/sh
# PostGuard @@{version}: install for every account on this laptop (as root): ./install.sh [PATH/TO/dist/postguard]
# Files it writes are listed in /var/lib/postguard/installed-files; uninstall.sh removes exactly those.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bundle=${1:-$here/postguard}
[ "$(id -u)" = 0 ] || { echo "install.sh: run as root" >&2; exit 2; }
[ -x "$bundle/postguard" ] || { echo "install.sh: no PostGuard bundle at $bundle (make dist builds one)" >&2; exit 2; }
ROOT=${POSTGUARD_ROOT:-}   # a staging root for packaging and tests; empty: this machine
state="$ROOT/var/lib/postguard"
mkdir -p "$state"
list="$state/installed-files"
: > "$list.new"
put() {  # put MODE SRC DEST: install one file and remember it
  mkdir -p "$(dirname "$ROOT$3")"
  install -m "$1" "$2" "$ROOT$3"
  echo "$3" >> "$list.new"
}

# 1. The program, its config and the native messaging host.
rm -rf "$ROOT@@{bundle}"
mkdir -p "$ROOT@@{bundle}"
cp -R "$bundle"/. "$ROOT@@{bundle}/"
echo "@@{bundle}" >> "$list.new"
put 0755 "$here/native-host" "@@{native_host}"
put 0755 "$here/trust-nss" "@@{bundle}/trust-nss"
put 0644 "$here/README.md" "@@{bundle}/README.md"
put 0644 "$here/config.toml" "@@{config}"
for f in "$here"/*.png; do
  if [ -e "$f" ]; then put 0644 "$f" "$(dirname "@@{config}")/$(basename "$f")"; fi
done
put 0644 "$here/native-messaging/@@{host_name}.json" "@@{chrome_hosts}/@@{host_name}.json"
put 0644 "$here/native-messaging/@@{host_name}.json" "@@{chromium_hosts}/@@{host_name}.json"
put 0644 "$here/native-messaging/@@{host_name}.json" "@@{edge_hosts}/@@{host_name}.json"
put 0644 "$here/native-messaging/@@{host_name}.firefox.json" "@@{firefox_hosts}/@@{host_name}.json"

# 2. Browser policies in their system folders.
put 0644 "$here/policies/chrome/postguard.json" "@@{chrome_policies}/postguard.json"
put 0644 "$here/policies/chromium/postguard.json" "@@{chromium_policies}/postguard.json"
put 0644 "$here/policies/edge/postguard.json" "@@{edge_policies}/postguard.json"
if [ -e "$ROOT@@{firefox_policies}" ] && ! grep -q "@@{firefox_id}" "$ROOT@@{firefox_policies}"; then
  echo "install.sh: @@{firefox_policies} is not PostGuard's: add PostGuard's (policies/firefox/policies.json) to it" >&2
else
  put 0644 "$here/policies/firefox/policies.json" "@@{firefox_policies}"
fi

# 3. This laptop's CA: made once, readable by the group postguard (every person's account), trusted system-wide.
if [ -z "$ROOT" ]; then
  getent group postguard >/dev/null 2>&1 || groupadd --system postguard
  awk -F: '$3 >= 1000 && $3 < 60000 {print $1}' /etc/passwd | while read -r u; do usermod -a -G postguard "$u"; done
  POSTGUARD_CONFIG="@@{config}" "@@{binary}" ca --config "@@{config}" >/dev/null
  chgrp -R postguard "@@{ca_dir}" 2>/dev/null || true
  chmod 0750 "@@{ca_dir}"
  chmod 0640 "@@{ca_dir}"/mitmproxy-ca.pem "@@{ca_dir}"/mitmproxy-ca.p12
  chmod 0644 "@@{ca_dir}"/mitmproxy-ca-cert.*
  echo "@@{ca_dir}" >> "$list.new"
  put 0644 "@@{cert}" /usr/local/share/ca-certificates/postguard.crt
  if [ -f "$here/postguard-root.pem" ]; then
    put 0644 "$here/postguard-root.pem" /usr/local/share/ca-certificates/postguard-root.crt
  fi
  update-ca-certificates >/dev/null 2>&1 || echo "install.sh: update-ca-certificates failed" >&2
fi

# 4. Started in every account's session.
put 0644 "$here/postguard.service" /etc/systemd/user/postguard.service
if [ -z "$ROOT" ]; then systemctl --global enable postguard.service >/dev/null 2>&1 || true; fi
echo "@@{version}" > "$state/installed-version"
mv "$list.new" "$list"
echo "PostGuard @@{version} installed; it starts at each login (now: systemctl --user start postguard)"
