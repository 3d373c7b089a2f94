"""The PAC file browsers use to send only the sites where staff post through PostGuard's proxy."""
from __future__ import annotations

from flask import Blueprint, Response, current_app

from rules.platforms import pac

from .services import services

bp = Blueprint("pac", __name__)


@bp.get("/proxy.pac")
def proxy_pac():
    proxy = current_app.config.get("PROXY_ADDRESS", "127.0.0.1:8766")
    body = pac(services().engine.pack.hosts, proxy)
    return Response(body, mimetype="application/x-ns-proxy-autoconfig", headers={"Cache-Control": "max-age=300"})
