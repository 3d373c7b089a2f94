"""What the views share, created once per app: the config, the record, the engine, the broker, who runs it."""
from __future__ import annotations

import getpass
import socket
import time
from dataclasses import dataclass

from flask import current_app

from rules import Config, Engine, load_config
from rules.record.keys import TOKEN_FILE, read_secret
from rules.record.store import Retention, Store, open_store

from .broker import Broker


@dataclass
class Services:
    config: Config
    store: Store
    engine: Engine
    token: str  # the extension's (and a standalone proxy's) bearer token
    user: str  # the laptop's user: whose record this service keeps
    device: str
    broker: Broker
    extension_seen: float | None = None  # time.monotonic() of the extension's last authenticated request

    def extension_connected(self, within_s: float = 300) -> bool:
        return self.extension_seen is not None and time.monotonic() - self.extension_seen < within_s

    @classmethod
    def open(cls, config: Config | None = None, *, database: str | None = None, store: Store | None = None,
             token: str | None = None, user: str | None = None) -> "Services":
        """From the user's config file (or `config`): its store (or `database`, or an open `store`), engine and
        token."""
        config = config if config is not None else load_config()
        return cls(config=config, store=store or open_store(config, database), engine=Engine(config),
                   token=token or read_secret(config, TOKEN_FILE), user=user or getpass.getuser(),
                   device=socket.gethostname(), broker=Broker())

    def retention(self) -> Retention:
        return Retention.current(self.store, self.engine.pack, self.config)


def services() -> Services:
    """The current app's services (inside a request or an app context)."""
    return current_app.extensions["postguard"]
