"""Configure and seed a Tryton database through proteus (run in a subprocess).

Usage::

    python -m integration_hub.peers.tryton_setup --config trytond.conf --database DB \
        ACTION [--kwargs '{"json": "object"}']

The script imports trytond/proteus, so it must never be imported by the hub process:
``integration_hub.peers.tryton.TrytonPeer.run_setup`` runs it with the same interpreter.
The result is printed on stdout as one line ``HUB_TRYTON_SETUP_RESULT=<json>``; anything
else printed (logs, warnings) is ignored by the caller.

Actions:

* ``prepare_template`` -- used once by the peer on a freshly activated database: currencies,
  a few countries, the company, the French chart, fiscal years with monthly periods and
  strict sequences, a payment term.
* ``info`` -- ids and codes of the things tests need (accounts, journals, parent taxes...).
* ``seed_invoicing`` -- customers, suppliers and posted customer/supplier invoices.
* ``set_account_state`` -- close/reopen an account or give it an end date (inactive).
* ``pay_invoice`` -- pay a posted invoice with Tryton's own pay wizard; returns Tryton's payment moves.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
from decimal import Decimal

from integration_hub.pdfs import make_pdf  # standard library only, like this script

RESULT_MARKER = "HUB_TRYTON_SETUP_RESULT="

# Accounts of the French chart (account_fr) that the hub cares about.
INTERESTING_ACCOUNT_CODES = [
    "401", "4011", "411", "4111", "512", "5121",
    "604", "606", "6061", "607", "6071", "658",
    "706", "707", "7071", "708", "758",
    "4452", "4456", "44562", "44566", "4457", "44571",
]

# Parent taxes used by seed_invoicing, by the template's XML id in account_fr.
SALE_TAXES = {
    "20": ["tva_vente_services_taux_normal", "tva_vente_biens_taux_normal"],
    "10": ["tva_vente_services_taux_intermediaire", "tva_vente_biens_taux_intermediaire"],
    "5.5": ["tva_vente_biens_5_5", "tva_vente_services_5_5"],
    "0-eu": ["tva_vente_intracommunautaire_services_0", "tva_vente_intracommunautaire_biens_0"],
    "0-export": ["tva_vente_services_hors_communaute", "tva_vente_biens_hors_communaute"],
}
PURCHASE_TAXES = {
    "20": ["tva_achat_services_taux_normal", "tva_achat_biens_taux_normal"],
    "10": ["tva_achat_services_taux_intermediaire", "tva_achat_biens_taux_intermediaire"],
    "5.5": ["tva_achat_biens_5_5", "tva_achat_services_5_5"],
    "0-eu": ["tva_achat_intracommunautaire_services_taux_normal"],
}
SALE_ACCOUNT_CODES = ["706", "7071", "708"]
PURCHASE_ACCOUNT_CODES = ["6071", "604", "6061"]

COUNTRIES = [
    ("FR", "France"), ("BE", "Belgium"), ("DE", "Germany"), ("ES", "Spain"),
    ("IT", "Italy"), ("NL", "Netherlands"), ("LU", "Luxembourg"),
    ("GB", "United Kingdom"), ("CH", "Switzerland"), ("US", "United States"),
]
EU_COUNTRIES = {"FR", "BE", "DE", "ES", "IT", "NL", "LU"}
CURRENCIES = [
    # code, name, symbol, numeric code, rate against EUR
    ("EUR", "Euro", "€", "978", Decimal("1")),
    ("USD", "US Dollar", "$", "840", Decimal("1.08")),
    ("GBP", "Pound Sterling", "£", "826", Decimal("0.85")),
    ("CHF", "Swiss Franc", "CHF", "756", Decimal("0.95")),
]


# --------------------------------------------------------------------------- helpers

def _connect(config_file: str, database: str, user: str):
    from proteus import config

    return config.set_trytond(database=database, user=user, config_file=config_file)


def _model(name):
    from proteus import Model

    return Model.get(name)


def _refresh_context(cfg):
    User = _model("res.user")
    cfg._context = User.get_preferences(True, {})


def _company():
    Company = _model("company.company")
    companies = Company.find([])
    if not companies:
        raise RuntimeError("no company in this database (template not prepared?)")
    return companies[0]


def _json_default(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {value!r}")


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _luhn_digit(digits: str) -> str:
    from stdnum import luhn

    return luhn.calc_check_digit(digits)


def make_siren(rng: random.Random) -> str:
    body = str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(7))
    return body + _luhn_digit(body)


def make_siret(rng: random.Random, siren: str) -> str:
    nic = "".join(str(rng.randint(0, 9)) for _ in range(4))
    return siren + nic + _luhn_digit(siren + nic)


def make_fr_vat(siren: str) -> str:
    key = (12 + 3 * (int(siren) % 97)) % 97
    return f"FR{key:02d}{siren}"


def make_eu_vat(rng: random.Random, country: str) -> str:
    """A syntactically valid VAT number of an EU country (checked with python-stdnum)."""
    from stdnum.eu import vat

    lengths = {"DE": 9, "IT": 11, "LU": 8}
    for _ in range(100000):
        if country == "BE":
            body = "0" + "".join(str(rng.randint(0, 9)) for _ in range(7))
            body = f"{body}{97 - int(body) % 97:02d}"
            candidate = "BE" + body
        elif country == "NL":
            candidate = "NL" + "".join(str(rng.randint(0, 9)) for _ in range(9)) + "B01"
        elif country == "ES":
            candidate = "ESB" + "".join(str(rng.randint(0, 9)) for _ in range(8))
        else:
            n = lengths.get(country) or 9
            candidate = country + str(rng.randint(1, 9)) + "".join(
                str(rng.randint(0, 9)) for _ in range(n - 1))
        if vat.is_valid(candidate):
            return vat.compact(candidate)
    raise RuntimeError(f"could not generate a VAT number for {country}")


def _country(code: str):
    Country = _model("country.country")
    found = Country.find([("code", "=", code)], limit=1)
    return found[0] if found else None


def _account_by_code(code: str):
    Account = _model("account.account")
    found = Account.find([("code", "=", code), ("company", "=", _company().id)], limit=1)
    return found[0] if found else None


# --------------------------------------------------------------------------- prepare

def prepare_template(cfg, *, company_name: str = "Hub Demo SAS", first_year: int | None = None,
                     last_year: int | None = None, admin_email: str = "admin@hub.example") -> dict:
    """Baseline of an accounting company: must run once on a freshly activated database."""
    today = dt.date.today()
    first_year = first_year or today.year - 2
    last_year = last_year or today.year + 1

    Currency = _model("currency.currency")
    Country = _model("country.country")
    Party = _model("party.party")
    User = _model("res.user")
    ModelData = _model("ir.model.data")
    from proteus import Wizard

    # Currencies (Tryton ships none) with a rate at the start of the first fiscal year.
    for code, name, symbol, numeric, rate in CURRENCIES:
        if Currency.find([("code", "=", code)]):
            continue
        currency = Currency(name=name, code=code, symbol=symbol, numeric_code=numeric,
                            rounding=Decimal("0.01"), digits=2)
        currency.rates.new(date=dt.date(first_year - 1, 1, 1), rate=rate)
        currency.save()
    eur, = Currency.find([("code", "=", "EUR")])

    # A few countries (trytond_import_countries needs the network / pycountry).
    for code, name in COUNTRIES:
        if not Country.find([("code", "=", code)]):
            Country(name=name, code=code).save()

    # Company through its configuration wizard.
    rng = random.Random(1)
    siren = make_siren(rng)
    party = Party(name=company_name)
    address = party.addresses[0] if party.addresses else party.addresses.new()
    address.street = "10 rue de la Paix"
    address.postal_code = "75002"
    address.city = "Paris"
    address.country = _country("FR")
    party.contact_mechanisms.new(type="email", value="compta@hub-demo.example")
    party.identifiers.new(type="fr_siren", code=siren)
    party.identifiers.new(type="eu_vat", code=make_fr_vat(siren))
    party.save()

    company_config = Wizard("company.company.config")
    company_config.execute("company")
    company_config.form.party = party
    company_config.form.currency = eur
    company_config.execute("add")
    _refresh_context(cfg)
    company = _company()

    admin, = User.find([("login", "=", "admin")])
    if admin.company != company:
        admin.companies.append(company)
        admin.company = company
    admin.email = admin_email
    admin.save()
    _refresh_context(cfg)

    # French chart of accounts.
    AccountTemplate = _model("account.account.template")
    template = AccountTemplate(ModelData.get_id("account_fr", "root", cfg.context))
    create_chart = Wizard("account.create_chart")
    create_chart.execute("account")
    create_chart.form.account_template = template
    create_chart.form.company = company
    create_chart.execute("create_account")
    create_chart.form.account_receivable = _account_by_code("4111")
    create_chart.form.account_payable = _account_by_code("4011")
    if hasattr(create_chart.form, "category_account_revenue"):
        create_chart.form.category_account_revenue = _account_by_code("706")
    if hasattr(create_chart.form, "category_account_expense"):
        create_chart.form.category_account_expense = _account_by_code("6071")
    create_chart.execute("create_properties")

    # Fiscal years with monthly periods and strict sequences.
    FiscalYear = _model("account.fiscalyear")
    SequenceStrict = _model("ir.sequence.strict")
    SequenceType = _model("ir.sequence.type")
    move_type = SequenceType(ModelData.get_id("account", "sequence_type_account_move", cfg.context))
    invoice_type = SequenceType(
        ModelData.get_id("account_invoice", "sequence_type_account_invoice", cfg.context))

    def strict_sequence(name, seq_type, prefix):
        seq = SequenceStrict(name=name, sequence_type=seq_type, company=company,
                             prefix=prefix, padding=5)
        seq.save()
        return seq

    fiscal_years = []
    for year in range(first_year, last_year + 1):
        fiscal_year = FiscalYear(name=str(year), company=company,
                                 start_date=dt.date(year, 1, 1), end_date=dt.date(year, 12, 31))
        fiscal_year.move_sequence = strict_sequence(f"Écritures {year}", move_type, f"{year}-")
        # invoice_sequences must be filled before the first save (required sequences).
        inv_seq = fiscal_year.invoice_sequences[0] if fiscal_year.invoice_sequences \
            else fiscal_year.invoice_sequences.new()
        inv_seq.out_invoice_sequence = strict_sequence(
            f"Factures clients {year}", invoice_type, f"FC{year}-")
        inv_seq.out_credit_note_sequence = strict_sequence(
            f"Avoirs clients {year}", invoice_type, f"AC{year}-")
        inv_seq.in_invoice_sequence = strict_sequence(
            f"Factures fournisseurs {year}", invoice_type, f"FF{year}-")
        inv_seq.in_credit_note_sequence = strict_sequence(
            f"Avoirs fournisseurs {year}", invoice_type, f"AF{year}-")
        fiscal_year.save()
        fiscal_year.click("create_period")
        fiscal_years.append(year)

    return {"company_id": company.id, "company_name": company_name,
            "fiscal_years": fiscal_years}


# --------------------------------------------------------------------------- info

def _effective_rate(tax, date: dt.date) -> Decimal:
    rate = tax.rate if tax.type == "percentage" and tax.rate is not None else Decimal(0)
    for child in tax.childs:
        if child.start_date and child.start_date > date:
            continue
        if child.end_date and child.end_date < date:
            continue
        rate += _effective_rate(child, date)
    return rate


def _tax_template_xml_ids(cfg) -> dict:
    """Map account.tax.template database ids to their XML ids in account_fr (parents only).

    ir.model.data cannot be searched over RPC (proteus goes through the RPC checks), but
    get_id can: read the XML ids from the module's own tax_fr.xml.
    """
    import os
    import xml.etree.ElementTree as ET

    import trytond.modules.account_fr as account_fr

    ModelData = _model("ir.model.data")
    tree = ET.parse(os.path.join(os.path.dirname(account_fr.__file__), "tax_fr.xml"))
    mapping = {}
    for record in tree.iter("record"):
        if record.get("model") != "account.tax.template":
            continue
        if any(f.get("name") == "parent" for f in record.findall("field")):
            continue
        xml_id = record.get("id")
        try:
            mapping[ModelData.get_id("account_fr", xml_id, cfg.context)] = xml_id
        except Exception:  # pragma: no cover - template removed in another version
            continue
    return mapping


def info(cfg) -> dict:
    today = dt.date.today()
    company = _company()
    Account = _model("account.account")
    Journal = _model("account.journal")
    Tax = _model("account.tax")
    FiscalYear = _model("account.fiscalyear")
    Identifier = _model("party.identifier")
    Configuration = _model("account.configuration")

    def account_dict(account):
        atype = account.type
        return {
            "id": account.id, "code": account.code, "name": account.name,
            "closed": bool(account.closed), "type": atype.name if atype else None,
            "postable": bool(atype) and not account.closed,
            "party_required": bool(account.party_required),
            "reconcile": bool(account.reconcile),
            "receivable": bool(atype and atype.receivable),
            "payable": bool(atype and atype.payable),
            "revenue": bool(atype and atype.revenue),
            "expense": bool(atype and atype.expense),
            "start_date": _iso(account.start_date), "end_date": _iso(account.end_date),
        }

    accounts = {}
    for account in Account.find([("code", "in", INTERESTING_ACCOUNT_CODES),
                                 ("company", "=", company.id)]):
        accounts[account.code] = account_dict(account)
    account_count = len(Account.find([("company", "=", company.id)]))

    configuration = Configuration(1)
    receivable = configuration.default_account_receivable
    payable = configuration.default_account_payable

    journals = [{"id": j.id, "code": j.code, "name": j.name, "type": j.type}
                for j in Journal.find([])]

    tax_xml_ids = _tax_template_xml_ids(cfg)
    taxes = []
    for tax in Tax.find([("parent", "=", None), ("company", "=", company.id)]):
        group = tax.group
        taxes.append({
            "id": tax.id, "name": tax.name, "description": tax.description,
            "type": tax.type, "rate": tax.rate,
            "effective_rate": _effective_rate(tax, today),
            "group": group.code if group else None,
            "kind": group.kind if group else None,
            "template": tax_xml_ids.get(tax.template.id) if tax.template else None,
            "invoice_account": tax.invoice_account.code if tax.invoice_account else None,
            "credit_note_account": (
                tax.credit_note_account.code if tax.credit_note_account else None),
        })

    # "type" is a dynamic selection (party configuration may restrict it).
    identifier_types = [code for code, _ in Identifier._proxy.get_types(cfg.context) if code]

    fiscal_years = [{"id": fy.id, "name": fy.name, "start_date": fy.start_date,
                     "end_date": fy.end_date, "periods": len(fy.periods)}
                    for fy in FiscalYear.find([], order=[("start_date", "ASC")])]

    PaymentTerm = _model("account.invoice.payment_term")
    payment_terms = [{"id": t.id, "name": t.name} for t in PaymentTerm.find([])]

    return {
        "company": {"id": company.id, "name": company.party.name, "party_id": company.party.id,
                    "currency": company.currency.code, "currency_id": company.currency.id},
        "account_count": account_count,
        "default_receivable": receivable.code if receivable else None,
        "default_payable": payable.code if payable else None,
        "accounts": accounts,
        "journals": journals,
        "taxes": taxes,
        "identifier_types": identifier_types,
        "fiscal_years": fiscal_years,
        "payment_terms": payment_terms,
    }


# --------------------------------------------------------------------------- seed

_NAME_A = ["Atelier", "Boulangerie", "Cabinet", "Comptoir", "Établissements", "Maison",
           "Société", "Groupe", "Laboratoire", "Ferme", "Studio", "Garage"]
_NAME_B = ["Dupont", "Lefèvre", "Martin", "Bernard", "Moreau", "Girard", "Rousseau",
           "Fontaine", "Chevalier", "Mercier", "Blanc", "Garnier", "Faure", "Lambert"]
_NAME_C = ["SARL", "SAS", "SA", "EURL", "& Fils", "SCOP"]
_EU_NAMES = [("BE", "Brussels", "1000"), ("DE", "Berlin", "10115"), ("IT", "Milano", "20121"),
             ("NL", "Amsterdam", "1012"), ("ES", "Madrid", "28001"), ("LU", "Luxembourg", "1111")]
_NON_EU = [("CH", "Genève", "1201"), ("US", "New York", "10001"), ("GB", "London", "EC1A")]
_FR_CITIES = [("Paris", "75011"), ("Lyon", "69002"), ("Marseille", "13001"), ("Lille", "59000"),
              ("Nantes", "44000"), ("Bordeaux", "33000"), ("Toulouse", "31000")]
_SALE_LINES = ["Prestation de conseil", "Développement logiciel", "Formation", "Maintenance",
               "Licence annuelle", "Marchandises", "Livraison", "Support technique"]
_PURCHASE_LINES = ["Fournitures de bureau", "Matières premières", "Sous-traitance",
                   "Électricité", "Location matériel", "Hébergement", "Transport"]


def _pick_tax(kind_map: dict, key: str, taxes_by_template: dict):
    for xml_id in kind_map.get(key, []):
        if xml_id in taxes_by_template:
            return taxes_by_template[xml_id]
    return None


def _parse_date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _create_party(rng, index: int, role: str, prefix: str, profile: str):
    Party = _model("party.party")
    name = f"{prefix}{rng.choice(_NAME_A)} {rng.choice(_NAME_B)} {rng.choice(_NAME_C)}"
    name = f"{name} ({role[0].upper()}{index + 1:03d})"
    if profile == "person":
        name = f"{prefix}{rng.choice(['Jean', 'Marie', 'Luc', 'Sophie', 'Paul'])} " \
               f"{rng.choice(_NAME_B)} ({role[0].upper()}{index + 1:03d})"
    party = Party(name=name)
    address = party.addresses[0] if party.addresses else party.addresses.new()
    address.street = f"{rng.randint(1, 200)} rue {rng.choice(_NAME_B)}"
    identifiers = []
    if profile in ("fr_siret", "fr_siren", "person"):
        city, postal = rng.choice(_FR_CITIES)
        address.city, address.postal_code, address.country = city, postal, _country("FR")
    elif profile == "eu":
        country, city, postal = rng.choice(_EU_NAMES[:3])
        address.city, address.postal_code, address.country = city, postal, _country(country)
    else:  # non-EU export
        country, city, postal = rng.choice(_NON_EU)
        address.city, address.postal_code, address.country = city, postal, _country(country)
    if profile != "person" or rng.random() < 0.5:
        slug = "".join(ch for ch in name.lower() if ch.isalnum())[:20]
        party.contact_mechanisms.new(type="email", value=f"compta@{slug}.example")
    if profile in ("fr_siret", "fr_siren"):
        siren = make_siren(rng)
        party.identifiers.new(type="fr_siren", code=siren)
        identifiers.append(("fr_siren", siren))
        vat = make_fr_vat(siren)
        party.identifiers.new(type="eu_vat", code=vat)
        identifiers.append(("eu_vat", vat))
    elif profile == "eu":
        vat = make_eu_vat(rng, address.country.code)
        party.identifiers.new(type="eu_vat", code=vat)
        identifiers.append(("eu_vat", vat))
    party.save()
    if profile == "fr_siret":
        # A SIRET identifies an establishment: it must be linked to an address.
        siret = make_siret(rng, identifiers[0][1])
        Identifier = _model("party.identifier")
        Identifier(party=party, address=party.addresses[0], type="fr_siret", code=siret).save()
        identifiers.append(("fr_siret", siret))
    return party, {"id": party.id, "name": party.name, "role": role, "profile": profile,
                   "country": address.country.code if address.country else None,
                   "identifiers": [{"type": t, "code": c} for t, c in identifiers]}


def _check_chronology(Invoice, vlist: list[dict]) -> None:
    """Tryton numbers invoices of a sequence (type x fiscal year) in date order: refuse early,
    with a clear message, dates before the latest invoice already numbered."""
    latest: dict[tuple[str, int], dt.date] = {}
    for posted in Invoice.find([("number", "!=", None), ("invoice_date", "!=", None)],
                               order=[("invoice_date", "DESC")], limit=200):
        key = (posted.type, posted.invoice_date.year)
        latest.setdefault(key, posted.invoice_date)
    for values in vlist:
        kind, date = values["type"], values["invoice_date"]
        last = latest.get((kind, date.year))
        if last and date < last:
            raise ValueError(
                f"seed_invoicing: {kind} invoice dated {date} is before {last}, the date of an "
                "invoice already numbered in this database; Tryton numbers each sequence in "
                "date order: seed later dates (or a fresh database)")


def seed_invoicing(cfg, *, customers: int = 6, suppliers: int = 4, customer_invoices: int = 10,
                   supplier_invoices: int = 6, dates: list | None = None,
                   start_date: str | None = None, end_date: str | None = None,
                   seed: int = 0, credit_note_every: int = 5, post: bool = True,
                   name_prefix: str = "", supplier_profiles: list | None = None) -> dict:
    """Customers, suppliers and posted invoices/credit notes, deterministic for a seed.

    Dates: ``dates`` (ISO strings, picked at random) or a ``start_date``..``end_date`` range
    (default: the 90 days before today). Every ``credit_note_every``-th invoice of each kind is
    a credit note (negative quantities); 0 disables credit notes.
    """
    rng = random.Random(seed)
    company = _company()
    Invoice = _model("account.invoice")
    Journal = _model("account.journal")
    Tax = _model("account.tax")

    if dates:
        date_pool = sorted(_parse_date(d) for d in dates)

        def pick_date():
            return rng.choice(date_pool)
    else:
        end = _parse_date(end_date) if end_date else dt.date.today()
        start = _parse_date(start_date) if start_date else end - dt.timedelta(days=90)
        span = (end - start).days

        def pick_date():
            return start + dt.timedelta(days=rng.randint(0, max(span, 0)))

    template_ids = _tax_template_xml_ids(cfg)
    taxes_by_template = {}
    for tax in Tax.find([("parent", "=", None), ("company", "=", company.id)]):
        if tax.template and tax.template.id in template_ids:
            taxes_by_template[template_ids[tax.template.id]] = tax

    sale_accounts = [a for a in (_account_by_code(c) for c in SALE_ACCOUNT_CODES)
                     if a and not a.closed and a.type]
    purchase_accounts = [a for a in (_account_by_code(c) for c in PURCHASE_ACCOUNT_CODES)
                         if a and not a.closed and a.type]
    revenue_journal, = Journal.find([("type", "=", "revenue")], limit=1)
    expense_journal, = Journal.find([("type", "=", "expense")], limit=1)
    receivable = _account_by_code("4111")
    payable = _account_by_code("4011")
    PaymentTerm = _model("account.invoice.payment_term")
    payment_terms = (PaymentTerm.find([("name", "=", "Net 30 days")], limit=1)
                     or PaymentTerm.find([], limit=1))

    customer_profiles = ["fr_siret", "fr_siren", "eu", "person", "fr_siret", "export"]
    # "eu" suppliers bill with reverse-charge VAT (autoliquidation); pass French profiles to avoid them.
    supplier_profiles = supplier_profiles or ["fr_siret", "fr_siren", "eu", "fr_siren"]
    parties = []
    customer_parties, supplier_parties = [], []
    for i in range(customers):
        party, data = _create_party(rng, i, "customer", name_prefix,
                                    customer_profiles[i % len(customer_profiles)])
        customer_parties.append((party, data))
        parties.append(data)
    for i in range(suppliers):
        party, data = _create_party(rng, i, "supplier", name_prefix,
                                    supplier_profiles[i % len(supplier_profiles)])
        supplier_parties.append((party, data))
        parties.append(data)

    def build(kind: str, index: int) -> dict:
        """Raw create() values, as a client sends them over JSON-RPC (no on_change calls:
        taxes are computed by Tryton when the invoice is saved and checked when posted)."""
        out = kind == "out"
        party, pdata = rng.choice(customer_parties if out else supplier_parties)
        credit = credit_note_every > 0 and (index + 1) % credit_note_every == 0
        invoice_date = pick_date()
        values = {
            "type": kind, "company": company.id, "party": party.id,
            "invoice_address": party.addresses[0].id,
            "journal": (revenue_journal if out else expense_journal).id,
            "account": (receivable if out else payable).id,
            "currency": company.currency.id,
            "invoice_date": invoice_date,
            # Without it the due date of a past invoice would be *today*.
            "payment_term_date": invoice_date,
        }
        if not out:
            values["reference"] = f"SUP-{rng.randint(10000, 99999)}"
        if payment_terms and rng.random() < 0.5:
            values["payment_term"] = payment_terms[0].id  # due in 30 days, else on its date
        profile = pdata["profile"]
        lines = []
        for _ in range(rng.randint(1, 3)):
            if out:
                key = {"eu": "0-eu", "export": "0-export"}.get(
                    profile, rng.choice(["20", "20", "20", "10", "5.5"]))
                tax = _pick_tax(SALE_TAXES, key, taxes_by_template)
                account = rng.choice(sale_accounts)
                description = rng.choice(_SALE_LINES)
            else:
                key = "0-eu" if profile == "eu" else rng.choice(["20", "20", "10", "5.5"])
                tax = _pick_tax(PURCHASE_TAXES, key, taxes_by_template)
                account = rng.choice(purchase_accounts)
                description = rng.choice(_PURCHASE_LINES)
            quantity = float(rng.randint(1, 10))
            lines.append({
                "type": "line", "account": account.id, "description": description,
                "quantity": -quantity if credit else quantity,
                "unit_price": Decimal(rng.randint(500, 250000)) / Decimal(100),
                "taxes": [("add", [tax.id])] if tax is not None else [],
            })
        values["lines"] = [("create", lines)]
        return values

    # Seeding past invoices with a payment term makes Tryton raise a *warning* ("payment
    # date in the past") that an interactive user would accept.  Context keys starting with
    # "_" are stripped from RPC calls, so proteus has its own switch for it.
    cfg.skip_warning = True
    vlist = [build("out", i) for i in range(customer_invoices)]
    vlist += [build("in", i) for i in range(supplier_invoices)]
    vlist.sort(key=lambda v: (v["invoice_date"], v["type"]))
    if post:
        _check_chronology(Invoice, vlist)
    proxy = Invoice._proxy
    ids = proxy.create(vlist, cfg.context) if vlist else []
    if ids and post:
        # Numbers come from strict sequences that follow invoice dates (post sorts by date).
        proxy.post(ids, cfg.context)

    fields = ["number", "type", "state", "invoice_date", "party", "party.name",
              "untaxed_amount", "tax_amount", "total_amount", "lines", "reference",
              "lines_to_pay"]
    rows = {row["id"]: row for row in proxy.read(ids, fields, cfg.context)} if ids else {}
    line_ids = [line for row in rows.values() for line in row["lines_to_pay"]]
    MoveLine = _model("account.move.line")
    maturity = {row["id"]: row["maturity_date"] for row in MoveLine._proxy.read(
        line_ids, ["maturity_date"], cfg.context)} if line_ids else {}
    result = []
    for invoice_id in ids:
        row = rows[invoice_id]
        result.append({
            "id": invoice_id, "number": row["number"], "type": row["type"],
            "state": row["state"], "invoice_date": row["invoice_date"],
            "party_id": row["party"], "party_name": row["party."]["name"],
            "credit_note": row["total_amount"] < 0,
            "untaxed_amount": row["untaxed_amount"], "tax_amount": row["tax_amount"],
            "total_amount": row["total_amount"], "lines": len(row["lines"]),
            "reference": row["reference"],
            "due_dates": sorted({maturity[m] for m in row["lines_to_pay"] if maturity.get(m)}),
        })
    return {
        "parties": parties,
        "invoices": result,
        "invoice_ids": [r["id"] for r in result],
        "numbers": [r["number"] for r in result],
    }


# --------------------------------------------------------------------------- misc

def set_account_state(cfg, *, code: str, closed: bool | None = None,
                      end_date: str | None = None, start_date: str | None = None) -> dict:
    """Close/reopen an account, or limit its validity dates (an account past its end date is
    inactive and hidden from default searches)."""
    account = _account_by_code(code)
    if account is None:
        raise RuntimeError(f"no account {code}")
    if closed is not None:
        account.closed = closed
    if end_date is not None:
        account.end_date = _parse_date(end_date) if end_date else None
    if start_date is not None:
        account.start_date = _parse_date(start_date) if start_date else None
    account.save()
    return {"id": account.id, "code": account.code, "closed": bool(account.closed),
            "start_date": _iso(account.start_date), "end_date": _iso(account.end_date)}


GOOD_PDF = make_pdf(["Imprimerie du Salon SARL", "Affiches salon - facture"])


def add_problem_invoices(cfg, *, day: str | None = None) -> dict:
    """Posted invoices that a sync cannot take as they are (for the demo and the tests):
    a customer invoice with a line without tax, a customer invoice at 2.1 % VAT (a rate flows
    seldom map), a supplier invoice whose attached "PDF" is not one, and a supplier invoice
    with a good PDF attached."""
    company = _company()
    Invoice = _model("account.invoice")
    Journal = _model("account.journal")
    Tax = _model("account.tax")
    Attachment = _model("ir.attachment")
    Party = _model("party.party")
    invoice_date = _parse_date(day) if day else dt.date.today()
    template_ids = _tax_template_xml_ids(cfg)
    taxes = {template_ids.get(t.template.id): t for t in Tax.find([("parent", "=", None)]) if t.template}
    revenue, = Journal.find([("type", "=", "revenue")], limit=1)
    expense, = Journal.find([("type", "=", "expense")], limit=1)
    receivable, payable = _account_by_code("4111"), _account_by_code("4011")
    sale_account, purchase_account = _account_by_code("7071"), _account_by_code("6071")
    customer = Party(name="Boulangerie Problème SARL")
    customer.save()
    supplier = Party(name="Imprimerie Scan Douteux SAS")
    supplier.save()

    def invoice(kind, party, description, tax_key, amount):
        out = kind == "out"
        tax = taxes.get(tax_key) if tax_key else None
        return {
            "type": kind, "company": company.id, "party": party.id, "invoice_address": party.addresses[0].id,
            "journal": (revenue if out else expense).id, "account": (receivable if out else payable).id,
            "currency": company.currency.id, "invoice_date": invoice_date, "payment_term_date": invoice_date,
            "reference": None if out else f"PB-{description[:8]}",
            "lines": [("create", [{"type": "line", "account": (sale_account if out else purchase_account).id,
                                   "description": description, "quantity": 1.0, "unit_price": Decimal(amount),
                                   "taxes": [("add", [tax.id])] if tax is not None else []}])],
        }

    cfg.skip_warning = True
    vlist = [
        invoice("out", customer, "Livraison hors grille (sans TVA saisie)", None, "150.00"),
        invoice("out", customer, "Revue professionnelle", "tva_vente_biens_2_1", "80.00"),
        invoice("in", supplier, "Impression catalogues", "tva_achat_biens_taux_normal", "640.00"),
        invoice("in", supplier, "Affiches salon", "tva_achat_biens_taux_normal", "210.00"),
    ]
    proxy = Invoice._proxy
    ids = proxy.create(vlist, cfg.context)
    proxy.post(ids, cfg.context)
    Attachment._proxy.create([
        {"name": "scan-catalogues.pdf", "resource": f"account.invoice,{ids[2]}", "type": "data",
         "data": b"this scan was saved as text, it is not a PDF"},
        {"name": "affiches-salon.pdf", "resource": f"account.invoice,{ids[3]}", "type": "data", "data": GOOD_PDF},
    ], cfg.context)
    by_id = {row["id"]: row["number"] for row in proxy.read(ids, ["number"], cfg.context)}
    numbers = [by_id[i] for i in ids]
    return {"invoice_ids": ids, "numbers": numbers,
            "expected": {numbers[0]: "LINE_VALIDATION", numbers[1]: "MAPPING_TAX_RATE_NOT_FOUND",
                         numbers[2]: "PDF", numbers[3]: "synced with its PDF"}}


def add_invoice(cfg, *, kind: str = "out", day: str, accounting_day: str | None = None,
                amount: str = "100.00", tax_key: str | None = None, party_name: str = "Client Daté SARL") -> dict:
    """One posted invoice, optionally booked on another accounting date; returns it with Tryton's own move."""
    company = _company()
    Invoice, Journal, Tax, Party = (_model(n) for n in ("account.invoice", "account.journal", "account.tax",
                                                         "party.party"))
    out = kind == "out"
    tax_key = tax_key or ("tva_vente_biens_taux_normal" if out else "tva_achat_biens_taux_normal")
    template_ids = _tax_template_xml_ids(cfg)
    taxes = {template_ids.get(t.template.id): t for t in Tax.find([("parent", "=", None)]) if t.template}
    journal, = Journal.find([("type", "=", "revenue" if out else "expense")], limit=1)
    party = Party(name=party_name)
    party.save()
    invoice_date = _parse_date(day)
    values = {
        "type": kind, "company": company.id, "party": party.id, "invoice_address": party.addresses[0].id,
        "journal": journal.id, "account": _account_by_code("4111" if out else "4011").id,
        "currency": company.currency.id, "invoice_date": invoice_date, "payment_term_date": invoice_date,
        "accounting_date": _parse_date(accounting_day) if accounting_day else None,
        "reference": None if out else f"REF-{day}",
        "lines": [("create", [{"type": "line", "account": _account_by_code("7071" if out else "6071").id,
                               "description": "Prestation datée", "quantity": 1.0, "unit_price": Decimal(amount),
                               "taxes": [("add", [taxes[tax_key].id])]}])],
    }
    cfg.skip_warning = True
    proxy = Invoice._proxy
    ids = proxy.create([values], cfg.context)
    proxy.post(ids, cfg.context)
    row, = proxy.read(ids, ["number", "move", "invoice_date", "accounting_date"], cfg.context)
    move, = _model("account.move")._proxy.read([row["move"]], ["date"], cfg.context)
    return {"id": ids[0], "number": row["number"], "move_id": row["move"], "move_date": _iso(move["date"]),
            "invoice_date": _iso(row["invoice_date"]), "accounting_date": _iso(row["accounting_date"])}


#: The awkward invoices of issue 12, each as Tryton books it: (case, type, currency, party country,
#: [(description, quantity, unit price, [tax XML ids], account code)]).
AWKWARD_INVOICES = [
    ("reverse_charge_services", "in", "EUR", "DE",
     [("Licence logicielle UE", 1, "500.00", ["tva_achat_intracommunautaire_services_taux_normal"], "6061")]),
    ("reverse_charge_goods_credit_note", "in", "EUR", "BE",
     [("Retour pièces UE", -2, "120.00", ["tva_achat_intracommunautaire_biens_taux_normal"], "6071")]),
    ("usd_sale", "out", "USD", "US",
     [("Abonnement SaaS annuel", 1, "1234.56", ["tva_vente_services_taux_normal"], "706"),
      ("Support premium", 3, "99.99", ["tva_vente_services_taux_normal"], "706"),
      ("Manuel imprimé", 2, "45.10", ["tva_vente_biens_5_5"], "7071")]),
    ("usd_saas_reverse_charge", "in", "USD", "US",
     [("SaaS hors UE (mensuel)", 1, "249.00", ["tva_achat_hors_communaute_services_taux_normal"], "6061")]),
    ("two_taxes_on_one_line", "out", "EUR", "FR",
     [("Ouvrage taxé deux fois", 1, "800.00", ["tva_vente_biens_taux_normal", "tva_vente_biens_5_5"], "7071"),
      ("Livraison", 1, "35.00", ["tva_vente_biens_taux_normal"], "7071")]),
]


def _move_lines(cfg, move_id: int) -> list[dict]:
    MoveLine, TaxLine, Tax = _model("account.move.line"), _model("account.tax.line"), _model("account.tax")
    line_ids = MoveLine._proxy.search([("move", "=", move_id)], 0, None, None, cfg.context)
    lines = MoveLine._proxy.read(line_ids, ["account.code", "debit", "credit", "amount_second_currency",
                                            "second_currency.code", "tax_lines", "party"], cfg.context)
    tax_line_ids = [t for line in lines for t in line["tax_lines"]]
    tax_lines = {t["id"]: t for t in TaxLine._proxy.read(tax_line_ids, ["tax", "type", "amount"], cfg.context)}
    names = {t["id"]: t["name"] for t in Tax._proxy.read(sorted({t["tax"] for t in tax_lines.values()}),
                                                               ["name"], cfg.context)} if tax_lines else {}
    return [{
        "account": line["account."]["code"], "debit": line["debit"], "credit": line["credit"],
        "amount_second_currency": line["amount_second_currency"],
        "second_currency": (line.get("second_currency.") or {}).get("code"),
        "party": bool(line["party"]),
        "tax_lines": sorted([names[tax_lines[t]["tax"]], tax_lines[t]["type"], tax_lines[t]["amount"]]
                            for t in line["tax_lines"]),
    } for line in lines]


def own_moves(cfg, invoice_ids: list[int]) -> dict:
    """Tryton's own move of each invoice: lines with account, amounts, second currency and tax lines."""
    rows = _model("account.invoice")._proxy.read(invoice_ids, ["number", "move"], cfg.context)
    return {row["number"]: _move_lines(cfg, row["move"]) for row in rows}


def move_lines(cfg, *, move_ids: list[int]) -> dict:
    """The lines of these moves, in the form own_moves gives (to compare the hub's entries with Tryton's)."""
    return {str(move_id): _move_lines(cfg, int(move_id)) for move_id in move_ids}


def add_awkward_invoices(cfg, *, day: str, cases: list[str] | None = None) -> dict:
    """Posted invoices that are not ordinary (reverse charge, foreign currency, two taxes on a line), each
    returned with Tryton's own move so a test can compare the hub's entry with it."""
    company = _company()
    Invoice, Journal, Tax, Party = (_model(n) for n in ("account.invoice", "account.journal", "account.tax",
                                                         "party.party"))
    Currency = _model("currency.currency")
    template_ids = _tax_template_xml_ids(cfg)
    taxes = {template_ids.get(t.template.id): t for t in Tax.find([("parent", "=", None)]) if t.template}
    revenue, = Journal.find([("type", "=", "revenue")], limit=1)
    expense, = Journal.find([("type", "=", "expense")], limit=1)
    currencies = {c.code: c for c in Currency.find([])}
    invoice_date = _parse_date(day)
    # Tryton numbers invoices in date order: never before the latest posted invoice of the company.
    latest = Invoice.find([("invoice_date", "!=", None), ("state", "in", ["posted", "paid"])],
                          order=[("invoice_date", "DESC")], limit=1)
    if latest and latest[0].invoice_date > invoice_date:
        invoice_date = latest[0].invoice_date
    vlist, names = [], []
    for case, kind, currency, country, lines in AWKWARD_INVOICES:
        if cases and case not in cases:
            continue
        out = kind == "out"
        party = Party(name=f"{case.replace('_', ' ').title()} {country}")
        address = party.addresses[0]
        address.country = _country(country)
        party.save()
        vlist.append({
            "type": kind, "company": company.id, "party": party.id, "invoice_address": party.addresses[0].id,
            "journal": (revenue if out else expense).id, "account": _account_by_code("4111" if out else "4011").id,
            "currency": currencies[currency].id, "invoice_date": invoice_date, "payment_term_date": invoice_date,
            "reference": None if out else f"AWK-{len(vlist) + 1}",
            "lines": [("create", [{
                "type": "line", "account": _account_by_code(account).id, "description": description,
                "quantity": float(quantity), "unit_price": Decimal(price), "currency": currencies[currency].id,
                "taxes": [("add", [taxes[key].id for key in keys])],
            } for description, quantity, price, keys, account in lines])],
        })
        names.append(case)
    cfg.skip_warning = True
    proxy = Invoice._proxy
    ids = proxy.create(vlist, cfg.context)
    proxy.post(ids, cfg.context)
    rows = {row["id"]: row for row in proxy.read(ids, ["number", "untaxed_amount", "tax_amount", "total_amount"],
                                                 cfg.context)}
    moves = own_moves(cfg, ids)
    return {case: {"id": invoice_id, "number": rows[invoice_id]["number"],
                   "total_amount": rows[invoice_id]["total_amount"], "tax_amount": rows[invoice_id]["tax_amount"],
                   "move": moves[rows[invoice_id]["number"]]}
            for case, invoice_id in zip(names, ids)}


def close_period(cfg, *, day: str) -> dict:
    """Close the standard period covering ``day`` (what an accountant does after a VAT return)."""
    Period = _model("account.period")
    date = _parse_date(day)
    period, = Period.find([("type", "=", "standard"), ("start_date", "<=", date), ("end_date", ">=", date)])
    period.click("close")
    period.reload()
    return {"id": period.id, "state": period.state}


def add_analytic_accounts(cfg, *, root: str = "Centres de coût", names: list[str] | None = None) -> dict:
    """An analytic axis (a root) with opened normal accounts under it; returns their ids by name."""
    Analytic = _model("analytic_account.account")
    company = _company()
    axis = Analytic(name=root, type="root", company=company, state="opened")
    axis.save()
    accounts = {}
    for name in names or ["Siège Paris", "Atelier Montreuil"]:
        account = Analytic(name=name, type="normal", company=company, root=axis, parent=axis, state="opened")
        account.save()
        accounts[name] = account.id
    return {"root_id": axis.id, "root": root, "accounts": accounts}


def add_analytic_invoice(cfg, *, kind: str = "out", day: str, lines: list[dict],
                         party_name: str = "Client Analytique SARL") -> dict:
    """One posted invoice whose lines carry analytic accounts. Each line: {description, amount, and
    optionally root_id + account_id}. Returns the invoice with the analytic lines Tryton booked on its move,
    as [account name, debit, credit]."""
    company = _company()
    Invoice, Journal, Tax, Party = (_model(n) for n in ("account.invoice", "account.journal", "account.tax",
                                                         "party.party"))
    out = kind == "out"
    template_ids = _tax_template_xml_ids(cfg)
    taxes = {template_ids.get(t.template.id): t for t in Tax.find([("parent", "=", None)]) if t.template}
    tax = taxes["tva_vente_biens_taux_normal" if out else "tva_achat_biens_taux_normal"]
    journal, = Journal.find([("type", "=", "revenue" if out else "expense")], limit=1)
    party = Party(name=party_name)
    party.save()
    line_account = _account_by_code("7071" if out else "6071")
    invoice_lines = []
    for spec in lines:
        values = {"type": "line", "account": line_account.id, "description": spec["description"],
                  "quantity": 1.0, "unit_price": Decimal(spec["amount"]), "taxes": [("add", [tax.id])]}
        if spec.get("account_id"):
            values["analytic_accounts"] = [("create", [{"root": spec["root_id"], "account": spec["account_id"]}])]
        invoice_lines.append(values)
    invoice_date = _parse_date(day)
    values = {
        "type": kind, "company": company.id, "party": party.id, "invoice_address": party.addresses[0].id,
        "journal": journal.id, "account": _account_by_code("4111" if out else "4011").id,
        "currency": company.currency.id, "invoice_date": invoice_date, "payment_term_date": invoice_date,
        "reference": None if out else f"ANA-{day}", "lines": [("create", invoice_lines)],
    }
    cfg.skip_warning = True
    proxy = Invoice._proxy
    ids = proxy.create([values], cfg.context)
    proxy.post(ids, cfg.context)
    row, = proxy.read(ids, ["number", "move"], cfg.context)
    AnalyticLine = _model("analytic_account.line")
    booked = AnalyticLine._proxy.search_read([("move_line.move", "=", row["move"])], 0, None, None,
                                             ["account.name", "debit", "credit"], cfg.context)
    return {"id": ids[0], "number": row["number"], "move_id": row["move"],
            "analytic_lines": [[b["account."]["name"], b["debit"], b["credit"]] for b in booked]}


def cancel_invoice(cfg, *, number: str) -> dict:
    """Cancel a posted invoice the way a user does (the *Cancel* button). Tryton 8 cancels a posted supplier
    invoice as it is, a posted customer invoice only when its company allows it (Company > *Cancel Customer
    Invoice*, the field cancel_invoice_out), which this turns on first. Tryton then books its own cancelling
    move in the invoicing company and reconciles the two."""
    Invoice, Company = _model("account.invoice"), _model("company.company")
    invoice, = Invoice.find([("number", "=", number)])
    if invoice.type == "out" and not invoice.company.cancel_invoice_out:
        company = Company(invoice.company.id)
        company.cancel_invoice_out = True
        company.save()
        invoice.reload()
    invoice.click("cancel")
    invoice.reload()
    cancel_move = invoice.cancel_move
    return {"id": invoice.id, "number": invoice.number, "state": invoice.state,
            "cancel_move_id": cancel_move.id if cancel_move else None,
            "cancel_move_date": _iso(cancel_move.date) if cancel_move else None}


def _exchange_settings(company) -> None:
    """The journal and accounts (766 gains, 666 losses) Tryton books exchange differences on at reconciliation."""
    Configuration, Journal = _model("account.configuration"), _model("account.journal")
    configuration = Configuration(1)
    if not configuration.currency_exchange_journal:
        configuration.currency_exchange_journal, = Journal.find([("code", "=", "EXC")], limit=1)
    configuration.currency_exchange_credit_account = _account_by_code("766")
    configuration.currency_exchange_debit_account = _account_by_code("666")
    configuration.save()


def _cash_payment_method(company, bank_code: str):
    Method, Journal = _model("account.invoice.payment.method"), _model("account.journal")
    found = Method.find([("company", "=", company.id), ("name", "=", f"Banque {bank_code}")], limit=1)
    if found:
        return found[0]
    cash, = Journal.find([("type", "=", "cash")], limit=1)
    bank = _account_by_code(bank_code)
    method = Method(company=company, name=f"Banque {bank_code}", journal=cash, debit_account=bank, credit_account=bank)
    method.save()
    return method


def pay_invoice(cfg, *, number: str, amount: str, day: str, rate: str | None = None, bank_code: str = "5121") -> dict:
    """Pay a posted invoice of this company with Tryton's own pay wizard (account.invoice.pay), on a payment
    method of the cash journal through account ``bank_code``: a partial payment when ``amount`` is below what is
    due, an overpayment above. ``rate`` first gives the invoice's currency that rate (per company currency unit)
    on ``day``. Returns the invoice's state and Tryton's own lines of every move it booked for the payment: the
    payment move, and for a foreign invoice fully paid at another rate the exchange move of its reconciliation."""
    from proteus import Wizard

    company = _company()
    Invoice, Move, Rate = _model("account.invoice"), _model("account.move"), _model("currency.currency.rate")
    invoice, = Invoice.find([("number", "=", number)])
    paid_on, paid = _parse_date(day), Decimal(amount)
    if rate is not None:
        Rate(currency=invoice.currency, date=paid_on, rate=Decimal(rate)).save()
    _exchange_settings(company)
    method = _cash_payment_method(company, bank_code)
    last = Move.find([], order=[("id", "DESC")], limit=1)
    before = last[0].id if last else 0
    due = invoice.amount_to_pay
    pay = Wizard("account.invoice.pay", [invoice])
    pay.form.amount, pay.form.payment_method, pay.form.date = paid, method, paid_on
    pay.form.description = f"Règlement {number}"
    pay.execute("choice")
    if pay.form_state == "ask":  # not exactly what is due: Tryton asks whether it is partial or an overpayment
        pay.form.type = "overpayment" if paid > due else "partial"
        pay.execute("pay")
    invoice.reload()
    moves = Move.find([("id", ">", before)], order=[("id", "ASC")])
    return {"state": invoice.state, "amount_to_pay": invoice.amount_to_pay,
            "payment_line_ids": [line.id for line in invoice.payment_lines],
            "moves": [{"id": move.id, "journal": move.journal.code, "lines": payment_move_lines(move)}
                      for move in moves]}


def payment_move_lines(move) -> list[dict]:
    """A move's lines as the payment tests compare them: account, amounts, second currency, third party."""
    return [{"account": line.account.code, "debit": line.debit, "credit": line.credit,
             "amount_second_currency": line.amount_second_currency,
             "second_currency": line.second_currency.code if line.second_currency else None,
             "party": line.party.name if line.party else None} for line in move.lines]


def read_moves(cfg, *, move_ids: list[int]) -> dict:
    """Moves of this company in the form pay_invoice gives them, with the reconciliation of each line."""
    Move = _model("account.move")
    found = {}
    for move in Move.find([("id", "in", [int(i) for i in move_ids])]):
        lines = payment_move_lines(move)
        for values, line in zip(lines, move.lines):
            values["reconciliation"] = line.reconciliation.id if line.reconciliation else None
        found[str(move.id)] = {"journal": move.journal.code, "state": move.state, "date": _iso(move.date),
                               "description": move.description, "lines": lines}
    return found


ACTIONS = {
    "prepare_template": prepare_template,
    "pay_invoice": pay_invoice,
    "read_moves": read_moves,
    "cancel_invoice": cancel_invoice,
    "add_analytic_accounts": add_analytic_accounts,
    "add_analytic_invoice": add_analytic_invoice,
    "add_problem_invoices": add_problem_invoices,
    "add_invoice": add_invoice,
    "add_awkward_invoices": add_awkward_invoices,
    "move_lines": move_lines,
    "close_period": close_period,
    "info": info,
    "seed_invoicing": seed_invoicing,
    "set_account_state": set_account_state,
}


def main(argv: list[str] | None = None, actions: dict | None = None) -> int:
    """Run one action of ``actions`` (default: this module's ACTIONS; the ERP and Finnish modules pass theirs)."""
    actions = ACTIONS if actions is None else actions
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="trytond configuration file")
    parser.add_argument("--database", required=True)
    parser.add_argument("--user", default="admin")
    parser.add_argument("action", choices=sorted(actions))
    parser.add_argument("--kwargs", default="{}", help="JSON object of keyword arguments")
    args = parser.parse_args(argv)
    kwargs = json.loads(args.kwargs)
    cfg = _connect(args.config, args.database, args.user)
    result = actions[args.action](cfg, **kwargs)
    sys.stdout.write(RESULT_MARKER + json.dumps(result, default=_json_default) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
