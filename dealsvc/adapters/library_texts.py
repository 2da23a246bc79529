"""What marshmallow and webargs write into a refused request, for the message catalogues.

These libraries write English sentences, some filled in ("Longer than maximum length 200.");
`localize` (adapters/catalogues.py) recognises each by its template and says it in the reader's
language with the same values. tests/integration/test_problem_languages.py checks that every message the
API's schemas can produce is here or is a `Text` of ours.
"""
from __future__ import annotations

from ..domain.i18n import Text

LIBRARY_TEXTS = (
    # marshmallow fields
    Text("Missing data for required field."),
    Text("Field may not be null."),
    Text("Invalid input type."),
    Text("Invalid type."),
    Text("Invalid value."),
    Text("Unknown field."),
    Text("Not a valid URL."),
    Text("Not a valid boolean."),
    Text("Not a valid email address."),
    Text("Not a valid integer."),
    Text("Not a valid list."),
    Text("Not a valid mapping type."),
    Text("Not a valid number."),
    Text("Not a valid string."),
    Text("Not a valid utf-8 string."),
    Text("Number too large."),
    Text("Special numeric values (nan or infinity) are not permitted."),
    # marshmallow validators (Length, Range, OneOf)
    Text("Length must be between {min} and {max}."),
    Text("Length must be {equal}."),
    Text("Longer than maximum length {max}."),
    Text("Shorter than minimum length {min}."),
    Text("Must be greater than or equal to {min} and less than or equal to {max}."),
    Text("Must be greater than or equal to {min} and less than {max}."),
    Text("Must be greater than {min} and less than or equal to {max}."),
    Text("Must be greater than {min} and less than {max}."),
    Text("Must be greater than or equal to {min}."),
    Text("Must be greater than {min}."),
    Text("Must be less than or equal to {max}."),
    Text("Must be less than {max}."),
    Text("Must be one of: {choices}."),
    # webargs
    Text("Invalid JSON body."),
)
