"""``{{item.*}}`` and ``{{sample.*}}`` templates, as OpenAI's graders and run data
sources write them.

A reference names a value by a dotted path in the ``item`` or ``sample`` namespace
(``{{item.answer}}``, ``{{ sample.output_text }}``, ``{{item.tags.0}}``); strings are put
in as they are, other values as JSON. A reference to nothing is an error that names it,
so a typo fails the item with a reason rather than grading an empty string.
"""

from __future__ import annotations

import json
import re
from typing import Any

_REFERENCE = re.compile(r"\{\{\s*([A-Za-z_]\w*(?:\.\w+)*)\s*\}\}")

Namespaces = dict[str, Any]
"""``{"item": {...}, "sample": {...}}``."""


class TemplateError(Exception):
    """A template refers to something the namespaces do not hold."""


def lookup(path: str, namespaces: Namespaces) -> Any:
    """The value at a dotted path such as ``item.question`` (``TemplateError`` if none)."""
    head, *rest = path.split(".")
    if head not in namespaces:
        raise TemplateError(f"{{{{{path}}}}}: only the item and sample namespaces exist")
    value: Any = namespaces[head]
    for part in rest:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise TemplateError(f"{{{{{path}}}}} names nothing in the {head}")
    return value


def as_text(value: Any) -> str:
    """A value as a template puts it into text."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def render(template: str, namespaces: Namespaces) -> str:
    """The template with every reference replaced by its value."""
    return _REFERENCE.sub(lambda m: as_text(lookup(m.group(1), namespaces)), template)


def reference_path(reference: str) -> str:
    """The dotted path of an ``item_reference`` (``item.input`` or ``{{item.input}}``)."""
    match = _REFERENCE.fullmatch(reference.strip())
    return match.group(1) if match else reference.strip()
