"""The pages in Italian, French and English: by Accept-Language, by the switch (remembered in the
session), with <html lang> right, and amounts typed the local way on the Italian shop page."""
from __future__ import annotations

import re

import pytest

from tests.test_pages import csrf, sign_in_shop


def html_lang(html: str) -> str:
    match = re.search(r'<html lang="([^"]+)"', html)
    assert match, "the page has no <html lang>"
    return match.group(1)


@pytest.mark.parametrize("header, lang, skip", [
    ("it-IT,it;q=0.9,en;q=0.5", "it", "Vai al contenuto"),
    ("fr-CH, fr;q=0.9", "fr", "Aller au contenu"),
    ("en-GB", "en", "Skip to content"),
    ("de-DE", "en", "Skip to content"),  # none of ours: the default
])
@pytest.mark.parametrize("path", ["/shop/", "/admin/", "/emulator/"])
def test_pages_follow_accept_language(client, path, header, lang, skip):
    r = client.get(path, headers={"Accept-Language": header})
    assert r.status_code == 200
    print(path, header, "->", html_lang(r.text))
    assert html_lang(r.text) == lang
    assert skip in r.text


def test_the_switch_is_remembered_and_returns_to_the_page(client):
    page = client.get("/admin/", headers={"Accept-Language": "en"})
    r = client.post("/language", data={"csrf_token": csrf(page.text), "locale": "fr", "next": "/admin/"},
                    headers={"Accept-Language": "en"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/admin/")
    for path in ("/admin/", "/shop/", "/emulator/"):
        again = client.get(path, headers={"Accept-Language": "it"})  # the choice beats the browser
        assert html_lang(again.text) == "fr", path
        assert "Aller au contenu" in again.text


def test_the_switch_needs_the_csrf_token_and_is_no_open_redirect(client):
    page = client.get("/shop/")
    refused = client.post("/language", data={"locale": "it", "next": "/shop/"})
    assert refused.status_code == 400
    assert html_lang(client.get("/shop/").text) == "en"
    r = client.post("/language", data={"csrf_token": csrf(page.text), "locale": "it", "next": "//evil.example/"})
    assert r.status_code == 303 and r.headers["Location"] in ("/", "http://localhost/")
    unknown = client.post("/language", data={"csrf_token": csrf(page.text), "locale": "xx", "next": "/shop/"})
    assert unknown.status_code == 303
    assert html_lang(client.get("/shop/").text) == "it"  # the last good choice stays


def test_the_brand_names_the_service_on_the_pages(container):
    from dealsvc.app import create_app

    container.settings = container.settings.with_(brand="SottoCasa Milano")
    app = create_app(container=container)
    html = app.test_client().get("/shop/").text
    assert "<title>" in html and "· SottoCasa Milano</title>" in html
    assert '<span class="brand">SottoCasa Milano</span>' in html
