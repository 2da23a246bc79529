"""gunicorn's entry point: `gunicorn wsgi:app`."""
from dealsvc.app import create_app

app = create_app()
