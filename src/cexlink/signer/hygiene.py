"""Pasted-key hygiene: what a copy from a translated web page or a chat brings into an API key.

Surrounding whitespace is trimmed silently; anything else is refused with the field, the position (1-based)
and the fix. Messages name characters by code point, never quote the value: a key is half a credential.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from ..errors import InputError

FIX = "copy it again with the exchange's copy button"


@dataclass(frozen=True)
class FieldRule:
    alphabet: re.Pattern[str]  # one character
    form: re.Pattern[str]  # the whole value
    shape: str  # what a right value looks like, for the message


def _rule(alphabet: str, form: str, shape: str) -> FieldRule:
    return FieldRule(re.compile(alphabet), re.compile(form), shape)


ALNUM_64 = _rule(r"[A-Za-z0-9]", r"[A-Za-z0-9]{64}", "64 letters and digits")
UUID = _rule(r"[0-9a-fA-F-]", r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
             "36 characters: hexadecimal digits in groups 8-4-4-4-12")
PASSPHRASE = _rule(r"[\x21-\x7e]", r"[\x21-\x7e]{6,64}", "6 to 64 printable characters")
BASE64 = _rule(r"[A-Za-z0-9+/=]", r"[A-Za-z0-9+/]{16,}={0,2}", "base64 text")
DEFAULT_RULE = _rule(r"[\x21-\x7e]", r"[\x21-\x7e]{8,512}", "8 to 512 printable characters without spaces")

# Per exchange and field: the shape of real keys (sandbox keys are made the same way).
RULES: dict[str, dict[str, FieldRule]] = {
    "binance": {"api_key": ALNUM_64, "secret": ALNUM_64},
    "binanceus": {"api_key": ALNUM_64, "secret": ALNUM_64},
    "binancetr": {"api_key": ALNUM_64, "secret": ALNUM_64},
    "okx": {"api_key": UUID, "secret": _rule(r"[0-9A-F]", r"[0-9A-F]{32}", "32 hexadecimal digits (0-9, A-F)"),
            "passphrase": PASSPHRASE},
    "bybit": {"api_key": _rule(r"[A-Za-z0-9]", r"[A-Za-z0-9]{18}", "18 letters and digits"),
              "secret": _rule(r"[A-Za-z0-9]", r"[A-Za-z0-9]{36}", "36 letters and digits")},
    "kucoin": {"api_key": _rule(r"[0-9a-f]", r"[0-9a-f]{24}", "24 hexadecimal digits"), "secret": UUID,
               "passphrase": PASSPHRASE},
    "kraken": {"api_key": BASE64, "secret": BASE64},
}


def _describe(ch: str) -> str:
    name = unicodedata.name(ch, "")
    code = f"U+{ord(ch):04X}"
    if ch.isspace():
        return f"a space ({code}{' ' + name if name else ''})"
    if unicodedata.category(ch) == "Cf":
        return f"an invisible character ({code}{' ' + name if name else ''})"
    if not ch.isascii():
        return f"a non-ASCII character ({code}{' ' + name if name else ''})"
    return f"a character not used in these keys ({code})"


def clean(exchange: str, field: str, value: str | None, required: bool = True) -> str | None:
    """Return the value trimmed, or raise InputError naming the field, the position and the fix."""
    if value is None or value.strip() == "":
        if required:
            raise InputError(field, "is required")
        return None
    trimmed = value.strip()
    for i, ch in enumerate(trimmed, start=1):
        if ch.isspace() or unicodedata.category(ch) == "Cf" or not ch.isascii() or not ch.isprintable():
            raise InputError(field, f"character {i} is {_describe(ch)}; {FIX}")
    rule = RULES.get(exchange, {}).get(field, DEFAULT_RULE)
    for i, ch in enumerate(trimmed, start=1):
        if not rule.alphabet.fullmatch(ch):
            raise InputError(field, f"character {i} is {_describe(ch)}; a {exchange} {field} is {rule.shape}; {FIX}")
    if not rule.form.fullmatch(trimmed):
        raise InputError(field, f"has {len(trimmed)} characters; a {exchange} {field} is {rule.shape}; {FIX}")
    return trimmed
