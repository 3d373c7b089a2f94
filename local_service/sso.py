"""Single sign-on to the dashboard with OpenID Connect (Microsoft Entra ID, Google Workspace, any OpenID provider),
through Authlib's Flask client, with the allow-list of [sso] (rules/sso_config.py).

Authlib fetches the provider's discovery document, sends the person there (state and nonce in the session), swaps the
code for tokens and checks the ID token's signature (the provider's JWKS), audience, expiry, nonce and issuer. The
issuer must be on the allow-list: a plain provider's `issuers`; Google's own, with the Workspace domain (`hd`) listed
and the address verified; for Entra, whose multi-tenant discovery document names "{tenantid}" as its issuer (it
cannot be trusted as it stands), the token's tenant (`tid`) must be listed and its issuer must be that tenant's own.
The person then gets the roles of the named account with their e-mail address and of the [[sso.groups]] their group
claim lists (kept on the account as grants "via" the group, renewed at each sign-in); someone with neither is
refused, and every sign-in and refusal is audited.

The dashboard's session cookie is SameSite=Strict, so a browser does not send it with the provider's redirect back
(a cross-site navigation): the callback then answers with a page that reloads itself from this site, which does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.integrations.flask_client import OAuth, OAuthError
from authlib.jose.errors import JoseError
from flask import Blueprint, abort, current_app, g, make_response, redirect, render_template, request, session, url_for
from markupsafe import escape
from requests import RequestException

from rules.schema import ConfigError
from rules.sso_config import METADATA

from . import accounts, admin, auth
from .services import services

bp = Blueprint("sso", __name__, url_prefix="/admin/sso")
bp.context_processor(admin.template_helpers)
LABELS = {"entra": "Microsoft", "google": "Google"}
GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
TIMEOUT_S = 10  # each request to the provider


@dataclass
class Provider:
    conf: Any  # rules.sso_config.SsoProvider
    label: str
    client: Any  # Authlib's FlaskOAuth2App


def init_app(app, config) -> None:
    """Register each [[sso.providers]] with Authlib's Flask client (the login page offers them) and the routes."""
    oauth = OAuth(app)
    providers = {}
    for p in config.sso.providers:
        client = oauth.register(name=p.name, client_id=p.client_id, client_secret=_secret(p),
                                server_metadata_url=p.metadata_url or METADATA[p.kind],
                                client_kwargs={"scope": "openid email profile", "default_timeout": TIMEOUT_S,
                                               "code_challenge_method": "S256"})
        providers[p.name] = Provider(p, p.label or LABELS.get(p.kind, p.name), client)
    app.extensions["postguard_sso"] = providers
    app.register_blueprint(bp)


def _secret(p) -> str | None:
    if p.client_secret_file is None:
        return None
    try:
        return p.client_secret_file.read_text(encoding="utf-8").splitlines()[0].strip()
    except (OSError, IndexError, UnicodeError) as exc:
        raise ConfigError(f"sso.providers {p.name}: client_secret_file {p.client_secret_file}: "
                          f"{getattr(exc, 'strerror', None) or 'empty or unreadable'}") from None


# -- the allow-list ------------------------------------------------------------------------------------------------

def allowed_issuers(conf, metadata_issuer: str) -> list[str]:
    """The issuers an ID token from this provider may name (Authlib checks the token's against these)."""
    if conf.kind == "entra":
        return [metadata_issuer.replace("{tenantid}", t) for t in conf.tenants]
    if conf.kind == "google":
        return list(GOOGLE_ISSUERS)
    return list(conf.issuers)


def refusal(conf, metadata_issuer: str, claims) -> str:
    """Why these (signature-checked) claims may not sign in through this provider; "" when they may."""
    iss = claims.get("iss")
    if conf.kind == "entra":
        tid = str(claims.get("tid") or "").lower()
        if tid not in conf.tenants:
            return f"tenant {tid or '(none)'} is not one of sso.providers {conf.name}'s tenants"
        if iss != metadata_issuer.replace("{tenantid}", tid):
            return f"issuer {iss!r} is not tenant {tid}'s own"
    elif conf.kind == "google":
        if iss not in GOOGLE_ISSUERS:
            return f"issuer {iss!r} is not Google's"
        if str(claims.get("hd") or "").lower() not in {d.lower() for d in conf.hosted_domains}:
            return f"Workspace domain {claims.get('hd') or '(none: a personal Google account)'} is not allowed"
        if claims.get("email_verified") is not True:
            return "the e-mail address is not verified"
    elif iss not in conf.issuers:
        return f"issuer {iss!r} is not one of sso.providers {conf.name}'s issuers"
    return ""


def group_grants(config, provider: str, claims, groups_claim: str) -> list[dict]:
    groups = claims.get(groups_claim) or []
    groups = {str(x) for x in groups} if isinstance(groups, list) else set()
    return [accounts.grant(m.role, m.schools) | {"via": f"group:{m.group}"}
            for m in config.sso.groups if m.provider == provider and m.group in groups]


# -- the routes ----------------------------------------------------------------------------------------------------

def _provider(name: str) -> Provider:
    provider = current_app.extensions.get("postguard_sso", {}).get(name)
    if provider is None:
        abort(404)
    return provider


@bp.get("/<provider>/login")
def start(provider: str):
    p = _provider(provider)
    session["sso_next"] = request.args.get("next", "")[:500]
    try:
        return p.client.authorize_redirect(url_for("sso.callback", provider=provider, _external=True))
    except (RequestException, OAuthError, ValueError, KeyError) as exc:
        return _failed(p, f"the provider could not be reached: {exc.__class__.__name__}", 502)


@bp.get("/<provider>/callback")
def callback(provider: str):
    p = _provider(provider)
    state = request.args.get("state", "")
    if not any(k.startswith(f"_state_{provider}_") for k in session) and request.args.get("hop") != "1":
        # Came back without the (SameSite=Strict) session cookie: reload from this site, which sends it.
        target = escape(request.full_path + "&hop=1")
        return make_response(f'<!doctype html><meta http-equiv="refresh" content="0;url={target}">'
                             f'<title>Signing in</title><p>Signing in… <a href="{target}">continue</a></p>', 200,
                             {"Content-Type": "text/html; charset=utf-8"})
    try:
        metadata_issuer = p.client.load_server_metadata().get("issuer", "")
        token = p.client.authorize_access_token(claims_options={"iss": {
            "essential": True, "values": allowed_issuers(p.conf, metadata_issuer)}})
    except (OAuthError, JoseError, RequestException, ValueError, KeyError) as exc:
        return _failed(p, f"the sign-in did not verify ({exc.__class__.__name__}: {str(exc)[:200]})", 401,
                       state=bool(state))
    claims = token.get("userinfo") or {}
    why = refusal(p.conf, metadata_issuer, claims)
    if why:
        return _failed(p, why, 403)
    email = str(claims.get(p.conf.email_claim) or "").strip().lower()
    if not accounts.EMAIL.match(email):  # never "admin": that account is a password account of this install
        return _failed(p, f"the token's {p.conf.email_claim} claim is not an e-mail address", 403)
    store, config = services().store, services().config
    via_groups = group_grants(config, provider, claims, p.conf.groups_claim)
    row = store.account_get(email)
    own = [x for x in (row or {}).get("grants", []) if not x.get("via")]
    if not own and not via_groups:
        return _failed(p, f"{email} has no role in PostGuard (no account, and none of its groups has one)", 403,
                       account=email)
    if row is None or [x for x in row["grants"] if x.get("via")] != via_groups:
        store.account_put(email, own + via_groups)
    nxt = session.get("sso_next") or ""
    auth.start_session(session, store, email)  # a fresh session: nothing from before the sign-in survives
    g.account = accounts.Account.of(store.account_get(email))
    admin.audit("login", method=f"sso:{provider}", issuer=claims.get("iss"),
                groups=[x["via"].removeprefix("group:") for x in via_groups])
    return redirect(admin.safe_next(nxt))


def _failed(p: Provider, why: str, status: int, **detail):
    admin.audit("login_failed", method=f"sso:{p.conf.name}", reason=why, **detail)
    return make_response(render_template("admin/login.html", password_set=None, next="",
                                         error=f"Signing in with {p.label} did not work: {why}.",
                                         sso=[(n, x.label) for n, x in current_app.extensions["postguard_sso"]
                                              .items()]), status)
