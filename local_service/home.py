"""The service's root page: what this is, and where to go from here (the dashboard, the staff record)."""
from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("home", __name__)


@bp.get("/")
def index():
    return render_template("home.html")
