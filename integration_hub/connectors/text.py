"""Text helpers shared by connectors."""
from __future__ import annotations

import unicodedata

LEGAL_FORMS = {"sa", "sas", "sasu", "sarl", "eurl", "sci", "snc", "scop", "gmbh", "ag", "ltd", "limited", "inc",
               "llc", "bv", "nv", "oy", "ab", "srl", "spa", "the", "et", "and", "cie"}


def normalise_name(name: str) -> str:
    """Lower case, no accents, no punctuation, no legal form: 'Dupont & Fils S.A.R.L.' -> 'dupont fils'."""
    text = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode().lower()
    text = text.replace(".", "")
    text = "".join(ch if ch.isalnum() else " " for ch in text)
    return " ".join(word for word in text.split() if word not in LEGAL_FORMS)
