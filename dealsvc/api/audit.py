"""The operator's audit over the API, and who the operator calling the API is."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from ..domain.audit import Action, ActorKind, Actor, fingerprint
from ..services.audit import PAGE_SIZE
from ..services.auth import OPERATOR
from .common import auth, bearer, services
from .fields import UTCDateTime
from .problems import Blueprint
from .schemas import Out

blp = Blueprint("audit", __name__, url_prefix="/api/v1/admin", description="Operator")


def api_operator() -> Actor:
    """The operator behind this API request: its token, by fingerprint."""
    return Actor(ActorKind.API, fingerprint(bearer() or ""))


class AuditQuerySchema(Schema):
    before = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1),
                            metadata={"description": "Entries older than this one (`next_before` of the last page)."})
    limit = fields.Integer(load_default=PAGE_SIZE, validate=validate.Range(min=1, max=PAGE_SIZE))



class AuditEntrySchema(Out):
    id = fields.Integer(required=True)
    at = UTCDateTime(required=True)
    actor_kind = fields.String(required=True, validate=validate.OneOf(list(ActorKind)),
                               metadata={"description": "api: the operator token; console: a session of /admin/."})
    actor = fields.String(required=True, metadata={"description": "A fingerprint of that token or session (never it)."})
    action = fields.String(required=True, validate=validate.OneOf(list(Action)))
    target = fields.String(required=True, allow_none=True, metadata={"description": "The merchant acted on, if any."})
    target_name = fields.String(required=True, allow_none=True)
    detail = fields.Dict(required=True)
    rule_changes = fields.List(fields.Nested(lambda: _ChangeSchema()), required=True,
                               metadata={"description": "For rules_changed: each rule's old and new value."})


class _ChangeSchema(Out):
    name = fields.String(required=True)
    old_value = fields.Raw(required=True, allow_none=True)
    new_value = fields.Raw(required=True, allow_none=True)


class AuditPageSchema(Out):
    items = fields.List(fields.Nested(AuditEntrySchema), required=True, metadata={"description": "Newest first."})
    next_before = fields.Integer(required=True, allow_none=True,
                                 metadata={"description": "Pass as `before` for older entries; null: none older."})


@blp.route("/audit", methods=["GET"])
@auth(blp, OPERATOR)
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, AuditPageSchema)
def audit(query, principal):
    """Every operator action (rule changes, merchants approved or suspended, console sign-ins),
    newest first, with who (which token or console session), when and what."""
    return services().audit.latest(query.get("before"), query["limit"])
