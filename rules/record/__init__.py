"""The monitoring record: one event schema, the one store module (the only SQL), the per-install secrets, and the
protocol for holding a post until its person decides. Shared by every adapter (the proxy addon, the local service,
the trust server); imports neither of them, nor Flask, nor mitmproxy."""
