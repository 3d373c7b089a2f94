import pytest

from local_service.app import create_app
from local_service.services import Services
from rules.config import parse_config

TOKEN = "test-token-0123456789"
EXTENSION_ORIGIN = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"


@pytest.fixture
def pg_config(tmp_path):
    return parse_config({"data_dir": str(tmp_path / "data"), "school": {
        "name": "Test School", "email_domains": ["test-school.sch.uk"],
        "sites": [{"name": "Main site", "lat": 53.3950, "lon": -1.4567, "radius_m": 300}]}})  # 1.3 km from the test photos


@pytest.fixture
def app(tmp_path, pg_config):
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "EXTENSION_ORIGINS": [EXTENSION_ORIGIN],
    }, Services.open(pg_config, database=f"sqlite:///{tmp_path / 'events.sqlite3'}", token=TOKEN, user="teacher1"))
    yield app
    app.extensions["postguard"].store.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def store(app):
    return app.extensions["postguard"].store


class Api:
    """The extension's view of the API: the token, and its Origin."""

    def __init__(self, client):
        self.client = client
        self.headers = {"Authorization": f"Bearer {TOKEN}", "Origin": EXTENSION_ORIGIN}

    def get(self, url, **kw):
        return self.client.get(url, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def post(self, url, **kw):
        return self.client.post(url, headers={**self.headers, **kw.pop("headers", {})}, **kw)


@pytest.fixture
def api(client):
    return Api(client)
