#!/bin/sh
# PostGuard @@{version}: uninstall (as root). Leaves no CA trusted, no policies (remove the profile in the MDM) and
# no agent behind; each account's own record stays.
set -u
for uid in $(ps -axo uid=,comm= | awk '/loginwindow/ {print $1}' | sort -u); do
  launchctl bootout "gui/$uid/@@{agent_label}" 2>/dev/null || true
done
rm -f "/Library/LaunchAgents/@@{agent_label}.plist"
if [ -f "@@{cert}" ]; then
  security remove-trusted-cert -d "@@{cert}" 2>/dev/null || true
  hash=$(openssl x509 -in "@@{cert}" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g')
  security delete-certificate -Z "$hash" /Library/Keychains/System.keychain 2>/dev/null || true
fi
rm -rf "@@{ca_dir}" "@@{bundle}"
rm -f "@@{config}" "$(dirname "@@{config}")/installed-version"
for dir in "/Library/Google/Chrome/NativeMessagingHosts" "/Library/Application Support/Chromium/NativeMessagingHosts" \
           "/Library/Microsoft/Edge/NativeMessagingHosts" "/Library/Application Support/Mozilla/NativeMessagingHosts"; do
  rm -f "$dir/@@{host_name}.json"
done
pkgutil --forget school.postguard >/dev/null 2>&1 || true
echo "PostGuard removed (remove the PostGuard profile in your MDM too)"
