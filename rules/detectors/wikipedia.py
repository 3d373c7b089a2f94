"""wikipedia.edit: a request that saves a change to Wikipedia, another Wikimedia wiki or a listed open wiki.

The request shapes are data (the tables below), each taken from MediaWiki's own source; docs/wikipedia.md says which
file each comes from. Reading, previewing, showing changes, serialising, logging in and out, token fetches, thanks,
watching and options are never a save.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import AfterValidator, Field, Strict

from .. import network, platforms, schema
from ..model import Submission
from .base import URL_TARGET, Detector, Hit

RULE = "wikipedia.edit"

# -- which hosts are wikis ----------------------------------------------------------------------------------------

WIKIMEDIA_DOMAINS = ("wikipedia.org", "wikimedia.org", "wikidata.org", "wiktionary.org", "wikibooks.org",
                     "wikinews.org", "wikiquote.org", "wikisource.org", "wikiversity.org", "wikivoyage.org",
                     "wikifunctions.org", "mediawiki.org")  # wikimedia.org: commons, meta, species, incubator
WIKIMEDIA = frozenset(WIKIMEDIA_DOMAINS)
DEFAULT_EXTRA_WIKIS = ("fandom.com", "wikia.org", "wikia.com")
MAX_REMEMBERED_HOSTS = 4096
NOT_WIKIS = ("intake-analytics.wikimedia.org", "intake-logging.wikimedia.org")  # analytics event intake
BEACON_PATHS = ("/beacon/",)  # /beacon/event, /beacon/statsv: EventLogging and statistics


def wiki_host(value: str) -> str:
    """A `[wikipedia] extra_wikis` entry as a host name: a URL's host, lower case, without "*." or a final dot."""
    host = (urlsplit(value).hostname if "://" in value else value) or ""
    host = host.strip().lower().lstrip("*.").rstrip(".")
    if not host or "/" in host or " " in host:
        raise ValueError(f"not a host name: {value!r}")
    return host


WikiHost = Annotated[str, Strict(), AfterValidator(wiki_host), schema.Label("host name")]

# -- who is editing ------------------------------------------------------------------------------------------------

TOKEN_FIELDS = ("token", "wpEditToken")
ANON_TOKENS = ("+\\", " \\")  # a logged-out CSRF token; the second is the same with its + form-decoded to a space
TEMP_USER_PREFIX = "~"  # temporary account names: "~2025-12345-67" ($wgAutoCreateTempUser genPattern "~$1")

# -- what names the page ---------------------------------------------------------------------------------------------
# (parameter names, how to show the value): "a|b" joins both values with ":"; first one present wins.

PAGE_TITLE = (("title", "{}"), ("page", "{}"), ("from", "{}"), ("target", "{}"), ("titles", "{}"),
              ("interwikipage", "{}"), ("pageid", "page id {}"), ("fromid", "page id {}"), ("pageids", "page ids {}"))
FILE_TITLE = (("filename", "File:{}"), ("wpDestFile", "File:{}"), ("wpUploadFile", "File:{}"), ("title", "{}"))
ENTITY_TITLE = (("id", "{}"), ("entity", "{}"), ("site|title", "{}"), ("fromid", "{}"), ("from", "{}"),
                ("fromsite|fromtitle", "{}"), ("lexemeId", "{}"), ("formId", "{}"), ("senseId", "{}"),
                ("source", "{}"), ("statement", "{}"), ("claim", "{}"), ("new", "new {}"))
MOVE_FORM_TITLE = (("wpOldTitle", "{}"),)


@dataclass(frozen=True)
class ApiWrite:
    """An api.php action that saves. `when`: it saves only with one of these values of a parameter; `unless`: only
    without these parameters (MediaWiki's booleans are true when present, whatever their value)."""

    shape: str
    titles: tuple = PAGE_TITLE
    when: tuple[str, frozenset[str]] | None = None
    unless: tuple[str, ...] = ()
    entity: bool = False


CORE_PAGE_WRITES = ("edit", "move", "delete", "undelete", "protect", "rollback", "import", "changecontentmodel",
                    "mergehistory", "setpagelanguage", "revisiondelete", "imagerotate")
WIKIBASE_WRITES = ("wbeditentity", "wbcreateclaim", "wbcreateredirect", "wblinktitles", "wbmergeitems",
                   "wbremoveclaims", "wbremovequalifiers", "wbremovereferences", "wbsetaliases", "wbsetclaim",
                   "wbsetclaimvalue", "wbsetdescription", "wbsetlabel", "wbsetqualifier", "wbsetreference",
                   "wbsetsitelink",
                   "wbladdform", "wblremoveform", "wbleditformelements", "wbladdsense", "wbleditsenseelements",
                   "wblremovesense", "wblmergelexemes")  # WikibaseLexeme
FLOW_WRITES = frozenset({"new-topic", "reply", "edit-post", "edit-header", "edit-title", "edit-topic-summary",
                         "moderate-post", "moderate-topic", "lock-topic", "close-open-topic"})
MENTOR_LIST_WRITES = frozenset({"add", "change", "remove"})  # GrowthExperiments ApiManageMentorList geaction

API_WRITES: dict[str, ApiWrite] = {
    **{action: ApiWrite(f"Action API {action}") for action in CORE_PAGE_WRITES},
    "filerevert": ApiWrite("Action API filerevert", FILE_TITLE),
    "upload": ApiWrite("upload", FILE_TITLE, unless=("stash", "chunk", "checkstatus", "statuskey")),
    "visualeditoredit": ApiWrite("VisualEditor", when=("paction", frozenset({"save"}))),
    "discussiontoolsedit": ApiWrite("DiscussionTools", when=("paction", frozenset({"addcomment", "addtopic"}))),
    "flow": ApiWrite("Structured Discussions", when=("submodule", FLOW_WRITES)),
    "cxpublish": ApiWrite("Content Translation"),
    "cxpublishsection": ApiWrite("Content Translation"),
    "wikilove": ApiWrite("WikiLove"),
    **{action: ApiWrite("Wikibase", ENTITY_TITLE, entity=True) for action in WIKIBASE_WRITES},
    # the audit of August 2026 (docs/wikipedia.md, "Audit"): each module is isWriteMode/needsToken in its source and
    # saves a wiki page
    "wikilambda_edit": ApiWrite("Wikifunctions", (("zid", "{}"),)),
    "massmessage": ApiWrite("MassMessage", (("spamlist", "{}"),)),
    "editmassmessagelist": ApiWrite("MassMessage", (("spamlist", "{}"),)),
    "helppanelquestionposter": ApiWrite("Growth help panel", (("relevanttitle", "question about {}"),)),
    "growthmanagementorlist": ApiWrite("Growth mentor list", (), when=("geaction", MENTOR_LIST_WRITES)),
    "pagetriagetagging": ApiWrite("PageTriage", PAGE_TITLE),
    "communityconfigurationedit": ApiWrite("Community Configuration", (("provider", "configuration {}"),)),
    "markfortranslation": ApiWrite("Translate", PAGE_TITLE),
    "stabilize": ApiWrite("FlaggedRevs", PAGE_TITLE),
}


@dataclass(frozen=True)
class FormSave:
    """A form posted to index.php (or the article path) that saves. Each group in `needs` must have one field
    present; none of `unless`; `actions`, when given, are the action= values the form posts with."""

    shape: str
    needs: tuple[tuple[str, ...], ...]
    unless: tuple[str, ...] = ()
    actions: frozenset[str] | None = None
    titles: tuple = PAGE_TITLE
    get: bool = False  # also a save when fetched with GET (a rollback link carries its token)
    when: tuple[str, frozenset[str]] | None = None  # a save only with one of these values of a field


WIKIBASE_FORM_TITLE = (("id", "{}"), ("fromid", "{}"), ("label", "new entity {}"))
ENTITY_SCHEMA_TITLE = (("ID", "{}"), ("label", "new schema {}"))
FORM_SAVES = (
    FormSave("classic editor", (("wpTextbox1",), ("wpEditToken",), ("wpUltimateParam",)),
             unless=("wpPreview", "wpDiff"), actions=frozenset({"submit", "edit"})),
    FormSave("upload", (("wpUpload", "wpUploadIgnoreWarning"), ("wpEditToken",),
                        ("wpUploadFile", "wpUploadFileURL", "wpSessionKey", "wpDestFile")), titles=FILE_TITLE),
    FormSave("move form", (("wpOldTitle",), ("wpNewTitleMain", "wpNewTitle"), ("wpEditToken",)),
             actions=frozenset({"submit"}), titles=MOVE_FORM_TITLE),
    # core index.php actions and special pages (includes/actions/, includes/specials/)
    FormSave("delete form", (("wpEditToken",), ("wpReason", "wpDeleteReasonList", "wpConfirmB")),
             actions=frozenset({"delete"})),
    FormSave("protect form", (("wpEditToken",), ("mwProtect-reason", "wpProtectReasonSelection",
                                                 "mwProtect-level-edit", "mwProtect-level-move")),
             actions=frozenset({"protect", "unprotect"})),
    FormSave("rollback", (("from",), ("token",)), actions=frozenset({"rollback"}), titles=(("title", "{}"),),
             get=True),  # from= names the editor reverted, not the page
    FormSave("undo form", (("wpSave",), ("wpEditToken",)), unless=("wpPreview", "wpDiff"),
             actions=frozenset({"mcrundo", "mcrrestore"})),  # McrUndoAction saves only on wpSave
    FormSave("change content model form", (("wpmodel",), ("wppagetitle",), ("wpEditToken",)),
             titles=(("wppagetitle", "{}"),)),
    FormSave("import form", (("editToken",), ("source",), ("xmlimport", "interwiki", "frompage")),
             titles=(("frompage", "{}"), ("xmlimport", "import of {}"))),
    FormSave("merge history form", (("targetID",), ("destID",), ("wpEditToken",)), actions=frozenset({"submit"}),
             titles=(("dest", "{}"), ("target", "{}"))),
    FormSave("page language form", (("wppagename",), ("wplanguage",), ("wpEditToken",)),
             titles=(("wppagename", "{}"),)),
    FormSave("undelete form", (("restore",), ("wpEditToken",)), titles=(("target", "{}"),)),  # preview: not
    FormSave("revision delete form", (("wpSubmit",), ("wpEditToken",),
                                      ("wpHidePrimary", "wpHideComment", "wpHideUser", "wpRevDeleteReasonList")),
             titles=(("target", "{}"),)),
    # Translate's Special:PageTranslation (the markfortranslation API's form); its token field is `token`
    FormSave("Translate mark form", (("do",), ("target",), ("token",)), titles=(("target", "{}"),),
             when=("do", frozenset({"mark"}))),
    # Wikibase special pages (Wikidata, Commons): repo/includes/Specials/
    FormSave("Wikibase form", (("lang",), ("label",), ("wpEditToken",)), titles=WIKIBASE_FORM_TITLE),
    FormSave("Wikibase form", (("id",), ("language",), ("value", "label", "description", "aliases"),
                               ("wpEditToken",)), titles=WIKIBASE_FORM_TITLE),
    FormSave("Wikibase form", (("id",), ("site",), ("page",), ("wpEditToken",)), titles=WIKIBASE_FORM_TITLE),
    FormSave("Wikibase form", (("fromid",), ("toid",), ("wpEditToken",)), titles=WIKIBASE_FORM_TITLE),
    FormSave("Wikibase form", (("from-id",), ("to-id",), ("wpEditToken",)),
             titles=(("from-id", "{}"),)),  # WikibaseLexeme's Special:MergeLexemes
    # EntitySchema (Wikidata): its edit action and special pages
    FormSave("EntitySchema", (("wpschema-text",), ("wpEditToken",)), actions=frozenset({"submit", "edit"})),
    FormSave("EntitySchema", (("schema-text",), ("languagecode",), ("wpEditToken",)), titles=ENTITY_SCHEMA_TITLE),
    FormSave("EntitySchema", (("ID",), ("languagecode",), ("label", "description", "aliases"), ("wpEditToken",)),
             titles=ENTITY_SCHEMA_TITLE),
    # MassMessage's Special:MassMessage (its preview button is preview-button)
    FormSave("MassMessage form", (("spamlist",), ("subject",), ("submit-button",), ("wpEditToken",)),
             titles=(("spamlist", "{}"),)),
)
GET_SAVE_ACTIONS = frozenset(a for form in FORM_SAVES if form.get for a in form.actions or ())

@dataclass(frozen=True)
class RestWrite:
    """A rest.php route that saves: the methods, the route after rest.php (its `title` or `statement` group names
    the page or entity), and where the page's name is when the route has none."""

    methods: frozenset[str]
    route: re.Pattern
    shape: str
    titles: tuple = ()
    entity: bool = False


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REST_WRITES = (
    RestWrite(frozenset({"POST"}), re.compile(r"/v1/page/?$"), "REST API", (("title", "{}"),)),
    RestWrite(frozenset({"PUT"}), re.compile(r"/v1/page/(?P<title>[^/]+)$"), "REST API"),
    RestWrite(frozenset({"POST"}), re.compile(r"/content/v1/page/?$"), "REST API", (("title", "{}"),)),
    RestWrite(frozenset({"PUT"}), re.compile(r"/content/v1/page/(?P<title>[^/]+)$"), "REST API"),
    RestWrite(frozenset({"POST"}), re.compile(r"/content/v2-beta/page:move(?:/(?P<title>[^/]+))?$"), "REST API",
              (("from", "{}"),)),
    RestWrite(WRITE_METHODS, re.compile(r"/wikibase/v\d+/(?:entities/(?:items|properties|lexemes)"
                                        r"(?:/(?P<title>[^/]+))?"
                                        r"|statements/(?P<statement>[^/]+))(?:/.*)?$"),
              "Wikibase REST API", entity=True),
)

# -- what the finding says -------------------------------------------------------------------------------------------

NETWORK_WORDS = {  # on_school_network -> (whose IP address, what follows for the school)
    True: ("the school's IP address",
           "the edit can be traced to the school, and the whole school's network can be blocked because of it"),
    False: ("your IP address",
            "you are off the school network, so it is less easily traced to the school"),
    None: ("your IP address",
           "PostGuard cannot tell whether this laptop is on the school network"),
}
ACCOUNT_WORDS = {  # (account, Wikimedia wiki?) -> how the edit is recorded
    ("logged out", True): "while logged out: the wiki gives it a temporary account but still records {ip}, which "
                          "checkusers and administrators can see",
    ("logged out", False): "while logged out: the wiki records {ip} with it, often publicly",
    ("temporary account", True): "from a temporary account: the wiki records {ip}, which checkusers and "
                                 "administrators can see",
    ("logged in", True): "under your account, and the wiki also records {ip} privately (checkusers can see it)",
    ("unknown", True): "and the wiki records {ip} with it",
}


@dataclass(frozen=True)
class Save:
    shape: str
    action: str
    title: str


class WikipediaDetector(Detector):
    id = "wikipedia"
    rules = {RULE: "saving a change to Wikipedia, another Wikimedia wiki (Wikidata, Commons, ...) or a listed open "
                   "wiki (Fandom): edits, uploads, moves, replies, Wikidata statements"}
    table = "wikipedia"

    class Options(schema.Options):
        """Edits to Wikipedia and other wikis (wikipedia.edit)."""

        extra_wikis: list[WikiHost] = Field(
            default_factory=list, description="More wikis whose edits the rule covers, beyond the Wikimedia wikis and "
                                              "Fandom: host names (a host covers its subdomains; a URL is accepted "
                                              "and its host used).",
            json_schema_extra={"examples": [["wiki.example.org", "https://www.localhistorywiki.org/"]]})

    def __init__(self, config, tuning: dict | None = None):
        super().__init__(config, tuning)
        self.wikis = frozenset(WIKIMEDIA_DOMAINS + DEFAULT_EXTRA_WIKIS + tuple(self.options.extra_wikis))
        self._wiki_hosts: dict[str, str] = {}  # netloc -> its host when a covered wiki, else ""

    def check(self, submission: Submission, rules: set[str]):
        method = submission.method.upper()
        if RULE not in rules or (method not in WRITE_METHODS and not (method == "GET" and (
                "rollback" in submission.url or "%" in submission.url))):
            return  # only a rollback link saves with a GET (its action perhaps percent-encoded, r%6Fllback, which
            # MediaWiki decodes); a substring test keeps every other GET cheap
        parts = urlsplit(submission.url)
        host = self._wiki_host(parts)
        if not host or parts.path.startswith(BEACON_PATHS):
            return
        params = request_params(submission)
        save = classify(method, parts.path, params)
        if save is None:
            return
        yield Hit(RULE, *self._describe(submission, host, save, params), target=URL_TARGET)

    def _wiki_host(self, parts) -> str:
        """The URL's host, lower case, when it is a wiki the rule covers, else "". Remembered per netloc: a laptop
        posts to the same few hosts all day, and most posts go to no wiki at all."""
        host = self._wiki_hosts.get(parts.netloc)
        if host is None:
            host = (parts.hostname or "").lower().rstrip(".")
            if host in NOT_WIKIS or not platforms.in_scope(host, self.wikis):
                host = ""
            if len(self._wiki_hosts) >= MAX_REMEMBERED_HOSTS:
                self._wiki_hosts.clear()
            self._wiki_hosts[parts.netloc] = host
        return host

    def _describe(self, submission: Submission, host: str, save: Save, params: dict) -> tuple[str, dict]:
        wikimedia = platforms.in_scope(host, WIKIMEDIA)
        account, temporary = account_of(params, wikimedia)
        on_network = submission.context.get("on_school_network")
        source = "reported by the caller"
        if on_network is None:
            on_network, source = network.on_school_network(self.config), "this laptop's addresses"
        wiki = canonical_wiki(host)
        evidence = {"wiki": wiki, "host": host, "title": save.title, "shape": save.shape, "action": save.action,
                    "account": account, "temporary_account": temporary, "on_school_network": on_network,
                    "network_source": source}
        return message(wiki, save.title, account, wikimedia, on_network), evidence


# -- small pure functions ------------------------------------------------------------------------------------------

def request_params(submission: Submission) -> dict[str, str]:
    """The parameters MediaWiki sees: the query string, then the body's fields over it (PHP's $_POST + $_GET),
    and each uploaded file under its field name."""
    params = dict(parse_qsl(urlsplit(submission.url).query, keep_blank_values=True))
    params.update(submission.fields)
    for att in submission.files:
        if att.field:
            params.setdefault(att.field, att.name)
    return params


def classify(method: str, path: str, params: dict) -> Save | None:
    if "/rest.php/" in path:
        return rest_save(method, path.split("/rest.php", 1)[1], params)
    form_path = path.endswith("/index.php") or "/wiki/" in path
    if method == "GET":
        return form_save(path, params, get=True) if form_path else None
    if method != "POST":
        return None
    if path.endswith("/api.php"):
        return api_save(params)
    if form_path:
        return form_save(path, params)
    return None


def api_save(params: dict) -> Save | None:
    action = params.get("action", "")
    write = API_WRITES.get(action)
    if write is None or any(p in params for p in write.unless):
        return None
    if write.when:
        name, values = write.when
        if params.get(name) not in values:
            return None
        action = f"{action} {name}={params[name]}"
    return Save(write.shape, action, title_of(params, write.titles, write.entity))


def form_save(path: str, params: dict, get: bool = False) -> Save | None:
    action = params.get("action", "view")
    if get and action not in GET_SAVE_ACTIONS:
        return None
    for form in FORM_SAVES:
        if (get and not form.get) or (form.actions is not None and action not in form.actions):
            continue
        if form.when and params.get(form.when[0]) not in form.when[1]:
            continue
        if all(any(f in params for f in group) for group in form.needs) and not any(f in params for f in
                                                                                     form.unless):
            title = title_of(params, form.titles) or path_title(path)
            return Save(form.shape, f"index.php action={action}", title)
    return None


def rest_save(method: str, route: str, params: dict) -> Save | None:
    for write in REST_WRITES:
        m = write.route.match(route)
        if m and method in write.methods:
            named = m.groupdict().get("title") or m.groupdict().get("statement")
            title = clean_title(unquote(named), write.entity) if named else title_of(params, write.titles)
            return Save(write.shape, f"{method} {route}", title)
    return None


def title_of(params: dict, specs: tuple, entity: bool = False) -> str:
    for names, template in specs:
        values = [params.get(n, "") for n in names.split("|")]
        if all(v.strip() for v in values):
            title = clean_title(":".join(values), entity)
            if title:
                return template.format(title)
    return ""


def clean_title(value: str, entity: bool = False) -> str:
    value = value.strip()
    if entity:
        if value[:1] in ("{", "["):  # a JSON claim, not an id
            return ""
        value = value.split("$", 1)[0]  # a statement GUID "Q42$5627445f-...": its entity
    return value.replace("_", " ")[:200]


def path_title(path: str) -> str:
    if "/wiki/" not in path:
        return ""
    return clean_title(unquote(path.split("/wiki/", 1)[1]))


def canonical_wiki(host: str) -> str:
    """The wiki a host serves: en.m.wikipedia.org -> en.wikipedia.org, m.wikidata.org -> www.wikidata.org."""
    labels = host.split(".")
    if "m" in labels[:-2]:
        labels.remove("m")
        if len(labels) == 2:
            labels.insert(0, "www")
    return ".".join(labels)


def account_of(params: dict, wikimedia: bool) -> tuple[str, str]:
    """(account, temporary_account). Only what the request shows: a cookie is not visible, so a signed-in session
    without an `assertuser` name may be a named or a temporary account ("unknown")."""
    token = next((params[f] for f in TOKEN_FIELDS if f in params), None)
    user = params.get("assertuser", "").strip()
    if token in ANON_TOKENS:
        return "logged out", "created by this save" if wikimedia else "no"
    if user.startswith(TEMP_USER_PREFIX):
        return "temporary account", "yes"
    if user or params.get("assert") == "named":
        return "logged in", "no"
    if token:
        return "logged in", "unknown"
    return "unknown", "unknown"


def message(wiki: str, title: str, account: str, wikimedia: bool, on_network: bool | None) -> str:
    ip, school = NETWORK_WORDS[on_network if on_network in (True, False) else None]
    key = (account, wikimedia) if (account, wikimedia) in ACCOUNT_WORDS else (account, True)
    how = ACCOUNT_WORDS[key].format(ip=ip)
    page = f' (page "{title}")' if title else ""
    return f"This saves a public change to {wiki}{page} {how}; {school}."
