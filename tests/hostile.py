"""Hypothesis strategies for hostile traffic: bodies, encodings, headers and signature formats.

Shared by the property tests at the door (``test_hostile_input.py``) and in the worker.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from hypothesis import strategies as st

from tests.helpers import SAMPLES, sample

SAMPLE_BODIES = [
    sample(provider, path.name)
    for provider in ("kobana", "celcoin", "transfeera")
    for path in sorted((SAMPLES / provider).glob("*.json"))
]

#: JSON tokens a strict parser must survive: huge and non-finite numbers, odd escapes.
_ATOMS = [
    "NaN", "Infinity", "-Infinity", "1e999999", "-1e-999999", "1E+999999999", "9" * 5000, "-" + "9" * 4301,
    "0.1", "349.9", "1e2", "-0", "true", "false", "null", '"\\ud800"', '"\\u0000"', '"\\uffff"', '"💸"',
    '"123.456.789-09"', '"12.345.678/0001-95"', '"2023-07-27T09:10:29.5587635"', '"0001-01-01T00:00:00+14:00"',
    '"9999-12-31 23:59:59 -2359"', "[]", "{}", '""', '"' + "x" * 300 + '"',
]  # fmt: skip
#: Keys our schemas look at, so random objects reach the interesting code paths.
_KEYS = [
    "event_code", "object", "id", "amount", "paid_amount", "webhook", "event", "resource", "data", "changes",
    "entity", "body", "status", "createTimestamp", "RequestBody", "TransactionType", "StatusCode", "webhookId",
    "value", "date", "version", "bank_billet_payments", "updated_at", "occurred_at", "test", "clientfinality",
]  # fmt: skip


def _object(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(st.sampled_from(_KEYS) | st.text(max_size=8).map(lambda s: s), children)
    # Duplicate keys are generated naturally (small key pool): the last one wins in Python's json.
    return st.lists(pair, max_size=6).map(lambda ps: "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in ps) + "}")


JSON_TEXT = st.recursive(
    st.sampled_from(_ATOMS) | st.integers().map(str) | st.text(max_size=20).map(json.dumps),
    lambda children: st.lists(children, max_size=5).map(lambda xs: "[" + ",".join(xs) + "]") | _object(children),
    max_leaves=25,
)

DEEP = st.sampled_from([50, 900, 1000, 5000, 100_000]).flatmap(
    lambda n: st.sampled_from(["[" * n + "]" * n, '{"a":' * n + "1" + "}" * n, "[" * n])
)

ENCODED = st.tuples(
    JSON_TEXT | DEEP,
    st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252"]),
).map(lambda te: te[0].encode(te[1], "surrogatepass" if te[1].startswith("utf") else "replace"))


@st.composite
def _mutated_sample(draw: st.DrawFn) -> bytes:
    """A real payload, damaged: a byte flipped, cut short, invalid UTF-8 or a BOM inserted, a key doubled."""
    raw = draw(st.sampled_from(SAMPLE_BODIES))
    how = draw(st.sampled_from(["flip", "truncate", "insert", "bom", "dup", "number", "nan"]))
    at = draw(st.integers(0, len(raw)))
    if how == "flip" and raw:
        i = min(at, len(raw) - 1)
        return raw[:i] + bytes([raw[i] ^ draw(st.integers(1, 255))]) + raw[i + 1 :]
    if how == "truncate":
        return raw[:at]
    if how == "insert":
        return (
            raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"\xef\xbb\xbf"])) + raw[at:]
        )
    if how == "bom":
        return draw(st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf\xef\xbb\xbf"])) + raw
    if how == "dup":
        return raw.replace(b"{", b'{"id":null,"amount":"1e999","event_code":7,', 1)
    if how == "number":
        return raw.replace(b"8000.0", b"1e999999999").replace(b"349.9", b"-" + b"9" * 5000)
    return raw.replace(b"8000.0", b"NaN").replace(b"349.9", b"Infinity").replace(b"100", b"-Infinity")


def _form(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


FORM = st.lists(
    st.tuples(
        st.sampled_from(["payload[event_code]", "payload[object][id]", "payload[object][amount]", "payload[]",
                         "payload[a][]", "payload[a][b]", "payload", "=", "payload[[x]]", "payload[a][][b]"]),
        st.sampled_from(["ping", "bank_billet.paid", "349.90", "NaN", "1e999999", "%ff", "%00", "", "&", "="]),
    ),
    max_size=6,
).map(lambda ps: _form("&".join(f"{k}={v}" for k, v in ps)))  # fmt: skip

BODIES = st.one_of(
    st.binary(max_size=256),
    ENCODED,
    _mutated_sample(),
    st.sampled_from(SAMPLE_BODIES),
    FORM,
    st.just(b'{"test": true}'),
    st.just(b""),
)

CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-16",
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=latin-1",
        "multipart/form-data; boundary=x",
        "text/plain",
        "application/octet-stream",
        "application/xml",
        "",
        "\u00e9/\u00e9",
        "application/json;;;;",
    ]
)

#: Header values a WSGI server can deliver: latin-1 without CR/LF (Werkzeug refuses newlines).
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=80)
HEX = st.binary(min_size=0, max_size=40).map(bytes.hex)

EXTRA_HEADERS = st.dictionaries(
    st.sampled_from(
        [
            "X-Request-Id", "X-Kobana-Delivery-Id", "X-Kobana-Event", "X-BoletoSimples-Delivery-Id",
            "X-Kobana-Environment", "Content-Encoding", "X-Forwarded-For", "Cookie", "Accept", "Expect",
            "X-Hub-Signature", "Transfer-Encoding-Hint",
        ]
    ),
    HEADER_TEXT,
    max_size=4,
)  # fmt: skip


def kobana_forgeries(secret: str) -> st.SearchStrategy[dict[str, str]]:
    """Kobana signature headers that must not authenticate the body they are sent with."""
    sha256 = st.one_of(
        HEX.map(lambda h: "sha256=" + h),
        HEADER_TEXT,
        st.just("sha256="),
        st.just("sha256=" + "A" * 64),
        st.integers(1, 20_000).map(lambda n: "sha256=" + "a" * n),
        HEX.map(lambda h: "sha256=" + hmac.new(secret.encode() + b" ", h.encode(), hashlib.sha256).hexdigest()),
        st.just("sha1=" + "0" * 40),
        st.just("sha256=" + "0" * 64 + ",sha256=" + "1" * 64),
    )
    legacy = HEX.map(lambda h: "sha1=" + h) | HEADER_TEXT
    return st.one_of(
        sha256.map(lambda v: {"X-Kobana-Signature": v}),
        legacy.map(lambda v: {"X-Hub-Signature": v}),
        st.tuples(sha256, legacy).map(lambda p: {"X-Kobana-Signature": p[0], "X-Hub-Signature": p[1]}),
        st.just({}),
    )


def transfeera_forgeries() -> st.SearchStrategy[dict[str, str]]:
    t = st.one_of(
        st.integers(0, 10**14).map(str), HEADER_TEXT, st.just(""), st.sampled_from(["1700000000", "17000000000000"])
    )
    v1 = st.one_of(HEX, st.just("0" * 64), HEADER_TEXT)
    element = st.one_of(
        t.map(lambda x: f"t={x}"), v1.map(lambda x: f"v1={x}"), v1.map(lambda x: f"v0={x}"), HEADER_TEXT
    )
    header = st.lists(element, max_size=12).map(",".join) | st.integers(4000, 20_000).map(lambda n: "t=1," + "v1=" * n)
    return header.map(lambda v: {"Transfeera-Signature": v}) | st.just({})


def celcoin_forgeries(user: str, password: str) -> st.SearchStrategy[dict[str, str]]:
    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    creds = st.one_of(
        st.binary(max_size=40).map(lambda b: "Basic " + b64(b)),
        st.text(max_size=20).map(lambda s: "Basic " + b64(f"{user}:{s}".encode("utf-8", "surrogatepass"))),
        st.text(max_size=20).map(lambda s: "Basic " + b64(f"{s}:{password}".encode("utf-8", "surrogatepass"))),
        st.just("Basic " + b64(f"{user}{password}".encode())),
        st.just("Basic " + b64(f"{user}:{password} ".encode())),
        st.just("basic " + b64(f"{user.upper()}:{password}".encode())),
        st.just("Bearer " + b64(f"{user}:{password}".encode())),
        st.just("Basic " + b64(f"{user}:{password}".encode())[:-2]),
        HEADER_TEXT,
        st.just("Basic"),
        st.just("Basic ==="),
    )
    return creds.map(lambda v: {"Authorization": v}) | st.just({})
