"""gunicorn's entry point: `gunicorn wsgi:app`."""
from gunicorn.errors import AppImportError

from config import SettingsError, export_metrics_environment

try:
    # Before dealsvc imports prometheus_client, which picks its storage on import (DEALSVC_METRICS_DIR).
    export_metrics_environment()

    from dealsvc.app import create_app  # noqa: E402

    app = create_app()
except SettingsError as exc:
    # gunicorn prints this one line and stops ("App failed to load"), instead of a traceback
    # per worker.
    raise AppImportError(f"dealsvc cannot start: {exc}") from None
