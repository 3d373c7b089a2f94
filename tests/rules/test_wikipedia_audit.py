"""wikipedia.edit: the write paths found by the source audit of MediaWiki and the extensions Wikimedia runs
(docs/wikipedia.md, "Audit"). Each case is the request shape the module's own code reads (its getAllowedParams, its
form fields, its route); each near miss is a module or route with the same look that writes nothing public."""
import json

import pytest

import rules.detectors.wikipedia as wikipedia

from .test_wikipedia import ANON, FORM, JPEG, JSON, TOKEN, hits, multipart, MULTIPART, one_hit, request

RAW_TOKEN = TOKEN.replace("%2B%5C", "+\\")

SAVES = [
    # id, method, url, content type, body, shape, title
    # -- Action API modules ------------------------------------------------------------------------------------------
    ("wikifunctions-edit-zobject", "POST", "https://www.wikifunctions.org/w/api.php", FORM,
     (f"action=wikilambda_edit&zid=Z12345&summary=fix&zobject=%7B%22Z1K1%22%3A%22Z2%22%7D&format=json"
      f"&token={TOKEN}").encode(), "Wikifunctions", "Z12345"),
    ("wikifunctions-create-zobject", "POST", "https://www.wikifunctions.org/w/api.php", FORM,
     f"action=wikilambda_edit&summary=new&zobject=%7B%7D&format=json&token={TOKEN}".encode(), "Wikifunctions", ""),
    ("massmessage-send", "POST", "https://meta.wikimedia.org/w/api.php", FORM,
     (f"action=massmessage&spamlist=Global_message_delivery%2FTargets%2FSchools&subject=Hello&message=x"
      f"&format=json&token={TOKEN}").encode(), "MassMessage", "Global message delivery/Targets/Schools"),
    ("massmessage-edit-list", "POST", "https://meta.wikimedia.org/w/api.php", FORM,
     f"action=editmassmessagelist&spamlist=Our_list&add=User+talk%3AJane&format=json&token={TOKEN}".encode(),
     "MassMessage", "Our list"),
    ("growth-help-panel-question", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     (f"action=helppanelquestionposter&source=helpdesk&body=How+do+I+cite%3F&relevanttitle=Our_School"
      f"&format=json&token={TOKEN}").encode(), "Growth help panel", "question about Our School"),
    ("growth-mentor-list-add", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     f"action=growthmanagementorlist&geaction=add&message=I+teach+history&weight=2&format=json&token={TOKEN}"
     .encode(), "Growth mentor list", ""),
    ("pagetriage-tags-the-article", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     (f"action=pagetriagetagging&pageid=4242&wikitext=%7B%7BUnreferenced%7D%7D&taglist=Unreferenced"
      f"&format=json&token={TOKEN}").encode(), "PageTriage", "page id 4242"),
    ("community-configuration-save", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     f"action=communityconfigurationedit&provider=GrowthHomepage&content=%7B%7D&summary=s&format=json&token={TOKEN}"
     .encode(), "Community Configuration", "configuration GrowthHomepage"),
    ("translate-mark-for-translation", "POST", "https://meta.wikimedia.org/w/api.php", FORM,
     f"action=markfortranslation&title=Our_Page&revid=77&translatetitle=yes&format=json&token={TOKEN}".encode(),
     "Translate", "Our Page"),
    ("flaggedrevs-stabilize", "POST", "https://de.wikipedia.org/w/api.php", FORM,
     f"action=stabilize&title=Schule&protectlevel=autoconfirmed&expiry=infinite&reason=r&format=json&token={TOKEN}"
     .encode(), "FlaggedRevs", "Schule"),
    # -- index.php actions and special pages ---------------------------------------------------------------------------
    ("delete-form", "POST", "https://en.wikipedia.org/w/index.php?title=Foo&action=delete", FORM,
     f"wpDeleteReasonList=other&wpReason=spam&wpWatch=1&wpConfirmB=Delete+page&wpEditToken={TOKEN}".encode(),
     "delete form", "Foo"),
    ("protect-form", "POST", "https://en.wikipedia.org/w/index.php?title=Foo&action=protect", FORM,
     (f"mwProtect-level-edit=autoconfirmed&mwProtect-level-move=autoconfirmed&wpProtectExpirySelection-edit=1+week"
      f"&wpProtectReasonSelection=other&mwProtect-reason=vandalism&wpEditToken={TOKEN}").encode(),
     "protect form", "Foo"),
    ("rollback-link-get", "GET", f"https://en.wikipedia.org/w/index.php?title=Foo&action=rollback&from=Vandal"
                                 f"&token={TOKEN}", "", b"", "rollback", "Foo"),
    ("rollback-link-get-percent-encoded", "GET", "https://en.wikipedia.org/w/index.php?title=Foo&action=r%6Fllback"
                                                 f"&from=Vandal&token={TOKEN}", "", b"", "rollback", "Foo"),
    ("rollback-confirmation-post", "POST", "https://en.wikipedia.org/wiki/Foo?action=rollback", FORM,
     f"from=Vandal&token={TOKEN}&wpEditToken={TOKEN}".encode(), "rollback", "Foo"),
    ("mcr-undo-form", "POST", "https://en.wikipedia.org/w/index.php?title=Foo&action=mcrundo", FORM,
     f"wpSummary=undo&wpSave=Publish+changes&undo=12&undoafter=11&cur=13&wpEditToken={TOKEN}".encode(),
     "undo form", "Foo"),
    ("change-content-model-form", "POST", "https://en.wikipedia.org/wiki/Special:ChangeContentModel", FORM,
     f"wppagetitle=User%3AJane%2Fcommon.js&wpmodel=javascript&wpreason=r&title=Special%3AChangeContentModel"
     f"&wpEditToken={TOKEN}".encode(), "change content model form", "User:Jane/common.js"),
    ("import-upload-form", "POST", "https://test.wikipedia.org/w/index.php?title=Special:Import&action=submit",
     MULTIPART, multipart(("source", "upload"), ("editToken", RAW_TOKEN), ("log-comment", "x"),
                          ("xmlimport", "pages.xml", b"<mediawiki/>", "text/xml")),
     "import form", "import of pages.xml"),
    ("merge-history-form", "POST", "https://en.wikipedia.org/w/index.php?title=Special:MergeHistory&action=submit",
     FORM, f"targetID=11&destID=22&target=Old&dest=New&wpComment=c&merge=Merge&wpEditToken={TOKEN}".encode(),
     "merge history form", "New"),
    ("page-language-form", "POST", "https://meta.wikimedia.org/wiki/Special:PageLanguage", FORM,
     f"wppagename=Our_Page&wpselectoptions=2&wplanguage=de&wpreason=r&wpEditToken={TOKEN}".encode(),
     "page language form", "Our Page"),
    ("undelete-form", "POST", "https://en.wikipedia.org/w/index.php?title=Special:Undelete&action=submit", FORM,
     f"target=Foo&wpComment=restored&restore=Restore&ts20250101000000=1&wpEditToken={TOKEN}".encode(),
     "undelete form", "Foo"),
    ("revision-delete-form", "POST", "https://en.wikipedia.org/w/index.php?title=Special:RevisionDelete&action=submit",
     FORM, (f"type=revision&target=Foo&ids=123&wpHidePrimary=1&wpRevDeleteReasonList=other&wpReason=r&wpSubmit=1"
            f"&wpEditToken={TOKEN}").encode(), "revision delete form", "Foo"),
    ("translate-mark-form", "POST", "https://meta.wikimedia.org/wiki/Special:PageTranslation", FORM,
     f"do=mark&target=Our_Page&revision=77&translatetitle=1&token={TOKEN}".encode(), "Translate mark form",
     "Our Page"),
    ("wikidata-special-new-item", "POST", "https://www.wikidata.org/wiki/Special:NewItem", FORM,
     f"lang=en&label=Our+Primary+School&description=school+in+Leeds&aliases=&wpEditToken={TOKEN}".encode(),
     "Wikibase form", "new entity Our Primary School"),
    ("wikidata-special-set-label-localised", "POST", "https://www.wikidata.org/wiki/Spezial:Bezeichnung_festlegen",
     FORM, f"id=Q42&language=de&value=x&revid=1&wpEditToken={TOKEN}".encode(), "Wikibase form", "Q42"),
    ("wikidata-special-label-description-aliases", "POST",
     "https://www.wikidata.org/wiki/Special:SetLabelDescriptionAliases", FORM,
     f"id=Q42&language=en&label=x&description=y&aliases=&wpEditToken={TOKEN}".encode(), "Wikibase form", "Q42"),
    ("wikidata-special-set-sitelink", "POST", "https://www.wikidata.org/wiki/Special:SetSiteLink", FORM,
     f"id=Q42&site=enwiki&page=Our_School&wpEditToken={TOKEN}".encode(), "Wikibase form", "Q42"),
    ("wikidata-special-merge-items", "POST", "https://www.wikidata.org/wiki/Special:MergeItems", FORM,
     f"fromid=Q1&toid=Q2&wpEditToken={TOKEN}".encode(), "Wikibase form", "Q1"),
    ("wikidata-special-merge-lexemes", "POST", "https://www.wikidata.org/wiki/Special:MergeLexemes", FORM,
     f"from-id=L1&to-id=L2&wpEditToken={TOKEN}".encode(), "Wikibase form", "L1"),
    ("entityschema-edit", "POST", "https://www.wikidata.org/w/index.php?title=EntitySchema:E10&action=submit", FORM,
     f"wpschema-text=%3Cx%3E&wpbase-rev=5&wpedit-summary=s&wpSave=Save&wpEditToken={TOKEN}".encode(),
     "EntitySchema", "EntitySchema:E10"),
    ("entityschema-new", "POST", "https://www.wikidata.org/wiki/Special:NewEntitySchema", FORM,
     f"label=Schools&description=d&aliases=&schema-text=x&languagecode=en&wpEditToken={TOKEN}".encode(),
     "EntitySchema", "new schema Schools"),
    ("massmessage-special-page-send", "POST", "https://meta.wikimedia.org/wiki/Special:MassMessage", FORM,
     f"spamlist=Our_list&subject=Hi&message=x&submit-button=Send&wpEditToken={TOKEN}".encode(),
     "MassMessage form", "Our list"),
    # -- rest.php routes -----------------------------------------------------------------------------------------------
    ("rest-content-v1-create", "POST", "https://en.wikipedia.org/w/rest.php/content/v1/page", JSON,
     json.dumps({"source": "x", "title": "Our_School", "comment": "c", "token": "+\\"}).encode(),
     "REST API", "Our School"),
    ("rest-content-v1-update", "PUT", "https://en.wikipedia.org/w/rest.php/content/v1/page/Our_School", JSON,
     json.dumps({"source": "x", "comment": "c", "latest": {"id": 1}}).encode(), "REST API", "Our School"),
    ("rest-content-v2-move", "POST", "https://en.wikipedia.org/w/rest.php/content/v2-beta/page:move/Old_Name", JSON,
     json.dumps({"to": "New Name", "reason": "r", "token": "+\\"}).encode(), "REST API", "Old Name"),
    ("rest-wikibase-lexeme-create", "POST", "https://www.wikidata.org/w/rest.php/wikibase/v0/entities/lexemes",
     JSON, json.dumps({"lexeme": {"lemmas": {"en": "school"}, "language": "Q1860",
                                  "lexicalCategory": "Q1084"}}).encode(), "Wikibase REST API", ""),
]


@pytest.mark.parametrize("case", SAVES, ids=[c[0] for c in SAVES])
def test_audited_write_path_is_an_edit(case):
    _, method, url, ctype, body, shape, title = case
    hit = one_hit(request(method, url, ctype, body))
    assert (hit.evidence["shape"], hit.evidence["title"]) == (shape, title)


NOT_SAVES = [
    # modules with a write flag or POST-only that publish nothing (the audit table's "not a save" rows)
    ("echo-mark-seen", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     f"action=echomarkseen&type=all&format=json&token={TOKEN}".encode()),
    ("echo-mark-read", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     f"action=echomarkread&list=123&format=json&token={TOKEN}".encode()),
    ("flow-thank", "POST", "https://www.mediawiki.org/w/api.php", FORM,
     f"action=flowthank&postid=abc&format=json&token={TOKEN}".encode()),
    ("discussiontools-thank", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     f"action=discussiontoolsthank&page=Talk%3AFoo&commentid=c-x&format=json&token={TOKEN}".encode()),
    ("pagetriage-mark-reviewed", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     f"action=pagetriageaction&pageid=4242&reviewed=1&format=json&token={TOKEN}".encode()),
    ("flaggedrevs-review", "POST", "https://de.wikipedia.org/w/api.php", FORM,
     f"action=review&revid=9&flag_accuracy=1&format=json&token={TOKEN}".encode()),
    ("kartographer-sanitize-is-posted-but-reads", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     b"action=sanitize-mapdata&title=Foo&text=%7B%7D&format=json"),
    ("wikifunctions-html-sanitiser", "POST", "https://www.wikifunctions.org/w/api.php", FORM,
     f"action=wikifunctions_html_sanitiser&html=%3Cb%3Ex%3C%2Fb%3E&format=json&token={TOKEN}".encode()),
    ("wikifunctions-run-function", "POST", "https://www.wikifunctions.org/w/api.php", FORM,
     b"action=wikilambda_function_call&wikilambda_function_call_zobject=%7B%7D&format=json"),
    ("growth-mentor-list-read-has-no-geaction", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     f"action=growthmanagementorlist&format=json&token={TOKEN}".encode()),
    ("reading-lists", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     f"action=readinglists&command=create&name=Trip&format=json&token={TOKEN}".encode()),
    ("content-translation-delete-draft", "POST", "https://fr.wikipedia.org/w/api.php", FORM,
     f"action=cxdelete&from=en&to=fr&sourcetitle=School&format=json&token={TOKEN}".encode()),
    ("translate-review", "POST", "https://meta.wikimedia.org/w/api.php", FORM,
     f"action=translationreview&revision=5&format=json&token={TOKEN}".encode()),
    ("transcode-reset", "POST", "https://commons.wikimedia.org/w/api.php", FORM,
     f"action=transcodereset&title=File%3AX.webm&format=json&token={TOKEN}".encode()),
    ("newsletter-subscribe", "POST", "https://www.mediawiki.org/w/api.php", FORM,
     f"action=newslettersubscribe&id=1&do=subscribe&format=json&token={TOKEN}".encode()),
    ("templatedata-read", "POST", "https://en.wikipedia.org/w/api.php", FORM,
     b"action=templatedata&titles=Template%3AInfobox&format=json"),
    # forms: their previews, confirmation screens and searches
    ("rollback-link-without-token", "GET", "https://en.wikipedia.org/w/index.php?title=Foo&action=rollback&from=X",
     "", b""),
    ("delete-confirmation-screen", "GET", "https://en.wikipedia.org/w/index.php?title=Foo&action=delete", "", b""),
    ("delete-form-without-token", "POST", "https://en.wikipedia.org/w/index.php?title=Foo&action=delete", FORM,
     b"wpReason=spam&wpConfirmB=Delete+page"),
    ("mcr-undo-preview", "POST", "https://en.wikipedia.org/w/index.php?title=Foo&action=mcrundo", FORM,
     f"wpSummary=undo&wpPreview=1&undo=12&undoafter=11&cur=13&wpEditToken={TOKEN}".encode()),
    ("mcr-undo-show-changes-has-no-save-button", "POST",
     "https://en.wikipedia.org/w/index.php?title=Foo&action=mcrundo", FORM,
     f"wpSummary=undo&undo=12&undoafter=11&cur=13&wpEditToken={TOKEN}".encode()),
    ("undelete-preview", "POST", "https://en.wikipedia.org/w/index.php?title=Special:Undelete&action=submit", FORM,
     f"target=Foo&timestamp=20250101000000&preview=1&wpEditToken={TOKEN}".encode()),
    ("edit-tags-is-not-revision-delete", "POST",
     "https://en.wikipedia.org/w/index.php?title=Special:EditTags&action=submit", FORM,
     f"type=revision&target=Foo&ids=123&wpTagList=x&wpReason=r&wpSubmit=1&wpEditToken={TOKEN}".encode()),
    ("translate-unmark-form", "POST", "https://meta.wikimedia.org/wiki/Special:PageTranslation", FORM,
     f"do=discourage&target=Our_Page&revision=77&token={TOKEN}".encode()),
    ("info-action", "GET", "https://en.wikipedia.org/w/index.php?title=Foo&action=info", "", b""),
    ("mark-patrolled-link", "GET",
     f"https://en.wikipedia.org/w/index.php?title=Foo&action=markpatrolled&rcid=123&token={TOKEN}", "", b""),
    ("merge-history-search-form", "GET",
     "https://en.wikipedia.org/w/index.php?title=Special:MergeHistory&target=Old&dest=New&submitted=1", "", b""),
    ("massmessage-preview", "POST", "https://meta.wikimedia.org/wiki/Special:MassMessage", FORM,
     f"spamlist=Our_list&subject=Hi&message=x&preview-button=Preview&wpEditToken={TOKEN}".encode()),
    ("wikidata-merge-lexemes-form-shown-by-get", "GET",
     "https://www.wikidata.org/w/index.php?title=Special:MergeLexemes&from-id=L1&to-id=L2", "", b""),
    ("wikidata-special-new-item-without-token", "POST", "https://www.wikidata.org/wiki/Special:NewItem", FORM,
     b"lang=en&label=Our+Primary+School"),
    ("api-edit-by-get-with-token", "GET",
     f"https://en.wikipedia.org/w/api.php?action=edit&title=Foo&text=x&token={ANON}", "", b""),
    # rest.php: transforms and the extensions' routes that write nothing public
    ("rest-coredev-transform", "POST", "https://en.wikipedia.org/w/rest.php/coredev/v0/transform/wikitext/to/html",
     JSON, json.dumps({"wikitext": "x"}).encode()),
    ("rest-content-v1-read", "GET", "https://en.wikipedia.org/w/rest.php/content/v1/page/Foo", "", b""),
    ("rest-content-v1-post-to-a-title-is-no-route", "POST",
     "https://en.wikipedia.org/w/rest.php/content/v1/page/Foo", JSON, json.dumps({"source": "x"}).encode()),
    ("rest-growth-add-image-feedback", "PUT",
     "https://en.wikipedia.org/w/rest.php/growthexperiments/v0/suggestions/addimage/feedback/Foo", JSON,
     json.dumps({"editRevId": None, "accepted": False, "reasons": ["notrelevant"]}).encode()),
    ("rest-flaggedrevs-review", "POST", "https://de.wikipedia.org/w/rest.php/flaggedrevs/internal/review/Schule",
     JSON, json.dumps({"oldid": 1}).encode()),
    ("rest-campaign-events-register", "PUT",
     "https://meta.wikimedia.org/w/rest.php/campaignevents/v0/event_registration/7/participants/self", JSON,
     json.dumps({"is_private": True}).encode()),
    ("rest-reading-list", "POST", "https://en.wikipedia.org/w/rest.php/readinglists/v0/lists", JSON,
     json.dumps({"name": "Trip"}).encode()),
    ("rest-wikibase-search", "GET", "https://www.wikidata.org/w/rest.php/wikibase/v0/search/items?q=school", "",
     b""),
]


@pytest.mark.parametrize("case", NOT_SAVES, ids=[c[0] for c in NOT_SAVES])
def test_audited_near_miss_is_not_an_edit(case):
    _, method, url, ctype, body = case
    assert hits(request(method, url, ctype, body)) == []


def test_a_get_that_is_not_a_rollback_is_never_parsed(monkeypatch):
    """Every page view is a GET: only one naming a rollback reaches the classifier."""
    calls = []
    monkeypatch.setattr(wikipedia, "classify", lambda *a: calls.append(a))
    hits(request("GET", "https://en.wikipedia.org/w/index.php?title=Foo&action=edit", "", b""))
    assert calls == []
    hits(request("GET", f"https://en.wikipedia.org/w/index.php?title=Foo&action=rollback&from=X&token={TOKEN}",
                 "", b""))
    assert len(calls) == 1


def test_upload_form_files_keep_their_name(tmp_path):
    """The import form's XML file is named by its field, as an upload is (sanity of the multipart helper)."""
    sub = request("POST", "https://test.wikipedia.org/w/index.php?title=Special:Import&action=submit", MULTIPART,
                  multipart(("source", "upload"), ("editToken", RAW_TOKEN), ("xmlimport", "a.xml", JPEG, "text/xml")))
    assert [a.field for a in sub.files] == ["xmlimport"]
