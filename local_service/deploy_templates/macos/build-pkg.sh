#!/bin/sh
# Builds PostGuard-@@{version}.pkg from the bundle `make dist` made on a Mac: ./build-pkg.sh PATH/TO/dist/postguard
set -eu
bundle=${1:?usage: ./build-pkg.sh PATH/TO/dist/postguard}
here=$(cd "$(dirname "$0")" && pwd)
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root@@{bundle}" "$root/Library/LaunchAgents" "$root$(dirname "@@{config}")"
cp -R "$bundle"/. "$root@@{bundle}/"
cp "$here/native-host" "$root@@{native_host}"
cp "$here/@@{agent_label}.plist" "$root/Library/LaunchAgents/"
cp "$here/config.toml" "$root@@{config}"
for f in "$here"/*.png; do
  if [ -e "$f" ]; then cp "$f" "$root$(dirname "@@{config}")/"; fi
done
for dir in "/Library/Google/Chrome/NativeMessagingHosts" "/Library/Application Support/Chromium/NativeMessagingHosts" \
           "/Library/Microsoft/Edge/NativeMessagingHosts"; do
  mkdir -p "$root$dir" && cp "$here/native-messaging/@@{host_name}.json" "$root$dir/"
done
mkdir -p "$root/Library/Application Support/Mozilla/NativeMessagingHosts"
cp "$here/native-messaging/@@{host_name}.firefox.json" \
   "$root/Library/Application Support/Mozilla/NativeMessagingHosts/@@{host_name}.json"
pkgbuild --root "$root" --scripts "$here/scripts" --identifier school.postguard --version "@@{version}" \
  --install-location / "$here/PostGuard-@@{version}.pkg"
echo "wrote $here/PostGuard-@@{version}.pkg"
