"""Reading the XML a Netvisor client sends and writing the XML Netvisor answers, for the sandbox.

Netvisor matches element names without regard to case (clients send ``<Salespayment>`` as well as
``<SalesPayment>``), writes decimals with a comma and dates either in ANSI form (``2024-01-31``,
``format="ansi"``) or the Finnish one (``31.1.2024``). Requests are parsed with defusedxml only.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Iterable
from xml.etree.ElementTree import Element, SubElement, tostring  # building only; parsing goes through defusedxml

from defusedxml import ElementTree as SafeET


class XmlError(ValueError):
    """The body is not XML a Netvisor resource can read; the message is what Netvisor would say."""


class Node:
    """An element whose children and attributes are found whatever the case of their names."""

    def __init__(self, element: Element):
        self.element = element
        self.name = element.tag

    def children(self, name: str) -> list["Node"]:
        low = name.lower()
        return [Node(child) for child in self.element if isinstance(child.tag, str) and child.tag.lower() == low]

    def child(self, name: str) -> "Node | None":
        found = self.children(name)
        return found[0] if found else None

    def all(self) -> list["Node"]:
        return [Node(child) for child in self.element if isinstance(child.tag, str)]

    @property
    def text(self) -> str:
        return (self.element.text or "").strip()

    def value(self, name: str) -> str | None:
        """The text of child ``name`` (None when the element is absent, "" when it is empty)."""
        node = self.child(name)
        return None if node is None else node.text

    def attr(self, name: str, default: str | None = None) -> str | None:
        low = name.lower()
        for key, value in self.element.attrib.items():
            if key.lower() == low:
                return value
        return default


def decode_body(raw: bytes, content_type: str) -> str:
    """The request text: the charset the client declared, else UTF-8, else ISO-8859-15 (what Netvisor asks
    for when a message carries Scandinavian letters without a declaration)."""
    charset = ""
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset":
            charset = value.strip().strip('"')
    for encoding in ([charset] if charset else []) + ["utf-8", "iso-8859-15"]:
        try:
            return raw.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    raise XmlError("Message encoding could not be read")


def parse_root(raw: bytes, content_type: str = "") -> Node:
    text = decode_body(raw, content_type).lstrip("\ufeff").strip()
    if not text:
        raise XmlError("Message is empty")
    if text.startswith("<?xml"):
        # The text is already decoded: a declared encoding must not make the parser decode it again.
        text = text[text.find("?>") + 2:].lstrip()
    try:
        root = SafeET.fromstring(text)
    except SafeET.ParseError as exc:
        raise XmlError(f"Message is not well-formed XML: {exc}") from None
    except Exception as exc:  # defusedxml refusals (entities, DTDs): never processed
        raise XmlError(f"Message refused: {type(exc).__name__}") from None
    if root.tag.lower() != "root":
        raise XmlError("Message must begin with the element <Root>")
    return Node(root)


def parse_decimal(text: str | None, what: str) -> Decimal:
    if text is None or not text.strip():
        raise XmlError(f"Element {what} is missing or empty")
    cleaned = text.strip().replace(" ", "").replace("\u00a0", "").replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise XmlError(f"Element {what} has an invalid decimal value '{text.strip()}'") from None
    if not value.is_finite():
        raise XmlError(f"Element {what} has an invalid decimal value '{text.strip()}'")
    return value


def parse_date(node: Node | None, what: str, *, required: bool = True) -> dt.date | None:
    """A date element: ``format="ansi"`` (the default) is YYYY-MM-DD, ``format="finnish"`` d.m.yyyy."""
    if node is None or not node.text:
        if required:
            raise XmlError(f"Element {what} is missing or empty")
        return None
    text, fmt = node.text, (node.attr("format") or "ansi").lower()
    try:
        if fmt == "ansi":
            year, month, day = text.split("-")
            return dt.date(int(year), int(month), int(day))
        if fmt == "finnish":
            day, month, year = text.split(".")
            return dt.date(int(year), int(month), int(day))
    except ValueError:
        pass
    else:
        raise XmlError(f"Element {what} has an unknown date format '{fmt}' (use ansi)")
    raise XmlError(f"Element {what} has an invalid date '{text}' for format {fmt}")


def query_date(text: str | None, what: str) -> dt.date | None:
    """A date given as a query parameter (ANSI)."""
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise XmlError(f"Parameter {what} has an invalid date '{text}'") from None


# ---- writing ---------------------------------------------------------------------------------


def fi_decimal(value: Decimal, places: int = 2) -> str:
    """A decimal as Netvisor writes it: comma separator, ``places`` decimals."""
    quantum = Decimal(1).scaleb(-places)
    return f"{value.quantize(quantum):f}".replace(".", ",")


def fi_date(value: dt.date) -> str:
    return f"{value.day}.{value.month}.{value.year}"


def add(parent: Element, tag: str, text=None, **attrs) -> Element:
    element = SubElement(parent, tag, {k: str(v) for k, v in attrs.items() if v is not None})
    if text is not None:
        element.text = text if isinstance(text, str) else str(text)
    return element


def add_all(parent: Element, pairs: Iterable[tuple[str, object]]) -> None:
    for tag, value in pairs:
        add(parent, tag, "" if value is None else value)


def envelope(now: dt.datetime, *, failed: tuple[str, str] | None = None) -> Element:
    """``<Root><ResponseStatus>``: OK, or FAILED with a second Status "CODE :: text", and the time stamp."""
    root = Element("Root")
    status = add(root, "ResponseStatus")
    if failed:
        add(status, "Status", "FAILED")
        add(status, "Status", f"{failed[0]} :: {failed[1]}")
    else:
        add(status, "Status", "OK")
    add(status, "TimeStamp", now.strftime("%d.%m.%Y %H:%M:%S"))
    return root


def serialise(root: Element) -> bytes:
    return b'<?xml version="1.0" encoding="utf-8" standalone="yes"?>\n' + tostring(root, encoding="utf-8",
                                                                                   xml_declaration=False)
