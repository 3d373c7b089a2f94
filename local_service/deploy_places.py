"""Where PostGuard goes on each platform, and the names the browsers know it by: what postguard deploy writes and
postguard status checks (local_service/deploy.py, local_service/install_state.py)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass

HOST_NAME = "school.postguard.host"  # the native messaging host (lowercase, dots and underscores only)
FIREFOX_ID = "postguard@postguard.school"  # extension/manifest.json browser_specific_settings.gecko.id
AGENT_LABEL = "school.postguard.agent"  # the macOS LaunchAgent, and the managed login item's rule
PROFILE_ID = "school.postguard.profile"
UUID_NS = uuid.UUID("5d1c3f0e-8a57-4b2e-9d61-6f0c2b7a9e14")  # the same config gives the same payload UUIDs


@dataclass(frozen=True)
class Place:
    """Where one platform keeps PostGuard: the bundle, the machine config and the laptop's shared CA."""
    bundle: str
    config: str
    ca_dir: str
    sep: str = "/"

    @property
    def binary(self) -> str:
        return self.bundle + self.sep + ("postguard.exe" if self.sep == "\\" else "postguard")

    @property
    def native_host(self) -> str:
        return self.bundle + self.sep + ("native-host.cmd" if self.sep == "\\" else "native-host")

    @property
    def cert(self) -> str:
        return self.ca_dir + self.sep + "mitmproxy-ca-cert.pem"


WINDOWS = Place(r"C:\Program Files\PostGuard", r"C:\ProgramData\PostGuard\config.toml", r"C:\ProgramData\PostGuard\ca",
                "\\")
MACOS = Place("/usr/local/postguard", "/Library/Application Support/PostGuard/config.toml",
              "/Library/Application Support/PostGuard/ca")
LINUX = Place("/opt/postguard", "/etc/postguard/config.toml", "/var/lib/postguard/ca")

# Linux: where each browser reads machine policies and native messaging hosts.
LINUX_POLICY_DIRS = {"chrome": "/etc/opt/chrome/policies/managed", "chromium": "/etc/chromium/policies/managed",
                     "edge": "/etc/opt/edge/policies/managed"}
LINUX_HOST_DIRS = {"chrome": "/etc/opt/chrome/native-messaging-hosts",
                   "chromium": "/etc/chromium/native-messaging-hosts",
                   "edge": "/etc/opt/edge/native-messaging-hosts",
                   "firefox": "/usr/lib/mozilla/native-messaging-hosts"}
LINUX_FIREFOX_POLICIES = "/etc/firefox/policies/policies.json"
MAC_HOST_DIRS = {"chrome": "/Library/Google/Chrome/NativeMessagingHosts",
                 "chromium": "/Library/Application Support/Chromium/NativeMessagingHosts",
                 "edge": "/Library/Microsoft/Edge/NativeMessagingHosts",
                 "firefox": "/Library/Application Support/Mozilla/NativeMessagingHosts"}
# Windows: HKLM keys. Chrome and Edge policies, then where each browser looks for a native messaging host.
WIN_POLICY_KEYS = {"chrome": r"SOFTWARE\Policies\Google\Chrome", "edge": r"SOFTWARE\Policies\Microsoft\Edge"}
WIN_HOST_KEYS = {"chrome": r"SOFTWARE\Google\Chrome\NativeMessagingHosts",
                 "edge": r"SOFTWARE\Microsoft\Edge\NativeMessagingHosts",
                 "firefox": r"SOFTWARE\Mozilla\NativeMessagingHosts"}
