"""school_email.personal_account: requests built the way the platforms' clients send them, through the real
extraction, for every platform in rules/platforms_accounts.toml; the near misses as much as the hits."""
import base64
import json
from urllib.parse import quote, urlencode

import pytest

from proxy_addon.extract import extract
from rules.config import ConfigError, parse_config
from rules.detectors.school_email import RULE, SchoolEmailDetector
from rules.platforms_accounts import DATA, load_registry, registry

SCHOOL = "j.smith@stmarys-angels.sch.uk"
PERSONAL = "jo.smith1987@gmail.com"
MASKED = "j***@stmarys-angels.sch.uk"
CONFIG = parse_config({"school": {"email_domains": ["stmarys-angels.sch.uk"],
                                  "official_services": ["www.stmarys-angels.sch.uk"]}})
DETECTOR = SchoolEmailDetector(CONFIG)
FORM = "application/x-www-form-urlencoded"


def form(url, fields, method="POST"):
    return method, url, {"Content-Type": FORM}, urlencode(fields).encode()


def js(url, doc, method="POST"):
    return method, url, {"Content-Type": "application/json"}, json.dumps(doc).encode()


def get(url):
    return "GET", url, {}, b""


def hits(request, detector=DETECTOR):
    method, url, headers, body = request
    submission = extract(method, url, headers, body).submission
    return list(detector.check(submission, {RULE}))


def xor5(text):
    return "".join(f"{ord(c) ^ 5:02x}" for c in text)


def b64url(doc):
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()


def jwt(claims):
    return f"{b64url({'alg': 'RS256', 'kid': 'k1', 'typ': 'JWT'})}.{b64url(claims)}.c2lnbmF0dXJl"


def google_rpc(rpc, inner):
    """Google's batchexecute body: f.req is JSON holding a JSON string."""
    return {"f.req": json.dumps([[[rpc, json.dumps(inner), None, "generic"]]]), "at": "AFoagUV1:1718000000000"}


# Sign-up and login for every platform, as their web (or app) clients send them. Each builder takes the address.
SHAPES = {
    "Facebook": {
        "sign_up": lambda e: form("https://www.facebook.com/reg/submit/?privacy_mutation_token=eyJ0eXAi", {
            "jazoest": "2931", "lsd": "AVqbxe", "firstname": "Jo", "lastname": "Smith", "reg_email__": e,
            "reg_email_confirmation__": e, "reg_passwd__": "#PWD_BROWSER:5:1718000000:AZ1x", "birthday_day": "4",
            "birthday_month": "6", "birthday_year": "1987", "sex": "1", "websubmit": "Sign Up"}),
        "login": lambda e: form("https://www.facebook.com/login/device-based/regular/login/?login_attempt=1&lwv=110",
                                {"jazoest": "2931", "lsd": "AVqbxe", "email": e, "pass": "#PWD_BROWSER:0:171:hunter2",
                                 "login_source": "comet_headerless_login"}),
    },
    "Instagram": {
        "sign_up": lambda e: form("https://www.instagram.com/api/v1/web/accounts/web_create_ajax/attempt/", {
            "email": e, "first_name": "Jo Smith", "username": "jo.teaches.maths", "opt_into_one_tap": "false",
            "enc_password": "#PWD_INSTAGRAM_BROWSER:10:1718000000:AVtQAGmkzJY0ha1U6Mk"}),
        "login": lambda e: form("https://www.instagram.com/api/v1/web/accounts/login/ajax/", {
            "username": e, "enc_password": "#PWD_INSTAGRAM_BROWSER:10:1718000000:AVtQAGmk", "queryParams": "{}",
            "optIntoOneTap": "false", "trustedDeviceRecords": "{}"}),
    },
    "Threads": {
        "sign_up": lambda e: form("https://www.threads.net/api/v1/accounts/create/", {
            "email": e, "username": "jo.teaches.maths", "enc_password": "#PWD_INSTAGRAM_BROWSER:10:1718000000:AV"}),
        "login": lambda e: form("https://www.threads.net/api/v1/web/accounts/login/ajax/", {
            "username": e, "enc_password": "#PWD_INSTAGRAM_BROWSER:10:1718000000:AVtQ"}),
    },
    "X (Twitter)": {
        "sign_up": lambda e: js("https://api.x.com/1.1/onboarding/task.json?flow_name=signup", {
            "flow_token": "g;171800000:-171800000:Zj1:0", "subtask_inputs": [{
                "subtask_id": "Signup", "sign_up": {"link": "email_next_link", "name": "Jo Smith", "email": e,
                                                     "birthday": {"day": 4, "month": 6, "year": 1987}}}]}),
        "login": lambda e: js("https://api.x.com/1.1/onboarding/task.json", {
            "flow_token": "g;167658632144249788:-1676586337028:ZJlPGfGY6fmt0YNIvwX5MhR5:1", "subtask_inputs": [{
                "subtask_id": "LoginEnterUserIdentifierSSO", "settings_list": {"setting_responses": [{
                    "key": "user_identifier", "response_data": {"text_data": {"result": e}}}],
                    "link": "next_link"}}]}),
    },
    "TikTok": {
        "sign_up": lambda e: form("https://www.tiktok.com/passport/web/email/register/v2/?aid=1988&language=en"
                                  "&account_sdk_source=web", {
                                      "mix_mode": "1", "email": xor5(e), "password": xor5("Tr0ub4dor&3"),
                                      "code": "482913", "type": "34", "birthday": "1987-06-04",
                                      "fixed_mix_mode": "1"}),
        "login": lambda e: form("https://www.tiktok.com/passport/web/email/login/?aid=1988&language=en"
                                "&account_sdk_source=web", {
                                    "mix_mode": "1", "email": xor5(e), "password": xor5("Tr0ub4dor&3"),
                                    "type": "34", "fixed_mix_mode": "1"}),
    },
    "Snapchat": {
        "sign_up": lambda e: form("https://accounts.snapchat.com/accounts/signup", {
            "xsrf_token": "a-mMpF6dwym43afgEibJew", "first_name": "Jo", "last_name": "Smith",
            "username": "jo_teaches", "password": "Tr0ub4dor&3", "email": e, "birthday": "1987-06-04"}),
        "login": lambda e: js("https://accounts.snapchat.com/accounts/merlin/login", {"email": e,
                                                                                     "app": "BITMOJI_APP"}),
    },
    "LinkedIn": {
        "sign_up": lambda e: js("https://www.linkedin.com/signup/api/cors/createAccount?csrfToken=ajax%3A3", {
            "firstName": "Jo", "lastName": "Smith", "email": e, "password": "Tr0ub4dor&3"}),
        "login": lambda e: form("https://www.linkedin.com/checkpoint/lg/login-submit", {
            "csrfToken": "ajax:31337", "session_key": e, "session_password": "Tr0ub4dor&3",
            "loginCsrfParam": "9e0f", "controlId": "d_checkpoint_lg_consumerLogin-login_submit_button"}),
    },
    "Pinterest": {
        "sign_up": lambda e: form("https://www.pinterest.co.uk/resource/UserRegisterResource/create/", {
            "source_url": "/", "data": json.dumps({"options": {"email": e, "password": "Tr0ub4dor&3",
                                                               "age": "37", "country": "GB"}, "context": {}})}),
        "login": lambda e: form("https://www.pinterest.com/resource/UserSessionResource/create/", {
            "source_url": "/login/", "data": json.dumps({"options": {"username_or_email": e,
                                                                     "password": "Tr0ub4dor&3"}, "context": {}}),
            "module_path": "App()>LoginPage()>Login()>Button(class_name=primary, text=Log In, type=submit)"}),
    },
    "Reddit": {
        "sign_up": lambda e: form("https://www.reddit.com/svc/shreddit/account/register", {
            "csrf_token": "5f2c", "email": e, "username": "MrsSmithTeaches", "password": "Tr0ub4dor&3"}),
        "login": lambda e: form("https://www.reddit.com/svc/shreddit/account/login", {
            "csrf_token": "5f2c", "otp": "", "password": "Tr0ub4dor&3", "username": e}),
    },
    "Tumblr": {
        "sign_up": lambda e: js("https://www.tumblr.com/api/v2/register/account/validate", {
            "email": e, "password": "Tr0ub4dor&3", "tumblelog": "jo-teaches"}),
        "login": lambda e: js("https://www.tumblr.com/api/v2/oauth2/token", {
            "grant_type": "password", "username": e, "password": "Tr0ub4dor&3"}),
    },
    "YouTube": {  # a Google account, through Google's own pages, on its way to YouTube
        "sign_up": lambda e: form(
            "https://accounts.google.com/lifecycle/_/AccountLifecyclePlatformSignupUi/data/batchexecute?rpcids=E815hb"
            "&service=youtube&continue=https%3A%2F%2Fwww.youtube.com%2F&hl=en-GB",
            google_rpc("E815hb", [None, e, None, [1, None, None, None, None, 1]])),
        "login": lambda e: form(
            "https://accounts.google.com/v3/signin/_/AccountsSignInUi/data/batchexecute?rpcids=V1UmUe"
            "&source-path=%2Fv3%2Fsignin%2Fidentifier&continue=https%3A%2F%2Fwww.youtube.com%2Fsignin%3Faction_"
            "handle_signin%3Dtrue&service=youtube&hl=en-GB",
            google_rpc("V1UmUe", [None, e, 1, None, None, 1, 1, None, None, None, 0])),
    },
    "Vimeo": {
        "sign_up": lambda e: form("https://vimeo.com/join", {"action": "join", "name": "Jo Smith", "email": e,
                                                              "password": "Tr0ub4dor&3", "token": "f3a9.1718"}),
        "login": lambda e: form("https://vimeo.com/log_in", {"action": "login", "email": e,
                                                              "password": "Tr0ub4dor&3", "service": "vimeo",
                                                              "token": "f3a9.1718"}),
    },
    "Flickr": {
        "sign_up": lambda e: js("https://identity.flickr.com/sign-up", {
            "firstName": "Jo", "lastName": "Smith", "age": 37, "email": e, "password": "Tr0ub4dor&3"}),
        "login": lambda e: js("https://identity.flickr.com/login", {"email": e, "password": "Tr0ub4dor&3"}),
    },
    "WordPress.com": {
        "sign_up": lambda e: form("https://public-api.wordpress.com/rest/v1.1/users/new?http_envelope=1", {
            "email": e, "username": "jo-teaches", "password": "Tr0ub4dor&3", "signup_flow_name": "onboarding",
            "locale": "en", "client_id": "39911", "client_secret": "cOaYKdrkgXz8xY7aysv4fU6wL6sK5J8a6"}),
        "login": lambda e: form("https://wordpress.com/wp-login.php?action=login-endpoint", {
            "username": e, "password": "Tr0ub4dor&3", "remember_me": "true", "client_id": "39911",
            "client_secret": "cOaYKdrkgXz8xY7aysv4fU6wL6sK5J8a6"}),
    },
    "Blogger": {  # a Google account too, on its way to Blogger
        "sign_up": lambda e: form(
            "https://accounts.google.com/lifecycle/_/AccountLifecyclePlatformSignupUi/data/batchexecute?rpcids=E815hb"
            "&service=blogger&continue=https%3A%2F%2Fwww.blogger.com%2Fhome",
            google_rpc("E815hb", [None, e, None, [1]])),
        "login": lambda e: form(
            "https://accounts.google.com/v3/signin/_/AccountsSignInUi/data/batchexecute?rpcids=V1UmUe"
            "&continue=https%3A%2F%2Fwww.blogger.com%2Fhome&followup=https%3A%2F%2Fwww.blogger.com%2Fhome",
            google_rpc("V1UmUe", [None, e, 1])),
    },
    "Medium": {  # GraphQL: the operation name says what it is, variables.email carries the address
        "sign_up": lambda e: js("https://medium.com/_/graphql", [{
            "operationName": "SignUpWithEmailMutation", "variables": {"email": e, "redirect": "/"},
            "query": "mutation SignUpWithEmailMutation($email: String!) { sendSignUpEmail(email: $email) }"}]),
        "login": lambda e: js("https://medium.com/_/graphql", [{
            "operationName": "SignInWithEmailMutation", "variables": {"email": e, "redirect": "/"},
            "query": "mutation SignInWithEmailMutation($email: String!) { sendSignInEmail(email: $email) }"}]),
    },
    "Substack": {
        "sign_up": lambda e: js("https://maths-teaching-notes.substack.com/api/v1/free?nojs=true", {
            "first_url": "https://maths-teaching-notes.substack.com/", "email": e, "source": "subscribe_page"}),
        "login": lambda e: js("https://substack.com/api/v1/email-login", {"email": e, "redirect": "/",
                                                                         "for_pub": ""}),
    },
    "Discord": {
        "sign_up": lambda e: js("https://discord.com/api/v9/auth/register", {
            "fingerprint": "1187266447204945930.dU1RM", "email": e, "username": "jo_teaches",
            "global_name": "Jo", "password": "Tr0ub4dor&3", "invite": None, "consent": True,
            "date_of_birth": "1987-06-04", "gift_code_sku_id": None, "promotional_email_opt_in": False}),
        "login": lambda e: js("https://discord.com/api/v9/auth/login", {
            "login": e, "password": "Tr0ub4dor&3", "undelete": False, "login_source": None,
            "gift_code_sku_id": None}),
    },
    "Twitch": {
        "sign_up": lambda e: js("https://passport.twitch.tv/protected_register", {
            "username": "jo_teaches", "password": "Tr0ub4dor&3", "email": e,
            "birthday": {"day": 4, "month": 6, "year": 1987}, "client_id": "kimne78kx3ncx6brgo4mv6wki5h1ko"}),
        "login": lambda e: js("https://passport.twitch.tv/login", {
            "username": e, "password": "Tr0ub4dor&3", "client_id": "kimne78kx3ncx6brgo4mv6wki5h1ko",
            "undelete_user": False, "remember_me": True}),
    },
    "Quora": {
        "sign_up": lambda e: js("https://www.quora.com/graphql/gql_para_POST?q=SignupEmailForm_validateEmail_Query", {
            "queryName": "SignupEmailForm_validateEmail_Query", "variables": {"email": e},
            "extensions": {"hash": "ba5b1cc4e4c7bd4e1e8b9d2a4c6bbd0b"}}),
        "login": lambda e: js("https://www.quora.com/graphql/gql_para_POST?q=LoginMutation", {
            "queryName": "LoginMutation", "variables": {"email": e, "password": "Tr0ub4dor&3"},
            "extensions": {"hash": "0d2f11d8f0b1"}}),
    },
    "Nextdoor": {
        "sign_up": lambda e: form("https://nextdoor.co.uk/ajax/signup/", {
            "first_name": "Jo", "last_name": "Smith", "email": e, "password": "Tr0ub4dor&3", "postcode": "TS1 1AA"}),
        "login": lambda e: form("https://nextdoor.com/ajax/login/", {"email": e, "password": "Tr0ub4dor&3",
                                                                     "csrfmiddlewaretoken": "x1"}),
    },
    "Mastodon": {  # any server runs the same software: recognised by the request, not the host
        "sign_up": lambda e: form("https://toot.community/auth", {
            "authenticity_token": "h3Jq", "user[account_attributes][username]": "jo_teaches", "user[email]": e,
            "user[password]": "Tr0ub4dor&3", "user[password_confirmation]": "Tr0ub4dor&3", "user[agreement]": "1"}),
        "login": lambda e: form("https://mastodon.social/auth/sign_in", {
            "authenticity_token": "h3Jq", "user[email]": e, "user[password]": "Tr0ub4dor&3", "button": ""}),
    },
    "Bluesky": {  # any PDS host
        "sign_up": lambda e: js("https://bsky.social/xrpc/com.atproto.server.createAccount", {
            "email": e, "handle": "jo-teaches.bsky.social", "password": "Tr0ub4dor&3", "inviteCode": ""}),
        "login": lambda e: js("https://morel.us-east.host.bsky.network/xrpc/com.atproto.server.createSession", {
            "identifier": e, "password": "Tr0ub4dor&3"}),
    },
}
CASES = [(platform, kind) for platform, kinds in SHAPES.items() for kind in kinds]


@pytest.mark.parametrize("platform,kind", CASES)
def test_school_address_in_sign_up_and_login_is_found(platform, kind):
    found = hits(SHAPES[platform][kind](SCHOOL))
    assert len(found) == 1, found
    ev = found[0].evidence
    assert (ev["platform"], ev["kind"], ev["address"]) == (platform, kind, MASKED)
    assert found[0].rule == RULE and platform in found[0].message and SCHOOL not in found[0].message
    assert SCHOOL not in json.dumps(ev)


@pytest.mark.parametrize("platform,kind", CASES)
def test_personal_address_in_the_same_request_is_not_a_finding(platform, kind):
    assert hits(SHAPES[platform][kind](PERSONAL)) == []


def test_every_platform_in_the_registry_has_its_requests_tested():
    assert {p.name for p in registry().platforms.values()} <= set(SHAPES)
    assert len(SHAPES) >= 20


def test_recall_over_all_platforms_sign_up_and_login():
    found = [(p, k) for p, k in CASES if hits(SHAPES[p][k](SCHOOL))]
    platforms_found = {p for p, _ in found}
    assert len(platforms_found) >= 20
    assert len(found) / len(CASES) == 1.0, sorted(set(CASES) - set(found))


# -- encodings ------------------------------------------------------------------------------------------------------

ENCODED = [
    ("plain", js("https://discord.com/api/v9/auth/login", {"login": SCHOOL, "password": "x"}), "plain"),
    ("%40 left in a form value", ("POST", "https://vimeo.com/log_in", {"Content-Type": FORM},
                                  f"action=login&email={quote(quote(SCHOOL, safe=''), safe='')}&password=x".encode()),
     "percent"),
    ("%40 in JSON", js("https://discord.com/api/v9/auth/login", {"login": SCHOOL.replace("@", "%40")}), "percent"),
    ("\\u0040 in a JSON body (extraction undoes it)",
     ("POST", "https://discord.com/api/v9/auth/register", {"Content-Type": "application/json"},
      b'{"email":"j.smith\\u0040stmarys-angels.sch.uk","username":"jo"}'), "plain"),
    ("\\u0040 in JSON held by a form field",
     ("POST", "https://www.pinterest.com/resource/UserSessionResource/create/", {"Content-Type": FORM},
      ("source_url=%2Flogin%2F&data=" + quote('{"options":{"username_or_email":"j.smith\\u0040stmarys-angels'
                                               '.sch.uk","password":"x"},"context":{}}')).encode()), "json_escape"),
    ("\\u0040 in GraphQL variables sent as a string",
     ("POST", "https://www.quora.com/graphql/gql_para_POST?q=LoginMutation", {"Content-Type": "application/json"},
      json.dumps({"queryName": "LoginMutation",
                  "variables": '{"email":"j.smith\\u0040stmarys-angels.sch.uk"}'}).encode()), "json_escape"),
    ("base64 of the address", form("https://accounts.snapchat.com/accounts/v2/login", {
        "username": base64.b64encode(SCHOOL.encode()).decode(), "password": "x"}), "base64"),
    ("base64url of a JSON blob", form("https://www.reddit.com/svc/shreddit/account/login", {
        "payload": b64url({"username": SCHOOL, "password": "x", "remember": True})}), "base64"),
    ("XOR-hex (TikTok mix_mode=1)", form("https://www.tiktok.com/passport/web/user/login/?aid=1459", {
        "mix_mode": "1", "username": xor5(SCHOOL), "password": xor5("x")}), "xor5_hex"),
    ("percent-encoded base64", form("https://discord.com/api/v9/auth/login", {
        "login": quote(base64.b64encode(SCHOOL.encode()).decode(), safe="")}), "percent+base64"),
]


@pytest.mark.parametrize("why,request_,encoding", ENCODED, ids=[c[0] for c in ENCODED])
def test_encoded_school_address_is_found_and_says_how(why, request_, encoding):
    found = hits(request_)
    assert len(found) == 1, why
    assert found[0].evidence["address"] == MASKED and found[0].evidence["encoding"] == encoding


def test_xor_hex_of_a_personal_address_is_not_a_finding():
    assert hits(form("https://www.tiktok.com/passport/web/email/login/", {"mix_mode": "1",
                                                                           "email": xor5(PERSONAL)})) == []


# -- Sign in with Google / Microsoft / Apple ------------------------------------------------------------------------

def google_auth(**params):
    base = {"client_id": "1066123.apps.googleusercontent.com", "response_type": "code", "scope": "openid email"}
    return get("https://accounts.google.com/o/oauth2/v2/auth?" + urlencode({**base, **params}))


def microsoft_auth(tenant="common", **params):
    base = {"client_id": "4a1aa1d5-c567-49d0-ad0b-cd957a47f842", "response_type": "code", "scope": "openid email"}
    return get(f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize?" + urlencode({**base, **params}))


OAUTH = [
    ("login_hint, Google, to Pinterest", google_auth(redirect_uri="https://www.pinterest.com/oauth/google/",
                                                     login_hint=SCHOOL), "Pinterest", "Google", MASKED),
    ("hd, Google, to TikTok", google_auth(redirect_uri="https://www.tiktok.com/login/google/callback",
                                          hd="stmarys-angels.sch.uk"), "TikTok", "Google", "***@stmarys-angels.sch.uk"),
    ("older /o/oauth2/auth, to Quora", get("https://accounts.google.com/o/oauth2/auth?" + urlencode({
        "client_id": "1", "redirect_uri": "https://www.quora.com/complete/google", "login_hint": SCHOOL})),
     "Quora", "Google", MASKED),
    ("signin/oauth with the real request nested in continue", get(
        "https://accounts.google.com/signin/oauth?" + urlencode({
            "login_hint": SCHOOL, "o2v": "2", "continue": "https://accounts.google.com/o/oauth2/v2/auth?" + urlencode({
                "client_id": "1", "redirect_uri": "https://medium.com/m/callback/google"})})), "Medium", "Google",
     MASKED),
    ("popup flow storagerelay", google_auth(redirect_uri="storagerelay://https/www.tiktok.com?id=auth824121",
                                            login_hint=SCHOOL), "TikTok", "Google", MASKED),
    ("domain_hint, Microsoft, to LinkedIn", microsoft_auth(redirect_uri="https://www.linkedin.com/uas/oauth/mso",
                                                           domain_hint="stmarys-angels.sch.uk"),
     "LinkedIn", "Microsoft", "***@stmarys-angels.sch.uk"),
    ("login_hint, Microsoft, to Discord", microsoft_auth(redirect_uri="https://discord.com/oauth/microsoft",
                                                         login_hint=SCHOOL), "Discord", "Microsoft", MASKED),
    ("school tenant in the path, to Substack", microsoft_auth("stmarys-angels.sch.uk",
                                                               redirect_uri="https://substack.com/oauth/callback"),
     "Substack", "Microsoft", "***@stmarys-angels.sch.uk"),
]


@pytest.mark.parametrize("why,request_,platform,provider,address", OAUTH, ids=[c[0] for c in OAUTH])
def test_sign_in_with_a_school_account_to_a_personal_platform_is_found(why, request_, platform, provider, address):
    found = hits(request_)
    assert len(found) == 1, why
    ev = found[0].evidence
    assert (ev["platform"], ev["kind"], ev["provider"], ev["address"]) == (platform, "oauth", provider, address)
    assert provider in found[0].message


NOT_OAUTH = [
    ("to Google Classroom", google_auth(redirect_uri="https://classroom.google.com/u/0/h", login_hint=SCHOOL)),
    ("to Teams", microsoft_auth(redirect_uri="https://teams.microsoft.com/go", login_hint=SCHOOL)),
    ("school tenant, to SharePoint", microsoft_auth("stmarys-angels.sch.uk",
                                                    redirect_uri="https://stmarysangels.sharepoint.com/_forms")),
    ("to the school's own site", google_auth(redirect_uri="https://www.stmarys-angels.sch.uk/login/google",
                                             login_hint=SCHOOL)),
    ("to ClassDojo", google_auth(redirect_uri="https://home.classdojo.com/oauth/google", hd="stmarys-angels.sch.uk")),
    ("to a site that is not a platform", google_auth(redirect_uri="https://www.bbc.co.uk/signin/google",
                                                     login_hint=SCHOOL)),
    ("personal login_hint, to Pinterest", google_auth(redirect_uri="https://www.pinterest.com/oauth/google/",
                                                      login_hint=PERSONAL)),
    ("lookalike hd, to TikTok", google_auth(redirect_uri="https://www.tiktok.com/login/google/callback",
                                            hd="notstmarys-angels.sch.uk")),
    ("no hint at all: nothing says it is the school account", google_auth(
        redirect_uri="https://www.pinterest.com/oauth/google/")),
    ("Google sign-in on its way to Classroom", form(
        "https://accounts.google.com/v3/signin/_/AccountsSignInUi/data/batchexecute?rpcids=V1UmUe"
        "&continue=https%3A%2F%2Fclassroom.google.com%2F", google_rpc("V1UmUe", [None, SCHOOL, 1]))),
]


@pytest.mark.parametrize("why,request_", NOT_OAUTH, ids=[c[0] for c in NOT_OAUTH])
def test_sign_in_with_to_school_services_or_without_a_school_hint_is_not_a_finding(why, request_):
    assert hits(request_) == [], why


GOOGLE_TOKEN = {"iss": "https://accounts.google.com", "aud": "1066123.apps.googleusercontent.com", "sub": "1170",
                "email": SCHOOL, "email_verified": True, "hd": "stmarys-angels.sch.uk", "exp": 1718003600}
MICROSOFT_TOKEN = {"iss": "https://login.microsoftonline.com/5f3c/v2.0", "aud": "4a1aa1d5", "sub": "AAAA",
                   "preferred_username": SCHOOL.upper(), "tid": "5f3c", "exp": 1718003600}
APPLE_TOKEN = {"iss": "https://appleid.apple.com", "aud": "com.reddit.web", "sub": "001234.abc", "email": SCHOOL,
               "email_verified": "true", "exp": 1718003600}

ID_TOKENS = [
    ("Google Identity Services credential", form("https://medium.com/m/callback/google-one-tap", {
        "credential": jwt(GOOGLE_TOKEN), "g_csrf_token": "7a1b", "select_by": "btn"}), "Medium", "Google"),
    ("GIS credential as JSON", js("https://www.tiktok.com/passport/web/auth/login/?platform=google", {
        "credential": jwt(GOOGLE_TOKEN), "client_id": "1066123.apps.googleusercontent.com"}), "TikTok", "Google"),
    ("Google token inside a resource's data", form("https://www.pinterest.com/resource/HandshakeSessionResource/"
                                                   "create/", {"data": json.dumps({"options": {
                                                       "token": jwt(GOOGLE_TOKEN), "token_type": "google_id"}})}),
     "Pinterest", "Google"),
    ("Microsoft id_token, form_post", form("https://www.linkedin.com/uas/oauth/mso/callback", {
        "code": "0.AXkA", "id_token": jwt(MICROSOFT_TOKEN), "state": "xyz"}), "LinkedIn", "Microsoft"),
    ("Apple form_post with id_token and user", form("https://www.reddit.com/account/apple/callback", {
        "code": "c0de", "id_token": jwt(APPLE_TOKEN), "state": "xyz",
        "user": json.dumps({"name": {"firstName": "Jo", "lastName": "Smith"}, "email": SCHOOL})}),
     "Reddit", "Apple"),
    ("only the hosted domain claim", form("https://medium.com/m/callback/google-one-tap", {
        "credential": jwt({"iss": "accounts.google.com", "sub": "1", "hd": "stmarys-angels.sch.uk"})}),
     "Medium", "Google"),
]


@pytest.mark.parametrize("why,request_,platform,provider", ID_TOKENS, ids=[c[0] for c in ID_TOKENS])
def test_id_token_of_a_school_account_posted_to_a_personal_platform_is_found(why, request_, platform, provider):
    found = hits(request_)
    assert len(found) == 1, (why, found)
    ev = found[0].evidence
    assert (ev["platform"], ev["kind"], ev["provider"], ev["encoding"]) == (platform, "id_token", provider, "jwt")
    assert ev["address"].endswith("@stmarys-angels.sch.uk") and SCHOOL not in json.dumps(ev)


def test_id_token_of_a_personal_account_or_to_a_school_service_is_not_a_finding():
    personal = dict(GOOGLE_TOKEN, email=PERSONAL, hd=None)
    assert hits(form("https://medium.com/m/callback/google-one-tap", {"credential": jwt(personal)})) == []
    assert hits(form("https://classroom.google.com/u/0/auth", {"credential": jwt(GOOGLE_TOKEN)})) == []
    assert hits(form("https://www.stmarys-angels.sch.uk/wp-login.php?action=google", {
        "id_token": jwt(GOOGLE_TOKEN)})) == []


# -- other account endpoints ----------------------------------------------------------------------------------------

OTHER_KINDS = [
    ("Discord email change", js("https://discord.com/api/v9/users/@me", {"email": SCHOOL, "password": "x"},
                                method="PATCH"), "Discord", "email_change"),
    ("WordPress.com settings: user_email", form("https://public-api.wordpress.com/rest/v1.1/me/settings", {
        "user_email": SCHOOL}), "WordPress.com", "email_change"),
    ("Bluesky updateEmail on a self-hosted PDS", js("https://pds.staffroom.example/xrpc/com.atproto.server."
                                                    "updateEmail", {"email": SCHOOL, "token": "3k2j"}),
     "Bluesky", "email_change"),
    ("Bluesky OAuth provider sign-up page", js("https://bsky.social/@atproto/oauth-provider/~api/sign-up", {
        "locale": "en", "handle": "jo.bsky.social", "email": SCHOOL, "password": "x"}), "Bluesky", "sign_up"),
    ("Mastodon API sign-up on any server", js("https://social.staffroom.example/api/v1/accounts", {
        "username": "jo", "email": SCHOOL, "password": "x", "agreement": True, "locale": "en"}),
     "Mastodon", "sign_up"),
    ("Mastodon web email change (_method=put)", form("https://toot.community/auth", {
        "_method": "put", "authenticity_token": "h3Jq", "user[email]": SCHOOL, "user[current_password]": "x"}),
     "Mastodon", "email_change"),
    ("Mastodon password grant (Mastodon.py log_in)", form("https://mastodon.social/oauth/token", {
        "client_id": "c1", "client_secret": "s1", "grant_type": "password", "username": SCHOOL, "password": "x",
        "scope": "read write"}), "Mastodon", "login"),
    ("Facebook Accounts Center via GraphQL", form("https://www.facebook.com/api/graphql/", {
        "fb_api_req_friendly_name": "useFXIMAddContactPointMutation", "doc_id": "7137",
        "variables": json.dumps({"input": {"contact_point": SCHOOL, "contact_point_type": "email"}})}),
     "Facebook", "email_change"),
    ("Instagram profile edit with email", form("https://www.instagram.com/api/v1/web/accounts/edit/", {
        "first_name": "Jo", "email": SCHOOL, "username": "jo.teaches", "biography": ""}),
     "Instagram", "email_change"),
    ("a personal Microsoft account (consumer OneDrive) with the school address", form(
        "https://onedrive.live.com/signup/create", {"MemberName": "x", "email": SCHOOL}),
     "onedrive.live.com", "sign_up"),
    ("Google's older sign-in form for YouTube (service=youtube)", form(
        "https://accounts.google.com/ServiceLoginAuth", {"Email": SCHOOL, "Passwd": "x", "service": "youtube",
                                                         "continue": "https://accounts.google.com/ManageAccount"}),
     "YouTube", "login"),
    ("school address in a subdomain, upper case", js("https://discord.com/api/v9/auth/login", {
        "login": "J.SMITH@MAIL.STMARYS-ANGELS.SCH.UK", "password": "x"}), "Discord", "login"),
]


@pytest.mark.parametrize("why,request_,platform,kind", OTHER_KINDS, ids=[c[0] for c in OTHER_KINDS])
def test_other_account_requests_are_found_with_their_kind(why, request_, platform, kind):
    found = hits(request_)
    assert len(found) == 1, (why, found)
    assert (found[0].evidence["platform"], found[0].evidence["kind"]) == (platform, kind)


# -- hard negatives -------------------------------------------------------------------------------------------------

NEGATIVES = [
    ("school address into Google Classroom", js("https://classroom.google.com/u/0/c/NjA1/invite", {
        "emails": [SCHOOL], "email": SCHOOL})),
    ("school address into the config's official service", form("https://www.stmarys-angels.sch.uk/wp-login.php", {
        "log": SCHOOL, "pwd": "x", "wp-submit": "Log In"})),
    ("school address into Tapestry", form("https://tapestryjournal.com/login", {"email": SCHOOL, "password": "x"})),
    ("school address into ClassDojo", js("https://home.classdojo.com/api/session", {"login": SCHOOL,
                                                                                    "password": "x"})),
    ("school address into Microsoft 365 sign-in", form(
        "https://login.microsoftonline.com/common/login", {"login": SCHOOL, "passwd": "x"})),
    ("a post's text on the school's own site", form("https://www.stmarys-angels.sch.uk/wp-admin/post.php", {
        "post_title": "Sports day", "content": f"Questions? Email {SCHOOL}", "action": "editpost"})),
    ("a post's text on the school's Facebook page", form("https://www.facebook.com/api/graphql/", {
        "fb_api_req_friendly_name": "ComposerStoryCreateMutation", "doc_id": "7137",
        "variables": json.dumps({"input": {"message": {"text": f"Sports day! Questions to {SCHOOL}"}}})})),
    ("a tweet's text", js("https://x.com/i/api/graphql/oB-5XsHNAbjvARJEc8CZFw/CreateTweet", {
        "variables": {"tweet_text": f"Open evening Thursday, email {SCHOOL}"}, "queryId": "oB-5XsHNAbjvARJEc8CZFw"})),
    ("a toot's text on any Mastodon server", form("https://toot.community/api/v1/statuses", {
        "status": f"Contact the office: {SCHOOL}", "visibility": "public"})),
    ("a Discord message, even with an email field", js("https://discord.com/api/v9/channels/1187/messages", {
        "content": f"mail me at {SCHOOL}", "email": SCHOOL})),
    ("a reply on a Bluesky post", js("https://bsky.social/xrpc/com.atproto.repo.createRecord", {
        "repo": "did:plc:abc", "collection": "app.bsky.feed.post", "record": {"text": f"email {SCHOOL}"}})),
    ("lookalike domain: school.sch.uk.evil.com", js("https://discord.com/api/v9/auth/register", {
        "email": "j.smith@stmarys-angels.sch.uk.evil.com", "username": "jo", "password": "x"})),
    ("lookalike domain: notschool.sch.uk", js("https://discord.com/api/v9/auth/register", {
        "email": "j.smith@notstmarys-angels.sch.uk", "username": "jo", "password": "x"})),
    ("school address in a GET", get(f"https://www.facebook.com/login/?email={quote(SCHOOL)}")),
    ("school address in a GET to Discord's register", get(f"https://discord.com/register?email={quote(SCHOOL)}")),
    ("a login form on a site that is not a platform", form("https://www.bbc.co.uk/session", {
        "username": SCHOOL, "password": "x"})),
    ("a Devise sign-in at the default path on any host", form("https://parents.example.org/users/sign_in", {
        "user[email]": SCHOOL, "user[password]": "x"})),
    ("a Mastodon path without the Mastodon field", form("https://forum.example.org/auth/sign_in", {
        "email": SCHOOL, "password": "x"})),
    ("sharing a Google Doc with a colleague", js("https://docs.google.com/sharing/share", {
        "emails": [SCHOOL], "role": "writer"})),
    ("a photo upload to Instagram", ("POST", "https://i.instagram.com/rupload_igphoto/fb_uploader_1718",
                                     {"Content-Type": "image/jpeg"}, b"\xff\xd8\xff\xe0" + b"\0" * 64)),
]


@pytest.mark.parametrize("why,request_", NEGATIVES, ids=[c[0] for c in NEGATIVES])
def test_not_a_personal_account_with_a_school_address(why, request_):
    assert hits(request_) == [], why


def test_nothing_without_school_domains_or_when_the_rule_is_not_asked_for():
    no_domains = SchoolEmailDetector(parse_config({"school": {}}))
    request_ = SHAPES["Discord"]["login"](SCHOOL)
    assert hits(request_, no_domains) == []
    submission = extract(*request_).submission
    assert list(DETECTOR.check(submission, {"location.gps"})) == []


def test_official_services_from_config_accept_urls_and_refuse_bad_values():
    cfg = parse_config({"school": {"email_domains": ["stmarys-angels.sch.uk"],
                                   "official_services": ["https://stmarysangels.wordpress.com/"]}})
    own_blog = form("https://public-api.wordpress.com/rest/v1.1/users/new", {"email": SCHOOL})
    assert hits(own_blog, SchoolEmailDetector(cfg))  # public-api.wordpress.com is not the school's blog
    assert hits(form("https://stmarysangels.wordpress.com/wp-login.php", {"log": SCHOOL}),
                SchoolEmailDetector(cfg)) == []
    sign_in_to_own_blog = google_auth(redirect_uri="https://stmarysangels.wordpress.com/wp-login.php?action=google",
                                      login_hint=SCHOOL)
    assert hits(sign_in_to_own_blog)[0].evidence["platform"] == "WordPress.com"
    assert hits(sign_in_to_own_blog, SchoolEmailDetector(cfg)) == []
    with pytest.raises(ConfigError, match="school.official_services"):
        SchoolEmailDetector(parse_config({"school": {"email_domains": ["x.sch.uk"], "official_services": "a.b"}}))


def test_registry_loads_and_reports_a_bad_pattern_by_file_and_key(tmp_path):
    reg = load_registry(DATA)
    assert len(reg.platforms) >= 20 and {"google", "microsoft", "apple"} <= set(reg.providers)
    for platform in reg.platforms.values():
        kinds = {s.kind for s in platform.endpoints + platform.protocol}
        assert platform.sources, platform.key
        assert {"sign_up", "login"} <= kinds or platform.google_services, platform.key
    bad = tmp_path / "bad.toml"
    bad.write_text("[platforms.x]\nname = 'X'\nhosts = ['x.com']\nlogin = ['(']\n")
    with pytest.raises(ValueError, match=r"bad.toml: platforms.x.login"):
        load_registry(bad)


GENERIC_SCOPE = {  # in scope, not in the registry: the generic sign-up and sign-in shapes still apply
    "Strava sign-up": lambda e: form("https://www.strava.com/register", {"email": e, "password": "pw12345678"}),
    "Patreon sign-in": lambda e: js("https://www.patreon.com/api/auth?include=user.null", {
        "data": {"type": "genericPatreonApi", "attributes": {"email": e, "password": "pw"}, "relationships": {}}}),
    "DeviantArt join": lambda e: form("https://www.deviantart.com/_sisu/do/join", {"email": e, "username": "jo"}),
    "SoundCloud sign-up": lambda e: js("https://api-auth.soundcloud.com/sign-up?client_id=abc", {
        "identifier": e, "password": "pw", "profile": {"age": 30}}),
}


@pytest.mark.parametrize("shape", GENERIC_SCOPE)
def test_platforms_in_scope_but_not_in_the_registry_are_caught_by_their_generic_shape(shape):
    assert [h.rule for h in hits(GENERIC_SCOPE[shape](SCHOOL))] == [RULE]
    assert hits(GENERIC_SCOPE[shape](PERSONAL)) == []
