"""Xero's ``where`` filter and ``order`` parameter, parsed and typed before anything is read.

Xero evaluates ``where`` with a Dynamic-LINQ dialect: ``Status=="AUTHORISED"``,
``Contact.ContactID==Guid("...")``, ``Date>=DateTime(2026,11,01)``, ``AND``/``OR``/``&&``/``||``,
``NOT``/``!``, parentheses, ``Name.Contains("x")``, ``.StartsWith``, ``.EndsWith``, ``.ToLower()``,
``!= null`` and booleans. This module parses that into a small tree, checks every field and every
operand type against the resource's field table (as Xero does: comparing a Guid field with a
string, or a boolean with a string, is a parse error there too) and returns a predicate over
records. Anything it does not understand raises ``WhereError`` with a message in Xero's words,
which the API answers as HTTP 400 ``QueryParseException`` (ErrorNumber 16).

Field tables map a name to a kind: ``"str"``, ``"guid"``, ``"decimal"``, ``"date"``,
``"datetime"``, ``"bool"``, or a nested table (``Contact.Name``). The predicate receives a
``lookup(record, path)`` function that returns the native value (``None`` when unset).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

UTC = dt.timezone.utc
Fields = dict[str, Any]  # name -> kind (str) or nested Fields
Lookup = Callable[[Any, tuple[str, ...]], Any]


class WhereError(ValueError):
    """A filter or order Xero would refuse; ``message`` is what the API answers."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# --------------------------------------------------------------------------------------------
# Tokens

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.|"")*")
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op>==|!=|<>|>=|<=|&&|\|\||[=<>!().,])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
""", re.VERBOSE)


@dataclass
class Token:
    kind: str  # string | number | op | name | end
    text: str
    at: int


def tokenize(text: str) -> list[Token]:
    tokens, at = [], 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if not match:
            raise WhereError(f"Syntax error '{text[at]}' (at index {at})")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group(), at))
        at = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _unquote(literal: str) -> str:
    body = literal[1:-1]
    return re.sub(r'\\(.)|""', lambda m: m.group(1) if m.group(1) is not None else '"', body)


# --------------------------------------------------------------------------------------------
# The tree. Every node knows its kind once checked: str, guid, decimal, date(time), bool, null.

KEYWORDS_AND = ("AND", "&&")
KEYWORDS_OR = ("OR", "||")
COMPARISONS = ("==", "=", "!=", "<>", ">", ">=", "<", "<=")
STRING_METHODS = ("Contains", "StartsWith", "EndsWith")
STRING_TRANSFORMS = ("ToLower", "ToUpper", "Trim", "ToString")


@dataclass
class Literal:
    kind: str
    value: Any


@dataclass
class FieldRef:
    path: tuple[str, ...]
    kind: str
    transforms: tuple[str, ...] = ()


@dataclass
class Compare:
    op: str
    left: Any
    right: Any


@dataclass
class Method:
    name: str
    target: Any
    argument: Any


@dataclass
class BoolOp:
    op: str  # and | or
    items: list


@dataclass
class Not:
    item: Any


class _Parser:
    def __init__(self, text: str, fields: Fields, type_name: str):
        self.text, self.fields, self.type_name = text, fields, type_name
        self.tokens = tokenize(text)
        self.pos = 0

    # ---- helpers ---------------------------------------------------------------------------

    def peek(self) -> Token:
        return self.tokens[self.pos]

    def take(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def accept(self, *texts: str) -> Token | None:
        token = self.peek()
        if token.kind in ("op", "name") and (token.text in texts or token.text.upper() in texts):
            return self.take()
        return None

    def expect(self, text: str) -> Token:
        token = self.take()
        if token.text != text:
            raise WhereError(f"'{text}' expected (at index {token.at})")
        return token

    # ---- grammar ---------------------------------------------------------------------------

    def parse(self):
        if self.peek().kind == "end":
            raise WhereError("Expression expected (at index 0)")
        node = self.or_expr()
        token = self.peek()
        if token.kind != "end":
            raise WhereError(f"Syntax error (at index {token.at})")
        return self.as_condition(node, 0)

    def or_expr(self):
        items = [self.and_expr()]
        while self.accept(*KEYWORDS_OR):
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("or", [self.as_condition(i) for i in items])

    def and_expr(self):
        items = [self.not_expr()]
        while self.accept(*KEYWORDS_AND):
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else BoolOp("and", [self.as_condition(i) for i in items])

    def not_expr(self):
        token = self.peek()
        if token.kind == "op" and token.text == "!" or token.kind == "name" and token.text.upper() == "NOT":
            self.take()
            return Not(self.as_condition(self.not_expr(), token.at))
        return self.comparison()

    def comparison(self):
        left = self.operand()
        token = self.peek()
        if token.kind == "op" and token.text in COMPARISONS:
            self.take()
            right = self.operand()
            return self.check_compare(token.text, left, right, token.at)
        return left

    def operand(self):
        token = self.take()
        if token.kind == "op" and token.text == "(":
            node = self.or_expr()
            self.expect(")")
            return node
        if token.kind == "string":
            return Literal("str", _unquote(token.text))
        if token.kind == "number":
            return Literal("decimal", Decimal(token.text))
        if token.kind != "name":
            raise WhereError("Expression expected" + (f" (at index {token.at})" if token.kind != "end" else ""))
        word = token.text
        lowered = word.lower()
        if lowered in ("true", "false"):
            return Literal("bool", lowered == "true")
        if lowered == "null":
            return Literal("null", None)
        if word == "Guid" and self.peek().text == "(":
            return self.guid_literal()
        if word == "DateTime" and self.peek().text in ("(", "."):
            return self.datetime_literal()
        return self.field(token)

    def guid_literal(self) -> Literal:
        self.expect("(")
        token = self.take()
        if token.kind != "string":
            raise WhereError(f"No applicable constructor exists in type 'Guid' (at index {token.at})")
        value = _unquote(token.text)
        self.expect(")")
        if not re.fullmatch(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}", value):
            raise WhereError("Guid should contain 32 digits with 4 dashes (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).")
        return Literal("guid", value.lower())

    def datetime_literal(self) -> Literal:
        if self.accept("."):
            name = self.take()
            if name.text != "Parse":
                raise WhereError(f"No applicable method '{name.text}' exists in type 'DateTime' (at index {name.at})")
            self.expect("(")
            token = self.take()
            if token.kind != "string":
                raise WhereError(f"No applicable method 'Parse' exists in type 'DateTime' (at index {token.at})")
            self.expect(")")
            text = _unquote(token.text)
            try:
                moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise WhereError(f"String was not recognized as a valid DateTime: '{text}'") from None
            return Literal("datetime", moment if moment.tzinfo else moment.replace(tzinfo=UTC))
        start = self.expect("(")
        numbers: list[int] = []
        while True:
            token = self.take()
            if token.kind != "number" or "." in token.text:
                raise WhereError(f"No applicable constructor exists in type 'DateTime' (at index {start.at})")
            numbers.append(int(token.text))
            if self.accept(")"):
                break
            self.expect(",")
        if len(numbers) not in (3, 6):
            raise WhereError(f"No applicable constructor exists in type 'DateTime' (at index {start.at})")
        try:
            moment = dt.datetime(*numbers, tzinfo=UTC)
        except ValueError as exc:
            raise WhereError(f"Year, Month, and Day parameters describe an un-representable DateTime: {exc}") from None
        return Literal("datetime", moment)

    def field(self, first: Token):
        path = [first.text]
        table: Any = self.fields
        kind = self.resolve(table, first.text, first.at, self.type_name)
        transforms: list[str] = []
        node: Any = None
        while self.peek().text == ".":
            self.take()
            name = self.take()
            if name.kind != "name":
                raise WhereError(f"Identifier expected (at index {name.at})")
            if isinstance(kind, dict) and not transforms:
                kind = self.resolve(kind, name.text, name.at, path[-1])
                path.append(name.text)
                continue
            if name.text == "HasValue" and not transforms:
                node = Compare("!=", FieldRef(tuple(path), self.kind_name(kind)), Literal("null", None))
                break
            if self.kind_name(kind) != "str" and name.text not in ("ToString",):
                raise WhereError(f"No applicable method '{name.text}' exists in type "
                                 f"'{_TYPE_NAMES.get(self.kind_name(kind), 'Object')}' (at index {name.at})")
            self.expect("(")
            if name.text in STRING_TRANSFORMS:
                self.expect(")")
                transforms.append(name.text)
                kind = "str"
                continue
            if name.text in STRING_METHODS:
                argument = self.operand()
                self.expect(")")
                if not isinstance(argument, Literal) or argument.kind != "str":
                    if not (isinstance(argument, FieldRef) and argument.kind == "str"):
                        raise WhereError(f"No applicable method '{name.text}' exists in type 'String' "
                                         f"(at index {name.at})")
                node = Method(name.text, FieldRef(tuple(path), "str", tuple(transforms)), argument)
                break
            raise WhereError(f"No applicable method '{name.text}' exists in type 'String' (at index {name.at})")
        if node is not None:
            return node
        if isinstance(kind, dict):
            raise WhereError(f"Operator or member expected after '{path[-1]}' (at index {first.at})")
        return FieldRef(tuple(path), kind, tuple(transforms))

    def resolve(self, table: Fields, name: str, at: int, type_name: str):
        for key, kind in table.items():
            if key.lower() == name.lower():
                return kind
        raise WhereError(f"No property or field '{name}' exists in type '{type_name}' (at index {at})")

    @staticmethod
    def kind_name(kind) -> str:
        return "object" if isinstance(kind, dict) else kind

    # ---- typing ----------------------------------------------------------------------------

    def check_compare(self, op: str, left, right, at: int) -> Compare:
        lk, rk = self.node_kind(left), self.node_kind(right)
        op = {"=": "==", "<>": "!="}.get(op, op)
        if "null" in (lk, rk):
            if op not in ("==", "!="):
                raise WhereError(f"Operator '{op}' incompatible with operand types '{_TYPE_NAMES.get(lk, lk)}' and "
                                 f"'{_TYPE_NAMES.get(rk, rk)}' (at index {at})")
            return Compare(op, left, right)
        compatible = lk == rk or {lk, rk} <= {"date", "datetime"}
        if not compatible or lk in ("bool", "object") and op not in ("==", "!="):
            raise WhereError(f"Operator '{op}' incompatible with operand types '{_TYPE_NAMES.get(lk, lk)}' and "
                             f"'{_TYPE_NAMES.get(rk, rk)}' (at index {at})")
        return Compare(op, left, right)

    @staticmethod
    def node_kind(node) -> str:
        if isinstance(node, Literal):
            return node.kind
        if isinstance(node, FieldRef):
            return node.kind if isinstance(node.kind, str) else "object"
        return "bool"  # comparisons, methods, boolean operators

    def as_condition(self, node, at: int | None = None):
        kind = self.node_kind(node)
        if kind != "bool":
            raise WhereError(f"Expression of type 'Boolean' expected (at index {at or 0})")
        if isinstance(node, (FieldRef, Literal)):
            return Compare("==", node, Literal("bool", True))
        return node


_TYPE_NAMES = {"str": "String", "guid": "Guid", "decimal": "Decimal", "date": "DateTime", "datetime": "DateTime",
               "bool": "Boolean", "null": "null", "object": "Object"}


# --------------------------------------------------------------------------------------------
# Evaluation


def _as_moment(value) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(), tzinfo=UTC)
    return None


def _value(node, record, lookup: Lookup):
    if isinstance(node, Literal):
        return node.value
    value = lookup(record, node.path)
    if value == "":
        value = None
    for transform in node.transforms:
        if value is None:
            break
        value = str(value)
        value = {"ToLower": str.lower, "ToUpper": str.upper, "Trim": str.strip}.get(transform, str)(value)
    return value


def _normalise(value, kind: str):
    if value is None:
        return None
    if kind in ("date", "datetime"):
        return _as_moment(value)
    if kind in ("str", "guid"):
        return str(value).lower()  # Xero's text comparisons are not case-sensitive
    if kind == "decimal":
        try:
            return Decimal(value)
        except (InvalidOperation, TypeError):
            return None
    return value


def _evaluate(node, record, lookup: Lookup) -> bool:
    if isinstance(node, BoolOp):
        if node.op == "and":
            return all(_evaluate(item, record, lookup) for item in node.items)
        return any(_evaluate(item, record, lookup) for item in node.items)
    if isinstance(node, Not):
        return not _evaluate(node.item, record, lookup)
    if isinstance(node, Method):
        target = _value(node.target, record, lookup)
        argument = _value(node.argument, record, lookup)
        if target is None or argument is None:
            return False
        target, argument = str(target).lower(), str(argument).lower()
        if node.name == "Contains":
            return argument in target
        if node.name == "StartsWith":
            return target.startswith(argument)
        return target.endswith(argument)
    if isinstance(node, Compare):
        left_kind = _Parser.node_kind(node.left)
        right_kind = _Parser.node_kind(node.right)
        kind = left_kind if left_kind != "null" else right_kind
        if isinstance(node.left, (Compare, Method, BoolOp, Not)):
            left = _evaluate(node.left, record, lookup)
        else:
            left = _normalise(_value(node.left, record, lookup), kind)
        if isinstance(node.right, (Compare, Method, BoolOp, Not)):
            right = _evaluate(node.right, record, lookup)
        else:
            right = _normalise(_value(node.right, record, lookup), kind)
        if node.op == "==":
            return left == right
        if node.op == "!=":
            return left != right
        if left is None or right is None:
            return False
        return {">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}[node.op]
    raise WhereError("Expression expected")  # pragma: no cover - the parser only builds the nodes above


def compile_where(text: str | None, fields: Fields, type_name: str) -> Callable[[Any, Lookup], bool] | None:
    """Parse and type-check ``text``; None when there is no filter. Raises WhereError."""
    if text is None or not text.strip():
        return None
    tree = _Parser(text, fields, type_name).parse()
    return lambda record, lookup: _evaluate(tree, record, lookup)


# --------------------------------------------------------------------------------------------
# order


def parse_order(text: str | None, fields: Fields, type_name: str) -> list[tuple[tuple[str, ...], bool]]:
    """``"InvoiceNumber ASC, Date DESC"`` -> [(("InvoiceNumber",), False), (("Date",), True)]."""
    if text is None or not text.strip():
        return []
    keys = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2:
            raise WhereError(f"Syntax error in order '{part.strip()}'")
        direction = words[1].upper() if len(words) == 2 else "ASC"
        if direction not in ("ASC", "DESC", "ASCENDING", "DESCENDING"):
            raise WhereError(f"Syntax error: '{words[1]}' is not ASC or DESC")
        path: list[str] = []
        table: Any = fields
        owner = type_name
        for name in words[0].split("."):
            if not isinstance(table, dict):
                raise WhereError(f"No property or field '{name}' exists in type '{owner}'")
            for key, kind in table.items():
                if key.lower() == name.lower():
                    path.append(key)
                    owner, table = key, kind
                    break
            else:
                raise WhereError(f"No property or field '{name}' exists in type '{owner}'")
        if isinstance(table, dict):
            raise WhereError(f"Cannot order by '{words[0]}'")
        keys.append((tuple(path), direction.startswith("DESC")))
    return keys


def sort_records(records: list, keys: list[tuple[tuple[str, ...], bool]], lookup: Lookup) -> list:
    """Stable multi-key sort; unset values sort first ascending, last descending (as SQL does)."""
    result = list(records)
    for path, descending in reversed(keys):
        def key(record, path=path):
            value = lookup(record, path)
            if value is None or value == "":
                return (0, 0)
            if isinstance(value, str):
                return (1, value.lower())
            if isinstance(value, dt.datetime) or isinstance(value, dt.date):
                return (1, _as_moment(value))
            return (1, value)
        result.sort(key=key, reverse=descending)
    return result
