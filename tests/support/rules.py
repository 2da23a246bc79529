"""The operator rules as documented: their defaults."""

DEFAULT_RULES = {
    "min_discount_pct": 40,
    "max_discount_pct": 60,
    "default_radius_m": 1000,
    "max_radius_m": 5000,
    "max_offer_horizon_h": 72,
    "min_offer_lifetime_s": 600,
    "max_notifications_per_day": 5,
    "merchant_approval_required": False,
    "waves_enabled": True,
    "wave_factor": 5,
    "wave_interval_s": 600,
    "max_reservation_quantity": 2,
    "max_active_holds": 3,
    "hold_minutes": 30,
    "max_shops_per_merchant": 20,
}
