"""``{{item.*}}`` / ``{{sample.*}}`` templates."""

from __future__ import annotations

import pytest

from workhorse.evals.templates import TemplateError, reference_path, render

NAMESPACES = {
    "item": {"question": "Capital?", "tags": ["geo", "eu"], "meta": {"n": 3}},
    "sample": {"output_text": "Paris"},
}


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("Q: {{item.question}} A: {{sample.output_text}}", "Q: Capital? A: Paris"),
        ("{{ item.question }}", "Capital?"),
        ("{{item.tags.1}}", "eu"),
        ("{{item.meta}}", '{"n": 3}'),
        ("{{item.meta.n}}", "3"),
        ("no references", "no references"),
        ("{{not a reference}}", "{{not a reference}}"),
    ],
)
def test_references_are_replaced_by_their_values(template: str, rendered: str) -> None:
    assert render(template, NAMESPACES) == rendered


@pytest.mark.parametrize("template", ["{{item.answer}}", "{{item.tags.5}}", "{{other.x}}"])
def test_a_reference_to_nothing_is_an_error_naming_it(template: str) -> None:
    with pytest.raises(TemplateError, match=template.strip("{}").split(".")[0]):
        render(template, NAMESPACES)


def test_an_item_reference_may_be_written_with_or_without_braces() -> None:
    assert reference_path("item.input") == "item.input"
    assert reference_path("{{ item.input }}") == "item.input"
