"""The dashboard tests' helpers: an `auth` fixture (the Flask tutorial's AuthActions) and seeded events."""
import re
from datetime import datetime, timedelta, timezone

import pytest
from argon2 import PasswordHasher

from local_service import auth as admin_auth
from rules.record.events import Event

PASSWORD = "correct horse battery"
T0 = datetime(2026, 10, 1, 9, 0, tzinfo=timezone.utc)
USERS = ["amy", "ben", "cat"]
RULES = ["location.gps", "location.place", "inspection.error"]
DECISIONS = ["warned", "overridden", "sanitised", "blocked", "cancelled"]
SEVERITIES = ["low", "medium", "high"]
HOSTS = ["www.facebook.com", "x.com", "www.instagram.com", "blog.example.org"]
CLAUSE = {"ref": "St Mary of the Angels: 6.9", "text": "Photographs ... must not be published on personal web space."}


class AuthActions:
    def __init__(self, client, store):
        self.client = client
        self.store = store

    def csrf(self) -> str:
        """The session's CSRF token, as the login page puts it in its forms."""
        with self.client.session_transaction() as session:
            token = session.get("csrf")
        if not token:
            page = self.client.get("/admin/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        return token

    def login(self, password: str = PASSWORD, **extra):
        self.client.get("/admin/login")
        return self.client.post("/admin/login", data={"password": password, "csrf_token": self.csrf(), **extra})

    def logout(self):
        return self.client.post("/admin/logout", data={"csrf_token": self.csrf()})

    def post(self, url: str, data: dict | None = None, **kw):
        return self.client.post(url, data={"csrf_token": self.csrf(), **(data or {})}, **kw)


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch):
    """argon2id with small costs: the real ones take half a second a hash on a slow test machine."""
    monkeypatch.setattr(admin_auth, "hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def auth(client, store, fast_hashing):
    admin_auth.set_password(store, PASSWORD)
    return AuthActions(client, store)


def make_events(n: int = 120, start: datetime = T0, step: timedelta = timedelta(hours=6)) -> list[Event]:
    return [Event(rule=RULES[i % 3], decision=DECISIONS[i % 5], severity=SEVERITIES[(i // 3) % 3],
                  user=USERS[(i // 2) % 3], device=f"laptop-{i % 4}", path=f"https://{HOSTS[i % 4]}/upload?id={i}",
                  source="proxy", time=start + i * step, clauses=[CLAUSE], message=f"Finding number {i}.",
                  reason="Parental consent on file" if DECISIONS[i % 5] == "overridden" else "",
                  evidence={"lat": 53.382847, "lon": -1.456677, "n": i})
            for i in range(n)]


def newest_first(events) -> list[str]:
    return [e.id for e in sorted(events, key=lambda e: e.time, reverse=True)]


def event_ids(html: str) -> list[str]:
    """The event ids a list page links to, in page order."""
    return re.findall(r'href="/admin/events/([0-9a-f-]{36})"', html)


def older_link(html: str) -> str | None:
    m = re.search(r'href="([^"]+)" rel="next"', html)
    return m.group(1).replace("&amp;", "&") if m else None
