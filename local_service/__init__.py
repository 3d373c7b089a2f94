"""PostGuard's local service and command line. The Flask app lives in its own modules, imported on demand, so
`postguard scan` never pays for Flask."""
