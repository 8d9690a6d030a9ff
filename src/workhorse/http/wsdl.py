"""A WSDL 1.1 document (document/literal, wrapped) generated from operations' models.

XML Schema types follow the XML mapping of ``http.xml``: objects are sequences of
qualified elements, lists wrap ``<item>`` elements, maps are ``<item key="…">``
elements, optional fields have ``minOccurs="0"`` and nullable ones ``nillable``.
Unions pick one XML form: a list of scalars when there is one (``stop``, ``input``),
else their first member (``content`` as text).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from workhorse.http.operations import Operation

NS = "urn:workhorse"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
SOAP11 = "http://schemas.xmlsoap.org/wsdl/soap/"
SOAP12 = "http://schemas.xmlsoap.org/wsdl/soap12/"
XSD = "http://www.w3.org/2001/XMLSchema"
HTTP_TRANSPORT = "http://schemas.xmlsoap.org/soap/http"
_SCALARS = {
    "string": "xsd:string",
    "integer": "xsd:long",
    "number": "xsd:double",
    "boolean": "xsd:boolean",
}

PREFIXES = {"wsdl": WSDL, "wsoap": SOAP11, "wsoap12": SOAP12, "xsd": XSD}


def _x(tag: str) -> str:
    return f"{{{XSD}}}{tag}"


def _pick(schema: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The schema to render for a field, and whether it may be null."""
    options = schema.get("anyOf") or schema.get("oneOf")
    if not options:
        return schema, False
    nullable = any(option.get("type") == "null" for option in options)
    members = [option for option in options if option.get("type") != "null"]
    scalar_lists = [
        m
        for m in members
        if m.get("type") == "array" and m.get("items", {}).get("type") in _SCALARS
    ]
    chosen = scalar_lists[0] if scalar_lists else (members[0] if members else {})
    return chosen, nullable


def _map_value_type(schema: dict[str, Any]) -> str | None:
    """For ``dict[str, scalar]``, the scalar's JSON type."""
    values = schema.get("additionalProperties")
    if isinstance(values, dict) and values.get("type") in _SCALARS:
        return str(values["type"])
    return None


class _SchemaWriter:
    def __init__(self, schema_element: ET.Element) -> None:
        self.root = schema_element
        self.named: set[str] = set()

    def complex_type(self, name: str, schema: dict[str, Any], defs: dict[str, Any]) -> None:
        if name in self.named:
            return
        self.named.add(name)
        element = ET.SubElement(self.root, _x("complexType"), name=name)
        self._fields(element, schema, defs)

    def enumeration(self, name: str, schema: dict[str, Any]) -> None:
        """A named string enum (a pydantic ``StrEnum``) as a restricted simple type."""
        if name in self.named:
            return
        self.named.add(name)
        simple = ET.SubElement(self.root, _x("simpleType"), name=name)
        restriction = ET.SubElement(simple, _x("restriction"), base="xsd:string")
        for value in schema["enum"]:
            ET.SubElement(restriction, _x("enumeration"), value=str(value))

    def _fields(self, parent: ET.Element, schema: dict[str, Any], defs: dict[str, Any]) -> None:
        sequence = ET.SubElement(parent, _x("sequence"))
        required = set(schema.get("required", []))
        for field, field_schema in schema.get("properties", {}).items():
            self.element(sequence, field, field_schema, defs, required=field in required)

    def element(
        self,
        parent: ET.Element,
        name: str,
        schema: dict[str, Any],
        defs: dict[str, Any],
        *,
        required: bool,
        many: bool = False,
    ) -> None:
        chosen, nullable = _pick(schema)
        attrs = {"name": name, "minOccurs": "1" if required and not many else "0"}
        if many:
            attrs["maxOccurs"] = "unbounded"
        if nullable or not required:
            attrs["nillable"] = "true"
        element = ET.SubElement(parent, _x("element"), attrs)
        self._type_of(element, chosen, defs)

    def _type_of(self, element: ET.Element, schema: dict[str, Any], defs: dict[str, Any]) -> None:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if "enum" in defs[name]:
                self.enumeration(name, defs[name])
            else:
                self.complex_type(name, defs[name], defs)
            element.set("type", f"tns:{name}")
            return
        kind = schema.get("type")
        if kind == "string" and schema.get("format") == "base64":
            element.set("type", "xsd:base64Binary")
        elif kind in _SCALARS:
            element.set("type", _SCALARS[kind])
        elif "const" in schema or "enum" in schema:
            element.set("type", "xsd:string")
        elif kind == "array":
            wrapper = ET.SubElement(element, _x("complexType"))
            sequence = ET.SubElement(wrapper, _x("sequence"))
            self.element(sequence, "item", schema.get("items", {}), defs, required=False, many=True)
        elif kind == "object" and "properties" in schema:
            self._fields(ET.SubElement(element, _x("complexType")), schema, defs)
        elif kind == "object" and _map_value_type(schema) is not None:
            value_type = _SCALARS[str(_map_value_type(schema))]
            wrapper = ET.SubElement(element, _x("complexType"))
            sequence = ET.SubElement(wrapper, _x("sequence"))
            item = ET.SubElement(
                sequence, _x("element"), name="item", minOccurs="0", maxOccurs="unbounded"
            )
            content = ET.SubElement(ET.SubElement(item, _x("complexType")), _x("simpleContent"))
            extension = ET.SubElement(content, _x("extension"), base=value_type)
            ET.SubElement(extension, _x("attribute"), name="key", type="xsd:string", use="required")
        else:
            element.set("type", "xsd:anyType")


def _model_schema(model: Any, mode: str) -> tuple[dict[str, Any], dict[str, Any]]:
    schema: dict[str, Any] = model.model_json_schema(mode=mode)
    return schema, schema.pop("$defs", {})


def build_wsdl(operations: list[Operation], location: str) -> bytes:
    """The WSDL for ``operations``, served at ``location``."""
    definitions = ET.Element(f"{{{WSDL}}}definitions", {"name": "Workhorse", "targetNamespace": NS})
    types = ET.SubElement(definitions, f"{{{WSDL}}}types")
    schema = ET.SubElement(
        types, _x("schema"), {"targetNamespace": NS, "elementFormDefault": "qualified"}
    )
    writer = _SchemaWriter(schema)
    for op in operations:
        for model, element_name, mode in (
            (op.request, op.name, "validation"),
            (op.response, f"{op.name}Response", "serialization"),
        ):
            model_schema, defs = _model_schema(model, mode)
            type_name = f"{model.__name__}"
            writer.complex_type(type_name, model_schema, defs)
            ET.SubElement(schema, _x("element"), name=element_name, type=f"tns:{type_name}")
    port_type = ET.SubElement(definitions, f"{{{WSDL}}}portType", name="WorkhorsePortType")
    for op in operations:
        for direction, suffix in (("Input", ""), ("Output", "Response")):
            message = ET.SubElement(definitions, f"{{{WSDL}}}message", name=f"{op.name}{direction}")
            ET.SubElement(
                message, f"{{{WSDL}}}part", name="parameters", element=f"tns:{op.name}{suffix}"
            )
        operation = ET.SubElement(port_type, f"{{{WSDL}}}operation", name=op.name)
        ET.SubElement(operation, f"{{{WSDL}}}input", message=f"tns:{op.name}Input")
        ET.SubElement(operation, f"{{{WSDL}}}output", message=f"tns:{op.name}Output")
    service = ET.Element(f"{{{WSDL}}}service", name="Workhorse")
    for binding_name, soap_ns in (("WorkhorseSoap11", SOAP11), ("WorkhorseSoap12", SOAP12)):
        binding = ET.SubElement(
            definitions, f"{{{WSDL}}}binding", name=binding_name, type="tns:WorkhorsePortType"
        )
        ET.SubElement(binding, f"{{{soap_ns}}}binding", style="document", transport=HTTP_TRANSPORT)
        for op in operations:
            operation = ET.SubElement(binding, f"{{{WSDL}}}operation", name=op.name)
            ET.SubElement(
                operation, f"{{{soap_ns}}}operation", soapAction=f"{NS}#{op.name}", style="document"
            )
            for direction in ("input", "output"):
                holder = ET.SubElement(operation, f"{{{WSDL}}}{direction}")
                ET.SubElement(holder, f"{{{soap_ns}}}body", use="literal")
        port = ET.SubElement(
            service, f"{{{WSDL}}}port", name=binding_name, binding=f"tns:{binding_name}"
        )
        ET.SubElement(port, f"{{{soap_ns}}}address", location=location)
    definitions.append(service)
    # Attribute values such as type="xsd:string" and "tns:Name" are QNames: their
    # prefixes must be the declared ones, so name them, and declare tns (used only in
    # attribute values, which ElementTree does not see) on the root.
    for prefix, uri in PREFIXES.items():
        ET.register_namespace(prefix, uri)
    document: bytes = ET.tostring(definitions, encoding="utf-8", xml_declaration=True)
    return document.replace(
        b"<wsdl:definitions ", f'<wsdl:definitions xmlns:tns="{NS}" '.encode(), 1
    )
