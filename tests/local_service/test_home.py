"""The service's root page: says what the service is and leads to the dashboard and the staff record."""
import re

PAGE_HEADERS = ("Cache-Control", "Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options",
                "Referrer-Policy")


def links(html: str) -> set[str]:
    return set(re.findall(r'<a [^>]*href="([^"]+)"', html))


def test_the_root_page_says_what_this_is_and_links_to_the_dashboard_and_the_staff_record(client):
    r = client.get("/")
    assert r.status_code == 200 and r.mimetype == "text/html"
    assert "PostGuard is running on this computer" in r.text
    assert {"/admin/", "/me"} <= links(r.text)
    assert "My PostGuard record" in r.text  # the record opens from the extension, with a ticket
    assert client.get("/admin/").status_code == 302  # the links lead somewhere: the dashboard's login
    assert "Open this page from the PostGuard extension" in client.get("/me").text


def test_the_root_page_has_the_same_page_headers_as_the_dashboard_and_the_staff_page(client):
    home = client.get("/").headers
    for other in (client.get("/admin/login").headers, client.get("/me").headers):
        assert {h: home.get(h) for h in PAGE_HEADERS} == {h: other.get(h) for h in PAGE_HEADERS}
    assert home["Cache-Control"] == "no-store" and home["X-Frame-Options"] == "DENY"
    assert "default-src 'none'" in home["Content-Security-Policy"]


def test_the_root_page_passes_the_host_and_origin_gate(client):
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 421
    assert client.get("/", headers={"Origin": "https://evil.example"}).status_code == 403
    assert client.get("/", headers={"Host": "127.0.0.1:8765"}).status_code == 200
