"""Form and XML texts read by the operation's schema (docs/formats.md, "How text is read")."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from pydantic import BaseModel

from workhorse.errors import InvalidRequest
from workhorse.http.forms import parse_urlencoded
from workhorse.http.multipart import JsonValue
from workhorse.http.shape import Reading, Shaper
from workhorse.http.xml import parse_xml


class Part(BaseModel):
    type: Literal["text"]
    text: str


class Body(BaseModel):
    name: str | None = None
    status: Literal["completed", "incomplete"] | None = None
    max_tokens: int | None = None
    metadata: dict[str, str] | None = None
    tools: list[dict[str, Any]] | None = None
    file_ids: list[str] | None = None
    stop: str | list[str] | None = None
    parts: list[Part] | None = None
    temperature: float = 1.0


SHAPER = Shaper(Body.model_json_schema())


def form(text: str) -> dict[str, Any]:
    return SHAPER.shape(parse_urlencoded(text.encode()), Reading.FORM)


def xml(text: str) -> dict[str, Any]:
    return SHAPER.shape(parse_xml(text.encode()), Reading.XML)


def test_a_text_a_string_field_can_hold_stays_that_string() -> None:
    assert form("name=null&stop=null") == {"name": "null", "stop": "null"}
    assert xml("<r><name>null</name></r>") == {"name": "null"}


def test_null_where_the_field_cannot_be_that_string() -> None:
    assert form("status=null&max_tokens=null&metadata=null") == {
        "status": None,
        "max_tokens": None,
        "metadata": None,
    }
    assert xml('<r><filters>null</filters><name nil="true"/></r>')["name"] is None


def test_an_empty_value_is_an_empty_object_or_list_where_the_field_is_one() -> None:
    assert form("metadata=&tools=&name=") == {"metadata": {}, "tools": [], "name": ""}
    assert xml("<r><metadata/><tools></tools></r>") == {"metadata": {}, "tools": []}


def test_a_field_given_more_than_once_is_a_list_only_where_the_field_is_one() -> None:
    assert form("file_ids=a&file_ids=b&stop=x&stop=y") == {
        "file_ids": ["a", "b"],
        "stop": ["x", "y"],
    }
    with pytest.raises(InvalidRequest) as caught:
        form("name=a&name=b")
    assert caught.value.param == "name"


def test_a_list_of_one_is_written_with_brackets_a_single_value_is_a_value() -> None:
    assert form("file_ids[]=a&stop=x") == {"file_ids": ["a"], "stop": "x"}
    assert form("file_ids=a") == {"file_ids": "a"}  # left to the model, which refuses it


def test_a_top_level_object_or_list_may_be_one_json_text() -> None:
    assert form("metadata=%7B%22%5B0%5D%22%3A%22x%22%7D") == {"metadata": {"[0]": "x"}}
    assert form("parts=%5B%7B%22type%22%3A%22text%22%2C%22text%22%3A%22hi%22%7D%5D") == {
        "parts": [{"type": "text", "text": "hi"}]
    }
    # Not where a string could hold the text.
    assert form("stop=%5B%22a%22%5D") == {"stop": '["a"]'}
    with pytest.raises(InvalidRequest) as caught:
        form("metadata=%7Bnope")
    assert caught.value.param == "metadata"


def test_a_json_part_is_its_fields_whole_value() -> None:
    fields = {"name": JsonValue(None), "file_ids": JsonValue(["a"]), "max_tokens": JsonValue(3)}
    assert SHAPER.shape(fields, Reading.FORM) == {"name": None, "file_ids": ["a"], "max_tokens": 3}
    with pytest.raises(InvalidRequest):  # JSON keeps its types: a string is no number
        SHAPER.shape({"max_tokens": JsonValue("3")}, Reading.FORM)


def test_a_boolean_is_never_a_number_in_any_format() -> None:
    for reading in Reading:
        with pytest.raises(InvalidRequest) as caught:
            SHAPER.shape({"max_tokens": True}, reading)
        assert caught.value.param == "max_tokens"
    assert SHAPER.shape({"temperature": 0.5}, Reading.TYPED) == {"temperature": 0.5}


def test_nested_fields_are_read_by_their_own_schema() -> None:
    assert form("parts[0][type]=text&parts[0][text]=null") == {
        "parts": [{"type": "text", "text": "null"}]
    }
    assert Body.model_validate(form("parts[0][type]=text&parts[0][text]=&max_tokens=5"))


def test_numbers_and_booleans_are_written_as_json_writes_them() -> None:
    assert form("max_tokens=5&temperature=0.5") == {"max_tokens": 5, "temperature": 0.5}
    for text in ("max_tokens=yes", "max_tokens=%205", "temperature=1.0e"):
        with pytest.raises(InvalidRequest) as caught:
            form(text)
        assert caught.value.param in ("max_tokens", "temperature")
    assert xml("<r><max_tokens>null</max_tokens></r>") == {"max_tokens": None}


def test_text_no_database_can_store_is_refused_naming_the_field() -> None:
    for fields in ({"name": "a\x00b"}, {"metadata": {"k\x00": "v"}}, {"name": "\udc00"}):
        with pytest.raises(InvalidRequest) as caught:
            SHAPER.shape(fields, Reading.TYPED)
        assert caught.value.param in ("name", "metadata.k\x00")
