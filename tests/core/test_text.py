"""Error text on its way to a text column: PostgreSQL refuses NUL (a run's end failed on one), and no UTF-8
encoder takes a lone surrogate."""

from app.core.text import bounded, storable


def test_nul_and_lone_surrogates_become_visible_storable_characters():
    assert storable("a\x00b\ud800c") == "a\\u0000b\ufffdc"
    assert storable("plain text, ünïcode, 🚀") == "plain text, ünïcode, 🚀"
    assert "\x00" not in storable("\x00" * 5) and storable("\x00" * 5).encode("utf-8")


def test_bounded_text_says_how_long_it_was_and_stays_within_the_limit():
    assert bounded(None, 10) is None
    assert bounded("short", 100) == "short"
    cut = bounded("x" * 5000 + "\x00", 200)
    assert cut is not None and len(cut) <= 200 and cut.endswith("... (5006 chars)")
