"""The operator's audit and charts, on SQLite and PostgreSQL: each operator action (rules, approvals,
suspensions, console sign-ins) kept with who (the token or the console session, by fingerprint),
when and what, through the API and /admin/ alike; the last day's pushes and offers per hour."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from dealsvc.adapters.db.models import OperatorAudit, RuleChange, WebSession
from dealsvc.domain.audit import fingerprint
from tests.support.api import ADMIN_TOKEN
from tests.support.push import merchant_with_shop, post_offer, subscriber, env  # noqa: F401, F811 (fixtures among them)

TOKEN_MARK = fingerprint(ADMIN_TOKEN)


def _audit(api, **query) -> dict:
    r = api.c.get("/api/v1/admin/audit", query_string=query, headers=api.h(ADMIN_TOKEN))
    assert r.status_code == 200, r.json
    return r.json


def _csrf(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get("/admin/").text).group(1)


def test_api_actions_are_kept_with_the_token_that_did_them(api, container):
    assert _audit(api) == {"items": [], "next_before": None}
    api.rules(max_radius_m=4000, min_discount_pct=35)
    api.rules(max_radius_m=4000)  # changes nothing: no action to keep
    m = api.merchant()
    shop = api.shop(m["api_key"])
    api.offer(m["api_key"], shop["id"])
    r = api.c.patch(f"/api/v1/admin/merchants/{m['id']}", json={"status": "suspended"}, headers=api.h(ADMIN_TOKEN))
    assert r.status_code == 200 and r.json["offers_withdrawn"] == 1
    r = api.c.patch(f"/api/v1/admin/merchants/{m['id']}", json={"status": "active"}, headers=api.h(ADMIN_TOKEN))
    assert r.status_code == 200

    items = _audit(api)["items"]
    assert [e["action"] for e in items] == ["merchant_approved", "merchant_suspended", "rules_changed"]
    assert {(e["actor_kind"], e["actor"]) for e in items} == {("api", TOKEN_MARK)}
    assert ADMIN_TOKEN not in str(items)
    approved, suspended, rules = items
    assert (suspended["target"], suspended["target_name"]) == (m["id"], "Forno Rossi")
    assert suspended["detail"] == {"status_before": "active", "offers_withdrawn": 1}
    assert approved["detail"] == {"status_before": "suspended", "offers_withdrawn": 0}
    assert sorted((c["name"], c["old_value"], c["new_value"]) for c in rules["rule_changes"]) == [
        ("max_radius_m", 5000, 4000), ("min_discount_pct", 40, 35)]
    assert approved["at"].endswith("Z") and approved["id"] > suspended["id"] > rules["id"]
    # The values stay where the history keeps them; each line names its entry.
    with container.db.read() as s:
        assert set(s.scalars(select(RuleChange.audit_id))) == {rules["id"]}
    assert len(api.c.get("/api/v1/admin/rules/history", headers=api.h(ADMIN_TOKEN)).json["items"]) == 2

    # Pages of it, newest first.
    first = _audit(api, limit=2)
    assert [e["id"] for e in first["items"]] == [approved["id"], suspended["id"]] and first["next_before"] == suspended["id"]
    rest = _audit(api, limit=2, before=first["next_before"])
    assert [e["id"] for e in rest["items"]] == [rules["id"]] and rest["next_before"] is None
    for bad in ({"limit": 0}, {"limit": 101}, {"before": "x"}, {"before": 0}):
        assert api.c.get("/api/v1/admin/audit", query_string=bad, headers=api.h(ADMIN_TOKEN)).status_code in (400, 422)
    # Operators only.
    assert api.c.get("/api/v1/admin/audit", headers=api.h(m["api_key"])).status_code == 403
    assert api.c.get("/api/v1/admin/audit").status_code == 401


def test_console_actions_are_kept_with_the_session_that_did_them(api, client, container):
    m = api.merchant()
    page = client.application.test_client()
    r = page.post("/admin/signin", data={"secret": ADMIN_TOKEN, "csrf_token": _csrf(page)})
    assert r.status_code == 303
    with container.db.read() as s:
        session_mark = s.scalar(select(WebSession.id_hash).where(WebSession.role == "operator"))[:12]
    token = _csrf(page)
    rules = api.c.get("/api/v1/admin/rules", headers=api.h(ADMIN_TOKEN)).json
    data = {name: str(value).lower() if isinstance(value, bool) else str(value) for name, value in rules.items()
            if not isinstance(value, bool) or value}
    data.update({"csrf_token": token, "max_notifications_per_day": "4"})
    assert page.post("/admin/rules", data=data).status_code == 303
    assert page.post(f"/admin/merchants/{m['id']}/suspend", data={"csrf_token": token}).status_code == 303
    assert page.post(f"/admin/merchants/{m['id']}/approve", data={"csrf_token": token}).status_code == 303

    html = page.get("/admin/").text
    assert 'id="audit-table"' in html
    shown = re.findall(r'data-action="(\w+)"', html)
    assert shown == ["merchant_approved", "merchant_suspended", "rules_changed", "signed_in"]
    assert "max_notifications_per_day: 5 → 4" in html and "console session" in html and session_mark in html
    assert page.post("/admin/signout", data={"csrf_token": token}).status_code == 303

    items = _audit(api)["items"]
    assert [e["action"] for e in items] == ["signed_out", "merchant_approved", "merchant_suspended", "rules_changed", "signed_in"]
    assert {(e["actor_kind"], e["actor"]) for e in items} == {("console", session_mark)}
    assert [(c["name"], c["old_value"], c["new_value"]) for c in items[3]["rule_changes"]] == [("max_notifications_per_day", 5, 4)]
    assert items[2]["target"] == m["id"]
    # A wrong token signs nobody in and is no operator's action.
    page.post("/admin/signin", data={"secret": "nope", "csrf_token": _csrf(page)})
    assert len(_audit(api)["items"]) == 5


def test_the_console_pages_the_audit(api, client, container):
    for n in range(105):
        api.rules(max_notifications_per_day=1 + n % 7 if n % 7 != 4 else 9)
    with container.db.read() as s:
        kept = s.scalar(select(OperatorAudit.id).order_by(OperatorAudit.id.desc()).limit(1))
    page = client.application.test_client()
    page.post("/admin/signin", data={"secret": ADMIN_TOKEN, "csrf_token": _csrf(page)})
    html = page.get("/admin/").text
    rows = re.findall(r'<tr id="audit-(\d+)"', html)
    assert len(rows) == 100 and int(rows[0]) == kept + 1  # the sign-in, then the newest rules first
    older = re.search(r'href="([^"]+)" id="audit-older"', html).group(1).replace("&amp;", "&")
    rest = re.findall(r'<tr id="audit-(\d+)"', page.get(older).text)
    assert [int(r) for r in rest] == list(range(int(rows[-1]) - 1, int(rows[-1]) - 7, -1))  # 106 in all
    assert 'id="audit-older"' not in page.get(older).text


def test_the_last_day_per_hour(env):
    key, shop = merchant_with_shop(env)
    for i in range(3):
        subscriber(env, f"tok-day-{i}")
    env.clock.advance(hours=-5)
    post_offer(env, key, shop, quantity=1, expires_at=(env.clock.now + timedelta(hours=8)).isoformat())
    env.drain()
    env.clock.advance(hours=5)
    second = post_offer(env, key, shop, quantity=1)
    env.drain()
    resident = subscriber(env, "tok-day-late")
    r = env.api.c.post(f"/api/v1/offers/{second['id']}/reservations", json={"quantity": 1}, headers=env.api.h(resident["secret"]))
    assert r.status_code == 201

    hours = env.container.activity.last_day()
    assert len(hours) == 24 and hours[-1]["start"] == env.clock.now.replace(minute=0, second=0)
    assert hours[0]["start"] == hours[-1]["start"] - timedelta(hours=23)
    by = {h["start"]: h for h in hours}
    now_h, before_h = hours[-1]["start"], hours[-1]["start"] - timedelta(hours=5)
    assert {k: by[now_h][k] for k in ("sent", "failed", "suppressed", "posted", "sold_out")} == {
        "sent": 3, "failed": 0, "suppressed": 0, "posted": 1, "sold_out": 1}
    assert {k: by[before_h][k] for k in ("sent", "posted", "sold_out")} == {"sent": 3, "posted": 1, "sold_out": 0}
    assert sum(h["sent"] for h in hours) == 6

    page = env.api.c.application.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get("/admin/").text).group(1)
    page.post("/admin/signin", data={"secret": ADMIN_TOKEN, "csrf_token": token})
    html = page.get("/admin/").text
    table = html[html.index('id="activity-table"'):]
    cells = re.findall(r'<td data-value="(\d+)">', table)
    assert len(cells) == 24 * 5 and [int(c) for c in cells[-5:]] == [3, 0, 0, 1, 1]
    assert 'data-chart-from="activity-table"' in html and "vendor/chartjs/chart.umd.min.js" in html


def test_erasing_a_merchants_personal_data_is_kept_once_with_who_did_it(api, container):
    m = api.merchant()
    for _ in range(2):  # erasing again changes nothing, so nothing more is kept
        r = api.c.post(f"/api/v1/admin/merchants/{m['id']}/erase", headers=api.h(ADMIN_TOKEN))
        assert r.status_code == 200, r.json
    items = _audit(api)["items"]
    assert [(e["action"], e["target"], e["actor_kind"], e["actor"]) for e in items] == [
        ("merchant_erased", m["id"], "api", TOKEN_MARK)
    ]
