"""Plain JSONPaths (`$.a.b`, `$.a[0].b`, `$['a'].b`) are read as key walks: the same results as the library.

Generated documents and paths (plain ones in every spelling, and a few that are not plain) are read both ways:
by the fast path and by jsonpath_rfc9535 itself, first match and all matches, and through whole assertions and
extractors (every op that reads the body), with the fast path switched off for the reference.
"""

from __future__ import annotations

import json
from typing import Any

import jsonpath_rfc9535
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.engine import checks
from app.engine.checks import NOTHING, CompiledAssertion, CompiledExtractor, ExtractionError, first_match, plain_keys
from app.engine.specs import Assertion, Extractor
from app.engine.transport import Response

# Names that look like indexes, hold spaces, quotes or non-ASCII, or are empty: a key walk must not confuse them.
NAMES = st.sampled_from(["a", "b", "data", "0", "1", "-1", "a b", "it's", 'say "hi"', "ünï", "", "length"])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=3)
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(NAMES, children, max_size=4)),
    max_leaves=25,
)
KEYS = st.lists(st.one_of(NAMES, st.integers(-5, 5)), max_size=4)


def spell(keys: list[str | int], style: int) -> str:
    """A plain path in one of its spellings: `.name` where a shorthand can say it, or `['name']`, or `["name"]`."""
    path = "$"
    for key in keys:
        if isinstance(key, int):
            path += f"[{key}]"
        elif style == 0 and key.isidentifier():
            path += f".{key}"
        elif style == 1:
            path += "['" + key.replace("\\", "\\\\").replace("'", "\\'") + "']"
        else:
            path += f"[{json.dumps(key)}]"
    return path


def library_first(path: str, document: Any) -> Any:
    node = jsonpath_rfc9535.compile(path).find_one(document)
    return NOTHING if node is None else node.value


def response_of(document: Any) -> Response:
    return Response(
        status=200, headers=[("Content-Type", "application/json")], body=orjson.dumps(document), elapsed_ms=1.0
    )


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=DOCUMENTS, keys=KEYS, style=st.integers(0, 2))
def test_plain_paths_walk_the_keys_with_the_librarys_results(document: Any, keys: list[str | int], style: int):
    path = spell(keys, style)
    query = jsonpath_rfc9535.compile(path)
    assert plain_keys(query) == tuple(keys)  # plain: the fast path is taken, with the library's reading of the keys
    fast = first_match(query)(document)
    assert fast is library_first(path, document) or fast == library_first(path, document)
    matches = query.find(document).values()  # a plain path matches at most one node
    assert matches == ([] if fast is NOTHING else [fast])


def _walk_down(document: Any, draw: Any) -> list[str | int]:
    """Keys that exist in the document (so most generated paths select something), sometimes one more."""
    keys: list[str | int] = []
    node = document
    while isinstance(node, dict | list) and node and draw(st.booleans()):
        if isinstance(node, dict):
            key: str | int = draw(st.sampled_from(sorted(node)))
        else:
            key = draw(st.integers(-len(node), len(node) - 1))
        keys.append(key)
        node = node[key]  # type: ignore[index]
    if draw(st.booleans()):
        keys.append(draw(st.one_of(NAMES, st.integers(-5, 5))))  # one step too far, or a wrong kind of key
    return keys


@st.composite
def document_and_path(draw: Any) -> tuple[Any, str]:
    document = draw(DOCUMENTS)
    keys = _walk_down(document, draw)
    path = spell(keys, draw(st.integers(0, 2)))
    # Now and then a path that is not plain: it must go to the library (and so agree with it trivially).
    tail = draw(st.sampled_from(["", "", "", "", "[*]", "..a", "[0,1]", "[0:2]", "[?@ == 1]", ".*", "[-1:]"]))
    return document, path + tail


OPS: list[tuple[str, Any]] = [
    ("eq", 1),
    ("ne", None),
    ("gt", 0),
    ("type", "array"),
    ("type", "string"),
    ("length", 2),
    ("length", 0),
    ("exists", None),
    ("not_exists", None),
    ("contains", "a"),
    ("in", [1, "a", None]),
]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=document_and_path(), op=st.sampled_from(OPS))
def test_assertions_and_extractors_agree_with_the_library(case: tuple[Any, str], op: tuple[str, Any]):
    document, path = case
    response = response_of(document)
    spec = Assertion.model_validate({"source": "body", "expression": path, "op": op[0], "expected": op[1]})
    extractor = Extractor(name="x", source="body", expression=path)
    fast_check = CompiledAssertion(spec).evaluate(response, {})
    fast_extract = _extracted(CompiledExtractor(extractor), response)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(checks, "plain_keys", lambda _query: None)  # the library only, as before the fast path
        library_check = CompiledAssertion(spec).evaluate(response, {})
        library_extract = _extracted(CompiledExtractor(extractor), response)
    assert fast_check == library_check
    assert fast_extract == library_extract


def _extracted(extractor: CompiledExtractor, response: Response) -> Any:
    try:
        return ("value", extractor.extract(response))
    except ExtractionError as exc:
        return ("nothing", str(exc))


@pytest.mark.parametrize(
    ("path", "document", "expected"),
    [
        ("$.a.b", {"a": {"b": None}}, None),  # present though null: found
        ("$.a.b", {"a": {"c": 1}}, NOTHING),  # missing key
        ("$.a.b", {"a": [{"b": 1}]}, NOTHING),  # a name on an array
        ("$.a[0]", {"a": {"0": 1}}, NOTHING),  # an index on an object
        ("$.a[0]", {"a": "text"}, NOTHING),  # an index on a string
        ("$.a.b", {"a": "text"}, NOTHING),  # a name on a string
        ("$.a[2]", {"a": [1, 2]}, NOTHING),  # index out of range
        ("$.a[-2]", {"a": [1, 2]}, 1),  # from the end
        ("$.a[-3]", {"a": [1, 2]}, NOTHING),  # out of range from the end
        ("$['a'].b", {"a": {"b": 2}}, 2),
        ('$["a b"][0]', {"a b": [True]}, True),
        ("$", [1], [1]),
        ("$.a", [1], NOTHING),  # the root is not an object
    ],
)
def test_edge_cases_read_like_the_library(path: str, document: Any, expected: Any):
    query = jsonpath_rfc9535.compile(path)
    assert plain_keys(query) is not None
    assert first_match(query)(document) == expected
    assert library_first(path, document) == expected


@pytest.mark.parametrize("path", ["$.*", "$..a", "$[0,1]", "$[0:1]", "$[?@.a]", "$.a[*].b", "$['a','b']"])
def test_paths_that_are_not_plain_stay_with_the_library(path: str):
    assert plain_keys(jsonpath_rfc9535.compile(path)) is None
