"""Residents near one shop, in Italian, French and English and on three
clocks, each get one push through firebase-admin and the FCM emulator, written their way. The
expected texts are spelled out here (CLDR's spaces included), not computed by dealsvc's code."""
from __future__ import annotations

from datetime import timedelta, timezone
from zoneinfo import ZoneInfo

from tests.support.push import SHOP, merchant_with_shop, env  # noqa: F401 (the fixture)

NBSP, NNBSP = "\u00a0", "\u202f"  # CLDR: "2,00 €" and "300 m" / "7:30 PM"


def _clock(at, zone: str) -> tuple[int, int]:
    local = at.astimezone(ZoneInfo(zone))
    return local.hour, local.minute


def test_each_resident_gets_the_push_in_their_language_and_on_their_clock(env):
    key, shop = merchant_with_shop(env)
    assert shop["timezone"] == "Europe/Rome"
    near = (45.4669, 9.1900)  # 300 m north of the shop
    it = env.api.c.post(
        "/api/v1/subscribers",
        json={"fcm_token": "tok-it", "lat": near[0], "lon": near[1]},
        headers={"Accept-Language": "it-IT,it;q=0.9,en;q=0.5"},
    ).json
    fr = env.api.subscriber(*near, fcm_token="tok-fr", locale="fr", timezone="Europe/Paris")
    en = env.api.subscriber(*near, fcm_token="tok-en", timezone="America/New_York")
    assert (it["locale"], it["timezone"]) == ("it", "Europe/Rome")  # found from the place
    assert (fr["locale"], en["locale"], en["timezone"]) == ("fr", "en", "America/New_York")

    expires = (env.clock.now + timedelta(hours=3)).replace(second=0, microsecond=0)
    offer = env.api.offer(key, shop["id"], title="Pane di ieri", original_price_cents=400, discount_pct=50,
                          expires_at=expires.astimezone(timezone.utc).isoformat())
    env.drain()

    rome_h, rome_m = _clock(expires, "Europe/Rome")
    paris_h, paris_m = _clock(expires, "Europe/Paris")
    ny_h, ny_m = _clock(expires, "America/New_York")
    ny_12 = f"{ny_h % 12 or 12}:{ny_m:02d}{NNBSP}{'AM' if ny_h < 12 else 'PM'}"
    expected = {
        "tok-it": ("it", "-50% Pane di ieri da Forno Rossi",
                   f"2,00{NBSP}€ invece di 4,00{NBSP}€, a 300 m, fino alle {rome_h:02d}:{rome_m:02d}"),
        "tok-fr": ("fr", f"-50{NBSP}% Pane di ieri chez Forno Rossi",
                   f"2,00{NBSP}€ au lieu de 4,00{NBSP}€, à 300{NNBSP}m, jusqu'à {paris_h:02d}:{paris_m:02d}"),
        "tok-en": ("en", "-50% Pane di ieri at Forno Rossi",
                   f"€2.00 instead of €4.00, 300 m away, until {ny_12}"),
    }
    for token, (locale, title, body) in expected.items():
        received = env.received(token)
        print(token, [m["notification"] for m in received])
        assert len(received) == 1, (token, received)
        message = received[0]
        assert message["notification"]["title"] == title, token
        assert message["notification"]["body"] == body, token
        assert message["data"]["locale"] == locale
        assert message["data"]["offer_id"] == offer["id"]
    # Rome and Paris share a clock; New York's is behind (six hours, five in some DST weeks).
    assert (rome_h, rome_m) == (paris_h, paris_m) and (rome_h - ny_h) % 24 in (5, 6)


def test_a_changed_locale_is_what_the_next_push_speaks(env):
    key, shop = merchant_with_shop(env)
    sub = env.api.subscriber(45.4669, 9.1900, fcm_token="tok-switch")
    assert sub["locale"] == "en"
    r = env.api.c.patch(f"/api/v1/subscribers/{sub['id']}", json={"locale": "it"}, headers=env.api.h(sub["secret"]))
    assert r.status_code == 200 and r.json["locale"] == "it"
    offer = env.api.offer(key, shop["id"], title="Pane di ieri")
    env.drain()
    [message] = env.received("tok-switch")
    assert message["notification"]["title"] == "-50% Pane di ieri da Forno Rossi"
    assert " invece di " in message["notification"]["body"] and message["data"]["locale"] == "it"
    # The withdrawal is data only (the app words it): it says the language too.
    r = env.api.c.patch(f"/api/v1/offers/{offer['id']}", json={"status": "cancelled"}, headers=env.api.h(key))
    assert r.status_code == 200, r.json
    env.drain()
    [_, withdrawal] = env.received("tok-switch")
    assert withdrawal["data"]["type"] == "withdrawn" and withdrawal["data"]["locale"] == "it"
    assert "notification" not in withdrawal


def test_residents_of_one_batch_each_read_their_own_distance(env):
    """The pushes of one offer are built together (a batch): each still says how far its own
    resident is, to the 10 m below a kilometre and to the 100 m above, and the same distance
    reads alike in one language and its own way in another."""
    key, shop = merchant_with_shop(env)
    # North of the shop, about 300 m, 620 m and 1.2 km away (0.0027 degrees of latitude: 300 m).
    places = {"tok-300": (45.4669, "it"), "tok-620": (45.46978, "it"), "tok-1200": (45.47500, "it"),
              "tok-300-too": (45.4669, "it"), "tok-1200-fr": (45.47500, "fr")}
    for token, (lat, locale) in places.items():
        env.api.subscriber(lat, SHOP[1], fcm_token=token, locale=locale, radius_m=2000)
    env.api.offer(key, shop["id"], title="Pane di ieri", original_price_cents=400, discount_pct=50)
    env.drain()
    said = {}
    for token in places:
        [message] = env.received(token)
        said[token] = message["notification"]["body"].split(", ")[1]
    assert said == {"tok-300": "a 300 m", "tok-620": "a 620 m", "tok-1200": "a 1,2 km", "tok-300-too": "a 300 m",
                    "tok-1200-fr": f"à 1,2{NNBSP}km"}
