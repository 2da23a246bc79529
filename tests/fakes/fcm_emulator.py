"""The FCM emulator on a real HTTP server on 127.0.0.1, and firebase-admin apps that send to it."""
from __future__ import annotations

import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import firebase_admin
import google.auth.credentials
from firebase_admin import credentials, messaging
from werkzeug.serving import make_server

from dealsvc.emulator import EmulatorStore, RedactingRequestHandler, make_app
from tests.support.http_servers import serve_on_thread

PROJECT_ID = "dealsvc-test"


@dataclass(frozen=True)
class RunningEmulator:
    store: EmulatorStore
    root: str  # http://127.0.0.1:<port>/emulator

    @property
    def fcm_base(self) -> str:
        """What DEALSVC_FCM_ENDPOINT would be set to."""
        return f"{self.root}/fcm"

    def send_url(self, project: str = PROJECT_ID) -> str:
        return f"{self.fcm_base}/v1/projects/{project}/messages:send"


@contextmanager
def running_emulator(store: EmulatorStore | None = None) -> Iterator[RunningEmulator]:
    store = store if store is not None else EmulatorStore()
    # Threaded, because firebase-admin's send_each posts every message at once from a thread pool.
    server = make_server("127.0.0.1", 0, make_app(store), threaded=True, request_handler=RedactingRequestHandler)
    thread = serve_on_thread(server, "fcm-emulator")
    try:
        yield RunningEmulator(store=store, root=f"http://127.0.0.1:{server.port}/emulator")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class AnonymousCredential(credentials.Base):
    """A firebase-admin credential that needs no Google account: requests carry no Authorization."""

    def get_credential(self) -> google.auth.credentials.Credentials:
        return google.auth.credentials.AnonymousCredentials()


@contextmanager
def firebase_app_for(emulator: RunningEmulator, project: str = PROJECT_ID) -> Iterator[firebase_admin.App]:
    """A firebase-admin App whose messaging sends to the emulator instead of fcm.googleapis.com."""
    # httpTimeout: firebase-admin waits 120 s by default; a test should fail long before that.
    app = firebase_admin.initialize_app(
        AnonymousCredential(), {"projectId": project, "httpTimeout": 10}, name=f"emulator-{uuid.uuid4().hex}"
    )
    try:
        # firebase-admin 7.7.0 has no setting for the FCM endpoint; _fcm_url is the one place it is kept.
        messaging._get_messaging_service(app)._fcm_url = emulator.send_url(project)
        yield app
    finally:
        firebase_admin.delete_app(app)
