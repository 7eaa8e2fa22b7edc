"""Seeded mutation of JSON documents, for the readers' never-crash tests: odd values put in random places."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any


def paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON document, as the keys and indexes that lead there."""
    if path:
        yield path
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in children:
        yield from paths(child, (*path, key))


def mutated(document: Any, odd: list[Any], rng: random.Random) -> Any:
    """A copy of the document with 1 to 3 of its places replaced by one of the odd values."""
    copy = json.loads(json.dumps(document))
    for _ in range(rng.randint(1, 3)):
        *parents, last = rng.choice(list(paths(copy)))
        node = copy
        for key in parents:
            node = node[key]
        node[last] = json.loads(json.dumps(rng.choice(odd)))
    return copy
