"""SOAP 1.1 and 1.2 envelopes and faults.

The version is the envelope's namespace; the operation is the first element of the Body
(document/literal, wrapped). A fault carries our error envelope in its detail. Per the
SOAP HTTP bindings, a 1.1 fault answers 500 and a 1.2 fault 400 (Sender) or 500
(Receiver).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from workhorse.errors import InvalidRequest, WorkhorseError
from workhorse.http.wsdl import NS
from workhorse.http.xml import fill, local, parse_document

SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
CONTENT_TYPES = {SOAP11_ENV: "text/xml", SOAP12_ENV: "application/soap+xml"}


@dataclass(frozen=True)
class SoapCall:
    """A parsed SOAP request."""

    version: str
    operation: str
    body: ET.Element


def is_soap_media(content_type: str | None) -> bool:
    """Whether a request's Content-Type is one of the SOAP bindings' (else it is no SOAP
    request at all, and its errors are plain HTTP ones: 415 first)."""
    media = (content_type or "").split(";")[0].strip().lower()
    return media in CONTENT_TYPES.values()


def version_of(content_type: str | None) -> str:
    """The SOAP envelope namespace a request's Content-Type implies (1.1 by default)."""
    if content_type and content_type.split(";")[0].strip().lower() == "application/soap+xml":
        return SOAP12_ENV
    return SOAP11_ENV


def parse_call(data: bytes) -> SoapCall:
    """The version, operation name and operation element of a SOAP request."""
    envelope = parse_document(data)
    namespace = envelope.tag[1:].split("}")[0] if envelope.tag.startswith("{") else ""
    if local(envelope.tag) != "Envelope" or namespace not in CONTENT_TYPES:
        raise InvalidRequest("not a SOAP 1.1 or 1.2 Envelope", code="invalid_soap")
    body = envelope.find(f"{{{namespace}}}Body")
    if body is None or len(body) == 0:
        raise InvalidRequest("SOAP Envelope has no Body operation", code="invalid_soap")
    operation = body[0]
    return SoapCall(namespace, local(operation.tag), operation)


def _envelope(version: str, content: ET.Element, status: int) -> Response:
    # Fault codes are QNames in text ("soap:Client"): the envelope prefixes must be these.
    ET.register_namespace("soap", SOAP11_ENV)
    ET.register_namespace("env", SOAP12_ENV)
    ET.register_namespace("wh", NS)
    envelope = ET.Element(f"{{{version}}}Envelope")
    ET.SubElement(envelope, f"{{{version}}}Body").append(content)
    payload = ET.tostring(envelope, encoding="utf-8", xml_declaration=True)
    return Response(
        payload, status_code=status, media_type=f"{CONTENT_TYPES[version]}; charset=utf-8"
    )


def result_response(version: str, operation: str, value: Any) -> Response:
    """``<OperationResponse>`` holding ``value`` under the XML mapping."""
    element = ET.Element(f"{{{NS}}}{operation}Response")
    fill(element, value, namespace=NS)
    return _envelope(version, element, 200)


def fault_response(version: str, error: WorkhorseError) -> Response:
    """A SOAP Fault for ``error``, its detail our error envelope."""
    client_side = error.status < 500
    detail_value = error.to_dict()
    if version == SOAP11_ENV:
        fault = ET.Element(f"{{{version}}}Fault")
        ET.SubElement(fault, "faultcode").text = "soap:Client" if client_side else "soap:Server"
        ET.SubElement(fault, "faultstring").text = error.message
        detail = ET.SubElement(fault, "detail")
        fill(ET.SubElement(detail, f"{{{NS}}}error"), detail_value["error"], namespace=NS)
        response = _envelope(version, fault, 500)
    else:
        fault = ET.Element(f"{{{version}}}Fault")
        code = ET.SubElement(fault, f"{{{version}}}Code")
        ET.SubElement(code, f"{{{version}}}Value").text = (
            "env:Sender" if client_side else "env:Receiver"
        )
        reason = ET.SubElement(fault, f"{{{version}}}Reason")
        text = ET.SubElement(reason, f"{{{version}}}Text")
        text.text = error.message
        text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        detail = ET.SubElement(fault, f"{{{version}}}Detail")
        fill(ET.SubElement(detail, f"{{{NS}}}error"), detail_value["error"], namespace=NS)
        response = _envelope(version, fault, 400 if client_side else 500)
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


def document_soap(schema: dict[str, Any], path: str = "/soap") -> dict[str, Any]:
    """Say in the OpenAPI document what ``path`` answers: the WSDL on GET, and on POST a
    SOAP envelope (SOAP 1.1 or 1.2, by the request's Content-Type) for a result and for a
    Fault alike (SOAP 1.1 sends every Fault with 500, SOAP 1.2 a Sender fault with 400)."""
    operations = schema.get("paths", {}).get(path, {})
    xml = {"schema": {"type": "string"}}
    envelopes = {media: xml for media in sorted(set(CONTENT_TYPES.values()))}
    if "get" in operations:
        operations["get"]["responses"]["200"] = {
            "description": "The WSDL",
            "content": {"text/xml": xml},
        }
    if "post" in operations:
        operations["post"]["requestBody"] = {
            "required": True,
            "description": "A SOAP envelope; the WSDL (GET /soap?wsdl) types its operations",
            "content": envelopes,
        }
        responses = operations["post"]["responses"]
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        responses["415"] = {"description": "Not a SOAP Content-Type", "content": error}
        responses["200"] = {"description": "The operation's result", "content": envelopes}
        responses["4XX"] = {"description": "A SOAP 1.2 Sender Fault", "content": envelopes}
        responses["5XX"] = {"description": "A SOAP Fault", "content": envelopes}
    return schema
