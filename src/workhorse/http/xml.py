"""The XML mapping of an operation's fields, and hardened XML parsing.

Mapping (the same for request bodies, responses and SOAP bodies):

- an element with child elements is an object: each child is a field, by tag;
- an element whose children are all ``<item>`` is a list; ``<item key="k">`` children
  instead make an object with arbitrary keys (for maps such as ``metadata``);
- an element with only text is a string (numbers and booleans are converted by the
  operation's model, as for forms);
- ``nil="true"`` is null; ``type="array"`` / ``type="object"`` mark an empty list or object.
The root element's name is free (``<request>``, or the operation's name); responses use
``<response>``.

Parsing refuses any DOCTYPE (so no entity expansion, no external DTD, no network), caps
nesting depth, and runs on defusedxml over the standard library parser.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from workhorse.errors import InvalidRequest

MAX_DEPTH = 64
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def local(tag: str) -> str:
    """A tag without its ``{namespace}``."""
    return tag.rsplit("}", 1)[-1]


def parse_document(data: bytes) -> ET.Element:
    """The root element of a hardened parse of ``data``."""
    if b"<!DOCTYPE" in data or b"<!doctype" in data:
        raise InvalidRequest("XML with a DOCTYPE is not accepted", code="invalid_xml")
    try:
        root: ET.Element = SafeET.fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise InvalidRequest(f"XML refused: {type(exc).__name__}", code="invalid_xml") from exc
    except ET.ParseError as exc:
        line, column = exc.position
        raise InvalidRequest(
            f"body is not valid XML at line {line} column {column + 1}", code="invalid_xml"
        ) from exc
    _check_depth(root)
    return root


def _check_depth(root: ET.Element) -> None:
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InvalidRequest(f"XML nests deeper than {MAX_DEPTH} levels", code="invalid_xml")
        stack.extend((child, depth + 1) for child in element)


def to_value(element: ET.Element, path: str = "") -> Any:
    """The value an element stands for under the mapping above."""
    if element.get("nil") == "true" or element.get(XSI_NIL) == "true":
        return None
    children = list(element)
    kind = element.get("type")
    if not children:
        if kind == "array":
            return []
        if kind == "object":
            return {}
        return element.text or ""
    keys = [
        str(child.get("key"))
        if local(child.tag) == "item" and child.get("key") is not None
        else local(child.tag)
        for child in children
    ]
    if all(local(c.tag) == "item" and c.get("key") is None for c in children):
        return [to_value(child, f"{path}[{i}]") for i, child in enumerate(children)]
    return _object(keys, children, path)


def _object(keys: list[str], children: list[ET.Element], path: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, child in zip(keys, children, strict=True):
        field = f"{path}.{key}" if path else key
        if key in result:
            raise InvalidRequest(f"element {field!r} is given more than once", param=field)
        result[key] = to_value(child, field)
    return result


def parse_xml(data: bytes) -> dict[str, Any]:
    """An XML request body as fields."""
    value = to_value(parse_document(data))
    if not isinstance(value, dict):
        raise InvalidRequest("the root XML element must contain field elements", code="invalid_xml")
    return value


def to_element(tag: str, value: Any) -> ET.Element:
    """``value`` as an element named ``tag``."""
    element = ET.Element(tag)
    fill(element, value)
    return element


def fill(element: ET.Element, value: Any, namespace: str | None = None) -> None:
    """Write ``value`` into ``element`` under the mapping above.

    With a ``namespace`` (SOAP bodies, typed by the WSDL's schema), child elements are
    qualified, null is ``xsi:nil`` and no ``type`` markers are written.
    """

    def child(tag: str, attrib: dict[str, str] | None = None) -> ET.Element:
        name = f"{{{namespace}}}{tag}" if namespace else tag
        return ET.SubElement(element, name, attrib or {})

    if value is None:
        element.set(XSI_NIL if namespace else "nil", "true")
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif isinstance(value, int | float | str):
        element.text = str(value)
    elif isinstance(value, list):
        if namespace is None:
            element.set("type", "array")
        for item in value:
            fill(child("item"), item, namespace)
    elif isinstance(value, dict):
        if not value and namespace is None:
            element.set("type", "object")
        for key, item in value.items():
            if _NAME.match(str(key)) and str(key) != "item":
                fill(child(str(key)), item, namespace)
            else:
                fill(child("item", {"key": str(key)}), item, namespace)
    else:
        element.text = str(value)


def render_xml(value: Any, root: str = "response") -> bytes:
    """A whole XML document for ``value``."""
    document: bytes = ET.tostring(to_element(root, value), encoding="utf-8", xml_declaration=True)
    return document


def document_xml(schema: dict[str, Any]) -> dict[str, Any]:
    """Describe the list mapping with OpenAPI ``xml`` objects on every schema in
    ``components``: a list is wrapped in its field's element, one ``<item>`` per value.

    (Maps, null and empty values have no ``xml`` object; docs/formats.md says them.)
    """
    for component in schema.get("components", {}).get("schemas", {}).values():
        _describe_lists(component)
    return schema


def _is_list(node: Any) -> bool:
    declared = node.get("type") if isinstance(node, dict) else None
    return declared == "array" or (isinstance(declared, list) and "array" in declared)


def _describe_lists(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _describe_lists(item)
        return
    if not isinstance(node, dict):
        return
    options: list[Any] = node.get("anyOf") or node.get("oneOf") or []
    if _is_list(node) or any(_is_list(option) for option in options):
        # On the field itself too when it is "a list or null".
        node["xml"] = {"wrapped": True}
        items = node.get("items")
        if _is_list(node) and isinstance(items, dict):
            # OpenAPI 3.1 schemas may carry keywords beside a $ref.
            items["xml"] = {"name": "item"}
    for key, value in node.items():
        if key not in ("xml", "enum", "const", "default", "examples", "example"):
            _describe_lists(value)
