"""Text helpers shared by connectors."""
from __future__ import annotations

import ast
import re
import unicodedata

LEGAL_FORMS = {"sa", "sas", "sasu", "sarl", "eurl", "sci", "snc", "scop", "gmbh", "ag", "ltd", "limited", "inc",
               "llc", "bv", "nv", "oy", "ab", "srl", "spa", "the", "et", "and", "cie"}


def normalise_name(name: str) -> str:
    """Lower case, no accents, no punctuation, no legal form: 'Dupont & Fils S.A.R.L.' -> 'dupont fils'."""
    text = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode().lower()
    text = text.replace(".", "")
    text = "".join(ch if ch.isalnum() else " " for ch in text)
    return " ".join(word for word in text.split() if word not in LEGAL_FORMS)


_BYTES_LITERAL = re.compile(r"""b(['"])((?:\\.|(?!\1).)*)\1""")


def readable_bytes(data: bytes, *, limit: int = 40) -> str:
    """A few bytes as a person can read them: their printable characters in quotes when they are mostly
    text, else their values in hex ("bytes 25 50 44 46")."""
    more = "…" if len(data) > limit else ""
    data = bytes(data[:limit])
    if not data:
        return "nothing"
    printable = sum(32 <= b < 127 or b in b"\t\n\r" for b in data)
    if printable * 2 >= len(data):
        text = " ".join("".join(chr(b) if 32 <= b < 127 else " " for b in data).split())
        if text:
            return f"“{text}{more}”"
    return "bytes " + " ".join(f"{b:02X}" for b in data[:12]) + (" …" if len(data) > 12 else "")


def without_reprs(text: str) -> str:
    """``text`` with the Python byte strings a library put in it (b'%PDF-1.4\\n…') made readable."""

    def readable(match: re.Match) -> str:
        try:
            value = ast.literal_eval(match.group(0))
        except (ValueError, SyntaxError):
            return readable_bytes(match.group(2).encode("latin-1", "replace"))
        return readable_bytes(value)

    return _BYTES_LITERAL.sub(readable, text)


def readable_error(error: BaseException, *, limit: int = 200) -> str:
    """The first line of an exception's text, without Python representations: a KeyError names the
    missing field in words, byte strings are shown as their characters or bytes."""
    if isinstance(error, KeyError) and len(error.args) == 1:
        text = f"no field “{error.args[0]}”"
    else:
        text = str(error)
    text = without_reprs(text)
    return text.splitlines()[0][:limit] if text else ""
