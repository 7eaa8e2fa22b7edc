"""Boundary variants of a JSON Schema: each keyword just inside and just outside, each claim checked true."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from app.ai.boundaries import MAX_VARIANTS, Variant, body_variants, interleave, parameter_variants

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def body(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    schema = {"$schema": DIALECT, "type": "object", "properties": properties, **extra}
    if required is not None:
        schema["required"] = required
    return schema


def named(variants: list[Variant]) -> dict[str, tuple[str, Any]]:
    return {variant.name: (variant.expect, variant.value) for variant in variants}


def field(variants: list[Variant], name: str, key: str = "value") -> dict[str, tuple[str, Any]]:
    """The variants of one body field: name -> (expect, that field's value)."""
    out = {}
    for variant in variants:
        if variant.name.startswith(f"body.{name}: "):
            value = variant.value.get(key, "(missing)") if isinstance(variant.value, dict) else variant.value
            out[variant.name.removeprefix(f"body.{name}: ")] = (variant.expect, value)
    return out


def assert_claims_hold(schema: dict[str, Any], variants: list[Variant]) -> None:
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    for variant in variants:
        assert validator.is_valid(variant.value) == (variant.expect == "accept"), variant


def test_string_lengths_just_inside_and_just_outside():
    schema = body({"value": {"type": "string", "minLength": 3, "maxLength": 8}}, ["value"])
    variants = body_variants(schema)
    assert_claims_hold(schema, variants)
    got = field(variants, "value")
    assert got["minLength 3 (just inside)"] == ("accept", "str")
    assert got["minLength 3 - 1 (just outside)"] == ("reject", "st")
    assert got["maxLength 8 (just inside)"] == ("accept", "stringxx")
    assert got["maxLength 8 + 1 (just outside)"] == ("reject", "stringxxx")
    assert got["oversized (1000 characters)"][0] == "reject" and len(got["oversized (1000 characters)"][1]) == 1000
    assert got["empty string"] == ("reject", "")
    assert got["unicode"] == ("accept", "Zoë Ünïc")  # cut to maxLength
    assert got["missing (required)"] == ("reject", "(missing)")
    assert got["wrong type (object)"] == ("reject", {"not": "a string"})
    assert got["null"] == ("reject", None)


def test_no_oversized_text_without_a_maxlength_and_the_empty_string_is_accepted_when_allowed():
    variants = body_variants(body({"value": {"type": "string"}}, ["value"]))
    got = field(variants, "value")
    assert not any(name.startswith("oversized") for name in got)
    assert got["empty string"] == ("accept", "")
    assert got["unicode"] == ("accept", "Zoë Ünïcødé 東京 ✓")


@pytest.mark.parametrize(
    ("keywords", "expected"),
    [
        (
            {"type": "integer", "minimum": 1, "maximum": 100},
            {
                "minimum 1 (just inside)": ("accept", 1),
                "minimum 1 - 1 (just outside)": ("reject", 0),
                "maximum 100 (just inside)": ("accept", 100),
                "maximum 100 + 1 (just outside)": ("reject", 101),
                "below zero (-1)": ("reject", -1),
                "wrong type (string)": ("reject", "abc"),
            },
        ),
        (
            {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10},
            {
                "exclusiveMinimum 0 (just inside)": ("accept", 1),
                "exclusiveMinimum 0 (just outside)": ("reject", 0),
                "exclusiveMaximum 10 (just inside)": ("accept", 9),
                "exclusiveMaximum 10 (just outside)": ("reject", 10),
                "below zero (-1)": ("reject", -1),
            },
        ),
        (
            {"type": "number", "exclusiveMinimum": 0, "maximum": 2.5},
            {
                "exclusiveMinimum 0 (just inside)": ("accept", 0.01),
                "exclusiveMinimum 0 (just outside)": ("reject", 0),
                "maximum 2.5 (just inside)": ("accept", 2.5),
                "maximum 2.5 + 0.01 (just outside)": ("reject", 2.51),
            },
        ),
        (
            # FastAPI writes integer bounds as floats; -6 is refused for two reasons, so it is not offered
            {"type": "integer", "minimum": -5.0, "multipleOf": 5},
            {"minimum -5 (just inside)": ("accept", -5), "not a multiple of 5": ("reject", -4)},
        ),
    ],
)
def test_numeric_bounds_just_inside_and_just_outside(keywords, expected):
    schema = body({"value": keywords}, ["value"])
    variants = body_variants(schema)
    assert_claims_hold(schema, variants)
    got = field(variants, "value")
    for name, claim in expected.items():
        assert got[name] == claim, (name, got)
    if keywords.get("minimum", 0) < 0:
        assert "below zero (-1)" not in got  # -1 is allowed there
        assert "minimum -5 - 1 (just outside)" not in got


def test_every_enum_member_is_accepted_and_a_non_member_refused():
    schema = body({"value": {"type": "string", "enum": ["red", "green", "blue"]}}, ["value"])
    variants = body_variants(schema)
    assert_claims_hold(schema, variants)
    got = field(variants, "value")
    assert [got[f'enum "{colour}"'] for colour in ("red", "green", "blue")] == [
        ("accept", "red"),
        ("accept", "green"),
        ("accept", "blue"),
    ]
    assert got["not in enum"] == ("reject", "not-a-member")
    assert got["wrong type (object)"] == ("reject", {"not": "a string"})
    numbers = field(body_variants(body({"value": {"enum": [1, 2, 3]}}, ["value"])), "value")
    assert numbers["not in enum"] == ("reject", 4)


def test_a_pattern_match_from_the_generator_and_a_miss_that_breaks_only_the_pattern():
    schema = body({"value": {"type": "string", "pattern": "^SKU-[0-9]{3}$"}}, ["value"])
    variants = body_variants(schema)
    assert_claims_hold(schema, variants)
    got = field(variants, "value")
    assert got["pattern match"] == ("accept", "SKU-000")
    assert got["pattern miss"] == ("reject", "!")
    assert "unicode" not in got  # the pattern does not allow it, so it is not claimed as accepted
    # a length-bounded pattern: a miss of the right length; no length variant that would break both
    bounded = body({"value": {"type": "string", "pattern": "^[a-z]+$", "minLength": 2, "maxLength": 4}}, ["value"])
    got = field(body_variants(bounded), "value")
    assert got["pattern miss"] == ("reject", "!x")
    assert got["maxLength 4 + 1 (just outside)"] == ("reject", "strix")


def test_null_is_accepted_only_where_the_schema_allows_it():
    schema = body(
        {
            "plain": {"type": "string"},
            "typed": {"type": ["string", "null"], "maxLength": 3},
            "chosen": {"anyOf": [{"type": "integer", "minimum": 18}, {"type": "null"}]},
        },
        ["plain", "typed", "chosen"],
        examples=[{"plain": "a", "typed": None, "chosen": None}],
    )
    variants = body_variants(schema)
    assert_claims_hold(schema, variants)
    assert field(variants, "plain", "plain")["null"] == ("reject", None)
    whys = {variant.name: variant.why for variant in variants}
    assert whys["body.plain: null"] == "the schema does not allow null"
    assert whys["body.typed: null"] == "the schema allows null"
    # a nullable field that starts as null is still varied: its bounds are those of the non-null branch
    chosen = field(variants, "chosen", "chosen")
    assert chosen["minimum 18 (just inside)"] == ("accept", 18)
    assert chosen["minimum 18 - 1 (just outside)"] == ("reject", 17)
    typed = field(variants, "typed", "typed")
    assert typed["maxLength 3 + 1 (just outside)"][0] == "reject"


def test_nested_objects_vary_one_field_at_a_time_from_a_valid_instance():
    address = {
        "type": "object",
        "required": ["zip"],
        "properties": {"zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
    }
    schema = body(
        {"name": {"type": "string", "minLength": 1}, "address": {"$ref": "#/$defs/Address"}},
        ["name"],
        **{"$defs": {"Address": address}},
    )
    variants = body_variants(schema)
    assert_claims_hold(schema, variants)
    got = named(variants)
    assert got["body.address: present (optional)"] == ("accept", {"name": "string", "address": {"zip": "00000"}})
    assert got["body.address.zip: missing (required)"] == ("reject", {"name": "string", "address": {}})
    assert got["body.address.zip: pattern miss"] == ("reject", {"name": "string", "address": {"zip": "!"}})
    assert got["body.name: missing (required)"] == ("reject", {})
    for variant in variants:  # every other field as in the valid instance
        if variant.name.startswith("body.address.") and isinstance(variant.value, dict):
            assert variant.value["name"] == "string"


def test_read_only_fields_are_not_sent_and_a_format_the_validator_knows_is_respected():
    schema = body(
        {"id": {"type": "integer", "readOnly": True}, "email": {"type": "string", "format": "email"}},
        ["email"],
    )
    variants = body_variants(schema)
    assert_claims_hold(schema, variants)
    assert not any(variant.name.startswith("body.id") for variant in variants)
    email = field(variants, "email", "email")
    assert email["empty string"] == ("reject", "")
    assert "unicode" not in email  # not an email address


def test_arrays_get_their_item_counts_just_inside_and_just_outside():
    schema = body({"tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2}}, ["tags"])
    variants = body_variants(schema)
    assert_claims_hold(schema, variants)
    got = field(variants, "tags", "tags")
    assert got["minItems 1 - 1 (just outside)"] == ("reject", [])
    assert got["maxItems 2 (just inside)"] == ("accept", ["string", "string"])
    assert got["maxItems 2 + 1 (just outside)"] == ("reject", ["string", "string", "string"])


def test_the_whole_body_gets_the_wrong_type_and_null():
    variants = body_variants(body({"a": {"type": "string"}}, ["a"]))
    assert named(variants)["body: wrong type (string)"] == ("reject", "not an object")
    assert named(variants)["body: null"] == ("reject", None)


def test_a_given_base_is_the_starting_point_when_it_is_valid():
    schema = body({"name": {"type": "string", "maxLength": 5}, "qty": {"type": "integer"}}, ["name", "qty"])
    got = named(body_variants(schema, {"name": "Mug", "qty": 7}))
    assert got["body.name: maxLength 5 + 1 (just outside)"] == ("reject", {"name": "Mugxxx", "qty": 7})
    invalid_base = named(body_variants(schema, {"name": "far too long"}))
    assert invalid_base["body.name: maxLength 5 + 1 (just outside)"] == ("reject", {"name": "strinx", "qty": 0})


def test_a_schema_with_no_valid_instance_gives_no_variants():
    assert body_variants({"$schema": DIALECT, "type": "object", "required": ["a"], "properties": {"a": False}}) == []


# ---- parameters -------------------------------------------------------------------------------------------------
def test_a_path_parameter_only_gets_values_a_server_must_refuse():
    variants = parameter_variants({"type": "integer", "minimum": 1, "maximum": 1000}, "path", "id", 1)
    assert named(variants) == {
        "path.id: wrong type (string)": ("reject", "abc"),
        "path.id: minimum 1 - 1 (just outside)": ("reject", 0),
        "path.id: maximum 1000 + 1 (just outside)": ("reject", 1001),
        "path.id: below zero (-1)": ("reject", -1),
    }  # 1000 is valid but may name nothing: a 404 there is no bug
    members = named(parameter_variants({"type": "string", "enum": ["day", "week"]}, "path", "period"))
    assert members['path.period: enum "day"'] == ("accept", "day")
    assert members["path.period: not in enum"] == ("reject", "not-a-member")
    text = named(parameter_variants({"type": "string", "pattern": "^[a-z]+$", "minLength": 2}, "path", "slug"))
    assert all(isinstance(value, str) and value and " " not in value for _, value in text.values())


def test_a_query_parameter_travels_as_text_without_null_and_a_header_stays_ascii():
    query = named(parameter_variants({"type": "string", "maxLength": 5}, "query", "q", ""))
    assert query["query.q: maxLength 5 + 1 (just outside)"] == ("reject", "xxxxxx")
    assert query["query.q: unicode"] == ("accept", "Zoë Ü")
    assert query["query.q: empty string"] == ("accept", "")
    assert not any(value is None or isinstance(value, dict) for _, value in query.values())
    assert "query.q: wrong type (object)" not in query  # any text is a string
    flag = named(parameter_variants({"type": "boolean"}, "query", "flag", True))
    assert flag == {"query.flag: wrong type (string)": ("reject", "maybe")}
    header = parameter_variants({"type": "string", "minLength": 2, "maxLength": 4}, "header", "X-Code")
    assert all(str(v.value).isascii() and v.value != "" for v in header)
    assert "header.X-Code: unicode" not in named(header)


# ---- bounded and deterministic ---------------------------------------------------------------------------------
def test_the_count_is_bounded_and_every_field_is_tried_before_any_gets_many():
    many = {f"f{i}": {"type": "string", "minLength": 1, "maxLength": 9, "pattern": "^[a-z]+$"} for i in range(12)}
    schema = body(many, list(many))
    variants = body_variants(schema)
    assert len(variants) == MAX_VARIANTS
    assert {variant.name.split(":")[0] for variant in variants} >= {f"body.f{i}" for i in range(12)}
    assert len({variant.name for variant in variants}) == len(variants)
    assert body_variants(schema) == variants  # the same input gives the same output
    assert len(body_variants(schema, limit=10)) == 10


def test_interleave_takes_one_from_each_group_in_turn():
    def some(prefix: str, count: int) -> list[Variant]:
        return [Variant(f"{prefix}{i}", i, "accept", "") for i in range(count)]

    taken = interleave([some("a", 3), some("b", 1), some("c", 2)], limit=5)
    assert [variant.name for variant in taken] == ["a0", "b0", "c0", "a1", "c1"]
