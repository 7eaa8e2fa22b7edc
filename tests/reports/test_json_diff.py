"""Body diffs: what changed in substance, without the ids and timestamps that change on every run."""

from __future__ import annotations

import json

from app.reports.json_diff import json_diff


def test_changes_in_substance_are_reported_and_ids_and_timestamps_are_not() -> None:
    before = {
        "id": 17,
        "request_id": "3f2b8c1e-9a4d-4f6b-8e2a-1c5d7e9f0a3b",
        "createdAt": "2025-03-01T10:22:33Z",
        "order": {"status": "paid", "total": 12, "etag": 'W/"a1"'},
        "items": [{"sku": "A-1", "qty": 1}, {"sku": "B-2", "qty": 2}],
        "count": 2,
    }
    after = {
        "id": 18,
        "request_id": "9e8d7c6b-5a49-4382-8170-6f5e4d3c2b1a",
        "createdAt": "2025-03-02T08:00:00Z",
        "order": {"status": "pending", "total": 12, "etag": 'W/"b7"', "coupon": "SPRING"},
        "items": [{"sku": "A-1", "qty": 1}, {"sku": "B-2", "qty": 3}, {"sku": "C-3", "qty": 1}],
        "count": "2",
    }
    diff = json_diff(before, after)
    assert diff == [
        {"path": "$.order.coupon", "change": "added", "before": None, "after": "SPRING"},
        {"path": "$.order.status", "change": "changed", "before": "paid", "after": "pending"},
        {
            "path": "$.items",
            "change": "changed",
            "before": {"type": "array", "size": 2},
            "after": {"type": "array", "size": 3},
        },
        {"path": "$.items[2]", "change": "added", "before": None, "after": {"type": "object", "size": 2}},
        {"path": "$.items[1].qty", "change": "changed", "before": 2, "after": 3},
        {"path": "$.count", "change": "type_changed", "before": 2, "after": "2"},
    ]
    json.dumps(diff)  # JSON-safe as it is


def test_bodies_that_differ_only_in_ids_and_timestamps_have_no_diff() -> None:
    before = {"id": 1, "user_id": 5, "token": "abc", "updatedAt": "2025-03-01T10:00:00Z", "trace": "65f1a2b3c4d5e6f7"}
    after = {"id": 2, "user_id": 6, "token": "xyz", "updatedAt": "2025-03-01T10:00:01Z", "trace": "0a1b2c3d4e5f6071"}
    assert json_diff(before, after) == []
    assert (
        json_diff({"ids": ["3f2b8c1e-9a4d-4f6b-8e2a-1c5d7e9f0a3b"]}, {"ids": ["9e8d7c6b-5a49-4382-8170-6f5e4d3c2b1a"]})
        == []
    )


def test_a_volatile_value_that_appears_or_changes_type_is_still_reported() -> None:
    assert json_diff({"deleted_at": None}, {"deleted_at": "2025-03-01T10:00:00Z"}) == [
        {"path": "$.deleted_at", "change": "type_changed", "before": None, "after": "2025-03-01T10:00:00Z"}
    ]
    assert json_diff({"a": 1}, {"a": 1, "id": 3}) == [{"path": "$.id", "change": "added", "before": None, "after": 3}]


def test_removed_keys_shrunk_lists_odd_keys_and_roots() -> None:
    assert json_diff({"a b": 1, "it's": [1, 2]}, {"it's": [1]}) == [
        {"path": "$['a b']", "change": "removed", "before": 1, "after": None},
        {
            "path": "$['it\\'s']",
            "change": "changed",
            "before": {"type": "array", "size": 2},
            "after": {"type": "array", "size": 1},
        },
        {"path": "$['it\\'s'][1]", "change": "removed", "before": 2, "after": None},
    ]
    assert json_diff("plain text", "other text") == [
        {"path": "$", "change": "changed", "before": "plain text", "after": "other text"}
    ]
    assert json_diff(None, {"a": 1}) == [
        {"path": "$", "change": "type_changed", "before": None, "after": {"type": "object", "size": 1}}
    ]
    assert json_diff([1, 2.0, True], [1.0, 2, True]) == []
    assert json_diff({"flag": 1}, {"flag": True}) == [
        {"path": "$.flag", "change": "type_changed", "before": 1, "after": True}
    ]


def test_long_values_are_cut_and_large_diffs_end_with_how_many_were_left_out() -> None:
    (entry,) = json_diff({"text": "a" * 1000}, {"text": "b" * 1000})
    assert len(entry["before"]) == 200 and entry["before"].startswith("aaa") and entry["before"].endswith("…")
    before = {f"k{index}": index for index in range(50)}
    after = {f"k{index}": index + 1 for index in range(50)}
    diff = json_diff(before, after, limit=10)
    assert len(diff) == 11
    assert diff[9] == {"path": "$.k9", "change": "changed", "before": 9, "after": 10}
    assert diff[10] == {"path": "$.k10", "change": "truncated", "more": 40}
    assert len(json_diff(before, after)) == 50


def test_deep_documents_do_not_hit_the_recursion_limit() -> None:
    before: dict = {}
    after: dict = {}
    old, new = before, after
    for _ in range(5000):
        old["a"], new["a"] = {}, {}
        old, new = old["a"], new["a"]
    old["leaf"], new["leaf"] = 1, 2
    (entry,) = json_diff(before, after)
    assert entry["change"] == "changed" and entry["path"].endswith(".a.leaf")
