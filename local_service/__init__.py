"""PostGuard's local service and command line. The Flask app lives in its own modules, imported on demand, so
`postguard scan` never pays for Flask."""


def create_app(config=None):
    """The Flask app factory (`local_service.create_app`); imported lazily so the CLI and proxy never load Flask."""
    from .app import create_app as factory
    return factory(config)
