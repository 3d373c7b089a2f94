"""school_email.personal_account: the sign-in shapes added by the audit of the registry's identity providers and
platforms (docs/platforms.md, "Audit"): Microsoft's and Apple's own sign-in forms (their destination is the page they
are posted from), an earlier ID token as id_token_hint, ID tokens that do not start "eyJ", sit inside a callback URL
or carry "Bearer ", and the password grants and sign-up steps the registry missed; with their near misses."""
import base64
import json
from urllib.parse import parse_qsl, quote, urlencode

import pytest

from proxy_addon.har import scan_har
from rules import Engine, load_pack
from rules.field_decoding import is_jwt, jwt_claims, jwt_claims_in

from .test_school_email import CONFIG, MASKED, PERSONAL, SCHOOL, SHAPES, b64url, google_rpc, hits, jwt

FORM = "application/x-www-form-urlencoded"
MS_AUTHORIZE = ("https://login.microsoftonline.com/common/oauth2/v2.0/authorize?" + urlencode({
    "client_id": "4a1aa1d5-c567-49d0-ad0b-cd957a47f842", "response_type": "code", "scope": "openid email",
    "redirect_uri": "https://www.linkedin.com/uas/oauth/mso/callback", "state": "xyz",
    "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URW", "code_challenge_method": "S256"}))
LIVE_AUTHORIZE = ("https://login.live.com/oauth20_authorize.srf?" + urlencode({
    "client_id": "000000004C12AE6F", "response_type": "code", "scope": "openid email",
    "redirect_uri": "https://www.pinterest.com/oauth/microsoft/"}))
APPLE_AUTHORIZE = ("https://appleid.apple.com/auth/authorize?" + urlencode({
    "client_id": "com.reddit.web", "redirect_uri": "https://www.reddit.com/account/apple/callback",
    "response_type": "code id_token", "response_mode": "form_post", "scope": "name email", "state": "s"}))
TEAMS_AUTHORIZE = ("https://login.microsoftonline.com/common/oauth2/v2.0/authorize?" + urlencode({
    "client_id": "5e3ce6c0", "redirect_uri": "https://teams.microsoft.com/go", "response_type": "code"}))


def post(url, body, ctype=FORM, referer=""):
    headers = {"Content-Type": ctype, **({"Referer": referer} if referer else {})}
    data = urlencode(body).encode() if ctype == FORM else json.dumps(body).encode()
    return "POST", url, headers, data


def ms_login_form(login, referer):
    return post("https://login.microsoftonline.com/common/login", {
        "i13": "0", "login": login, "loginfmt": login, "type": "11", "LoginOptions": "3", "passwd": "Tr0ub4dor&3",
        "ctx": "rQQIARAA", "hpgrequestid": "3f1c", "flowToken": "AQABAAEAAAD", "canary": "x"}, referer=referer)


def pretty_jwt(claims):
    """A JWT whose header and payload were serialised with a newline first: neither part starts "eyJ"."""
    part = lambda doc: base64.urlsafe_b64encode(("\n" + json.dumps(doc, indent=1)).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


GOOGLE_CLAIMS = {"iss": "https://accounts.google.com", "aud": "1066123.apps.googleusercontent.com", "sub": "1170",
                 "email": SCHOOL, "email_verified": True, "exp": 1718003600}

FOUND = [
    # why, request, platform, kind, provider
    ("Entra ID username lookup, posted from an authorize page to LinkedIn",
     post("https://login.microsoftonline.com/common/GetCredentialType?mkt=en-GB", {
         "username": SCHOOL, "isOtherIdpSupported": True, "checkPhones": False, "isRemoteNGCSupported": True,
         "isCookieBannerShown": False, "isFidoSupported": True, "originalRequest": "rQQIARAA",
         "flowToken": "AQABAAEAAAD"}, "application/json", MS_AUTHORIZE), "LinkedIn", "login", "Microsoft"),
    ("Entra ID password form (login, loginfmt)", ms_login_form(SCHOOL, MS_AUTHORIZE), "LinkedIn", "login",
     "Microsoft"),
    ("login.live.com post.srf with PPFT", post(
        "https://login.live.com/ppsecure/post.srf?contextid=A1B2&opid=C3D4&bk=1718000000&uaid=9f&pid=0", {
            "i13": "0", "login": SCHOOL, "loginfmt": SCHOOL, "type": "11", "LoginOptions": "3",
            "passwd": "Tr0ub4dor&3", "PPFT": "DfJ2x!", "PPSX": "Passp"}, referer=LIVE_AUTHORIZE),
     "Pinterest", "login", "Microsoft"),
    ("Apple sign-in widget, SRP init (accountName)", post("https://appleid.apple.com/appleauth/auth/signin/init", {
        "a": "pS0yXK1dO1yIlD", "accountName": SCHOOL, "protocols": ["s2k", "s2k_fo"]}, "application/json",
        APPLE_AUTHORIZE), "Reddit", "login", "Apple"),
    ("Apple sign-in widget, password", post("https://appleid.apple.com/appleauth/auth/signin?isRememberMeEnabled=true",
                                            {"accountName": SCHOOL, "password": "x", "rememberMe": False},
                                            "application/json", APPLE_AUTHORIZE), "Reddit", "login", "Apple"),
    ("id_token_hint on Google's authorize", ("GET", "https://accounts.google.com/o/oauth2/v2/auth?" + urlencode({
        "client_id": "1066123.apps.googleusercontent.com", "response_type": "code", "scope": "openid email",
        "redirect_uri": "https://www.pinterest.com/oauth/google/", "id_token_hint": jwt(GOOGLE_CLAIMS)}), {}, b""),
     "Pinterest", "oauth", "Google"),
    ("id_token_hint on Microsoft's authorize, only the tenant's domain claim", (
        "GET", "https://login.microsoftonline.com/common/oauth2/v2.0/authorize?" + urlencode({
            "client_id": "4a1aa1d5", "redirect_uri": "https://discord.com/oauth/microsoft",
            "id_token_hint": jwt({"iss": "https://accounts.google.com", "sub": "1",
                                  "hd": "stmarys-angels.sch.uk"})}), {}, b""), "Discord", "oauth", "Microsoft"),
    ("Google's sign-in RPC with no continue, posted from a sign-in page bound for Pinterest", post(
        "https://accounts.google.com/v3/signin/_/AccountsSignInUi/data/batchexecute?rpcids=V1UmUe&hl=en-GB",
        google_rpc("V1UmUe", [None, SCHOOL, 1]),
        referer="https://accounts.google.com/v3/signin/identifier?" + urlencode({
            "continue": "https://accounts.google.com/o/oauth2/v2/auth?" + urlencode({
                "client_id": "1", "redirect_uri": "https://www.pinterest.com/oauth/google/"}),
            "flowName": "GeneralOAuthFlow"})), "Pinterest", "login", "Google"),
    ("WS-Federation sign-in on login.live.com, returning by wreply", (
        "GET", "https://login.live.com/login.srf?" + urlencode({
            "wa": "wsignin1.0", "wreply": "https://www.pinterest.com/oauth/microsoft/", "login_hint": SCHOOL}), {},
        b""), "Pinterest", "oauth", "Microsoft"),
    ("WS-Federation on Entra ID, school tenant, returning to Discord", (
        "GET", "https://login.microsoftonline.com/stmarys-angels.sch.uk/wsfed?" + urlencode({
            "wa": "wsignin1.0", "wtrealm": "urn:discord", "wreply": "https://discord.com/sso/callback"}), {}, b""),
     "Discord", "oauth", "Microsoft"),
    ("Reddit's OAuth password grant", post("https://www.reddit.com/api/v1/access_token", {
        "grant_type": "password", "username": SCHOOL, "password": "Tr0ub4dor&3"}), "Reddit", "login", None),
    ("Instagram sign-up's first step, check_email", post("https://www.instagram.com/api/v1/web/accounts/check_email/",
                                                          {"email": SCHOOL}), "Instagram", "sign_up", None),
]


@pytest.mark.parametrize("why,request_,platform,kind,provider", FOUND, ids=[c[0] for c in FOUND])
def test_audited_sign_in_shape_is_found(why, request_, platform, kind, provider):
    found = hits(request_)
    assert len(found) == 1, (why, found)
    ev = found[0].evidence
    assert (ev["platform"], ev["kind"], ev.get("provider")) == (platform, kind, provider)
    assert ev["address"].endswith("@stmarys-angels.sch.uk") and SCHOOL not in json.dumps(ev)


ID_TOKENS = [
    ("a One Tap credential whose JSON starts with a newline", post(
        "https://medium.com/m/callback/google-one-tap", {"credential": pretty_jwt(GOOGLE_CLAIMS),
                                                         "g_csrf_token": "7a1b"})),
    ("an ID token with its Bearer prefix, inside JSON", post(
        "https://www.tiktok.com/passport/web/auth/login/?platform=google",
        {"auth": {"authorization": "Bearer " + jwt(GOOGLE_CLAIMS)}}, "application/json")),
    ("an implicit-flow callback URL posted back, percent-encoded", post(
        "https://www.pinterest.com/resource/HandshakeSessionResource/create/", {
            "source_url": "/login/", "redirect": "https://www.pinterest.com/oauth/google/"
                                                 + quote("#state=x&id_token=" + jwt(GOOGLE_CLAIMS), safe="")})),
]


@pytest.mark.parametrize("why,request_", ID_TOKENS, ids=[c[0] for c in ID_TOKENS])
def test_id_token_in_other_wrappings_is_read(why, request_):
    found = hits(request_)
    assert len(found) == 1, (why, found)
    assert (found[0].evidence["kind"], found[0].evidence["provider"], found[0].evidence["address"]) == (
        "id_token", "Google", MASKED)


NOT_FOUND = [
    ("Entra ID lookup on its way to Teams", post("https://login.microsoftonline.com/common/GetCredentialType", {
        "username": SCHOOL}, "application/json", TEAMS_AUTHORIZE)),
    ("Entra ID lookup with no page behind it: nothing says where it goes", post(
        "https://login.microsoftonline.com/common/GetCredentialType", {"username": SCHOOL}, "application/json")),
    ("Entra ID lookup posted from a page on another host", post(
        "https://login.microsoftonline.com/common/GetCredentialType", {"username": SCHOOL}, "application/json",
        "https://www.linkedin.com/login")),
    ("Google's sign-in RPC posted from a sign-in page bound for Classroom", post(
        "https://accounts.google.com/v3/signin/_/AccountsSignInUi/data/batchexecute?rpcids=V1UmUe",
        google_rpc("V1UmUe", [None, SCHOOL, 1]),
        referer="https://accounts.google.com/v3/signin/identifier?" + urlencode({
            "continue": "https://classroom.google.com/", "flowName": "GlifWebSignIn"}))),
    ("WS-Federation to SharePoint", (
        "GET", "https://login.microsoftonline.com/stmarys-angels.sch.uk/wsfed?" + urlencode(
            {"wa": "wsignin1.0", "wreply": "https://stmarys.sharepoint.com/_trust/"}), {}, b"")),
    ("a personal address on the Entra ID form to LinkedIn", ms_login_form(PERSONAL, MS_AUTHORIZE)),
    ("Apple widget with a personal Apple ID", post("https://appleid.apple.com/appleauth/auth/signin/init", {
        "accountName": PERSONAL, "protocols": ["s2k"]}, "application/json", APPLE_AUTHORIZE)),
    ("Microsoft's password grant (ROPC) names no destination", post(
        "https://login.microsoftonline.com/common/oauth2/v2.0/token", {
            "grant_type": "password", "client_id": "4a1aa1d5", "username": SCHOOL, "password": "x",
            "scope": "openid"})),
    ("a PKCE code exchange carries no account", post("https://oauth2.googleapis.com/token", {
        "grant_type": "authorization_code", "code": "4/0AX4XfW", "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r",
        "redirect_uri": "https://www.pinterest.com/oauth/google/", "client_id": "1066123"})),
    ("id_token_hint of a personal account", ("GET", "https://accounts.google.com/o/oauth2/v2/auth?" + urlencode({
        "client_id": "1", "redirect_uri": "https://www.pinterest.com/oauth/google/",
        "id_token_hint": jwt(dict(GOOGLE_CLAIMS, email=PERSONAL))}), {}, b"")),
    ("Reddit's password grant with a personal address", post("https://www.reddit.com/api/v1/access_token", {
        "grant_type": "password", "username": PERSONAL, "password": "x"})),
    ("a JWS whose header names no algorithm is not an ID token", post(
        "https://medium.com/m/callback/google-one-tap", {"credential": f"{b64url({'typ': 'JWT'})}."
                                                                       f"{b64url(GOOGLE_CLAIMS)}.c2ln"})),
]


@pytest.mark.parametrize("why,request_", NOT_FOUND, ids=[c[0] for c in NOT_FOUND])
def test_audited_near_miss_is_not_a_finding(why, request_):
    assert hits(request_) == [], why


# -- the decoder ------------------------------------------------------------------------------------------------------

def test_jwt_claims_reads_eyj_and_other_serialisations_and_a_bearer_prefix():
    assert jwt_claims(jwt(GOOGLE_CLAIMS))["email"] == SCHOOL
    assert jwt_claims(pretty_jwt(GOOGLE_CLAIMS))["email"] == SCHOOL
    assert jwt_claims("Bearer " + jwt(GOOGLE_CLAIMS))["email"] == SCHOOL
    assert is_jwt(pretty_jwt(GOOGLE_CLAIMS)) and is_jwt(jwt(GOOGLE_CLAIMS))


@pytest.mark.parametrize("text", [
    "mastodon.social.example",  # a host name
    "1.2.3",  # a version
    "abcdefgh.ijklmnop.qrstuvwx",  # base64url parts that are not JSON
    f"{b64url({'typ': 'JWT'})}.{b64url(GOOGLE_CLAIMS)}.sig",  # no "alg": not a JWS header
    f"{b64url({'alg': 'RSA-OAEP', 'enc': 'A256GCM'})}.ZW5jcnlwdGVka2V5.aXZpdml2.Y2lwaGVy.dGFn",  # a JWE: encrypted
    f"{b64url({'alg': 'RS256'})}.{b64url(['not', 'claims'])}.sig",  # a payload that is not an object
])
def test_what_is_not_a_readable_jwt(text):
    assert jwt_claims(text) == {} and jwt_claims_in(text) == []


def test_tokens_inside_a_text_are_found_bounded():
    url = "https://rp.example/cb#" + urlencode({"id_token": jwt(GOOGLE_CLAIMS), "state": "x"})
    assert [c["email"] for c in jwt_claims_in(url)] == [SCHOOL]
    assert [c["email"] for c in jwt_claims_in(quote(url, safe=""))] == [SCHOOL]
    many = " ".join(jwt(dict(GOOGLE_CLAIMS, sub=str(i))) for i in range(10))
    assert len(jwt_claims_in(many)) == 4
    assert jwt_claims_in("x" * (70 << 10) + " " + jwt(GOOGLE_CLAIMS)) == []  # past MAX_SCAN: not read


def test_har_audit_finds_the_microsoft_sign_in_by_its_referer(tmp_path):
    """scan-har reads the Referer as the proxy does: the authorize page (no hint: allowed) and then the username
    posted from it (the school address, bound for LinkedIn: found)."""
    def entry(method, url, headers, body=""):
        req = {"method": method, "url": url, "httpVersion": "HTTP/2", "cookies": [], "queryString": [],
               "headersSize": -1, "bodySize": len(body), "headers": [{"name": k, "value": v} for k, v in headers]}
        if body:
            req["postData"] = {"mimeType": "application/json", "text": body}
        return {"startedDateTime": "2026-08-01T09:00:00.000Z", "time": 1, "request": req,
                "response": {"status": 200, "statusText": "", "httpVersion": "HTTP/2", "cookies": [], "headers": [],
                             "content": {"size": 0, "mimeType": "text/html"}, "redirectURL": "", "headersSize": -1,
                             "bodySize": 0}, "cache": {}, "timings": {"send": 0, "wait": 1, "receive": 0}}

    entries = [entry("GET", MS_AUTHORIZE, []),
               entry("POST", "https://login.microsoftonline.com/common/GetCredentialType?mkt=en-GB",
                     [("Content-Type", "application/json"), ("Referer", MS_AUTHORIZE)],
                     json.dumps({"username": SCHOOL, "isOtherIdpSupported": True}))]
    har = tmp_path / "sign-in.har"
    har.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "test", "version": "1"},
                                       "entries": entries}}))
    results = list(scan_har(str(har), Engine(CONFIG, load_pack("default"))))
    assert [len(r["findings"]) for r in results] == [0, 1] and not any(r["error"] for r in results)
    ev = results[1]["findings"][0]["evidence"]
    assert (ev["platform"], ev["kind"], ev["provider"]) == ("LinkedIn", "login", "Microsoft")


def _other_encoding(request_):
    """The same request with its body sent the other way: a form as JSON, a flat JSON object as a form."""
    method, url, headers, body = request_
    ctype = headers.get("Content-Type", "")
    if ctype == FORM:
        return method, url, {"Content-Type": "application/json"}, json.dumps(dict(parse_qsl(body.decode()))).encode()
    doc = json.loads(body) if body else None
    if isinstance(doc, dict) and all(isinstance(v, (str, int, bool)) for v in doc.values()):
        return method, url, {"Content-Type": FORM}, urlencode(doc).encode()
    return None


REENCODED = [(platform, kind, other) for platform, kinds in SHAPES.items() for kind, build in kinds.items()
             for other in [_other_encoding(build(SCHOOL))] if other is not None]


@pytest.mark.parametrize("platform,kind,request_", REENCODED, ids=[f"{p}-{k}" for p, k, _ in REENCODED])
def test_every_sign_up_and_login_is_found_in_the_other_encoding_too(platform, kind, request_):
    found = hits(request_)
    assert len(found) == 1, found
    assert (found[0].evidence["platform"], found[0].evidence["kind"]) == (platform, kind)


def test_reencoding_covers_most_platforms():
    assert len({p for p, _, _ in REENCODED}) >= 15
