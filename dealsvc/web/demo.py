"""`make demo`: a fresh database with a neighbourhood of Milan (shops, a few hundred phones), then the service."""
from __future__ import annotations

import random
import sys

from config import Settings, SettingsError
from ..domain.categories import CATEGORIES

# Brera and around: real places, made-up shops.
SHOPS = [
    ("Forno Brera", "bakery", "Via Fiori Chiari 4, Milano", 45.47195, 9.18660),
    ("Latteria San Marco", "dairy", "Via San Marco 24, Milano", 45.47690, 9.18830),
    ("Frutta Garibaldi", "produce", "Corso Garibaldi 71, Milano", 45.47770, 9.18500),
    ("Pasticceria Solferino", "pastry", "Via Solferino 10, Milano", 45.47420, 9.18900),
]
PHONES = 300
RADII_M = (300, 500, 800, 1000, 1500, 2000)
# Milan's phones speak Italian, some English and French (visitors, students, expats).
LOCALE_WEIGHTS = (("it", 80), ("en", 12), ("fr", 8))


def seed(container, rng: random.Random) -> str:
    """The demo merchant's API key; its shops, and phones scattered over about 3 km around them."""
    merchant = container.merchants.register("Brera Food Co-op", "demo@brera.example")
    from ..services.auth import MERCHANT, Principal

    principal = Principal(MERCHANT, merchant["id"], merchant["status"])
    for name, category, address, lat, lon in SHOPS:
        container.shops.create(principal, {"name": name, "category": category, "address": address, "lat": lat, "lon": lon})
    centre_lat = sum(s[3] for s in SHOPS) / len(SHOPS)
    centre_lon = sum(s[4] for s in SHOPS) / len(SHOPS)
    for n in range(PHONES):
        # Roughly 1.5 km either way (0.0135° of latitude, 0.019° of longitude at 45.5°N).
        lat = centre_lat + rng.uniform(-0.0135, 0.0135)
        lon = centre_lon + rng.uniform(-0.019, 0.019)
        categories = [] if rng.random() < 0.5 else rng.sample(CATEGORIES[:7], rng.randint(1, 3))
        container.subscribers.register({
            "fcm_token": f"demo-phone-{n + 1:03d}", "lat": round(lat, 6), "lon": round(lon, 6),
            "radius_m": rng.choice(RADII_M), "categories": categories,
            "locale": rng.choices([l for l, _ in LOCALE_WEIGHTS], [w for _, w in LOCALE_WEIGHTS])[0],
            # No timezone: each phone's is found from its place (Europe/Rome).
        })
    return merchant["api_key"]


def main() -> int:
    from .. import logs
    from ..serving import refuse, serve, serve_problem
    from ..bootstrap import bootstrap

    try:
        base = Settings.from_env()
    except SettingsError as exc:
        return refuse(str(exc))
    # A database of its own, made anew on each run, so the demo never touches var/dealsvc.db.
    path = base.var_dir / "demo.db"
    settings = base.with_(database_url=f"sqlite:///{path}", geocoder="none", workers="embedded")
    logs.configure(settings)
    # Before the old database goes: a second `make demo` must not wipe the running one's.
    if problem := serve_problem(settings):
        return refuse(problem)
    for stale in (path, path.with_name("demo.db-wal"), path.with_name("demo.db-shm")):
        stale.unlink(missing_ok=True)
    container = bootstrap(settings, migrate_schema=True)
    key = seed(container, random.Random(2026))
    url = f"http://{settings.host}:{settings.port}"
    print(
        "\n".join([
            "",
            f"dealsvc demo: {len(SHOPS)} shops in Brera, Milan, and {PHONES} simulated phones around them",
            f"  shop page:      {url}/shop/      API key: {key}",
            f"  operator page:  {url}/admin/     token:   {container.admin_token}",
            *([f"  phones:         {url}/emulator/",
               "  Post an offer on the shop page and watch the phones receive it."] if settings.emulator_enabled else []),
            "",
        ]),
        flush=True,
    )
    container.close()
    # One process: the emulator's inbox lives in its memory, and the dispatcher runs beside it.
    serve(settings, workers=1, threads=8)
    return 0


if __name__ == "__main__":
    sys.exit(main())
