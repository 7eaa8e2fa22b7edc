"""The sandbox's built-in JavaScript libraries (crypto.js, moment.js, schema.js) checked against Python's own answers.

hashlib/hmac/base64 are the oracle for CryptoJS, btoa and atob; datetime for moment; the jsonschema package for tv4.
The last tests freeze the intrinsics and the libraries' globals, as the lockdown does, and use everything again.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from py_mini_racer import MiniRacer

JS_DIR = Path(__file__).resolve().parents[3] / "app" / "engine" / "scripts" / "js"
FILES = ("crypto.js", "moment.js", "schema.js")


def load_context() -> MiniRacer:
    ctx = MiniRacer()
    for name in FILES:
        ctx.eval((JS_DIR / name).read_text(encoding="utf-8"))
    return ctx


class JS:
    def __init__(self, ctx: MiniRacer) -> None:
        self.ctx = ctx

    def __call__(self, expr: str) -> Any:
        out = self.ctx.eval(f"JSON.stringify(({expr}))")
        return json.loads(out) if isinstance(out, str) else None  # JSON.stringify(undefined) is undefined

    def error(self, expr: str) -> dict[str, str] | None:
        """Runs `expr`; returns the thrown error's name and message (None when nothing was thrown)."""
        catch = "catch (e) { return {name: e.name, message: e.message}; }"
        return self(f"(() => {{ try {{ {expr}; return null; }} {catch} }})()")


@pytest.fixture(scope="module")
def js() -> JS:
    return JS(load_context())


def lit(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# ---- CryptoJS ------------------------------------------------------------------------------------------------------
HASHES = ["MD5", "SHA1", "SHA224", "SHA256", "SHA384", "SHA512"]
MESSAGES = [
    "",
    "abc",
    "The quick brown fox jumps over the lazy dog",
    "emoji 😀🎉 and 中文字符 and ünïcödé",
    "a" * 55,
    "b" * 56,
    "c" * 64,
    "d" * 111,
    "e" * 112,
    "f" * 128,
]
MEGABYTE = ("0123456789abcdef€😀" * 60000)[: 1 << 20]


@pytest.mark.parametrize("alg", HASHES)
def test_hashes_match_hashlib(js: JS, alg: str) -> None:
    for message in MESSAGES:
        expected = hashlib.new(alg.lower(), message.encode()).hexdigest()
        assert js(f"CryptoJS.{alg}({lit(message)}).toString()") == expected, (alg, message)
        assert js(f"CryptoJS.{alg}({lit(message)}) + ''") == expected


@pytest.mark.parametrize("alg", HASHES)
def test_hmacs_match_hmac(js: JS, alg: str) -> None:
    keys = ["", "key", "clé 🔑", "k" * 64, "K" * 200]
    for message in MESSAGES[:5]:
        for key in keys:
            expected = hmac.new(key.encode(), message.encode(), alg.lower()).hexdigest()
            got = js(f"CryptoJS.Hmac{alg}({lit(message)}, {lit(key)}).toString(CryptoJS.enc.Hex)")
            assert got == expected, (alg, message, key)


def test_one_megabyte(js: JS) -> None:
    js.ctx.eval(f"var __big = {lit(MEGABYTE)};")
    data = MEGABYTE.encode()
    for alg in HASHES:
        assert js(f"CryptoJS.{alg}(__big).toString()") == hashlib.new(alg.lower(), data).hexdigest()
    assert js("CryptoJS.HmacSHA256(__big, 'secret').toString()") == hmac.new(b"secret", data, "sha256").hexdigest()
    assert js("CryptoJS.enc.Base64.stringify(CryptoJS.enc.Utf8.parse(__big))") == base64.b64encode(data).decode()


def test_word_array_inputs_and_encoders(js: JS) -> None:
    raw = bytes(range(256)) + os.urandom(37)
    hexed = raw.hex()
    assert js(f"CryptoJS.SHA256(CryptoJS.enc.Hex.parse('{hexed}')).toString()") == hashlib.sha256(raw).hexdigest()
    key = os.urandom(20)
    got = js(f"CryptoJS.HmacSHA1('msg', CryptoJS.enc.Hex.parse('{key.hex()}')).toString(CryptoJS.enc.Base64)")
    assert got == base64.b64encode(hmac.new(key, b"msg", "sha1").digest()).decode()
    for n in (0, 1, 2, 3, 4, 5, 31, 32, 33):
        chunk = raw[:n]
        b64 = base64.b64encode(chunk).decode()
        assert js(f"CryptoJS.enc.Base64.stringify(CryptoJS.enc.Hex.parse('{chunk.hex()}'))") == b64
        assert js(f"CryptoJS.enc.Base64.parse('{b64}').toString()") == chunk.hex()
        assert js(f"CryptoJS.enc.Base64.parse('{b64}').sigBytes") == n
        url = base64.urlsafe_b64encode(chunk).decode().rstrip("=")
        assert js(f"CryptoJS.enc.Base64url.stringify(CryptoJS.enc.Hex.parse('{chunk.hex()}'))") == url
        assert js(f"CryptoJS.enc.Base64url.parse('{url}').toString()") == chunk.hex()
        latin1 = chunk.decode("latin-1")
        assert js(f"CryptoJS.enc.Latin1.stringify(CryptoJS.enc.Hex.parse('{chunk.hex()}'))") == latin1
        assert js(f"CryptoJS.enc.Latin1.parse({lit(latin1)}).toString()") == chunk.hex()
    text = "emoji 😀 中文"
    assert js(f"CryptoJS.enc.Utf8.parse({lit(text)}).toString()") == text.encode().hex()
    assert js(f"CryptoJS.enc.Utf8.stringify(CryptoJS.enc.Hex.parse('{text.encode().hex()}'))") == text
    assert js(f"CryptoJS.enc.Hex.parse('{text.encode().hex()}').toString(CryptoJS.enc.Utf8)") == text
    assert js.error("CryptoJS.enc.Utf8.stringify(CryptoJS.enc.Hex.parse('c328'))") == {
        "name": "Error",
        "message": "Malformed UTF-8 data",
    }
    # the common Postman idiom: base64 of a raw HMAC digest
    got = js("CryptoJS.enc.Base64.stringify(CryptoJS.HmacSHA256('payload', 'secret'))")
    assert got == base64.b64encode(hmac.new(b"secret", b"payload", "sha256").digest()).decode()


def test_word_array_api(js: JS) -> None:
    assert js("CryptoJS.lib.WordArray.create([0x01020304, 0x05060708], 6).toString()") == "010203040506"
    assert js("CryptoJS.lib.WordArray.create([0x01020304]).sigBytes") == 4
    assert js("CryptoJS.lib.WordArray.create(new Uint8Array([1, 2, 3])).toString()") == "010203"
    concat = "CryptoJS.enc.Hex.parse('0a0b0c').concat(CryptoJS.enc.Hex.parse('0d0e0f1011')).toString()"
    assert js(concat) == "0a0b0c0d0e0f1011"
    assert js(
        "(() => { const a = CryptoJS.enc.Hex.parse('aa'); const b = a.clone(); b.concat(a); "
        "return [a.toString(), b.toString()]; })()"
    ) == ["aa", "aaaa"]
    assert js("CryptoJS.lib.WordArray.random(16).sigBytes") == 16
    assert len(js("CryptoJS.lib.WordArray.random(16).toString()")) == 32
    assert js("CryptoJS.MD5(CryptoJS.enc.Utf8.parse('abc')).toString()") == hashlib.md5(b"abc").hexdigest()
    progressive = "CryptoJS.algo.SHA256.create().update('ab').update('c').finalize().toString()"
    assert js(progressive) == hashlib.sha256(b"abc").hexdigest()
    hm = "CryptoJS.algo.HMAC.create(CryptoJS.algo.SHA512, 'k').update('a').finalize('bc').toString()"
    assert js(hm) == hmac.new(b"k", b"abc", "sha512").hexdigest()


@pytest.mark.parametrize("name", ["AES", "DES", "TripleDES", "RC4", "Rabbit"])
def test_ciphers_not_supported(js: JS, name: str) -> None:
    for call in (f"CryptoJS.{name}.encrypt('a', 'k')", f"CryptoJS.{name}.decrypt('a', 'k')"):
        assert js.error(call) == {"name": "Error", "message": f"not supported by Exile: CryptoJS.{name}"}


@pytest.mark.parametrize("name", ["PBKDF2", "RIPEMD160", "SHA3", "EvpKDF"])
def test_kdfs_not_supported(js: JS, name: str) -> None:
    assert js.error(f"CryptoJS.{name}('a', 'b')") == {
        "name": "Error",
        "message": f"not supported by Exile: CryptoJS.{name}",
    }


def test_btoa_atob(js: JS) -> None:
    for text in ["", "a", "ab", "abc", "hello world", "".join(map(chr, range(256)))]:
        encoded = base64.b64encode(text.encode("latin-1")).decode()
        assert js(f"btoa({lit(text)})") == encoded
        assert js(f"atob({lit(encoded)})") == text
    assert js("atob(' aGVs\\nbG8g\\td29y bGQ= ')") == "hello world"
    assert js("atob('aGVsbG8')") == "hello"  # padding is optional
    err = js.error("btoa('€')")
    assert err is not None and err["name"] == "InvalidCharacterError" and "Latin1" in err["message"]
    for bad in ["a", "ab=c", "abc*", "ab===", "aGVsbG8=="]:
        err = js.error(f"atob({lit(bad)})")
        assert err is not None and err["name"] == "InvalidCharacterError", bad
    assert js("btoa(123)") == "MTIz"


# ---- moment --------------------------------------------------------------------------------------------------------
STAMPS = [0, 951782400123, 1709251199999, 1735689599000, 1700000000000, 4102444800500, 1234567890123]


def expected_format(dt: datetime) -> dict[str, str]:
    h12 = dt.hour % 12 or 12
    day = dt.day
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return {
        "YYYY": f"{dt.year:04d}",
        "YY": f"{dt.year % 100:02d}",
        "M": str(dt.month),
        "MM": f"{dt.month:02d}",
        "MMM": dt.strftime("%b"),
        "MMMM": dt.strftime("%B"),
        "D": str(day),
        "DD": f"{day:02d}",
        "Do": f"{day}{suffix}",
        "d": str((dt.weekday() + 1) % 7),
        "ddd": dt.strftime("%a"),
        "dddd": dt.strftime("%A"),
        "H": str(dt.hour),
        "HH": f"{dt.hour:02d}",
        "h": str(h12),
        "hh": f"{h12:02d}",
        "m": str(dt.minute),
        "mm": f"{dt.minute:02d}",
        "s": str(dt.second),
        "ss": f"{dt.second:02d}",
        "S": str(dt.microsecond // 100000),
        "SS": f"{dt.microsecond // 10000:02d}",
        "SSS": f"{dt.microsecond // 1000:03d}",
        "A": "AM" if dt.hour < 12 else "PM",
        "a": "am" if dt.hour < 12 else "pm",
        "Z": "+00:00",
        "ZZ": "+0000",
        "X": str(int(dt.timestamp())),
        "x": str(int(dt.timestamp() * 1000)),
    }


@pytest.mark.parametrize("ms", STAMPS)
def test_moment_format_tokens(js: JS, ms: int) -> None:
    dt = datetime.fromtimestamp(ms / 1000, UTC)
    for token, want in expected_format(dt).items():
        assert js(f"moment({ms}).format('{token}')") == want, token
        assert js(f"moment.utc({ms}).format('[tok {token}:] {token}')") == f"tok {token}: {want}"
    assert js(f"moment({ms}).format()") == dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    assert js(f"moment.utc({ms}).format()") == dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert js(f"moment.utc({ms}).local().format()") == dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    iso = dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    assert js(f"moment({ms}).toISOString()") == iso
    assert js(f"moment({lit(iso)}).valueOf()") == ms
    assert js(f"moment(new Date({ms})).unix()") == ms // 1000
    assert js(f"moment({ms}).toDate().getTime()") == ms
    getters = "[m.year(), m.month(), m.date(), m.day(), m.hours(), m.minutes(), m.seconds(), m.milliseconds()]"
    assert js(f"(m => {getters})(moment({ms}))") == [
        dt.year,
        dt.month - 1,
        dt.day,
        (dt.weekday() + 1) % 7,
        dt.hour,
        dt.minute,
        dt.second,
        dt.microsecond // 1000,
    ]


def add_months(dt: datetime, months: int) -> datetime:
    total = dt.year * 12 + dt.month - 1 + months
    year, month = divmod(total, 12)
    day = min(dt.day, calendar.monthrange(year, month + 1)[1])
    return dt.replace(year=year, month=month + 1, day=day)


def ms_of(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


@pytest.mark.parametrize(
    "start",
    [
        "2024-01-31T10:00:00Z",
        "2023-01-31T00:00:00Z",
        "2024-02-29T23:59:59Z",
        "2023-12-31T12:30:00Z",
        "2020-05-15T00:00:00Z",
    ],
)
def test_moment_arithmetic(js: JS, start: str) -> None:
    dt = datetime.fromisoformat(start)
    base = f"moment({lit(start)})"
    for n in (1, 2, -1, 11, 13, -25):
        assert js(f"{base}.add({n}, 'months').valueOf()") == ms_of(add_months(dt, n)), n
        assert js(f"{base}.add({n}, 'M').valueOf()") == ms_of(add_months(dt, n))
        assert js(f"{base}.subtract({n}, 'month').valueOf()") == ms_of(add_months(dt, -n))
        assert js(f"{base}.add({n}, 'years').valueOf()") == ms_of(add_months(dt, 12 * n))
        assert js(f"{base}.add({n}, 'y').valueOf()") == ms_of(add_months(dt, 12 * n))
    deltas = {
        "w": timedelta(weeks=1), "weeks": timedelta(weeks=1), "d": timedelta(days=1), "days": timedelta(days=1),
        "h": timedelta(hours=1), "hours": timedelta(hours=1), "m": timedelta(minutes=1),
        "minutes": timedelta(minutes=1), "s": timedelta(seconds=1), "seconds": timedelta(seconds=1),
        "ms": timedelta(milliseconds=1), "milliseconds": timedelta(milliseconds=1),
    }  # fmt: skip
    for unit, delta in deltas.items():
        for n in (1, 7, -40):
            assert js(f"{base}.add({n}, '{unit}').valueOf()") == ms_of(dt + n * delta), unit
            assert js(f"{base}.subtract({n}, '{unit}').valueOf()") == ms_of(dt - n * delta), unit
    combined = add_months(dt + timedelta(days=2, hours=3), 1)  # moment applies time, then days, then months
    assert js(f"{base}.add({{months: 1, days: 2, hours: 3}}).valueOf()") == ms_of(combined)
    assert js(f"{base}.subtract({{days: 1}}).valueOf()") == ms_of(dt - timedelta(days=1))


def test_moment_month_end_and_mutation(js: JS) -> None:
    assert js("moment.utc('2023-01-31').add(1, 'month').format('YYYY-MM-DD')") == "2023-02-28"
    assert js("moment.utc('2024-01-31').add(1, 'month').format('YYYY-MM-DD')") == "2024-02-29"
    assert js("moment.utc('2024-03-31').subtract(1, 'month').format('YYYY-MM-DD')") == "2024-02-29"
    assert js("moment.utc('2024-02-29').add(1, 'year').format('YYYY-MM-DD')") == "2025-02-28"
    # mutating methods change the moment and return it; clone() does not share
    assert js("(() => { const a = moment(0); const b = a.add(1, 'd'); return [a === b, a.valueOf()]; })()") == [
        True,
        86400000,
    ]
    assert js(
        "(() => { const a = moment(0); const b = a.clone().add(1, 'd'); return [a.valueOf(), b.valueOf()]; })()"
    ) == [
        0,
        86400000,
    ]
    assert js("moment.isMoment(moment())") is True
    assert js("moment.isMoment(new Date())") is False


@pytest.mark.parametrize(
    ("unit", "start", "end"),
    [
        ("year", "2024-01-01T00:00:00.000Z", "2024-12-31T23:59:59.999Z"),
        ("month", "2024-05-01T00:00:00.000Z", "2024-05-31T23:59:59.999Z"),
        ("week", "2024-05-12T00:00:00.000Z", "2024-05-18T23:59:59.999Z"),
        ("day", "2024-05-15T00:00:00.000Z", "2024-05-15T23:59:59.999Z"),
        ("hour", "2024-05-15T13:00:00.000Z", "2024-05-15T13:59:59.999Z"),
        ("minute", "2024-05-15T13:45:00.000Z", "2024-05-15T13:45:59.999Z"),
        ("second", "2024-05-15T13:45:30.000Z", "2024-05-15T13:45:30.999Z"),
    ],
)
def test_moment_start_end_of(js: JS, unit: str, start: str, end: str) -> None:
    base = "moment.utc('2024-05-15T13:45:30.250Z')"  # a Wednesday
    assert js(f"{base}.startOf('{unit}').toISOString()") == start
    assert js(f"{base}.endOf('{unit}').toISOString()") == end
    assert js(f"{base}.isSame('{start}', '{unit}')") is True
    assert js(f"{base}.isSame('{end}', '{unit}')") is True
    assert js(f"{base}.isAfter('{start}', '{unit}')") is False
    assert js(f"{base}.isBefore('{end}', '{unit}')") is False


def test_moment_diff_and_compare(js: JS) -> None:
    a, b = "moment.utc('2024-03-15T12:00:00Z')", "moment.utc('2024-01-10T06:00:00Z')"
    delta = datetime(2024, 3, 15, 12, tzinfo=UTC) - datetime(2024, 1, 10, 6, tzinfo=UTC)
    assert js(f"{a}.diff({b})") == delta // timedelta(milliseconds=1)
    assert js(f"{a}.diff({b}, 'seconds')") == int(delta.total_seconds())
    assert js(f"{a}.diff({b}, 'hours')") == int(delta.total_seconds() // 3600)
    assert js(f"{a}.diff({b}, 'days')") == delta.days
    assert js(f"{a}.diff({b}, 'days', true)") == pytest.approx(delta.total_seconds() / 86400)
    assert js(f"{a}.diff({b}, 'weeks')") == delta.days // 7
    assert js(f"{b}.diff({a}, 'days')") == -delta.days  # truncated toward zero
    assert js(f"{a}.diff({b}, 'months')") == 2
    assert js(f"{a}.diff({b}, 'years')") == 0
    assert js("moment.utc('2024-01-31').diff(moment.utc('2023-01-31'), 'years')") == 1
    assert js("moment.utc('2024-03-31').diff(moment.utc('2024-02-29'), 'months')") == 1
    assert js(f"{a}.isAfter({b})") is True
    assert js(f"{a}.isBefore({b})") is False
    assert js(f"{a}.isSame({a})") is True
    assert js(f"{a}.isSame('2024-03-15T00:00:00Z', 'day')") is True
    assert js(f"{a}.isSame('2024-03-16T00:00:00Z', 'day')") is False
    assert js(f"{a}.isBefore('2024-03-15T23:00:00Z', 'day')") is False
    assert js(f"{a}.isBefore('2024-03-16T00:00:00Z', 'day')") is True


def test_moment_parsing(js: JS) -> None:
    cases = {
        "moment('2024-02-03')": "2024-02-03T00:00:00.000Z",
        "moment('2024-02-03T04:05')": "2024-02-03T04:05:00.000Z",
        "moment('2024-02-03 04:05:06.789')": "2024-02-03T04:05:06.789Z",
        "moment('2024-02-03T04:05:06+02:00')": "2024-02-03T02:05:06.000Z",
        "moment('2024-02-03T04:05:06-0530')": "2024-02-03T09:35:06.000Z",
        "moment('20240203')": "2024-02-03T00:00:00.000Z",
        "moment('Sat, 03 Feb 2024 04:05:06 GMT')": "2024-02-03T04:05:06.000Z",
        "moment('03/02/2024', 'DD/MM/YYYY')": "2024-02-03T00:00:00.000Z",
        "moment('2/3/24 4:05 PM', 'M/D/YY h:mm A')": "2024-02-03T16:05:00.000Z",
        "moment('12:30 am 1 Jan 2020', 'h:mm a D MMM YYYY')": "2020-01-01T00:30:00.000Z",
        "moment('February 3rd 2024', 'MMMM Do YYYY')": "2024-02-03T00:00:00.000Z",
        "moment('1706933106', 'X')": "2024-02-03T04:05:06.000Z",
        "moment.utc([2024, 1, 3, 4, 5, 6])": "2024-02-03T04:05:06.000Z",
        "moment.unix(1706933106)": "2024-02-03T04:05:06.000Z",
    }
    for expr, want in cases.items():
        assert js(f"{expr}.toISOString()") == want, expr
    for bad in [
        "moment('not a date')",
        "moment('2024-02-30')",
        "moment('2024-13-01')",
        "moment('31/02/2024', 'DD/MM/YYYY')",
    ]:
        assert js(f"{bad}.isValid()") is False, bad
        assert js(f"{bad}.format()") == "Invalid date"
    assert js("moment('2024-02-03', 'YYYY-MM-DD', true).isValid()") is True
    assert js("moment('2024-2-3', 'YYYY-MM-DD', true).isValid()") is False
    now = datetime.now(UTC).timestamp() * 1000
    assert abs(js("moment().valueOf()") - now) < 5000


def test_moment_not_supported(js: JS) -> None:
    assert js.error("moment.duration(5, 'minutes')") == {
        "name": "Error",
        "message": "not supported by Exile: moment.duration",
    }
    assert js.error("moment().fromNow()")["message"].startswith("not supported by Exile")


# ---- tv4 -----------------------------------------------------------------------------------------------------------
D4 = "http://json-schema.org/draft-04/schema#"
OBJ = {
    "type": "object",
    "required": ["id", "name"],
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "name": {"type": "string", "minLength": 1},
        "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
    },
    "additionalProperties": False,
}
NODE = {
    "type": "object",
    "properties": {"kids": {"type": "array", "items": {"$ref": "#/definitions/node"}}, "v": {"type": "integer"}},
}
TREE = {"definitions": {"node": NODE}, "$ref": "#/definitions/node"}
SCHEMA_CASES: list[tuple[Any, Any]] = [
    ({"type": "string"}, "x"),
    ({"type": "string"}, 1),
    ({"type": "integer"}, 3),
    ({"type": "integer"}, 3.5),
    ({"type": "number"}, 3.5),
    ({"type": "number"}, "3"),
    ({"type": "boolean"}, False),
    ({"type": "boolean"}, 0),
    ({"type": "null"}, None),
    ({"type": "null"}, False),
    ({"type": "array"}, []),
    ({"type": "object"}, []),
    ({"type": ["string", "null"]}, None),
    ({"type": ["string", "null"]}, 5),
    ({"enum": [1, "a", None, {"k": [1, 2]}]}, {"k": [1, 2]}),
    ({"enum": [1, "a", None]}, True),
    ({"const": {"a": 1, "b": [True]}}, {"b": [True], "a": 1}),
    ({"const": 1}, True),
    (OBJ, {"id": 1, "name": "n", "tags": ["a", "b"]}),
    (OBJ, {"id": 1}),
    (OBJ, {"id": 0, "name": "n"}),
    (OBJ, {"id": 1, "name": "n", "extra": 1}),
    (OBJ, {"id": 1, "name": "n", "tags": ["a", "a"]}),
    (OBJ, {"id": "1", "name": "n"}),
    ({"additionalProperties": {"type": "integer"}, "properties": {"a": {}}}, {"a": "x", "b": 2}),
    ({"additionalProperties": {"type": "integer"}}, {"b": "2"}),
    ({"patternProperties": {"^x-": {"type": "string"}}, "additionalProperties": False}, {"x-a": "ok"}),
    ({"patternProperties": {"^x-": {"type": "string"}}, "additionalProperties": False}, {"x-a": 1}),
    ({"patternProperties": {"^x-": {"type": "string"}}, "additionalProperties": False}, {"y": "ok"}),
    ({"items": [{"type": "integer"}, {"type": "string"}]}, [1, "a", None]),
    ({"items": [{"type": "integer"}], "additionalItems": False}, [1, 2]),
    ({"items": [{"type": "integer"}], "additionalItems": {"type": "string"}}, [1, "x", "y"]),
    ({"items": [{"type": "integer"}], "additionalItems": {"type": "string"}}, [1, "x", 3]),
    ({"minItems": 2, "maxItems": 3}, [1]),
    ({"minItems": 2, "maxItems": 3}, [1, 2, 3, 4]),
    ({"minItems": 2, "maxItems": 3}, [1, 2]),
    ({"uniqueItems": True}, [1, True, "1", [1], {"a": 1}]),
    ({"uniqueItems": True}, [{"a": 1, "b": 2}, {"b": 2, "a": 1}]),
    ({"minLength": 2, "maxLength": 3}, "😀😀"),
    ({"minLength": 2, "maxLength": 3}, "😀"),
    ({"maxLength": 3}, "中文字符"),
    ({"pattern": "^[a-z]+\\d$"}, "abc1"),
    ({"pattern": "b"}, "abc"),
    ({"pattern": "^\\d+$"}, "12a"),
    ({"minimum": 5, "maximum": 10}, 5),
    ({"minimum": 5, "maximum": 10}, 10.5),
    ({"$schema": D4, "minimum": 5, "exclusiveMinimum": True}, 5),
    ({"$schema": D4, "maximum": 5, "exclusiveMaximum": True}, 4.99),
    ({"$schema": D4, "maximum": 5, "exclusiveMaximum": True}, 5),
    ({"exclusiveMinimum": 5}, 5),
    ({"exclusiveMinimum": 5}, 5.01),
    ({"exclusiveMaximum": 5}, 5),
    ({"multipleOf": 3}, 9),
    ({"multipleOf": 3}, 10),
    ({"multipleOf": 0.5}, 2.5),
    ({"minProperties": 1, "maxProperties": 2}, {}),
    ({"minProperties": 1, "maxProperties": 2}, {"a": 1, "b": 2, "c": 3}),
    ({"allOf": [{"type": "integer"}, {"minimum": 3}]}, 2),
    ({"allOf": [{"type": "integer"}, {"minimum": 3}]}, 4),
    ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, 1.5),
    ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, "s"),
    ({"oneOf": [{"type": "integer"}, {"minimum": 2}]}, 3),
    ({"oneOf": [{"type": "integer"}, {"minimum": 2}]}, 1),
    ({"oneOf": [{"type": "integer"}, {"minimum": 2}]}, 1.5),
    ({"oneOf": [{"type": "integer"}, {"minimum": 2}]}, 0.5),
    ({"not": {"type": "string"}}, "s"),
    ({"not": {"type": "string"}}, 1),
    ({"required": ["a"]}, "not an object"),
    ({"properties": {"a": {"type": "string"}}}, {"a": None}),
    ({"dependencies": {"card": ["billing"]}}, {"card": 1}),
    ({"dependencies": {"card": {"required": ["cvv"]}}}, {"card": 1, "cvv": 2}),
    ({"contains": {"type": "string"}}, [1, 2]),
    ({"contains": {"type": "string"}}, [1, "a"]),
    ({"propertyNames": {"maxLength": 2}}, {"abc": 1}),
    ({"if": {"type": "integer"}, "then": {"minimum": 10}, "else": {"type": "string"}}, 5),
    ({"if": {"type": "integer"}, "then": {"minimum": 10}, "else": {"type": "string"}}, "x"),
    ({"type": "object", "properties": {"a": True, "b": False}}, {"b": 1}),
    ({"properties": {"self": {"$ref": "#"}}, "type": "object"}, {"self": {"self": {}}}),
    ({"properties": {"self": {"$ref": "#"}}, "type": "object"}, {"self": {"self": 1}}),
    (TREE, {"v": 1, "kids": [{"v": 2, "kids": [{"v": 3}]}]}),
    (TREE, {"v": 1, "kids": [{"v": 2, "kids": [{"v": "3"}]}]}),
    ({"$defs": {"id": {"type": "string", "format": "uuid"}}, "items": {"$ref": "#/$defs/id"}}, ["a", 1]),
    ({"definitions": {"a/b": {"type": "integer"}}, "$ref": "#/definitions/a~1b"}, "x"),
    ({"unknownKeyword": 42, "type": "integer"}, 1),
]


def oracle(schema: Any, data: Any) -> bool:
    cls = (
        jsonschema.Draft4Validator
        if isinstance(schema, dict) and schema.get("$schema") == D4
        else jsonschema.Draft7Validator
    )
    return cls(schema).is_valid(data)


def test_tv4_matches_jsonschema(js: JS) -> None:
    assert len(SCHEMA_CASES) >= 40
    mismatches = []
    for schema, data in SCHEMA_CASES:
        want = oracle(schema, data)
        got = js(f"tv4.validate({lit(data)}, {lit(schema)})")
        result = js(f"tv4.validateResult({lit(data)}, {lit(schema)})")
        multiple = js(f"tv4.validateMultiple({lit(data)}, {lit(schema)})")
        errors = js(f"__exile_schema_errors({lit(data)}, {lit(schema)})")
        if not (got == result["valid"] == multiple["valid"] == want and (errors == []) == want):
            mismatches.append((schema, data, want, got, errors))
        assert (js("tv4.error") is None) == want
        assert result["missing"] == [] and multiple["missing"] == []
        assert (len(multiple["errors"]) == 0) == want
    assert mismatches == []


def test_tv4_error_details(js: JS) -> None:
    data = {"items": [{"id": "x"}, {"id": 2, "extra": True}]}
    item = {
        "type": "object",
        "required": ["id", "name"],
        "properties": {"id": {"type": "integer"}},
        "additionalProperties": False,
    }
    schema = {"type": "object", "properties": {"items": {"type": "array", "items": item}}}
    assert js(f"tv4.validate({lit(data)}, {lit(schema)})") is False
    error = js("tv4.error")
    assert error["code"] == 302 and error["dataPath"] == "/items/0"  # required is checked before properties
    assert error["schemaPath"] == "/properties/items/items/required/1"
    assert error["message"] == "Missing required property: name"
    assert js(f"tv4.validateResult({lit(data['items'][0]['id'])}, {lit(schema)}).error.code") == 0
    assert js(f"tv4.validate({lit({'items': [{'id': 'x', 'name': 1}]})}, {lit(schema)})") is False
    assert js("tv4.error.dataPath") == "/items/0/id"
    assert js("tv4.error.schemaPath") == "/properties/items/items/properties/id/type"
    assert js("tv4.error.message") == "Invalid type: string (expected integer)"
    multiple = js(f"tv4.validateMultiple({lit(data)}, {lit(schema)})")
    assert sorted(e["code"] for e in multiple["errors"]) == [0, 302, 302, 303]
    assert js(f"__exile_schema_errors({lit(data)}, {lit(schema)})") == [
        'data.items[0]: missing required property "name"',
        "data.items[0].id: expected integer, got string",
        'data.items[1]: missing required property "name"',
        "data.items[1].extra: property not allowed (additionalProperties)",
    ]
    assert js(
        "__exile_schema_errors({'a b': [null]}, {properties: {'a b': {items: {type: ['string', 'number']}}}})"
    ) == ['data["a b"][0]: expected string or number, got null']
    assert js("tv4.validate(1, {type: 'integer'})") is True
    assert js("tv4.error") is None


def test_tv4_formats(js: JS) -> None:
    cases = [
        ("date-time", "2024-02-03T04:05:06Z", True),
        ("date-time", "2024-02-03T04:05:06.123+02:00", True),
        ("date-time", "2024-02-30T04:05:06Z", False),
        ("date-time", "yesterday", False),
        ("email", "a@b.co", True),
        ("email", "no-at-sign", False),
        ("uri", "https://example.com/x?y=1", True),
        ("uri", "not a uri", False),
        ("uuid", "123e4567-e89b-12d3-a456-426614174000", True),
        ("uuid", "123e4567-e89b-12d3-a456", False),
        ("ipv4", "192.168.0.255", True),
        ("ipv4", "256.1.1.1", False),
        ("made-up-format", "anything", True),
    ]
    for fmt, value, valid in cases:
        assert js(f"tv4.validate({lit(value)}, {{format: {lit(fmt)}}})") is valid, (fmt, value)
    assert js("tv4.validate(5, {format: 'email'})") is True  # formats only constrain strings


def test_tv4_lenient_multiple_of_and_refs(js: JS) -> None:
    assert js("tv4.validate(0.3, {multipleOf: 0.1})") is True  # decimal fractions are not float-exact
    assert js("tv4.validate(0.35, {multipleOf: 0.1})") is False
    result = js("tv4.validateResult(1, {$ref: '#/definitions/nope'})")
    assert result["valid"] is False and result["missing"] == ["#/definitions/nope"]
    assert js("tv4.validate(1, {$ref: 'http://example.com/s.json'})") is False
    assert js("tv4.addSchema('http://example.com/s.json', {definitions: {n: {type: 'integer'}}})") is True
    assert js("tv4.validate(1, {$ref: 'http://example.com/s.json#/definitions/n'})") is True
    assert js("tv4.validate('1', {$ref: 'http://example.com/s.json#/definitions/n'})") is False
    js("tv4.reset()")
    assert js("tv4.validate(1, {$ref: 'http://example.com/s.json#/definitions/n'})") is False


def test_tv4_recursion_is_bounded(js: JS) -> None:
    loop = js("tv4.validateResult(1, {$ref: '#'})")
    assert loop["valid"] is False and loop["error"]["code"] == 600
    mutual = "{definitions: {a: {$ref: '#/definitions/b'}, b: {$ref: '#/definitions/a'}}, $ref: '#/definitions/a'}"
    assert js(f"tv4.validate(1, {mutual})") is False
    deep = "(() => { let d = 1; for (let i = 0; i < 5000; i++) d = {c: d}; return d; })()"
    schema = "{properties: {c: {$ref: '#'}}}"
    assert js(f"tv4.validate({deep}, {schema})") is False
    assert js("tv4.error.code") == 600
    assert js(f"__exile_schema_errors({deep}, {schema}).length") == 1
    assert js("tv4.validate({c: {c: {c: 1}}}, {properties: {c: {$ref: '#'}}})") is True


# ---- after the lockdown --------------------------------------------------------------------------------------------
FREEZE = """
(() => {
  const seen = new Set();
  function deepFreeze(o) {
    if (o === null || (typeof o !== 'object' && typeof o !== 'function') || seen.has(o)) return;
    seen.add(o);
    if (ArrayBuffer.isView(o)) return;  // typed arrays with elements cannot be frozen
    Object.freeze(o);
    for (const key of Reflect.ownKeys(o)) {
      const d = Object.getOwnPropertyDescriptor(o, key);
      if ('value' in d) deepFreeze(d.value);
      else { deepFreeze(d.get); deepFreeze(d.set); }
    }
    deepFreeze(Object.getPrototypeOf(o));
  }
  [Object, Array, Function, String, Number, Boolean, Date, RegExp, Map, Set, WeakMap, Error, TypeError,
   RangeError, Promise, Symbol, Math, JSON, Reflect, Uint8Array, Int32Array, Uint16Array, Int16Array, ArrayBuffer,
   BigInt, Object.getPrototypeOf(Uint8Array)].forEach(deepFreeze);
  [CryptoJS, moment, tv4, btoa, atob, __exile_schema_errors].forEach(deepFreeze);
  Object.freeze(globalThis);
  return Object.isFrozen(Object.prototype) && Object.isFrozen(CryptoJS.lib.WordArray.prototype) &&
    Object.isFrozen(moment.fn) && Object.isFrozen(tv4);
})()
"""


def test_libraries_work_after_freezing_everything() -> None:
    frozen = JS(load_context())
    assert frozen(FREEZE) is True
    use = "'use strict'; "  # strict mode: a write to a frozen object throws instead of failing silently
    assert (
        frozen(f"(() => {{ {use} return CryptoJS.HmacSHA256('m', 'k').toString(); }})()")
        == hmac.new(b"k", b"m", "sha256").hexdigest()
    )
    for alg in HASHES:
        assert (
            frozen(f"(() => {{ {use} return CryptoJS.{alg}('abc') + ''; }})()")
            == hashlib.new(alg.lower(), b"abc").hexdigest()
        )
    checks = {
        "CryptoJS.enc.Base64.stringify(CryptoJS.enc.Utf8.parse('hi 😀'))": base64.b64encode("hi 😀".encode()).decode(),
        "CryptoJS.enc.Hex.parse('0a0b').concat(CryptoJS.enc.Hex.parse('0c')).clone().toString(CryptoJS.enc.Base64)": (
            "CgsM"
        ),
        "CryptoJS.SHA1(CryptoJS.enc.Latin1.parse('x')).toString(CryptoJS.enc.Base64url)": base64.urlsafe_b64encode(
            hashlib.sha1(b"x").digest()
        )
        .decode()
        .rstrip("="),
        "CryptoJS.algo.SHA256.create().update('a').finalize('b').toString()": hashlib.sha256(b"ab").hexdigest(),
        "btoa('hello') + atob('aGVsbG8=')": "aGVsbG8=hello",
        "moment.utc('2024-01-31').add(1, 'M').startOf('day').format('YYYY-MM-DD HH:mm [ok]')": "2024-02-29 00:00 ok",
        "moment(0).set('year', 2000).endOf('month').toISOString()": "2000-01-31T23:59:59.999Z",
        "moment('03/02/2024', 'DD/MM/YYYY').diff(moment.utc('2024-01-01'), 'days')": 33,
        "String(moment(0))": "Thu Jan 01 1970 00:00:00 GMT+0000",
        "JSON.stringify({t: moment(0)})": '{"t":"1970-01-01T00:00:00.000Z"}',
        "moment(0).isBefore(moment(1), 'ms')": True,
        "tv4.validate({a: 1}, {properties: {a: {type: 'string'}}})": False,
        "tv4.error.dataPath": "/a",
        "tv4.validateMultiple([1, 'x'], {items: {type: 'integer'}, pattern: 'x'}).errors.length": 1,
        "tv4.validate('2024-02-03T04:05:06Z', {type: 'string', format: 'date-time', pattern: '^2024'})": True,
        "tv4.error": None,
        "__exile_schema_errors({id: 'x'}, {properties: {id: {type: 'integer'}}})": [
            "data.id: expected integer, got string"
        ],
    }
    for expr, want in checks.items():
        assert frozen(f"(() => {{ {use} return {expr}; }})()") == want, expr
    assert (
        frozen("(() => { 'use strict'; tv4.validate(1, {type: 'string'}); tv4.error = null; return tv4.error; })()")
        is None
    )
    assert frozen.error("btoa('€')")["name"] == "InvalidCharacterError"
    assert frozen.error("CryptoJS.AES.encrypt('a', 'b')")["message"] == "not supported by Exile: CryptoJS.AES"
    assert frozen.error("moment.duration(1)")["message"] == "not supported by Exile: moment.duration"
