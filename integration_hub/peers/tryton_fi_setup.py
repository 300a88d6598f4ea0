"""Turn a Tryton invoicing database of the peer into a Finnish company (issue 17) through proteus.

Run in a subprocess like ``tryton_setup`` (same command line, same result line)::

    python -m integration_hub.peers.tryton_fi_setup --config trytond.conf --database DB \
        seed_finnish [--kwargs '{"json": "object"}']

``TrytonPeer.run_setup`` sends the actions named ``seed_finnish`` and ``fi_*`` here. They live apart from
``tryton_setup.py`` because the template keys hash that file: seeding a Finnish company must rebuild no
template. There is no Finnish chart of accounts for Tryton on PyPI, so a Finnish company is an ordinary
invoicing-kind database (French chart, renamed by ``create_database(company_name=...)``) given Finnish
VAT taxes, Finnish parties and invoices in euros by ``seed_finnish``.

Actions:

* ``seed_finnish`` -- the company's own business ID and address, the Finnish VAT taxes (sales and
  purchases, the French ones deactivated), customers and suppliers with business IDs (Y-tunnus) and
  VAT numbers, posted customer and supplier invoices, some customer invoices paid.
* ``fi_taxes`` -- only the Finnish taxes (idempotent), with their ids by name.
"""
from __future__ import annotations

import datetime as dt
import random
import sys
from dataclasses import dataclass
from decimal import Decimal

from integration_hub.connectors import finnish  # plain Python, no Django: safe in a trytond process
from integration_hub.peers import tryton_setup as base
from integration_hub.peers.tryton_setup import _account_by_code, _company, _country, _model, _parse_date

# Countries the Finnish seed needs that the template does not have.
COUNTRIES = [("FI", "Finland"), ("SE", "Sweden"), ("EE", "Estonia"), ("NO", "Norway")]

# Accounts of the French chart the Finnish taxes book on (the company keeps that chart).
SALES_VAT_ACCOUNT = "44571"      # VAT collected
DEDUCTIBLE_VAT_ACCOUNT = "44566"  # VAT deductible
EU_DUE_VAT_ACCOUNT = "4452"      # VAT due on intra-EU acquisitions (self-assessed)
SALE_ACCOUNTS = ["706", "7071"]
PURCHASE_ACCOUNTS = ["6071", "604", "6061"]
RECEIVABLE, PAYABLE = "4111", "4011"

SALE_GROUP = ("ALV myynnit", "FI-ALV-MYYNTI", "sale")
PURCHASE_GROUP = ("ALV ostot", "FI-ALV-OSTO", "purchase")


@dataclass(frozen=True)
class FinnishTax:
    """One Finnish tax as it is created in Tryton. ``rate`` is a percentage; ``reverse`` makes a reverse
    charge: a parent with a +rate (deductible) and a -rate (due) child per general rate in force."""
    key: str
    name: str
    description: str
    kind: str  # sale | purchase
    rate: str
    reverse: bool = False
    legal_notice: str = ""


# Names as a Finnish accountant reads them; the description says it in English.
FINNISH_TAXES = [
    FinnishTax("sale_25_5", "ALV 25,5 % myynnit", "Sales, general rate 25.5 %", "sale", "25.5"),
    FinnishTax("sale_14", "ALV 14 % myynnit", "Sales, reduced rate 14 % (until 2025)", "sale", "14"),
    FinnishTax("sale_13_5", "ALV 13,5 % myynnit", "Sales, reduced rate 13.5 % (from 2026)", "sale", "13.5"),
    FinnishTax("sale_10", "ALV 10 % myynnit", "Sales, reduced rate 10 %", "sale", "10"),
    FinnishTax("sale_0", "ALV 0 % myynnit", "Domestic sales at 0 %", "sale", "0"),
    FinnishTax("sale_eu_goods", "ALV 0 % EU-tavaramyynti", "Intra-EU sales of goods 0 %", "sale", "0",
               legal_notice="Yhteisömyynti, AVL 72 a § / Intra-Community supply"),
    FinnishTax("sale_eu_services", "ALV 0 % EU-palvelumyynti", "Sales of services to other EU countries 0 %",
               "sale", "0", legal_notice="Käännetty verovelvollisuus, AVL 65 § / Reverse charge"),
    FinnishTax("sale_construction", "ALV 0 % rakentamispalvelut, käännetty verovelvollisuus",
               "Construction services sold, reverse charge (0 % shown)", "sale", "0",
               legal_notice="Käännetty verovelvollisuus, AVL 8 c § / Reverse charge"),
    FinnishTax("sale_export", "ALV 0 % vienti EU:n ulkopuolelle", "Exports outside the EU 0 %", "sale", "0",
               legal_notice="Vienti, AVL 70 § / Export"),
    FinnishTax("purchase_25_5", "ALV 25,5 % ostot", "Purchases, general rate 25.5 %", "purchase", "25.5"),
    FinnishTax("purchase_14", "ALV 14 % ostot", "Purchases, reduced rate 14 % (until 2025)", "purchase", "14"),
    FinnishTax("purchase_13_5", "ALV 13,5 % ostot", "Purchases, reduced rate 13.5 % (from 2026)", "purchase", "13.5"),
    FinnishTax("purchase_10", "ALV 10 % ostot", "Purchases, reduced rate 10 %", "purchase", "10"),
    FinnishTax("purchase_0", "ALV 0 % ostot", "Domestic purchases at 0 %", "purchase", "0"),
    FinnishTax("purchase_eu_goods", "ALV EU-tavaraostot, käännetty verovelvollisuus",
               "Goods bought from other EU countries, reverse charge", "purchase", "25.5", reverse=True),
    FinnishTax("purchase_eu_services", "ALV EU-palveluostot, käännetty verovelvollisuus",
               "Services bought from other EU countries, reverse charge", "purchase", "25.5", reverse=True),
    FinnishTax("purchase_construction", "ALV rakentamispalveluostot, käännetty verovelvollisuus",
               "Construction services bought, reverse charge", "purchase", "25.5", reverse=True),
]
TAXES_BY_KEY = {tax.key: tax for tax in FINNISH_TAXES}

_PLACES = ["Pohjolan", "Saimaan", "Hämeen", "Lapin", "Karjalan", "Pirkanmaan", "Kainuun", "Uudenmaan",
           "Satakunnan", "Pohjanmaan", "Kymen", "Savon"]
_TRADES = ["Konepaja", "Ohjelmistot", "Kuljetus", "Sähkö", "Leipomo", "Metalli", "Kaluste", "Tilitoimisto",
           "Paino", "LVI-palvelu", "Puutarha", "Tekniikka"]
_SUFFIXES = ["Oy", "Oy", "Oy", "Oy Ab", "Ab"]
_FI_CITIES = [("Helsinki", "00100"), ("Espoo", "02100"), ("Tampere", "33100"), ("Turku", "20100"),
              ("Oulu", "90100"), ("Jyväskylä", "40100"), ("Vaasa", "65100"), ("Kuopio", "70100"),
              ("Lahti", "15110")]
_STREETS = ["Mannerheimintie", "Hämeenkatu", "Kauppurienkatu", "Aleksanterinkatu", "Puistokatu",
            "Teollisuustie", "Rantakatu", "Koulukatu", "Satamakatu"]
# One customer elsewhere in the EU (services), one outside it (exports), one supplier in the EU.
_EU_CUSTOMER = ("SE", "Nordisk Programvara AB", "Drottninggatan 12", "Stockholm", "111 51")
_EXPORT_CUSTOMER = ("NO", "Fjord Maskin AS", "Karl Johans gate 5", "Oslo", "0154")
_EU_SUPPLIER = ("EE", "Baltic Cloud OÜ", "Narva mnt 7", "Tallinn", "10117")

_SALE_LINES = {
    "25.5": ["Ohjelmistokehitys", "Asiantuntijapalvelu", "Ylläpitopalvelu", "Laitetoimitus", "Konsultointi"],
    "reduced": ["Ravintolapalvelut", "Elintarvikkeet", "Kirjat"],
    "10": ["Sanomalehtitilaus"],
    "0": ["Veroton myynti"],
}
_PURCHASE_LINES = {
    "25.5": ["Toimistotarvikkeet", "Sähkö", "Tietoliikenne", "Laitevuokra", "Kuljetuspalvelu"],
    "reduced": ["Henkilöstöravintola", "Kahvio-tuotteet"],
    "10": ["Ammattilehtien tilaus"],
    "0": ["Veroton osto"],
}


# --------------------------------------------------------------------------- identifiers

def make_business_id(rng: random.Random) -> str:
    """A business ID (Y-tunnus) with a correct check digit; bodies whose check digit cannot exist are skipped."""
    while True:
        body = str(rng.randint(1, 3)) + "".join(str(rng.randint(0, 9)) for _ in range(6))
        try:
            return f"{body}-{finnish.business_id_check_digit(body)}"
        except finnish.FinnishRuleError:
            continue


def _make_se_vat(rng: random.Random) -> str:
    """A Swedish VAT number: SE, a limited company's organisation number (Luhn) and 01."""
    body = "55" + "".join(str(rng.randint(0, 9)) for _ in range(7))
    return f"SE{body}{base._luhn_digit(body)}01"


def _make_no_vat(rng: random.Random) -> str:
    """A Norwegian VAT number (NO + organisation number + MVA), checked with python-stdnum."""
    from stdnum.no import mva

    while True:
        candidate = "NO9" + "".join(str(rng.randint(0, 9)) for _ in range(8)) + "MVA"
        if mva.is_valid(candidate):
            return mva.compact(candidate)


# --------------------------------------------------------------------------- taxes

def _rate_period(rate: str) -> tuple[dt.date | None, dt.date | None]:
    """The days a Finnish rate applies (finnish.FINNISH_VAT_RATES); 0 % has no dates."""
    if Decimal(rate) == 0:
        return None, None
    found = [r for r in finnish.FINNISH_VAT_RATES if r.rate == Decimal(rate)]
    if len(found) != 1:
        raise ValueError(f"no single period for the Finnish rate {rate} %")
    return found[0].start, found[0].end


def _general_rates_since_2013():
    return [r for r in finnish.FINNISH_VAT_RATES if r.label == "general" and r.start.year >= 2013]


def _tax_group(name: str, code: str, kind: str):
    Group = _model("account.tax.group")
    found = Group.find([("code", "=", code)], limit=1)
    if found:
        return found[0]
    group = Group(name=name, code=code, kind=kind)
    group.save()
    return group


def _deactivate_french_taxes(company) -> int:
    """The French chart's taxes made inactive, so the company offers only Finnish rates (old invoices would
    still read them: inactive taxes stay readable)."""
    Tax = _model("account.tax")
    french = Tax.find([("company", "=", company.id), ("template", "!=", None)])
    if french:
        # Taxes made from a template are read-only unless overridden.
        Tax._proxy.write([t.id for t in french], {"template_override": True, "active": False}, _context())
    return len(french)


def _context():
    from proteus import config

    return config.get_config().context


def ensure_finnish_taxes(company) -> dict[str, int]:
    """The Finnish taxes of FINNISH_TAXES in this company, created when missing; ids by key."""
    Tax = _model("account.tax")
    groups = {"sale": _tax_group(*SALE_GROUP), "purchase": _tax_group(*PURCHASE_GROUP)}
    existing = {t.name: t for t in Tax.find([("company", "=", company.id), ("parent", "=", None)])}
    sales_vat = _account_by_code(SALES_VAT_ACCOUNT)
    deductible = _account_by_code(DEDUCTIBLE_VAT_ACCOUNT)
    eu_due = _account_by_code(EU_DUE_VAT_ACCOUNT)
    ids = {}
    for sequence, spec in enumerate(FINNISH_TAXES, start=1):
        if spec.name in existing:
            ids[spec.key] = existing[spec.name].id
            continue
        tax = Tax(name=spec.name, description=spec.description, company=company, group=groups[spec.kind],
                  sequence=sequence)
        if spec.legal_notice:
            tax.legal_notice = spec.legal_notice
        if not spec.reverse:
            tax.type = "percentage"
            tax.rate = Decimal(spec.rate) / 100
            tax.start_date, tax.end_date = _rate_period(spec.rate)
            account = sales_vat if spec.kind == "sale" else deductible
            tax.invoice_account = tax.credit_note_account = account
        else:
            # Reverse charge: the buyer deducts and owes the same VAT; one pair of children per general rate so
            # an invoice dated in either period is computed at the rate of its day.
            tax.type = "none"
            due = eu_due if spec.key.startswith("purchase_eu") else sales_vat
            for period in _general_rates_since_2013():
                for sign, account, label in ((1, deductible, "vähennettävä"), (-1, due, "maksettava")):
                    child = tax.childs.new()
                    child.name = f"{spec.name} {finnish_percent(period.rate)} % ({label})"
                    child.description = f"{spec.description}, {period.rate} % ({'deductible' if sign > 0 else 'due'})"
                    child.company = company
                    child.type = "percentage"
                    child.rate = sign * period.rate / 100
                    child.start_date, child.end_date = period.start, period.end
                    child.invoice_account = child.credit_note_account = account
        tax.save()
        ids[spec.key] = tax.id
    return ids


def finnish_percent(rate: Decimal | str) -> str:
    """25.5 -> '25,5' (Finnish decimal comma)."""
    return format(Decimal(rate).normalize(), "f").replace(".", ",")


def fi_taxes(cfg) -> dict:
    """The Finnish taxes of the company (created when missing): ids by name and by key."""
    ids = ensure_finnish_taxes(_company())
    return {"taxes": {TAXES_BY_KEY[k].name: i for k, i in ids.items()}, "tax_keys": ids}


# --------------------------------------------------------------------------- parties

def _ensure_countries() -> None:
    Country = _model("country.country")
    for code, name in COUNTRIES:
        if not Country.find([("code", "=", code)]):
            Country(name=name, code=code).save()


def _finnish_company_party(company, rng: random.Random) -> dict:
    """The company's own party: a Helsinki address, a business ID and its VAT number instead of French ones."""
    Identifier = _model("party.identifier")
    party = company.party
    business_id = make_business_id(rng)
    old = [i.id for i in party.identifiers]
    if old:
        Identifier._proxy.delete(old, _context())
    party.reload()
    address = party.addresses[0] if party.addresses else party.addresses.new()
    address.street, address.postal_code, address.city = "Mannerheimintie 10", "00100", "Helsinki"
    address.country = _country("FI")
    party.identifiers.new(type="fi_ytunnus", code=business_id)
    party.identifiers.new(type="eu_vat", code=finnish.business_id_to_vat(business_id))
    party.save()
    return {"id": party.id, "name": party.name, "business_id": business_id,
            "vat_number": finnish.business_id_to_vat(business_id)}


def _party(name: str, street: str, city: str, postal_code: str, country: str, identifiers: list[tuple[str, str]],
           role: str, profile: str):
    Party = _model("party.party")
    party = Party(name=name)
    address = party.addresses[0] if party.addresses else party.addresses.new()
    address.street, address.city, address.postal_code = street, city, postal_code
    address.country = _country(country)
    slug = "".join(ch for ch in name.lower() if ch.isascii() and ch.isalnum())[:24]
    party.contact_mechanisms.new(type="email", value=f"laskutus@{slug}.example")
    for kind, code in identifiers:
        party.identifiers.new(type=kind, code=code)
    party.save()
    data = {"id": party.id, "name": name, "role": role, "profile": profile, "country": country, "city": city,
            "postal_code": postal_code, "business_id": None, "vat_number": None}
    for kind, code in identifiers:
        data["business_id" if kind == "fi_ytunnus" else "vat_number"] = code
    return party, data


def _finnish_party(rng: random.Random, role: str, used: set[str], trade: str | None = None):
    while True:
        name = f"{rng.choice(_PLACES)} {trade or rng.choice(_TRADES)} {rng.choice(_SUFFIXES)}"
        if name not in used:
            used.add(name)
            break
    city, postal = rng.choice(_FI_CITIES)
    business_id = make_business_id(rng)
    street = f"{rng.choice(_STREETS)} {rng.randint(1, 80)}"
    return _party(name, street, city, postal, "FI",
                  [("fi_ytunnus", business_id), ("eu_vat", finnish.business_id_to_vat(business_id))], role, "fi")


def _foreign_party(spec, vat: str, role: str, profile: str):
    country, name, street, city, postal = spec
    return _party(name, street, city, postal, country, [("eu_vat" if profile == "eu" else "no_vat", vat)],
                  role, profile)


# --------------------------------------------------------------------------- invoices

def _rate_key(rng: random.Random, day: dt.date, kind: str) -> str:
    """A domestic tax for a line on ``day``: mostly the general rate, sometimes a reduced one or 0 %."""
    choice = rng.choice(["general"] * 6 + ["reduced", "10", "0"])
    rates = finnish.finnish_vat_rates(day)
    if choice == "general":
        rate = max(rates)
    elif choice == "reduced":
        rate = next((r for r in rates if r in (Decimal("14"), Decimal("13.5"))), max(rates))
    else:
        rate = Decimal(choice)
    key = f"{kind}_{format(rate.normalize(), 'f').replace('.', '_')}"
    if key not in TAXES_BY_KEY:
        raise ValueError(f"seed_finnish: no Finnish tax for {rate} % on {day} (the seed starts at the 25.5 % "
                         "general rate, 2024-09-01)")
    return key


def _line_text(rng: random.Random, key: str, out: bool) -> str:
    texts = _SALE_LINES if out else _PURCHASE_LINES
    rate = key.split("_", 1)[1].replace("_", ".")
    group = "reduced" if rate in ("14", "13.5") else rate
    return rng.choice(texts[group])


def seed_finnish(cfg, *, customers: int = 6, suppliers: int = 3, invoices: int = 20, supplier_invoices: int = 8,
                 paid: int = 8, seed: int = 0, start_date: str | None = None, end_date: str | None = None,
                 keep_french_taxes: bool = False) -> dict:
    """A Finnish company with parties and posted invoices, deterministic for a seed.

    Customers: Finnish companies, plus (from 4 customers) one in Sweden (EU services) and (from 5) one in
    Norway (exports); the second Finnish customer is a construction firm (construction reverse charge).
    Suppliers: Finnish, plus (from 2 suppliers) one in Estonia (EU services, reverse charge). Invoice
    dates in ``start_date``..``end_date`` (default: the last 60 days). The first ``paid`` customer
    invoices (in number order) are paid in full, the next one partly, with Tryton's pay wizard.
    """
    if paid > invoices:
        raise ValueError(f"seed_finnish: paid ({paid}) cannot exceed invoices ({invoices})")
    rng = random.Random(seed)
    company = _company()
    if company.currency.code != "EUR":
        raise ValueError(f"seed_finnish: the company's currency is {company.currency.code}, not EUR")
    _ensure_countries()
    own = _finnish_company_party(company, rng)
    tax_ids = ensure_finnish_taxes(company)
    deactivated = 0 if keep_french_taxes else _deactivate_french_taxes(company)

    end = _parse_date(end_date) if end_date else dt.date.today()
    start = _parse_date(start_date) if start_date else end - dt.timedelta(days=60)
    if start > end:
        raise ValueError(f"seed_finnish: start_date {start} is after end_date {end}")

    def pick_date() -> dt.date:
        return start + dt.timedelta(days=rng.randint(0, (end - start).days))

    used: set[str] = set()
    customer_parties, supplier_parties = [], []
    for index in range(customers):
        if index == 3:
            customer_parties.append(_foreign_party(_EU_CUSTOMER, _make_se_vat(rng), "customer", "eu"))
        elif index == 4:
            customer_parties.append(_foreign_party(_EXPORT_CUSTOMER, _make_no_vat(rng), "customer", "export"))
        else:
            trade = "Rakennus" if index == 1 else None
            customer_parties.append(_finnish_party(rng, "customer", used, trade))
    for index in range(suppliers):
        if index == 1:
            vat = base.make_eu_vat(rng, "EE")
            supplier_parties.append(_foreign_party(_EU_SUPPLIER, vat, "supplier", "eu"))
        else:
            trade = "Rakennus" if index == 2 else None
            supplier_parties.append(_finnish_party(rng, "supplier", used, trade))
    by_profile = {}
    for party, data in customer_parties + supplier_parties:
        by_profile.setdefault((data["role"], data["profile"]), []).append((party, data))
    fi_customers = by_profile.get(("customer", "fi"), [])
    fi_suppliers = by_profile.get(("supplier", "fi"), [])
    if not fi_customers and invoices or not fi_suppliers and supplier_invoices:
        raise ValueError("seed_finnish: invoices need at least one Finnish customer and one Finnish supplier")

    Journal = _model("account.journal")
    revenue, = Journal.find([("type", "=", "revenue")], limit=1)
    expense, = Journal.find([("type", "=", "expense")], limit=1)
    accounts = {code: _account_by_code(code) for code in SALE_ACCOUNTS + PURCHASE_ACCOUNTS + [RECEIVABLE, PAYABLE]}

    def build(kind: str, index: int) -> dict:
        """Raw create() values (as a JSON-RPC client sends them); Tryton computes the taxes itself."""
        out = kind == "out"
        day = pick_date()
        special = None
        if out and index == 0 and ("customer", "eu") in by_profile:
            party, special = by_profile[("customer", "eu")][0][0], "sale_eu_services"
        elif out and index == 1 and len(fi_customers) > 1:
            party, special = fi_customers[1][0], "sale_construction"  # the construction firm
        elif out and index == 2 and ("customer", "export") in by_profile:
            party, special = by_profile[("customer", "export")][0][0], "sale_export"
        elif not out and index == 0 and ("supplier", "eu") in by_profile:
            party, special = by_profile[("supplier", "eu")][0][0], "purchase_eu_services"
        elif not out and index == 1 and len(fi_suppliers) > 1:
            party, special = fi_suppliers[1][0], "purchase_construction"
        else:
            party = rng.choice(fi_customers if out else fi_suppliers)[0]
        lines = []
        for number in range(1 if special else rng.randint(1, 3)):
            if special:
                key = special
                description = {"sale_eu_services": "Ohjelmistolisenssi ja tuki",
                               "sale_construction": "Sähköasennukset, työmaa Tampere",
                               "sale_export": "Koneiden vienti",
                               "purchase_eu_services": "Pilvipalvelu",
                               "purchase_construction": "Aliurakointi, rakennustyöt"}[key]
            else:
                key = _rate_key(rng, day, "sale" if out else "purchase")
                description = _line_text(rng, key, out)
            account = accounts[rng.choice(SALE_ACCOUNTS if out else PURCHASE_ACCOUNTS)]
            lines.append({"type": "line", "account": account.id, "description": description,
                          "quantity": float(rng.randint(1, 10)),
                          "unit_price": Decimal(rng.randint(1000, 300000)) / 100,
                          "taxes": [("add", [tax_ids[key]])]})
        values = {
            "type": kind, "company": company.id, "party": party.id, "invoice_address": party.addresses[0].id,
            "journal": (revenue if out else expense).id, "account": accounts[RECEIVABLE if out else PAYABLE].id,
            "currency": company.currency.id, "invoice_date": day,
            # Finnish invoices are usually due 14 days net; the due date then follows the invoice's own date.
            "payment_term_date": day + dt.timedelta(days=14),
            "lines": [("create", lines)],
        }
        if not out:
            values["reference"] = f"LASKU-{rng.randint(10000, 99999)}"
        return values

    # Posting past invoices raises warnings ("payment date in the past") a user would accept.
    cfg.skip_warning = True
    Invoice = _model("account.invoice")
    vlist = [build("out", i) for i in range(invoices)] + [build("in", i) for i in range(supplier_invoices)]
    vlist.sort(key=lambda v: (v["invoice_date"], v["type"]))
    base._check_chronology(Invoice, vlist)
    proxy = Invoice._proxy
    ids = proxy.create(vlist, cfg.context) if vlist else []
    if ids:
        proxy.post(ids, cfg.context)  # numbers follow the dates: strict sequences

    fields = ["number", "type", "invoice_date", "party", "untaxed_amount", "tax_amount", "total_amount", "reference",
              "taxes"]
    rows = {row["id"]: row for row in proxy.read(ids, fields, cfg.context)} if ids else {}
    tax_names = {tax_id: TAXES_BY_KEY[key].name for key, tax_id in tax_ids.items()}
    InvoiceTax, Tax = _model("account.invoice.tax"), _model("account.tax")
    tax_rows = InvoiceTax._proxy.read([t for r in rows.values() for t in r["taxes"]], ["invoice", "tax"], cfg.context)
    parents = {t["id"]: t["parent"] for t in Tax._proxy.read(sorted({r["tax"] for r in tax_rows}), ["parent"],
                                                              cfg.context)} if tax_rows else {}
    taxes_of: dict[int, set[str]] = {}
    for row in tax_rows:
        root = parents.get(row["tax"]) or row["tax"]
        taxes_of.setdefault(row["invoice"], set()).add(tax_names.get(root, str(root)))

    # Payments: the first `paid` customer invoices in full, the next one partly (what Tryton's pay wizard books).
    customer_ids = sorted((i for i in ids if rows[i]["type"] == "out"), key=lambda i: rows[i]["number"])
    payments = []
    for position, invoice_id in enumerate(customer_ids[:paid + 1]):
        row = rows[invoice_id]
        total = Decimal(row["total_amount"])
        amount = total if position < paid else (total / 2).quantize(Decimal("0.01"))
        day = min(row["invoice_date"] + dt.timedelta(days=rng.randint(3, 20)), max(end, row["invoice_date"]))
        result = base.pay_invoice(cfg, number=row["number"], amount=str(amount), day=day.isoformat())
        payments.append({"invoice_id": invoice_id, "number": row["number"], "amount": amount, "date": day,
                         "full": position < paid, "state": result["state"],
                         "amount_to_pay": result["amount_to_pay"]})

    states = {row["id"]: row["state"] for row in proxy.read(ids, ["state"], cfg.context)} if ids else {}
    parties = {data["id"]: data for _party_record, data in customer_parties + supplier_parties}
    result = []
    for invoice_id in ids:
        row = rows[invoice_id]
        result.append({
            "id": invoice_id, "number": row["number"], "type": row["type"], "state": states[invoice_id],
            "invoice_date": row["invoice_date"], "party_id": row["party"],
            "party_name": parties.get(row["party"], {}).get("name"), "reference": row["reference"],
            "untaxed_amount": row["untaxed_amount"], "tax_amount": row["tax_amount"],
            "total_amount": row["total_amount"], "taxes": sorted(taxes_of.get(invoice_id, ())),
        })
    return {
        "company": own,
        "customers": [data for _p, data in customer_parties],
        "suppliers": [data for _p, data in supplier_parties],
        "taxes": {TAXES_BY_KEY[key].name: tax_id for key, tax_id in tax_ids.items()},
        "tax_keys": tax_ids,
        "french_taxes_deactivated": deactivated,
        "invoices": result,
        "invoice_ids": [r["id"] for r in result],
        "numbers": [r["number"] for r in result],
        "payments": payments,
    }


def fi_undeliverable_invoice(cfg, *, name: str, business_id: str, amount: str = "400.00",
                             day: str | None = None) -> dict:
    """A customer Tryton knows by name and business id only (no address, no e-mail) and one posted invoice to it
    at 25.5 %, dated ``day`` (default today): the invoice a target accepts, then cannot deliver (issue 17: the
    demo's refused invoice, the tests of refusals after receipt)."""
    company = _company()
    tax_ids = ensure_finnish_taxes(company)
    business_id = finnish.validate_business_id(business_id)
    Party = _model("party.party")
    party = Party(name=name)
    party.identifiers.new(type="fi_ytunnus", code=business_id)
    if not party.addresses:
        party.addresses.new()  # an invoice needs one, even empty
    party.save()
    Journal = _model("account.journal")
    revenue, = Journal.find([("type", "=", "revenue")], limit=1)
    when = _parse_date(day) if day else dt.date.today()
    cfg.skip_warning = True
    proxy = _model("account.invoice")._proxy
    (invoice_id,) = proxy.create([{
        "type": "out", "company": company.id, "party": party.id, "invoice_address": party.addresses[0].id,
        "journal": revenue.id, "account": _account_by_code(RECEIVABLE).id, "currency": company.currency.id,
        "invoice_date": when, "payment_term_date": when + dt.timedelta(days=14),
        "lines": [("create", [{"type": "line", "account": _account_by_code(SALE_ACCOUNTS[-1]).id,
                               "description": "Konsultointi", "quantity": 1.0, "unit_price": Decimal(amount),
                               "taxes": [("add", [tax_ids["sale_25_5"]])]}])],
    }], cfg.context)
    proxy.post([invoice_id], cfg.context)
    (row,) = proxy.read([invoice_id], ["number", "total_amount"], cfg.context)
    return {"id": invoice_id, "number": row["number"], "type": "out", "party_id": party.id, "party_name": name,
            "business_id": business_id, "total_amount": str(row["total_amount"]), "invoice_date": when.isoformat()}


ACTIONS = {
    "seed_finnish": seed_finnish,
    "fi_taxes": fi_taxes,
    "fi_undeliverable_invoice": fi_undeliverable_invoice,
}


def main(argv: list[str] | None = None) -> int:
    """tryton_setup's command line, with the Finnish actions."""
    return base.main(argv, actions=ACTIONS)


if __name__ == "__main__":
    sys.exit(main())
