"""Every error as application/problem+json (RFC 9457), and the OpenAPI wiring that says so."""
from __future__ import annotations

import http
import logging
from typing import Any

import flask_smorest
from flask import Response, current_app, json, request
from marshmallow import validate
from sqlalchemy.exc import OperationalError
from webargs.core import parse_json
from webargs.flaskparser import FlaskParser, abort, is_json_request
from werkzeug.exceptions import HTTPException

from ..adapters.catalogues import localize
from ..domain.errors import DomainError, Unavailable
from ..domain.i18n import Text
from ..domain.locales import DEFAULT_LOCALE, best_match
from ..domain.nesting import nests_deeper_than
from .schemas import ProblemSchema

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://dealsvc.example/problems/"


# What each status is called in a problem's `title`, unless the error names its own kind.
TITLES = {
    400: Text("Invalid request"),
    401: Text("Unauthorized"),
    403: Text("Forbidden"),
    404: Text("Not found"),
    405: Text("Method not allowed"),
    409: Text("Conflict"),
    413: Text("Request too large"),
    415: Text("Unsupported media type"),
    422: Text("Unprocessable request"),
    429: Text("Too many requests"),
    500: Text("Internal error"),
    503: Text("Service unavailable"),
}
# Any other status (416 on a range past a file's end, 431, 501...): said in general terms.
REFUSED = Text("Request refused")
# What a status means when the code that refused said nothing more (werkzeug's own descriptions
# speak of "the server" and "the browser" in English only).
DETAILS = {
    400: Text("The request is not valid."),
    401: Text("Send valid credentials in 'Authorization: Bearer <secret>'."),
    403: Text("These credentials may not do this."),
    404: Text("Nothing is at this address."),
    405: Text("This method cannot be used at this address; the Allow header lists those that can."),
    409: Text("The object's state does not allow this now."),
    415: Text("This body's media type is not accepted here."),
    422: Text("The request cannot be done as asked."),
}


def reader_locale() -> str:
    """The language the caller reads: the best of its Accept-Language, else the instance's."""
    container = current_app.extensions.get("dealsvc")
    default = container.settings.default_locale if container is not None else DEFAULT_LOCALE
    return best_match(request.headers.get("Accept-Language"), default)


def problem(
    status: int,
    detail: str | None = None,
    *,
    title: str | None = None,
    errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A problem+json response in the caller's language: `title`, `detail` and the messages of
    `errors` are said in it (Texts and the libraries' known sentences); `errors` keys, which are
    field names, and `type` stay as they are."""
    phrase = http.HTTPStatus(status).phrase
    locale = reader_locale()
    title = title or TITLES.get(status) or (REFUSED if status < 500 else TITLES[500])
    body: dict[str, Any] = {
        "type": TYPE_BASE + phrase.lower().replace(" ", "-").replace("'", ""),
        "title": localize(title, locale),
        "status": status,
        "detail": localize(detail or DETAILS.get(status) or title, locale),
    }
    if errors:
        body["errors"] = {field: [localize(m, locale) for m in messages] for field, messages in errors.items()}
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    response.headers["Content-Language"] = locale
    response.vary.add("Accept-Language")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as {"field.sub": ["..."]}; list positions become indices."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = "body" if key == "_schema" and not prefix else (f"{prefix}.{key}" if prefix else str(key))
            if key == "_schema" and prefix:
                name = prefix
            for k, v in flatten(value, name).items():
                out.setdefault(k, []).extend(v)
    elif isinstance(messages, (list, tuple)):
        if all(isinstance(m, str) for m in messages):
            out[prefix or "body"] = list(messages)
        else:
            for item in messages:
                for k, v in flatten(item, prefix).items():
                    out.setdefault(k, []).extend(v)
    else:  # one message: a Text stays one, to be said in the reader's language
        out[prefix or "body"] = [messages if isinstance(messages, str) else str(messages)]
    return out


def _validation_errors(data: dict[str, Any]) -> dict[str, list[str]]:
    messages = data.get("messages") or {}
    merged: dict[str, list[str]] = {}
    # webargs keys messages by location (json, query); clients know only field names.
    for value in messages.values() if isinstance(messages, dict) else [messages]:
        for k, v in flatten(value).items():
            merged.setdefault(k, []).extend(v)
    return merged


# No body of API.md nests deeper than a few levels (an offer's price steps: 3). A cap far above
# that, checked right after parsing, keeps whatever walks the body afterwards (schemas,
# validators, the storable-text check) from running out of stack on a deeply nested value.
MAX_JSON_DEPTH = 32


class Parser(FlaskParser):
    """Malformed input is a 400 (API.md), not webargs's default 422."""

    DEFAULT_VALIDATION_STATUS = 400

    def load_json(self, req, schema):
        """A route that takes a body needs one, in JSON: an empty or non-JSON body is a 400
        (webargs would read it as {}), and so is JSON that nests too deep or holds a number
        too long to convert (a RecursionError or ValueError inside json.loads)."""
        raw = req.get_data(cache=True)
        if not raw:
            abort(400, messages={"json": [Text("A JSON object is required.")]})
        if not is_json_request(req):
            abort(400, messages={"json": [Text("must be JSON, sent with Content-Type: application/json.")]})
        try:
            data = parse_json(raw)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError too
            return self._handle_invalid_json_error(exc, req)
        if nests_deeper_than(data, MAX_JSON_DEPTH):
            abort(400, messages={"json": [Text("nests deeper than {levels} levels.", levels=MAX_JSON_DEPTH)]})
        return data


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = Parser()


def _exclusive_bounds(self, field, ret, **kwargs) -> dict:
    """apispec drops Range's min_inclusive/max_inclusive: say so in OpenAPI 3.0's terms."""
    out: dict[str, Any] = {}
    for validator in field.validators:
        if isinstance(validator, validate.Range):
            if validator.min is not None and not validator.min_inclusive and "minimum" in ret:
                out["exclusiveMinimum"] = True
            if validator.max is not None and not validator.max_inclusive and "maximum" in ret:
                out["exclusiveMaximum"] = True
    return out


def _only_null(self, field, ret, **kwargs) -> dict:
    """apispec's OpenAPI 3.0 form of a nullable nested object is anyOf [any object or null,
    the object], which admits every object; the first branch must admit null only."""
    branches = ret.get("anyOf")
    if not field.allow_none or not branches:
        return {}
    return {
        "anyOf": [
            {**b, "enum": [None]} if b == {"type": "object", "nullable": True} else b
            for b in branches
        ]
    }


class Api(flask_smorest.Api):
    """flask-smorest, with problem+json as the documented and the actual error format."""

    ERROR_SCHEMA = ProblemSchema

    def _init_spec(self, **kwargs):
        super()._init_spec(**kwargs)
        self.ma_plugin.converter.add_attribute_function(_exclusive_bounds)
        self.ma_plugin.converter.add_attribute_function(_only_null)

    def _register_responses(self):
        for status in http.HTTPStatus:
            if status < 400:
                continue
            component = {
                "description": status.phrase,
                "content": {PROBLEM_JSON: {"schema": self.ERROR_SCHEMA}},
            }
            if status == http.HTTPStatus.TOO_MANY_REQUESTS:
                component["description"] = "Rate limited: too many requests from this client"
                component["headers"] = {
                    "Retry-After": {
                        "description": "Seconds to wait before trying again",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 1},
                    }
                }
            self.spec.components.response(status.name, component, lazy=True)
        self.spec.components.response(
            "DEFAULT_ERROR",
            {"description": "An error", "content": {PROBLEM_JSON: {"schema": self.ERROR_SCHEMA}}},
            lazy=True,
        )

    def handle_http_exception(self, error: HTTPException):
        data = getattr(error, "data", None) or {}
        headers = dict(data.get("headers") or {})
        if error.code in (400, 422) and "messages" in data:
            errors = _validation_errors(data)
            fields = ", ".join(sorted(errors))
            return problem(400, Text("The request is not valid: {fields}.", fields=fields), errors=errors, headers=headers)
        if error.code == 413:
            return problem(413, Text("The request body is larger than {limit} bytes.", limit=request.max_content_length))
        if error.code == 429:
            # The rate limiter's own problem (api/limits.py), which knows the Retry-After.
            if error.response is not None:
                return error.response
            headers.setdefault("Retry-After", "60")
        if error.code == 405:
            headers.update({"Allow": ", ".join(error.valid_methods or [])} if getattr(error, "valid_methods", None) else {})
        # Our own words for the status unless the code that aborted gave its own message.
        return problem(error.code or 500, data.get("message"), headers=headers)


def register_error_handlers(app) -> None:
    @app.errorhandler(DomainError)
    def _domain(error: DomainError):
        headers = {}
        if isinstance(error, Unavailable):
            headers["Retry-After"] = str(error.retry_after)
        if error.status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="dealsvc"'
        return problem(error.status, error.detail, title=error.title, errors=error.errors, headers=headers)

    @app.errorhandler(OperationalError)
    def _database(error: OperationalError):
        # A locked or unreachable database is a passing condition, not a client's fault.
        log.warning("database unavailable: %s", error.orig.__class__.__name__ if error.orig else error)
        return problem(503, Text("The database is busy or unreachable; retry shortly."), headers={"Retry-After": "2"})

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        # HTTPExceptions never get here: Api.handle_http_exception is the more specific handler.
        # The route, not the path: a path may hold a token (the emulator's web clients).
        log.exception("unhandled error on %s %s", request.method, request.url_rule or "(no route)")
        return problem(500, Text("Something went wrong on our side; it has been logged."))
