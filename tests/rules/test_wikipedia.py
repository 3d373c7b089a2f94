"""wikipedia.edit on real request shapes, built through the proxy's own extraction: saves, and every near miss."""
import json

import pytest

import rules.detectors
from proxy_addon.extract import extract
from proxy_addon.har import scan_har
from rules import ConfigError, Engine, load_pack, network
from rules.config import parse_config
from rules.detectors.wikipedia import RULE, WikipediaDetector

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
BOUNDARY = "----pgwikiboundary7MA4YWxk"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
ANON = "%2B%5C"  # "+\" as a form sends it
TOKEN = "d41d8cd98f00b204e9800998ecf8427e6553a1b2" + ANON
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"


def multipart(*parts) -> bytes:
    """(name, value) fields and (name, filename, data, type) files, as a browser's FormData sends them."""
    out = b""
    for part in parts:
        out += f"--{BOUNDARY}\r\n".encode()
        if len(part) == 2:
            out += f'Content-Disposition: form-data; name="{part[0]}"\r\n\r\n{part[1]}\r\n'.encode()
        else:
            name, filename, data, ctype = part
            out += (f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                    f"Content-Type: {ctype}\r\n\r\n").encode() + data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def request(method, url, ctype="", body=b"", context=None):
    headers = [("Content-Type", ctype)] if ctype else []
    sub = extract(method, url, headers, body).submission
    sub.context.update({"on_school_network": True} if context is None else context)
    return sub


def hits(sub, config=None):
    detector = WikipediaDetector(config or parse_config({}))
    return list(detector.check(sub, {RULE}))


def one_hit(sub, config=None):
    found = hits(sub, config)
    assert len(found) == 1, found
    assert found[0].rule == RULE and found[0].target == "url"
    return found[0]


VE_HTML = "rawdeflate,q0lRKEotLs1RyMsvyUgtUkjOzytJzSsBAA"

SAVES = [
    # id, method, url, content type, body, shape, wiki, title
    ("action-api-edit-logged-out", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     f"action=edit&format=json&title=Foo&text=Hello&summary=s&token={ANON}".encode(),
     "Action API edit", "en.wikipedia.org", "Foo"),
    ("mobile-frontend-edit", "POST", "https://de.m.wikipedia.org/w/api.php", FORM,
     (f"action=edit&errorformat=html&errorlang=de&errorsuselocal=1&formatversion=2&title=Grundschule_Musterstadt"
      f"&summary=Tippfehler&basetimestamp=2025-01-01T00%3A00%3A00Z&starttimestamp=2025-01-01T00%3A00%3A00Z"
      f"&text=Neu&section=2&format=json&token={TOKEN}").encode(),
     "Action API edit", "de.wikipedia.org", "Grundschule Musterstadt"),
    ("android-app-edit", "POST",
     "https://en.wikipedia.org/w/api.php?format=json&formatversion=2&errorformat=html&errorsuselocal=1&action=edit",
     FORM, f"title=Foo&section=1&summary=%2F*+History+*%2F&text=x&baserevid=123&token={TOKEN}&assert=user".encode(),
     "Action API edit", "en.wikipedia.org", "Foo"),
    ("android-app-wikidata-description", "POST",
     "https://www.wikidata.org/w/api.php?format=json&formatversion=2&errorformat=html&errorsuselocal=1"
     "&action=wbsetdescription&errorlang=uselang", FORM,
     f"language=en&uselang=en&site=enwiki&title=Foo&value=a+school&token={TOKEN}&assert=user".encode(),
     "Wikibase", "www.wikidata.org", "enwiki:Foo"),
    ("classic-editor-mobile-host", "POST", "https://de.m.wikipedia.org/w/index.php?title=Schule&action=submit", FORM,
     (f"wpUnicodeCheck=%E2%84%B3%F0%9D%92%B2%E2%99%A5%F0%9D%93%8A%F0%9D%93%83%F0%9D%92%BE%F0%9D%92%B8%E2%84%B4"
      f"%F0%9D%92%B9%E2%84%AF&wpSection=&wpStarttime=20250101000000&wpEdittime=20250101000000&editRevId=1"
      f"&wpScrolltop=0&wpAutoSummary=d41d8cd98f00b204e9800998ecf8427e&oldid=0&parentRevId=1&format=text%2Fx-wiki"
      f"&model=wikitext&wpTextbox1=Text&wpSummary=&wpSave=%C3%84nderungen+ver%C3%B6ffentlichen"
      f"&wpEditToken={TOKEN}&mode=text&wpUltimateParam=1").encode(),
     "classic editor", "de.wikipedia.org", "Schule"),
    ("classic-editor-article-path", "POST", "https://en.wikipedia.org/wiki/Main_Street_School?action=submit", FORM,
     f"wpTextbox1=x&wpSummary=&wpSave=Publish+changes&wpEditToken={ANON}&wpUltimateParam=1".encode(),
     "classic editor", "en.wikipedia.org", "Main Street School"),
    ("classic-editor-enter-in-summary-no-button", "POST",
     "https://en.wikipedia.org/w/index.php?title=Foo&action=submit", FORM,
     f"wpTextbox1=x&wpSummary=typo&wpEditToken={TOKEN}&wpUltimateParam=1".encode(),
     "classic editor", "en.wikipedia.org", "Foo"),
    ("classic-editor-fandom", "POST", "https://harrypotter.fandom.com/index.php?title=Hogwarts&action=submit", FORM,
     f"wpTextbox1=x&wpSummary=&wpSave=Save&wpEditToken={TOKEN}&wpUltimateParam=1".encode(),
     "classic editor", "harrypotter.fandom.com", "Hogwarts"),
    ("visualeditor-save", "POST", "https://en.wikipedia.org/w/api.php", MULTIPART,
     multipart(("action", "visualeditoredit"), ("paction", "save"), ("page", "Foo"), ("oldid", "123"),
               ("basetimestamp", "20250101000000"), ("starttimestamp", "20250101000000"), ("etag", "W/x"),
               ("assert", "user"), ("assertuser", "Jane Teacher"), ("summary", "s"), ("html", VE_HTML),
               ("mobileformat", "false"), ("formatversion", "2"), ("errorformat", "html"), ("format", "json"),
               ("token", "abc+\\")),
     "VisualEditor", "en.wikipedia.org", "Foo"),
    ("visualeditor-save-mobile-commons", "POST", "https://commons.m.wikimedia.org/w/api.php", MULTIPART,
     multipart(("action", "visualeditoredit"), ("paction", "save"), ("page", "Commons:Sandbox"),
               ("wikitext", "x"), ("mobileformat", "true"), ("format", "json"), ("token", "+\\")),
     "VisualEditor", "commons.wikimedia.org", "Commons:Sandbox"),
    ("discussiontools-reply", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     (f"action=discussiontoolsedit&paction=addcomment&page=Talk%3AFoo&commentname=c-Jane-20250101000000"
      f"&summary=Reply&formtoken=x&assert=user&assertuser=Jane+Teacher&uselang=en&wikitext=Thanks&format=json"
      f"&token={TOKEN}").encode(),
     "DiscussionTools", "en.wikipedia.org", "Talk:Foo"),
    ("discussiontools-new-topic-mobile", "POST", "https://de.m.wikipedia.org/w/api.php", FORM,
     f"action=discussiontoolsedit&paction=addtopic&page=Diskussion%3ASchule&sectiontitle=Frage&wikitext=x"
     f"&format=json&token={ANON}".encode(),
     "DiscussionTools", "de.wikipedia.org", "Diskussion:Schule"),
    ("structured-discussions-reply", "POST", "https://www.mediawiki.org/w/api.php", FORM,
     f"action=flow&submodule=reply&page=Topic%3AXyz&repreplyTo=abc&repcontent=Thanks&repformat=wikitext"
     f"&format=json&token={TOKEN}".encode(),
     "Structured Discussions", "www.mediawiki.org", "Topic:Xyz"),
    ("wikidata-edit-entity", "POST", "https://www.wikidata.org/w/api.php", FORM,
     f"action=wbeditentity&id=Q42&data=%7B%22labels%22%3A%7B%7D%7D&summary=&format=json&token={TOKEN}".encode(),
     "Wikibase", "www.wikidata.org", "Q42"),
    ("wikidata-remove-claim-by-guid", "POST", "https://www.wikidata.org/w/api.php", FORM,
     f"action=wbremoveclaims&claim=Q42%245627445f-43cb-ed6d-3adb-760e85bd17ee&format=json&token={TOKEN}".encode(),
     "Wikibase", "www.wikidata.org", "Q42"),
    ("wikidata-mobile-label", "POST", "https://m.wikidata.org/w/api.php", FORM,
     f"action=wbsetlabel&id=Q1&language=en&value=x&format=json&token={TOKEN}".encode(),
     "Wikibase", "www.wikidata.org", "Q1"),
    ("wikidata-lexeme-form", "POST", "https://www.wikidata.org/w/api.php", FORM,
     f"action=wbladdform&lexemeId=L7&data=%7B%7D&format=json&token={TOKEN}".encode(),
     "Wikibase", "www.wikidata.org", "L7"),
    ("commons-structured-data-caption", "POST", "https://commons.wikimedia.org/w/api.php", FORM,
     f"action=wbsetlabel&id=M123&language=en&value=Sports+day&format=json&token={TOKEN}".encode(),
     "Wikibase", "commons.wikimedia.org", "M123"),
    ("api-upload-file", "POST", "https://commons.wikimedia.org/w/api.php", MULTIPART,
     multipart(("action", "upload"), ("format", "json"), ("filename", "Sports_day.jpg"), ("comment", "c"),
               ("text", "== Summary =="), ("token", TOKEN.replace("%2B%5C", "+\\")),
               ("file", "Sports_day.jpg", JPEG, "image/jpeg")),
     "upload", "commons.wikimedia.org", "File:Sports day.jpg"),
    ("uploadwizard-publish-from-stash", "POST", "https://commons.wikimedia.org/w/api.php", FORM,
     (f"action=upload&filekey=1b2c3d.abc.123.jpg&filename=Sports+day.jpg&comment=User+created+page+with+UploadWizard"
      f"&uploadwizardpublish=1&ignorewarnings=1&text=%3D%3D%7B%7Bint%3Afiledesc%7D%7D%3D%3D&format=json"
      f"&token={TOKEN}").encode(),
     "upload", "commons.wikimedia.org", "File:Sports day.jpg"),
    ("special-upload-form", "POST", "https://en.wikipedia.org/wiki/Special:Upload", MULTIPART,
     multipart(("wpUploadFile", "Team.jpg", JPEG, "image/jpeg"), ("wpDestFile", "Team photo.jpg"),
               ("wpUploadDescription", "Our team"), ("wpLicense", ""), ("wpWatchthis", "1"),
               ("wpEditToken", "abc+\\"), ("title", "Special:Upload"), ("wpDestFileWarningAck", ""),
               ("wpUpload", "Upload file")),
     "upload", "en.wikipedia.org", "File:Team photo.jpg"),
    ("special-upload-form-localised-title", "POST", "https://de.wikipedia.org/w/index.php?title=Spezial:Hochladen",
     MULTIPART,
     multipart(("wpUploadFile", "Schule.jpg", JPEG, "image/jpeg"), ("wpDestFile", ""), ("wpEditToken", "+\\"),
               ("wpUploadIgnoreWarning", "1")),
     "upload", "de.wikipedia.org", "File:Schule.jpg"),
    ("rest-create-page", "POST", "https://en.wikipedia.org/w/rest.php/v1/page", JSON,
     json.dumps({"source": "Hello", "title": "New_school_page", "comment": "c", "token": "+\\"}).encode(),
     "REST API", "en.wikipedia.org", "New school page"),
    ("rest-update-page", "PUT", "https://en.wikipedia.org/w/rest.php/v1/page/Earth%2FMoon", JSON,
     json.dumps({"source": "x", "comment": "c", "latest": {"id": 1}, "token": "abc+\\"}).encode(),
     "REST API", "en.wikipedia.org", "Earth/Moon"),
    ("rest-update-page-fandom", "PUT", "https://minecraft.fandom.com/rest.php/v1/page/Creeper", JSON,
     json.dumps({"source": "x", "comment": "c", "latest": {"id": 9}}).encode(),
     "REST API", "minecraft.fandom.com", "Creeper"),
    ("wikibase-rest-statement", "POST", "https://www.wikidata.org/w/rest.php/wikibase/v1/entities/items/Q42/statements",
     JSON, json.dumps({"statement": {"property": {"id": "P31"}, "value": {"type": "value", "content": "Q5"}}}).encode(),
     "Wikibase REST API", "www.wikidata.org", "Q42"),
    ("wikibase-rest-patch-label", "PATCH", "https://www.wikidata.org/w/rest.php/wikibase/v1/entities/items/Q42/labels",
     "application/json-patch+json", json.dumps({"patch": [{"op": "replace", "path": "/en", "value": "x"}]}).encode(),
     "Wikibase REST API", "www.wikidata.org", "Q42"),
    ("content-translation-publish", "POST", "https://fr.wikipedia.org/w/api.php", FORM,
     f"action=cxpublish&title=%C3%89cole&html=x&from=en&to=fr&sourcetitle=School&format=json&token={TOKEN}".encode(),
     "Content Translation", "fr.wikipedia.org", "École"),
    ("api-move", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     f"action=move&from=Foo&to=Bar&reason=r&format=json&token={TOKEN}".encode(),
     "Action API move", "en.wikipedia.org", "Foo"),
    ("move-form", "POST", "https://en.wikipedia.org/w/index.php?title=Special:MovePage&action=submit", FORM,
     f"wpNewTitleNs=0&wpNewTitleMain=Bar&wpReasonList=other&wpReason=r&wpMove=Move+page&wpOldTitle=Foo"
     f"&wpEditToken={TOKEN}".encode(),
     "move form", "en.wikipedia.org", "Foo"),
    ("wikilove", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     f"action=wikilove&title=User%3AJane&text=%7B%7BThe+Barnstar%7D%7D&subject=Thanks&format=json&token={TOKEN}"
     .encode(), "WikiLove", "en.wikipedia.org", "User:Jane"),
    ("api-edit-fandom", "POST", "https://harrypotter.fandom.com/de/api.php", FORM,
     f"action=edit&title=Hogwarts&text=x&format=json&token={ANON}".encode(),
     "Action API edit", "harrypotter.fandom.com", "Hogwarts"),
    ("api-edit-wiktionary", "POST", "https://fr.wiktionary.org/w/api.php", FORM,
     f"action=edit&title=%C3%A9cole&appendtext=x&format=json&token={TOKEN}".encode(),
     "Action API edit", "fr.wiktionary.org", "école"),
]


@pytest.mark.parametrize("case", SAVES, ids=[c[0] for c in SAVES])
def test_save_is_an_edit(case):
    _, method, url, ctype, body, shape, wiki, title = case
    hit = one_hit(request(method, url, ctype, body))
    assert (hit.evidence["shape"], hit.evidence["wiki"], hit.evidence["title"]) == (shape, wiki, title)
    assert hit.evidence["on_school_network"] is True
    assert wiki in hit.message


NOT_SAVES = [
    # id, method, url, content type, body
    ("classic-preview", "POST", "https://en.wikipedia.org/w/index.php?title=Foo&action=submit", FORM,
     f"wpTextbox1=x&wpSummary=&wpPreview=Show+preview&wpEditToken={TOKEN}&wpUltimateParam=1".encode()),
    ("classic-show-changes", "POST", "https://en.wikipedia.org/w/index.php?title=Foo&action=submit", FORM,
     f"wpTextbox1=x&wpSummary=&wpDiff=Show+changes&wpEditToken={TOKEN}&wpUltimateParam=1".encode()),
    ("classic-incomplete-form-is-forced-preview", "POST",
     "https://en.wikipedia.org/w/index.php?title=Foo&action=submit", FORM,
     f"wpTextbox1=x&wpSave=Publish&wpEditToken={TOKEN}".encode()),
    ("classic-without-token-is-forced-preview", "POST",
     "https://en.wikipedia.org/w/index.php?title=Foo&action=submit", FORM,
     b"wpTextbox1=x&wpSave=Publish&wpUltimateParam=1"),
    ("open-the-editor", "GET", "https://en.wikipedia.org/w/index.php?title=Foo&action=edit", "", b""),
    ("get-of-api-edit", "GET", f"https://en.wikipedia.org/w/api.php?action=edit&title=Foo&text=x&token={ANON}",
     "", b""),
    ("edit-stash-while-typing", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     f"action=stashedit&title=Foo&section=&sectiontitle=&text=x&contentmodel=wikitext&contentformat=text%2Fx-wiki"
     f"&baserevid=1&summary=&format=json&token={TOKEN}".encode()),
    ("visualeditor-serialize", "POST", "https://en.wikipedia.org/w/api.php", MULTIPART,
     multipart(("action", "visualeditoredit"), ("paction", "serialize"), ("page", "Foo"), ("html", VE_HTML),
               ("token", "abc+\\"))),
    ("visualeditor-serializeforcache", "POST", "https://en.wikipedia.org/w/api.php", MULTIPART,
     multipart(("action", "visualeditoredit"), ("paction", "serializeforcache"), ("page", "Foo"),
               ("html", VE_HTML), ("token", "abc+\\"))),
    ("visualeditor-review-changes", "POST", "https://en.wikipedia.org/w/api.php", MULTIPART,
     multipart(("action", "visualeditoredit"), ("paction", "diff"), ("page", "Foo"), ("html", VE_HTML),
               ("token", "abc+\\"))),
    ("visualeditor-load", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     b"action=visualeditor&paction=parse&page=Foo&uselang=en&editintro=&preload=&formatversion=2&format=json"),
    ("discussiontools-preview", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     f"action=discussiontoolspreview&type=reply&page=Talk%3AFoo&wikitext=x&format=json&token={TOKEN}".encode()),
    ("discussiontools-subscribe", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     f"action=discussiontoolssubscribe&page=Talk%3AFoo&commentname=h-x&subscribe=1&format=json&token={TOKEN}"
     .encode()),
    ("parsoid-transform-rest-v1", "POST",
     "https://en.wikipedia.org/api/rest_v1/transform/wikitext/to/html/Foo", JSON,
     json.dumps({"wikitext": "''x''", "body_only": True}).encode()),
    ("parsoid-transform-rest-php", "POST", "https://en.wikipedia.org/w/rest.php/v1/transform/wikitext/to/html/Foo",
     JSON, json.dumps({"wikitext": "''x''"}).encode()),
    ("rest-read-page", "GET", "https://en.wikipedia.org/w/rest.php/v1/page/Foo", "", b""),
    ("parse", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     b"action=parse&title=Foo&text=x&pst=1&preview=1&prop=text&format=json"),
    ("query-token-fetch", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     b"action=query&meta=tokens&type=csrf&format=json"),
    ("query-search", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     b"action=query&list=search&srsearch=school&format=json"),
    ("login", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     b"action=login&lgname=Jane&lgpassword=secret&lgtoken=abc%2B%5C&format=json"),
    ("clientlogin", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     b"action=clientlogin&username=Jane&password=secret&loginreturnurl=https%3A%2F%2Fen.wikipedia.org%2F"
     b"&logintoken=abc%2B%5C&format=json"),
    ("login-form", "POST", "https://en.wikipedia.org/w/index.php?title=Special:UserLogin", FORM,
     f"wpName=Jane&wpPassword=secret&wploginattempt=Log+in&wpEditToken={ANON}&authAction=login".encode()),
    ("logout", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     f"action=logout&format=json&token={TOKEN}".encode()),
    ("acquire-temporary-username", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     f"action=acquiretempusername&format=json&token={ANON}".encode()),
    ("analytics-beacon", "POST", "https://en.wikipedia.org/beacon/event?%7B%22event%22%3A%7B%7D%7D", "text/plain",
     b'{"event":{"action":"saveSuccess"}}'),
    ("analytics-intake", "POST", "https://intake-analytics.wikimedia.org/v1/events?hasty=true", JSON,
     json.dumps([{"$schema": "/analytics/mediawiki/edit_attempt/1.4.0", "action": "saveSuccess",
                  "page_title": "Foo"}]).encode()),
    ("thank", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     f"action=thank&rev=123&source=diff&format=json&token={TOKEN}".encode()),
    ("watch", "POST", "https://en.wikipedia.org/w/api.php?action=watch&converttitles=&redirects=", FORM,
     f"titles=Foo&expiry=infinite&token={TOKEN}".encode()),
    ("unwatch", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     f"action=watch&unwatch=1&titles=Foo&format=json&token={TOKEN}".encode()),
    ("options", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     f"action=options&change=visualeditor-editor%3Dwikitext&format=json&token={TOKEN}".encode()),
    ("patrol-marks-not-saves", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     f"action=patrol&revid=123&format=json&token={TOKEN}".encode()),
    ("upload-chunk-to-stash", "POST", "https://commons.wikimedia.org/w/api.php", MULTIPART,
     multipart(("action", "upload"), ("stash", "1"), ("filename", "Big.jpg"), ("offset", "0"),
               ("filesize", "26"), ("ignorewarnings", "1"), ("format", "json"), ("token", "abc+\\"),
               ("chunk", "blob", JPEG, "application/octet-stream"))),
    ("upload-file-to-stash", "POST", "https://commons.wikimedia.org/w/api.php", MULTIPART,
     multipart(("action", "upload"), ("stash", "1"), ("filename", "Small.jpg"), ("format", "json"),
               ("token", "abc+\\"), ("file", "Small.jpg", JPEG, "image/jpeg"))),
    ("upload-check-status", "POST", "https://commons.wikimedia.org/w/api.php", FORM,
     f"action=upload&checkstatus=1&filekey=1b2c3d.abc.123.jpg&format=json&token={TOKEN}".encode()),
    ("content-translation-draft", "POST", "https://fr.wikipedia.org/w/api.php", FORM,
     f"action=cxsave&from=en&to=fr&sourcetitle=School&title=%C3%89cole&content=x&sourcerevision=1&progress=%7B%7D"
     f"&format=json&token={TOKEN}".encode()),
    ("structured-discussions-view", "POST", "https://www.mediawiki.org/w/api.php", FORM,
     b"action=flow&submodule=view-topiclist&page=Talk%3AFoo&format=json"),
    ("structured-discussions-undo-form", "POST", "https://www.mediawiki.org/w/api.php", FORM,
     b"action=flow&submodule=undo-edit-post&page=Topic%3AXyz&format=json"),
    ("wikidata-read", "POST", "https://www.wikidata.org/w/api.php", FORM,
     b"action=wbgetentities&ids=Q42&format=json"),
    ("not-a-wiki-lookalike-host", "POST", "https://notwikipedia.org/w/api.php", FORM,
     f"action=edit&title=Foo&text=x&token={ANON}".encode()),
    ("not-a-wiki-other-host", "POST", "https://example.org/w/api.php", FORM,
     f"action=edit&title=Foo&text=x&token={ANON}".encode()),
]


@pytest.mark.parametrize("case", NOT_SAVES, ids=[c[0] for c in NOT_SAVES])
def test_reading_previewing_and_housekeeping_are_not_edits(case):
    _, method, url, ctype, body = case
    assert hits(request(method, url, ctype, body)) == []


def test_the_same_save_outside_the_rule_set_is_not_reported():
    sub = request("POST", "https://en.wikipedia.org/w/api.php", FORM, f"action=edit&title=Foo&token={ANON}".encode())
    assert list(WikipediaDetector(parse_config({})).check(sub, {"location.gps"})) == []


# -- who is editing ---------------------------------------------------------------------------------------------------

ACCOUNTS = [
    # id, url, content type, body, account, temporary_account
    ("anon-token-in-api", "https://en.wikipedia.org/w/api.php", FORM,
     f"action=edit&title=Foo&text=x&token={ANON}".encode(), "logged out", "created by this save"),
    ("anon-token-plus-decoded-to-space", "https://en.wikipedia.org/w/api.php", FORM,
     b"action=edit&title=Foo&text=x&token=+%5C", "logged out", "created by this save"),
    ("anon-token-in-classic-form", "https://en.wikipedia.org/w/index.php?title=Foo&action=submit", FORM,
     f"wpTextbox1=x&wpEditToken={ANON}&wpUltimateParam=1".encode(), "logged out", "created by this save"),
    ("anon-token-in-rest-json", "https://en.wikipedia.org/w/rest.php/v1/page", JSON,
     json.dumps({"title": "Foo", "source": "x", "comment": "", "token": "+\\"}).encode(),
     "logged out", "created by this save"),
    ("anon-on-a-wiki-without-temporary-accounts", "https://harrypotter.fandom.com/api.php", FORM,
     f"action=edit&title=Foo&text=x&token={ANON}".encode(), "logged out", "no"),
    ("session-token-alone-cannot-tell-temporary", "https://en.wikipedia.org/w/api.php", FORM,
     f"action=edit&title=Foo&text=x&token={TOKEN}".encode(), "logged in", "unknown"),
    ("temporary-account-named-in-assertuser", "https://en.wikipedia.org/w/api.php", FORM,
     f"action=discussiontoolsedit&paction=addcomment&page=Talk%3AFoo&commentname=c&assert=user"
     f"&assertuser=~2025-31445-17&wikitext=x&token={TOKEN}".encode(), "temporary account", "yes"),
    ("named-account-in-assertuser", "https://en.wikipedia.org/w/api.php", FORM,
     f"action=discussiontoolsedit&paction=addcomment&page=Talk%3AFoo&commentname=c&assert=user"
     f"&assertuser=Jane+Teacher&wikitext=x&token={TOKEN}".encode(), "logged in", "no"),
    ("no-token-oauth-client", "https://en.wikipedia.org/w/rest.php/v1/page/Foo", JSON,
     json.dumps({"source": "x", "comment": "", "latest": {"id": 3}}).encode(), "unknown", "unknown"),
]


@pytest.mark.parametrize("case", ACCOUNTS, ids=[c[0] for c in ACCOUNTS])
def test_evidence_says_who_is_editing(case):
    _, url, ctype, body, account, temporary = case
    method = "PUT" if "/v1/page/" in url else "POST"
    hit = one_hit(request(method, url, ctype, body))
    assert (hit.evidence["account"], hit.evidence["temporary_account"]) == (account, temporary)


def test_logged_out_message_says_a_temporary_account_still_records_the_school_address():
    hit = one_hit(request("POST", "https://en.wikipedia.org/w/api.php", FORM,
                          f"action=edit&title=Foo&text=x&token={ANON}".encode()))
    assert "logged out" in hit.message and "temporary account" in hit.message
    assert "school's IP address" in hit.message and "blocked" in hit.message
    assert 'page "Foo"' in hit.message


def test_logged_in_message_says_the_address_is_recorded_privately():
    hit = one_hit(request("POST", "https://en.wikipedia.org/w/api.php", FORM,
                          f"action=edit&title=Foo&text=x&token={TOKEN}".encode()))
    assert "under your account" in hit.message and "privately" in hit.message
    assert "traced to the school" in hit.message


# -- where the laptop is ----------------------------------------------------------------------------------------------

SAVE = ("POST", "https://en.wikipedia.org/w/api.php", FORM, f"action=edit&title=Foo&text=x&token={ANON}".encode())


@pytest.mark.parametrize("reported,expected_words", [
    (True, "whole school's network can be blocked"),
    (False, "less easily traced to the school"),
])
def test_reported_network_decides_the_wording(reported, expected_words, monkeypatch):
    monkeypatch.setattr(network, "local_addresses", lambda: pytest.fail("the caller's answer must be used"))
    hit = one_hit(request(*SAVE, context={"on_school_network": reported}))
    assert hit.evidence["on_school_network"] is reported
    assert hit.evidence["network_source"] == "reported by the caller"
    assert expected_words in hit.message


@pytest.mark.parametrize("addresses,expected", [
    (["10.20.3.4"], True),
    (["192.168.1.20"], False),
    ([], None),
])
def test_without_a_report_the_laptop_addresses_decide(addresses, expected, monkeypatch):
    import ipaddress
    monkeypatch.setattr(network, "local_addresses", lambda: [ipaddress.ip_address(a) for a in addresses])
    config = parse_config({"school": {"networks": ["10.20.0.0/16"]}})
    hit = one_hit(request(*SAVE, context={}), config)
    assert hit.evidence["on_school_network"] is expected
    assert hit.evidence["network_source"] == "this laptop's addresses"
    if expected is None:
        assert "cannot tell" in hit.message


# -- configuration ----------------------------------------------------------------------------------------------------

def test_extra_wikis_from_the_config_are_wikis():
    config = parse_config({"wikipedia": {"extra_wikis": ["wiki.example.org", "https://www.schoolwiki.net/", "wiki"]}})
    for url in ("https://wiki.example.org/w/api.php", "https://www.schoolwiki.net/api.php", "http://wiki/api.php"):
        hit = one_hit(request("POST", url, FORM, f"action=edit&title=Foo&text=x&token={TOKEN}".encode()), config)
        assert hit.evidence["shape"] == "Action API edit"
    assert hits(request("POST", "https://wiki.example.org/w/api.php", FORM, b"action=edit&title=Foo")) == []


def test_one_detector_answers_right_for_host_after_host(monkeypatch):
    """The per-host memory neither mixes hosts up nor grows without end (the proxy keeps one detector all day)."""
    import rules.detectors.wikipedia as wikipedia
    monkeypatch.setattr(wikipedia, "MAX_REMEMBERED_HOSTS", 8)
    detector = WikipediaDetector(parse_config({}))
    body = f"action=edit&title=Foo&text=x&token={TOKEN}".encode()
    for i in range(30):
        for url, wiki in ((f"https://en.wikipedia.org:{8000 + i}/w/api.php", True),
                          (f"https://site{i}.example.org/w/api.php", False),
                          ("https://EN.Wikipedia.org./w/api.php", True),
                          ("https://intake-analytics.wikimedia.org/w/api.php", False)):
            assert len(list(detector.check(request("POST", url, FORM, body), {RULE}))) == wiki, url
        assert len(detector._wiki_hosts) <= 8


@pytest.mark.parametrize("table,key", [
    ({"extra_wikis": "wiki.example.org"}, "wikipedia.extra_wikis"),
    ({"extra_wikis": [3]}, "wikipedia.extra_wikis[0]"),
    ({"extra_wikis": ["wiki.example.org/path"]}, "wikipedia.extra_wikis[0]"),
])
def test_bad_extra_wikis_refuse_to_start_naming_the_key(table, key):
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        WikipediaDetector(parse_config({"wikipedia": table}))


# -- through the engine: a HAR capture --------------------------------------------------------------------------------

PACK = """
[pack]
id = "wiki-test"
name = "Wiki test"

[rules."wikipedia.edit"]
action = "warn"
severity = "high"

[[rules."wikipedia.edit".clauses]]
ref = "T1"
text = "A test clause."
"""


def har_entry(method, url, mime=None, text=None):
    request = {"method": method, "url": url, "httpVersion": "HTTP/2", "headers": [], "queryString": [],
               "cookies": [], "headersSize": -1, "bodySize": len(text or "")}
    if text is not None:
        request["postData"] = {"mimeType": mime, "text": text}
    return {"startedDateTime": "2025-01-01T00:00:00.000Z", "time": 1, "request": request,
            "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/2", "headers": [], "cookies": [],
                         "content": {"size": 0, "mimeType": "application/json"}, "redirectURL": "",
                         "headersSize": -1, "bodySize": 0},
            "cache": {}, "timings": {"send": 0, "wait": 1, "receive": 0}}


def test_har_capture_finds_the_save_and_only_the_save(tmp_path, monkeypatch):
    monkeypatch.setattr(rules.detectors, "DETECTORS", [*rules.detectors.DETECTORS, WikipediaDetector])
    pack_path = tmp_path / "wiki-test.toml"
    pack_path.write_text(PACK)
    engine = Engine(parse_config({}), load_pack(str(pack_path)))
    entries = [
        har_entry("POST", "https://en.wikipedia.org/w/api.php", FORM,
                  f"action=edit&format=json&title=Our_school&text=Hello&token={ANON}"),
        har_entry("POST", "https://en.wikipedia.org/w/api.php", FORM,
                  f"action=stashedit&format=json&title=Our_school&text=Hello&token={ANON}"),
        har_entry("GET", "https://en.wikipedia.org/w/index.php?title=Our_school&action=edit"),
    ]
    har = tmp_path / "capture.har"
    har.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "test", "version": "1"},
                                       "entries": entries}}))
    results = list(scan_har(str(har), engine, {"on_school_network": True}))
    assert [r["decision"] for r in results] == ["warn", "allow", "allow"]
    assert [len(r["findings"]) for r in results] == [1, 0, 0] and not any(r["error"] for r in results)
    finding = results[0]["findings"][0]
    assert finding["rule"] == RULE and finding["severity"] == "high" and finding["policy"][0]["ref"] == "T1"
    assert finding["evidence"]["title"] == "Our school" and finding["evidence"]["account"] == "logged out"
