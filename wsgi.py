"""gunicorn's entry point: `gunicorn wsgi:app`."""
from config import export_metrics_environment

# Before dealsvc imports prometheus_client, which picks its storage on import (DEALSVC_METRICS_DIR).
export_metrics_environment()

from dealsvc.app import create_app  # noqa: E402

app = create_app()
