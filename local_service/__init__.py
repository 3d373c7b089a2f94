"""PostGuard's local service and command line: the extension's API, the dashboard, the staff page (Flask, in
app.py and its blueprints) and the `postguard` command (cli.py). The Flask app is created by
`local_service.app.create_app`; `postguard scan` never imports Flask."""
