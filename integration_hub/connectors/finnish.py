"""Finnish rules shared by the Netvisor and Procountor connectors, in plain Python (no Django).

Identifiers (business ID / Y-tunnus and its EU VAT form, the national reference number / viitenumero, the
RF creditor reference of ISO 11649, IBAN and BIC), the Finnish VAT rates by date, the VAT statuses with
each target's code for them, Netvisor's date and amount formats, and how a payment is split between fees,
interest and capital. Every check raises FinnishRuleError with a message an accountant can act on.
Sources and the places where the vendors' documentation is unclear are in docs/finnish-rules.md.
"""
from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Mapping, Sequence


class FinnishRuleError(ValueError):
    """A value breaks a Finnish rule; the message says which rule and what was expected."""


def _compact(value: str) -> str:
    """The value without spaces (people and banks print these numbers in groups)."""
    if not isinstance(value, str):
        raise FinnishRuleError(f"expected text, got {type(value).__name__}")
    return "".join(value.split())


# --- Business ID (Y-tunnus) -----------------------------------------------------------------------------
_BUSINESS_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2)
_BUSINESS_ID = re.compile(r"(\d{6,7})-(\d)")


def business_id_check_digit(first7: str) -> str:
    """The check digit of a business ID from its first seven digits ('0112038' -> '9').

    Raises FinnishRuleError when the remainder is 1: no business ID is ever issued with those digits."""
    digits = _compact(first7)
    if not re.fullmatch(r"\d{7}", digits):
        raise FinnishRuleError(f"a business ID's body is 7 digits, got {first7!r}")
    remainder = sum(int(d) * w for d, w in zip(digits, _BUSINESS_ID_WEIGHTS)) % 11
    if remainder == 1:
        raise FinnishRuleError(f"business ID {digits}-? cannot exist: its weighted sum leaves remainder 1, "
                               "and such numbers are never issued")
    return "0" if remainder == 0 else str(11 - remainder)


def validate_business_id(value: str) -> str:
    """The business ID in its normal form '1234567-8', or FinnishRuleError saying what is wrong.

    Old IDs with six digits before the hyphen get the leading zero they have today ('123456-7' -> '0123456-7')."""
    text = _compact(value)
    match = _BUSINESS_ID.fullmatch(text)
    if not match:
        raise FinnishRuleError(f"business ID {value!r} is not of the form 1234567-8 (seven digits, a hyphen and "
                               "a check digit)")
    body, check = match.group(1).rjust(7, "0"), match.group(2)
    expected = business_id_check_digit(body)
    if check != expected:
        raise FinnishRuleError(f"business ID {body}-{check} has a wrong check digit: expected {expected}")
    return f"{body}-{check}"


def business_id_to_vat(value: str) -> str:
    """The EU VAT number of a Finnish business ID: '0112038-9' -> 'FI01120389'."""
    body, check = validate_business_id(value).split("-")
    return f"FI{body}{check}"


def vat_to_business_id(value: str) -> str:
    """The business ID behind a Finnish EU VAT number: 'FI01120389' (or 'FI 0112 0389') -> '0112038-9'."""
    text = _compact(value).upper()
    if not re.fullmatch(r"FI\d{8}", text):
        raise FinnishRuleError(f"Finnish VAT number {value!r} is not of the form FI12345678 (FI and eight digits)")
    return validate_business_id(f"{text[2:9]}-{text[9]}")


# --- Finnish reference number (viitenumero) --------------------------------------------------------------
_REFERENCE_WEIGHTS = (7, 3, 1)


def reference_check_digit(base: str) -> str:
    """The check digit of a Finnish reference from its base (3 to 19 digits), weights 7, 3, 1 from the right."""
    digits = _compact(base)
    if not digits.isdigit() or not digits.isascii():
        raise FinnishRuleError(f"a reference number's base holds digits only, got {base!r}")
    if not 3 <= len(digits) <= 19:
        raise FinnishRuleError(f"a reference number's base is 3 to 19 digits, got {len(digits)} ({digits})")
    total = sum(int(d) * _REFERENCE_WEIGHTS[i % 3] for i, d in enumerate(reversed(digits)))
    return str(-total % 10)


def make_reference(base: str | int) -> str:
    """The full reference number (base + check digit): make_reference('123456') -> '1234561'."""
    digits = _compact(str(base))
    return digits + reference_check_digit(digits)


def validate_reference(value: str) -> str:
    """The reference number without spaces ('1 23456 1' -> '1234561'), or FinnishRuleError saying why not."""
    digits = _compact(value)
    if not digits:
        raise FinnishRuleError("the reference number is empty")
    if not digits.isdigit() or not digits.isascii():
        raise FinnishRuleError(f"reference number {value!r} may hold only digits and spaces")
    if len(digits) < 4:
        raise FinnishRuleError(f"reference number {digits} is too short: at least 4 digits, check digit included")
    if len(digits) > 20:
        raise FinnishRuleError(f"reference number {digits} is too long: at most 20 digits, check digit included")
    expected = reference_check_digit(digits[:-1])
    if digits[-1] != expected:
        raise FinnishRuleError(f"reference number {digits} has a wrong check digit: expected {expected}, "
                               f"i.e. {digits[:-1]}{expected}")
    return digits


def format_reference(value: str) -> str:
    """The reference number for print, in groups of five from the right: '12345678901' -> '1 23456 78901'."""
    digits = validate_reference(value)
    groups = []
    while digits:
        groups.insert(0, digits[-5:])
        digits = digits[:-5]
    return " ".join(groups)


# --- RF creditor reference (ISO 11649) and the mod-97 arithmetic it shares with IBAN -----------------------
def _mod97(text: str) -> int:
    """ISO 7064 MOD 97-10 of an alphanumeric string, letters counting A=10 ... Z=35."""
    remainder = 0
    for ch in text:
        value = int(ch, 36)
        remainder = (remainder * (100 if value > 9 else 10) + value) % 97
    return remainder


def make_rf_reference(finnish_reference: str) -> str:
    """The RF creditor reference carrying a Finnish reference: '2348236' -> 'RF332348236'.

    The Finnish reference is validated first and its leading zeros dropped, as the banks do."""
    digits = validate_reference(finnish_reference).lstrip("0")
    check = 98 - _mod97(digits + "RF00")
    return f"RF{check:02d}{digits}"


def validate_rf_reference(value: str) -> str:
    """The RF reference without spaces, upper case ('rf18 5390 0754 7034' -> 'RF18539007547034')."""
    text = _compact(value).upper()
    if not text.startswith("RF"):
        raise FinnishRuleError(f"RF reference {value!r} must start with RF")
    if not re.fullmatch(r"RF\d\d[0-9A-Z]{1,21}", text):
        raise FinnishRuleError(f"RF reference {value!r} is RF, two check digits and 1 to 21 letters or digits")
    if _mod97(text[4:] + text[:4]) != 1:
        expected = 98 - _mod97(text[4:] + "RF00")
        raise FinnishRuleError(f"RF reference {text} has wrong check digits: expected {expected:02d}, "
                               f"i.e. RF{expected:02d}{text[4:]}")
    return text


def rf_to_finnish(value: str) -> str:
    """The Finnish reference inside an RF reference: 'RF33 2348 236' -> '2348236'."""
    text = validate_rf_reference(value)
    inner = text[4:]
    if not inner.isdigit():
        raise FinnishRuleError(f"RF reference {text} carries letters, so it holds no Finnish reference number")
    return validate_reference(inner)


def format_rf_reference(value: str) -> str:
    """The RF reference for print, in groups of four: 'RF18 5390 0754 7034'."""
    text = validate_rf_reference(value)
    return " ".join(text[i:i + 4] for i in range(0, len(text), 4))


# --- IBAN and BIC -----------------------------------------------------------------------------------------
# IBAN lengths from the SWIFT IBAN registry, for the SEPA countries and a few neighbours.
IBAN_LENGTHS = {
    "AD": 24, "AT": 20, "AX": 18, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "EE": 20, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GI": 23, "GL": 18, "GR": 27, "HR": 21,
    "HU": 28, "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31,
    "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "VA": 22,
}


def validate_iban(value: str) -> str:
    """The IBAN without spaces, upper case, or FinnishRuleError naming the broken rule.

    Countries outside IBAN_LENGTHS are checked for shape (15 to 34 characters) and check digits only."""
    text = _compact(value).upper()
    if not text:
        raise FinnishRuleError("the IBAN is empty")
    if not re.fullmatch(r"[A-Z]{2}\d{2}[0-9A-Z]+", text):
        raise FinnishRuleError(f"IBAN {value!r} must be a country code, two check digits and letters or digits")
    country = text[:2]
    expected = IBAN_LENGTHS.get(country)
    if expected is not None and len(text) != expected:
        raise FinnishRuleError(f"IBAN {text} has {len(text)} characters; {country} IBANs have {expected}")
    if expected is None and not 15 <= len(text) <= 34:
        raise FinnishRuleError(f"IBAN {text} has {len(text)} characters; an IBAN has 15 to 34")
    if _mod97(text[4:] + text[:4]) != 1:
        raise FinnishRuleError(f"IBAN {text} has wrong check digits (mod 97): a digit is mistyped or swapped")
    return text


def format_iban(value: str) -> str:
    """The IBAN for print, in groups of four: 'FI21 1234 5600 0007 85'."""
    text = validate_iban(value)
    return " ".join(text[i:i + 4] for i in range(0, len(text), 4))


def validate_bic(value: str) -> str:
    """The BIC (SWIFT code) upper case, if it has the shape of one: 8 or 11 characters, e.g. 'NDEAFIHH'.

    Only the shape is checked; whether the bank exists is not."""
    text = _compact(value).upper()
    if not re.fullmatch(r"[A-Z]{4}[A-Z]{2}[0-9A-Z]{2}([0-9A-Z]{3})?", text):
        raise FinnishRuleError(f"BIC {value!r} is not 4 letters (bank), 2 letters (country), 2 letters or digits "
                               "(place) and optionally 3 more (branch)")
    return text


# --- VAT rates --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VatRate:
    """One Finnish VAT rate and the days it applied to (both ends included; no end = still in force)."""
    rate: Decimal
    start: dt.date
    end: dt.date | None
    label: str


# Arvonlisäverolaki 84, 85 and 85 a §, as amended; see docs/finnish-rules.md.
FINNISH_VAT_RATES: tuple[VatRate, ...] = (
    VatRate(Decimal("23"), dt.date(2010, 7, 1), dt.date(2012, 12, 31), "general"),
    VatRate(Decimal("13"), dt.date(2010, 7, 1), dt.date(2012, 12, 31), "reduced (food, restaurants)"),
    VatRate(Decimal("9"), dt.date(2010, 7, 1), dt.date(2012, 12, 31), "reduced (books, medicines, transport)"),
    VatRate(Decimal("24"), dt.date(2013, 1, 1), dt.date(2024, 8, 31), "general"),
    VatRate(Decimal("25.5"), dt.date(2024, 9, 1), None, "general"),
    VatRate(Decimal("14"), dt.date(2013, 1, 1), dt.date(2025, 12, 31), "reduced (food, restaurants; from 2025 "
                                                                        "also books, medicines, transport)"),
    VatRate(Decimal("13.5"), dt.date(2026, 1, 1), None, "reduced (what was at 14 %)"),
    VatRate(Decimal("10"), dt.date(2013, 1, 1), None, "reduced (from 2025 newspapers, periodicals)"),
    VatRate(Decimal("0"), dt.date(1994, 6, 1), None, "zero (exempt with right of deduction, reverse charge)"),
)


def _as_decimal(value: Decimal | int | str, what: str) -> Decimal:
    """A Decimal from a Decimal, int or text; floats are refused because they cannot hold cents exactly."""
    if isinstance(value, bool) or isinstance(value, float):
        raise FinnishRuleError(f"{what} must be a Decimal, an int or text, not {type(value).__name__}")
    try:
        number = Decimal(value) if not isinstance(value, str) else Decimal(value.strip())
    except (InvalidOperation, TypeError, ValueError):
        raise FinnishRuleError(f"{what} {value!r} is not a number") from None
    if not number.is_finite():
        raise FinnishRuleError(f"{what} {value!r} is not a finite number")
    return number


def finnish_vat_rates(on: dt.date) -> list[Decimal]:
    """The VAT rates in force on a day, highest first: on 2026-03-01 -> [25.5, 13.5, 10, 0]."""
    rates = [r.rate for r in FINNISH_VAT_RATES if r.start <= on and (r.end is None or on <= r.end)]
    return sorted(rates, reverse=True)


def finnish_vat_rate_valid(rate: Decimal | int | str, *, on: dt.date) -> bool:
    """Whether a VAT percentage was a Finnish rate on that day (24 until 2024-08-31, 25.5 from 2024-09-01...)."""
    return _as_decimal(rate, "VAT rate") in finnish_vat_rates(on)


# --- VAT statuses and the targets' codes for them ---------------------------------------------------------
class VatStatus(enum.Enum):
    """How a line is treated for Finnish VAT; the value is a short explanation of the treatment."""

    DOMESTIC_SALES = "Sale in Finland with Finnish VAT charged at a Finnish rate."
    DOMESTIC_PURCHASES = "Purchase in Finland with Finnish VAT on the invoice, deductible as input VAT."
    EU_SALES_GOODS = ("Goods sold to a VAT-registered buyer in another EU country: 0 % here, the buyer accounts "
                      "for VAT; box 311 of the return and the EU recapitulative statement.")
    EU_SALES_SERVICES = ("Services sold to a VAT-registered buyer in another EU country under the general rule: "
                         "0 % here, the buyer reverse-charges; box 312 and the recapitulative statement.")
    EU_PURCHASES_GOODS = ("Goods bought from another EU country: the buyer computes Finnish VAT (reverse charge) "
                          "and deducts it when entitled.")
    EU_PURCHASES_SERVICES = ("Services bought from another EU country: Finnish VAT computed by the buyer "
                             "(reverse charge).")
    CONSTRUCTION_SALES_REVERSE_CHARGE = ("Construction service (or scrap metal) sold to a buyer who resells "
                                         "construction services: no VAT on the invoice, the buyer pays it.")
    CONSTRUCTION_PURCHASES_REVERSE_CHARGE = ("Construction service (or scrap metal) bought under the domestic "
                                             "reverse charge: the buyer computes and deducts the VAT.")
    EXPORT_OUTSIDE_EU = "Goods exported or services sold outside the EU: no Finnish VAT (0 %)."
    IMPORT_OUTSIDE_EU = ("Goods imported from outside the EU: import VAT self-assessed by a VAT-registered "
                         "importer and deducted when entitled.")
    ZERO_RATED = "Domestic sale taxed at 0 % with the right of deduction (e.g. some vessels, gold to a bank)."
    NOT_VAT_LIABLE = ("Outside VAT: exempt without right of deduction (health, finance, insurance...), "
                      "out of scope or a party not liable to VAT; nothing goes on the return.")

    @property
    def explanation(self) -> str:
        return self.value

    @property
    def is_sale(self) -> bool:
        """True for sales, False for purchases; the two non-directional statuses count as sales."""
        return self not in _PURCHASE_STATUSES


_PURCHASE_STATUSES = frozenset({VatStatus.DOMESTIC_PURCHASES, VatStatus.EU_PURCHASES_GOODS,
                                VatStatus.EU_PURCHASES_SERVICES, VatStatus.CONSTRUCTION_PURCHASES_REVERSE_CHARGE,
                                VatStatus.IMPORT_OUTSIDE_EU})

# Netvisor's `vatcode` attribute (support.netvisor.fi article 77000557878 "VAT classes and VAT codes").
NETVISOR_VAT_CODES: Mapping[VatStatus, str] = {
    VatStatus.DOMESTIC_SALES: "KOMY",
    VatStatus.DOMESTIC_PURCHASES: "KOOS",
    VatStatus.EU_SALES_GOODS: "EUMY",
    VatStatus.EU_SALES_SERVICES: "EUPM312",
    VatStatus.EU_PURCHASES_GOODS: "EUOS",
    VatStatus.EU_PURCHASES_SERVICES: "EUPO",
    VatStatus.CONSTRUCTION_SALES_REVERSE_CHARGE: "RAMY",
    VatStatus.CONSTRUCTION_PURCHASES_REVERSE_CHARGE: "RAOS",
    VatStatus.EXPORT_OUTSIDE_EU: "EUUM",
    VatStatus.IMPORT_OUTSIDE_EU: "MAAL",
    VatStatus.ZERO_RATED: "KOMY0",
    VatStatus.NOT_VAT_LIABLE: "NONE",
}

# Every code Netvisor lists, with its name there; those only valid with a 0 % percentage are marked.
NETVISOR_KNOWN_CODES: Mapping[str, str] = {
    "NONE": "No VAT processing", "KOMY": "Domestic sales", "EUMY": "EU sales", "EUUM": "Sales outside the EU",
    "KOOS": "Domestic purchase", "EUOS": "EU purchase", "EUPO": "EU service purchase",
    "EUUO": "Non-EU purchases", "100": "100% deductible tax", "EUPM312": "312 EU service sales",
    "EUPM309": "309 EU service sales", "MUUL": "Other turnover excluding VAT (310)",
    "EVTO": "Purchases of goods from other EU countries, non-deductible",
    "EVPO": "Purchases of services from other EU countries, non-deductible",
    "EVKV": "Non-deductible reverse tax-liability", "KAVE": "Reverse tax-liability",
    "RAMY": "Sale of construction services", "RAOS": "Purchase of construction service",
    "EVRO": "Non-deductible purchase of construction service", "MAAL": "Outside EU import tax",
    "EVMA": "Outside EU import tax non-deductible", "KOMY0": "KOMY 0%",
}
NETVISOR_ZERO_ONLY_CODES = frozenset({"NONE", "EUMY", "EUUM", "EUUO", "100", "EUPM312", "EUPM309", "RAMY",
                                      "KOMY0"})

# Procountor's numeric `vatStatus` (the number in "vat_N" under "VAT defaults"). Only the numbers Procountor's
# public documentation shows are filled in; the others differ by nothing we could verify and must come from
# GET /vats/default of the company (pass them as `overrides`).
PROCOUNTOR_VAT_STATUSES: Mapping[VatStatus, int | None] = {
    VatStatus.DOMESTIC_SALES: 1,
    VatStatus.DOMESTIC_PURCHASES: 1,
    VatStatus.EU_SALES_GOODS: 5,
    VatStatus.EU_SALES_SERVICES: None,
    VatStatus.EU_PURCHASES_GOODS: None,
    VatStatus.EU_PURCHASES_SERVICES: None,
    VatStatus.CONSTRUCTION_SALES_REVERSE_CHARGE: None,
    VatStatus.CONSTRUCTION_PURCHASES_REVERSE_CHARGE: None,
    VatStatus.EXPORT_OUTSIDE_EU: 3,
    VatStatus.IMPORT_OUTSIDE_EU: None,
    VatStatus.ZERO_RATED: None,
    VatStatus.NOT_VAT_LIABLE: 12,
}


def netvisor_vat_code(status: VatStatus) -> str:
    """Netvisor's vatcode for a status: DOMESTIC_SALES -> 'KOMY'."""
    return NETVISOR_VAT_CODES[status]


def vat_status_from_netvisor(code: str) -> VatStatus:
    """The status behind a Netvisor vatcode, for the codes the hub writes ('KOMY' -> DOMESTIC_SALES)."""
    wanted = (code or "").strip().upper()
    for status, known in NETVISOR_VAT_CODES.items():
        if known == wanted:
            return status
    if wanted in NETVISOR_KNOWN_CODES:
        raise FinnishRuleError(f"Netvisor VAT code {wanted} ({NETVISOR_KNOWN_CODES[wanted]}) has no status in the "
                               "hub; map it by hand")
    raise FinnishRuleError(f"{code!r} is not a Netvisor VAT code; known codes: {', '.join(NETVISOR_KNOWN_CODES)}")


def check_netvisor_vat(code: str, rate: Decimal | int | str, *, on: dt.date) -> None:
    """Refuse a Netvisor vatcode / percentage pair Netvisor would refuse: unknown code, a non-zero percentage
    on a 0 %-only code (EU sales, exports, construction sales...), or a percentage not in force that day."""
    wanted = (code or "").strip().upper()
    if wanted not in NETVISOR_KNOWN_CODES:
        raise FinnishRuleError(f"{code!r} is not a Netvisor VAT code")
    percent = _as_decimal(rate, "VAT rate")
    if wanted in NETVISOR_ZERO_ONLY_CODES and percent != 0:
        raise FinnishRuleError(f"Netvisor VAT code {wanted} ({NETVISOR_KNOWN_CODES[wanted]}) takes 0 %, "
                               f"not {percent} %")
    if not finnish_vat_rate_valid(percent, on=on):
        in_force = ", ".join(str(r) for r in finnish_vat_rates(on))
        raise FinnishRuleError(f"{percent} % was not a Finnish VAT rate on {on.isoformat()}; rates then: {in_force}")


def procountor_vat_status(status: VatStatus, overrides: Mapping[VatStatus, int] | None = None) -> int:
    """Procountor's numeric vatStatus for a status; `overrides` (read from GET /vats/default) come first."""
    if overrides and status in overrides:
        return int(overrides[status])
    number = PROCOUNTOR_VAT_STATUSES[status]
    if number is None:
        raise FinnishRuleError(f"Procountor's number for {status.name.lower().replace('_', ' ')} is not in its "
                               "public documentation; pick it from the company's VAT statuses (GET /vats/default) "
                               "and save it in the VAT mapping")
    return number


# --- Netvisor formats -------------------------------------------------------------------------------------
NETVISOR_DATE_ATTRIBUTES = {"format": "ansi"}  # put on every date element Netvisor reads


def netvisor_date(day: dt.date) -> str:
    """A date as Netvisor reads it with format="ansi": '2026-03-01'."""
    if not isinstance(day, dt.date):
        raise FinnishRuleError(f"expected a date, got {type(day).__name__}")
    return f"{day.year:04d}-{day.month:02d}-{day.day:02d}"


def parse_netvisor_date(text: str) -> dt.date:
    """A date as Netvisor writes it: ANSI '2026-03-01' (also unpadded '2018-5-29') or Finnish '1.3.2026'."""
    value = (text or "").strip()
    ansi = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", value)
    finnish = re.fullmatch(r"(\d{1,2})\.(\d{1,2})\.(\d{4})", value)
    try:
        if ansi:
            return dt.date(int(ansi.group(1)), int(ansi.group(2)), int(ansi.group(3)))
        if finnish:
            return dt.date(int(finnish.group(3)), int(finnish.group(2)), int(finnish.group(1)))
    except ValueError:
        raise FinnishRuleError(f"{text!r} is not a real date") from None
    raise FinnishRuleError(f"{text!r} is not a Netvisor date (2026-03-01 or 1.3.2026)")


def netvisor_amount(value: Decimal | int, *, places: int | None = 2) -> str:
    """An amount as Netvisor writes it, with a decimal comma and no thousands separator: Decimal('-1234.5')
    -> '-1234,50'. It is never rounded here: more decimals than `places` is an error (places=None keeps all
    digits, for unit prices and quantities)."""
    number = _as_decimal(value, "amount")
    if places is not None:
        exponent = number.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > places:
            raise FinnishRuleError(f"amount {number} has more than {places} decimals; round it before sending")
        number = number.quantize(Decimal(1).scaleb(-places))
    text = format(number, "f")
    if text.startswith("-") and not number:
        text = text[1:]
    return text.replace(".", ",")


def parse_netvisor_amount(text: str) -> Decimal:
    """An amount from Netvisor text, exactly: '1240,00' -> Decimal('1240.00'); '-5000' and '12.40' too.

    Spaces (thousands groups in people's input) are ignored; a text with both ',' and '.' is refused because
    which one is the decimal mark cannot be known."""
    value = "".join((text or "").replace("\u00a0", " ").split())
    if "," in value and "." in value:
        raise FinnishRuleError(f"amount {text!r} has both ',' and '.'; which is the decimal mark is unclear")
    value = value.replace(",", ".")
    if not re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)", value):
        raise FinnishRuleError(f"{text!r} is not an amount")
    return Decimal(value)


# --- Payment allocation -----------------------------------------------------------------------------------
PAYMENT_PARTS = ("fees", "interest", "capital")
# Costs first, then interest, then capital: the usual Finnish order; see docs/finnish-rules.md for the source
# and for consumer debts, where the order may have to differ.
DEFAULT_ALLOCATION_ORDER = ("fees", "interest", "capital")


@dataclass(frozen=True)
class Allocation:
    """How one payment was applied; capital + interest + fees + overpayment == the payment, to the cent."""
    capital: Decimal
    interest: Decimal
    fees: Decimal
    overpayment: Decimal

    @property
    def total(self) -> Decimal:
        return self.capital + self.interest + self.fees + self.overpayment


def allocate_payment(amount: Decimal | int | str, *, capital_due: Decimal | int | str,
                     interest_due: Decimal | int | str, fees_due: Decimal | int | str,
                     order: Sequence[str] = DEFAULT_ALLOCATION_ORDER) -> Allocation:
    """Split a payment over what is due, part by part in `order`; what is left over is the overpayment.

    Plain Decimal subtraction, no rounding, so the parts always add up to the payment exactly."""
    paid = _as_decimal(amount, "payment")
    if paid < 0:
        raise FinnishRuleError(f"payment {paid} is negative; book a refund or correction instead")
    due = {"capital": _as_decimal(capital_due, "capital due"), "interest": _as_decimal(interest_due, "interest due"),
           "fees": _as_decimal(fees_due, "fees due")}
    for part, value in due.items():
        if value < 0:
            raise FinnishRuleError(f"{part} due is negative ({value})")
    steps = tuple(order)
    if sorted(steps) != sorted(PAYMENT_PARTS):
        raise FinnishRuleError(f"allocation order {steps!r} must name each of {', '.join(PAYMENT_PARTS)} once")
    applied = {}
    left = paid
    for part in steps:
        applied[part] = min(left, due[part])
        left -= applied[part]
    return Allocation(capital=applied["capital"], interest=applied["interest"], fees=applied["fees"],
                      overpayment=left)
