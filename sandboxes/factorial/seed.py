"""The "demo" seed: a small French company's last ~6 months in Factorial.

Atelier Lumière SAS (Paris, lighting design) with ~17 contacts (suppliers and customers, valid FR
VAT numbers and IBANs), VAT tax types and rates, a French chart of accounts (some accounts carry
the ERP's external_id, some do not), cost centres, ~300 financial documents with PDFs (supplier
invoices, receipts, credit notes, sales invoices), journal entries, and ~100 employee expenses
(cards, categories, GBP/USD/CHF trips with exchange rates).

Deliberately broken documents (ids in ``state.seed_info["broken"]``):
- ``no_tax``: a supplier invoice whose taxes[] is empty;
- ``unknown_vendor``: vendor_id points at a contact that does not exist;
- ``total_mismatch``: total_amount_cents != net_amount_cents + taxes_total_amount_cents;
- ``non_pdf_file``: file says application/pdf but the download is an HTML error page.
Also: two vendors share an invoice number (legal: unique only per vendor), one document is a
detected duplicate of another (duplicate_financial_document_id), non-EUR documents.

Everything is derived from ``today`` (default: the real date), so the same date gives the same data.
"""
from __future__ import annotations

import datetime as dt
import random
import re

from integration_hub.pdfs import make_pdf

from .state import UTC, SandboxState, empty_document, iso, tax_line

COMPANY = {"legal_name": "Atelier Lumière SAS", "name": "Atelier Lumière", "line1": "12 rue des Vinaigriers",
           "postal_code": "75010", "city": "Paris", "state": "Île-de-France"}
LEGAL_ENTITY_ID = "1201"

# name, legal_name, line1, postal_code, city, state, country, kind, account, rates, currency, doc_type,
# cadence ("monthly:<day>" | per-month count), net range (cents), number pattern, external_id, email domain
CONTACTS = [
    ("OVHcloud", "OVH SAS", "2 rue Kellermann", "59100", "Roubaix", "Hauts-de-France", "FR", "vendor", "651100",
     [20.0], "EUR", "invoice", "monthly:1", (4990, 18990), "FR{year}{n:07d}", "ERP-F-0001", "ovhcloud.com"),
    ("Orange Business", "Orange SA", "111 quai du Président Roosevelt", "92130", "Issy-les-Moulineaux",
     "Île-de-France", "FR", "vendor", "626000", [20.0], "EUR", "invoice", "monthly:5", (8900, 14900), "F{n:010d}",
     "ERP-F-0002", "orange.com"),
    ("EDF Entreprises", "Électricité de France SA", "22-30 avenue de Wagram", "75008", "Paris", "Île-de-France",
     "FR", "vendor", "606100", [20.0, 5.5], "EUR", "invoice", "monthly:12", (21000, 64000), "10{n:08d}",
     "ERP-F-0003", "edf.fr"),
    ("Foncière Saint-Martin", "SCI Saint-Martin", "48 quai de Valmy", "75010", "Paris", "Île-de-France", "FR",
     "vendor", "613200", [20.0], "EUR", "invoice", "monthly:1", (320000, 320000), "QUITT-{year}-{month:02d}",
     "ERP-F-0004", "fonciere-saint-martin.fr"),
    ("Cabinet Durand Expertise", "Durand & Associés SARL", "5 place Bellecour", "69002", "Lyon",
     "Auvergne-Rhône-Alpes", "FR", "vendor", "622600", [20.0], "EUR", "invoice", "monthly:28", (65000, 95000),
     "F{year}-{n:04d}", "ERP-F-0005", "durand-expertise.fr"),
    ("Bureau Vallée Paris 10", "BV Paris Dix SARL", "71 boulevard de Magenta", "75010", "Paris", "Île-de-France",
     "FR", "vendor", "606400", [20.0], "EUR", "invoice", 5, (1290, 38900), "BV{n:08d}", "ERP-F-0006",
     "bureau-vallee.fr"),
    ("Metro Cash & Carry", "Metro France SAS", "5 rue des Grands Prés", "92000", "Nanterre", "Île-de-France",
     "FR", "vendor", "607000", [5.5, 20.0], "EUR", "invoice", 6, (4500, 62000), "0{n:05d}-0042", "ERP-F-0007",
     "metro.fr"),
    ("Imprimerie Gutenberg", "Imprimerie Gutenberg SAS", "14 rue du Dôme", "67000", "Strasbourg", "Grand Est",
     "FR", "vendor", "623600", [20.0, 5.5], "EUR", "invoice", 2, (18000, 240000), "F{year}-{n:04d}", "ERP-F-0008",
     "imprimerie-gutenberg.fr"),
    ("La Poste Pro", "La Poste SA", "9 rue du Colonel Pierre Avia", "75015", "Paris", "Île-de-France", "FR",
     "vendor", "626000", [20.0], "EUR", "receipt", 3, (480, 5600), "LP{n:09d}", None, "laposte.fr"),
    ("SNCF Voyageurs", "SNCF Voyageurs SA", "9 rue Jean-Philippe Rameau", "93200", "Saint-Denis",
     "Île-de-France", "FR", "vendor", "625100", [10.0], "EUR", "receipt", 6, (2900, 21000), "SNCF-{code}", None,
     "sncf.com"),
    ("Brasserie du Canal", "SARL Le Canal", "101 quai de Jemmapes", "75010", "Paris", "Île-de-France", "FR",
     "vendor", "625700", [10.0], "EUR", "receipt", 8, (2400, 26000), "T{n:05d}", None, "brasserieducanal.fr"),
    ("Figma", "Figma, Inc.", "760 Market Street, Floor 10", "94102", "San Francisco", "CA", "US", "vendor",
     "651100", [], "USD", "invoice", "monthly:15", (7500, 7500), "INV-{hex}", None, "figma.com"),
    ("Kontor Software", "Kontor Software GmbH", "Torstraße 49", "10119", "Berlin", "Berlin", "DE", "vendor",
     "651100", ["intracom"], "EUR", "invoice", "quarterly:3", (120000, 120000), "RE-{year}-{n:05d}", "ERP-F-0009",
     "kontor.de"),
    ("Northwind Analytics", "Northwind Analytics Ltd", "20 Farringdon Road", "EC1M 3HE", "London", "England",
     "GB", "vendor", "622600", ["intracom"], "GBP", "invoice", "monthly:20", (45000, 45000), "NW-{n:05d}", None,
     "northwind.co.uk"),
    ("Maison Berthier", "Berthier Décoration SAS", "18 cours de l'Intendance", "33000", "Bordeaux",
     "Nouvelle-Aquitaine", "FR", "client", "706000", [20.0], "EUR", "sale", 0, (0, 0), "", "ERP-C-0001",
     "maison-berthier.fr"),
    ("Hôtel des Arts", "SAS Hôtel des Arts", "3 promenade des Anglais", "06000", "Nice",
     "Provence-Alpes-Côte d'Azur", "FR", "client", "706000", [20.0], "EUR", "sale", 0, (0, 0), "", "ERP-C-0002",
     "hoteldesarts-nice.fr"),
    ("Galerie Vivienne Conseil", "GVC SARL", "6 rue Vivienne", "75002", "Paris", "Île-de-France", "FR", "client",
     "706000", [20.0], "EUR", "sale", 0, (0, 0), "", "ERP-C-0003", "gvc-conseil.fr"),
]

ACCOUNTS = [  # number, name, type, has ERP external_id, disabled
    ("101300", "Capital souscrit - appelé, versé", "equity", True, False),
    ("164000", "Emprunts auprès des établissements de crédit", "non_current_liability", True, False),
    ("218300", "Matériel de bureau et matériel informatique", "non_current_asset", True, False),
    ("401000", "Fournisseurs", "current_liability", True, False),
    ("411000", "Clients", "current_asset", True, False),
    ("421000", "Personnel - rémunérations dues", "current_liability", True, False),
    ("445200", "TVA due intracommunautaire", "current_liability", False, False),
    ("445660", "TVA déductible sur autres biens et services", "current_asset", True, False),
    ("445710", "TVA collectée", "current_liability", True, False),
    ("471000", "Compte d'attente", "current_asset", False, True),
    ("512000", "Banque BNP Paribas", "bank", True, False),
    ("512100", "Qonto", "bank", False, False),
    ("606100", "Fournitures non stockables (eau, énergie)", "expense", True, False),
    ("606400", "Fournitures administratives", "expense", True, False),
    ("607000", "Achats de marchandises", "expense", True, False),
    ("613200", "Locations immobilières", "expense", True, False),
    ("622600", "Honoraires", "expense", True, False),
    ("623600", "Catalogues et imprimés", "expense", False, False),
    ("625100", "Voyages et déplacements", "expense", True, False),
    ("625600", "Missions", "expense", False, False),
    ("625700", "Réceptions", "expense", True, False),
    ("626000", "Frais postaux et de télécommunications", "expense", True, False),
    ("627000", "Services bancaires et assimilés", "expense", True, False),
    ("651100", "Redevances pour concessions, brevets, licences, logiciels", "expense", False, False),
    ("706000", "Prestations de services", "income", True, False),
    ("707000", "Ventes de marchandises", "income", True, False),
]

COST_CENTERS = [("Siège Paris", "PAR"), ("Atelier Montreuil", "MTR"), ("Commercial", "COM"), ("R&D", "RND")]
PROJECTS = [("88", "Salon Maison & Objet", "SMO", True), ("89", "Rénovation boutique Marais", "RBM", False)]
EMPLOYEES = [  # id, name, cost centre index, card (type, last4) or None
    ("501", "Camille Moreau", 0, ("virtual", "7205")), ("502", "Julien Lefèvre", 2, ("physical", "4417")),
    ("503", "Sarah Benali", 3, None), ("504", "Thomas Girard", 1, ("physical", "0391")),
    ("505", "Léa Fontaine", 2, ("physical", "8823")), ("506", "Hugo Mercier", 0, None),
]
EXPENSE_CATEGORIES = [  # id, name, VAT %, account, weight, merchants, net range (cents), document_type
    ("11", "Restaurant", 10.0, "625700", 24, ["Le Petit Zinc", "Bouillon Pigalle", "Café des Arts", "Chez Janou"],
     (1400, 9800), "receipt"),
    ("12", "Train", 10.0, "625100", 12, ["SNCF Voyageurs", "Ouigo"], (2500, 16000), "receipt"),
    ("13", "Taxi / VTC", 10.0, "625100", 12, ["G7", "Uber France"], (1500, 6500), "receipt"),
    ("14", "Hôtel", 10.0, "625100", 10, ["Ibis Lyon Part-Dieu", "Mercure Lille Centre", "Novotel Bordeaux Lac"],
     (8900, 21000), "invoice"),
    ("15", "Carburant", 20.0, "606100", 12, ["TotalEnergies", "Esso Express"], (4000, 9000), "receipt"),
    ("16", "Fournitures", 20.0, "606400", 10, ["Bureau Vallée", "Fnac Pro"], (900, 12000), "invoice"),
    ("17", "Logiciels", 20.0, "651100", 8, ["Canva", "Adobe Systems Software Ireland"], (1199, 7199), "invoice"),
    ("18", "Parking", 20.0, "625100", 12, ["Indigo", "Saemes"], (600, 4200), "receipt"),
]
TRIPS = [  # employee, currency, exchange rate to EUR, city, days before today, merchants
    ("502", "GBP", 1.1712, "London", 120, [("Premier Inn London City", "14", 18900), ("Pret A Manger", "11", 1240),
                                          ("Transport for London", "13", 2260), ("Dishoom Shoreditch", "11", 5480)]),
    ("505", "USD", 0.9231, "New York", 75, [("Pod 51 Hotel", "14", 61200), ("Joe's Pizza", "11", 2150),
                                            ("Yellow Cab NYC", "13", 4830), ("Balthazar", "11", 11800),
                                            ("Delta Air Lines", "12", 89000)]),
    ("503", "CHF", 1.0548, "Genève", 40, [("Hôtel Cornavin", "14", 24500), ("Café du Marché", "11", 3890)]),
]


# --------------------------------------------------------------------------------------------
# Identifiers


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        n = int(ch) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def luhn_complete(payload: str) -> str:
    return next(payload + str(d) for d in range(10) if luhn_ok(payload + str(d)))


def siren(rng: random.Random) -> str:
    return luhn_complete(str(rng.randint(30000000, 99999999)))


def fr_vat(siren_number: str) -> str:
    return f"FR{(12 + 3 * (int(siren_number) % 97)) % 97:02d}{siren_number}"


def fr_iban(rng: random.Random) -> str:
    bank, branch = f"{rng.randint(10000, 30000):05d}", f"{rng.randint(0, 99999):05d}"
    account = f"{rng.randint(0, 10**11 - 1):011d}"
    key = 97 - ((89 * int(bank) + 15 * int(branch) + 3 * int(account)) % 97)
    bban = f"{bank}{branch}{account}{key:02d}"
    check = 98 - int(bban + "152700") % 97
    return f"FR{check:02d}{bban}"


def money(cents: int, currency: str) -> str:
    return f"{cents / 100:,.2f} {currency}".replace(",", " ")


# --------------------------------------------------------------------------------------------
# The seed


class _Clock:
    def __init__(self, today: dt.date):
        self.today = today
        self.anchor = dt.datetime.combine(today, dt.time(), tzinfo=UTC) - dt.timedelta(minutes=7)

    def at(self, day: dt.date, rng: random.Random, extra_days: float = 0.0) -> dt.datetime:
        moment = dt.datetime.combine(day, dt.time(8), tzinfo=UTC) + dt.timedelta(
            days=extra_days, seconds=rng.randint(0, 10 * 3600))
        return min(moment, self.anchor - dt.timedelta(seconds=rng.randint(0, 3600)))


def seed_demo(state: SandboxState, today: dt.date | None = None) -> None:
    today = today or dt.date.today()
    rng = random.Random(f"factorial-demo:{today.isoformat()}")
    clock = _Clock(today)
    start = today - dt.timedelta(days=183)
    info: dict = {"today": today.isoformat(), "broken": {}, "employees": {e[0]: e[1] for e in EMPLOYEES}}
    state.seed_info = info

    with state.lock:
        company_siren = siren(rng)
        company_vat = fr_vat(company_siren)
        state.add("companies/legal_entities", {
            "company_id": state.company_id, "country": "fr", "legal_name": COMPANY["legal_name"], "currency": "EUR",
            "tin": company_vat, "siret": luhn_complete(company_siren + "0001"), "city": COMPANY["city"],
            "state": COMPANY["state"], "postal_code": COMPANY["postal_code"], "address_line_1": COMPANY["line1"],
            "address_line_2": None}, record_id=LEGAL_ENTITY_ID)
        credential = state.data["api_public/credentials"]["1"]
        credential.update(name=COMPANY["name"], legal_name=COMPANY["legal_name"], tin=company_vat,
                          onboarded_on=(start - dt.timedelta(days=400)).isoformat())

        # Taxes
        setup_day = start - dt.timedelta(days=30)
        tax_types = {
            "vat": state.add("finance/tax_types", {"name": "TVA", "type": "vat", "country_code": "FR",
                                                   "external_id": "ERP-TAX-TVA",
                                                   "updated_at": iso(clock.at(setup_day, rng))}),
            "intracom": state.add("finance/tax_types", {"name": "TVA autoliquidation", "type": "vat",
                                                        "country_code": "FR", "external_id": None,
                                                        "updated_at": iso(clock.at(setup_day, rng))}),
        }
        for rate, description, external_id in ((0.2, "TVA 20 %", "ERP-TVA-20"), (0.1, "TVA 10 %", "ERP-TVA-10"),
                                                (0.055, "TVA 5,5 %", "ERP-TVA-055"), (0.021, "TVA 2,1 %", None),
                                                (0.0, "TVA 0 % (exonéré)", "ERP-TVA-0")):
            state.add("finance/tax_rates", {"rate": rate, "tax_type_id": tax_types["vat"]["id"],
                                            "description": description, "external_id": external_id,
                                            "updated_at": iso(clock.at(setup_day, rng))})
        state.add("finance/tax_rates", {"rate": 0.0, "tax_type_id": tax_types["intracom"]["id"],
                                        "description": "Autoliquidation (UE et hors UE)", "external_id": None,
                                        "updated_at": iso(clock.at(setup_day, rng, 2))})

        # Ledger accounts
        accounts = {}
        for number, name, kind, erp, disabled in ACCOUNTS:
            accounts[number] = state.add("finance/accounts", {
                "legal_entity_id": LEGAL_ENTITY_ID, "number": number, "disabled": disabled, "type": kind,
                "name": name, "external_id": f"ERP-ACC-{number}" if erp else None, "_currency": "EUR",
                "updated_at": iso(clock.at(setup_day + dt.timedelta(days=rng.randint(0, 150)), rng))})

        # Cost centres
        centers = [state.add("finance/cost_centers", {
            "name": name, "company_id": state.company_id, "legal_entity_id": LEGAL_ENTITY_ID, "code": code,
            "description": None, "active_employees_count": sum(1 for e in EMPLOYEES if e[2] == i),
            "historical_employees_count": sum(1 for e in EMPLOYEES if e[2] == i) + rng.randint(0, 3),
            "status": "active", "deactivation_date": None}) for i, (name, code) in enumerate(COST_CENTERS)]
        state.add("finance/cost_centers", {
            "name": "Boutique Lyon", "company_id": state.company_id, "legal_entity_id": LEGAL_ENTITY_ID,
            "code": "LYO", "description": "Fermée", "active_employees_count": 0, "historical_employees_count": 2,
            "status": "inactive", "deactivation_date": (start - dt.timedelta(days=20)).isoformat()})

        # Projects (expenses name them by project_id); no draw on the generator, so the rest stays as it was
        for project_id, name, code, billable in PROJECTS:
            state.add("project_management/projects", {
                "name": name, "code": code, "status": "active", "employees_assignment": "company",
                "is_billable": billable, "legal_entity_id": LEGAL_ENTITY_ID, "description": None,
                "start_date": (start - dt.timedelta(days=60)).isoformat(), "due_date": None,
                "client_id": None}, record_id=project_id)

        # Contacts
        contacts = {}
        for spec in CONTACTS:
            (name, legal, line1, postal, city, region, country, kind, _acc, _rates, _cur, _doc, _cad, _rng,
             _pattern, external_id, domain) = spec
            if country == "FR":
                tax_id, iban, bic = fr_vat(siren(rng)), fr_iban(rng), rng.choice(
                    ["BNPAFRPPXXX", "SOGEFRPPXXX", "CRLYFRPPXXX", "AGRIFRPPXXX", "CMCIFRPPXXX"])
            elif country == "DE":
                tax_id, iban, bic = f"DE{rng.randint(100000000, 999999999)}", None, None
            elif country == "GB":
                tax_id, iban, bic = f"GB{rng.randint(100000000, 999999999)}", None, None
            else:
                tax_id, iban, bic = None, None, None
            contacts[name] = state.add("finance/contacts", {
                "name": name, "legal_name": legal, "tax_id": tax_id, "external_id": external_id, "iban": iban,
                "bank_code": bic, "preferred_payment_method": "banktransfer" if iban else None,
                "website": f"https://www.{domain}", "email": f"{'compta' if kind == 'vendor' else 'achats'}@{domain}",
                "phone_number": f"+33 1 {rng.randint(40, 79)} {rng.randint(10, 99)} {rng.randint(10, 99)} "
                                f"{rng.randint(10, 99)}" if country == "FR" else None,
                "address": {"line1": line1, "line2": None, "city": city, "postal_code": postal, "state": region,
                            "country_code": country},
                "_contact_type": kind, "_spec": spec,
                "updated_at": iso(clock.at(start + dt.timedelta(days=rng.randint(-60, 150)), rng))})

        # Financial documents
        events: list[tuple[dt.date, dict]] = []
        for contact in contacts.values():
            spec = contact["_spec"]
            cadence = spec[12]
            if spec[7] == "client":
                continue
            if isinstance(cadence, str):
                kind, day = cadence.split(":")
                month = dt.date(start.year, start.month, 1)
                while month <= today:
                    if kind == "monthly" or (kind == "quarterly" and month.month % 3 == int(day) % 3):
                        when = month.replace(day=min(int(day), 28))
                        if start <= when < today:
                            events.append((when, contact))
                    month = (month + dt.timedelta(days=32)).replace(day=1)
            else:
                for _ in range(round(cadence * 183 / 30.5)):
                    events.append((start + dt.timedelta(days=rng.randint(0, 182)), contact))
        clients = [c for c in contacts.values() if c["_contact_type"] == "client"]
        for _ in range(40):
            events.append((start + dt.timedelta(days=rng.randint(0, 182)), {"_sale_to": rng.choice(clients)}))
        events.sort(key=lambda e: (e[0], e[1].get("name") or e[1]["_sale_to"]["name"]))

        counters: dict[str, int] = {}
        documents: list[dict] = []
        entity = state.data["companies/legal_entities"][LEGAL_ENTITY_ID]
        for when, contact in events:
            if "_sale_to" in contact:
                documents.append(_sale(state, rng, clock, when, contact["_sale_to"], counters, tax_types, entity))
            else:
                documents.append(_purchase(state, rng, clock, when, contact, counters, tax_types))

        # Credit notes against earlier EUR supplier invoices
        candidates = [d for d in documents if d["document_type"] == "invoice" and d["vendor_id"]
                      and d["currency"] == "EUR" and d["document_date"] < (today - dt.timedelta(days=30)).isoformat()
                      and not d["document_number"].startswith("QUITT")]
        for parent in sorted(rng.sample(candidates, 15), key=lambda d: d["document_date"]):
            documents.append(_credit_note(state, rng, clock, parent, counters, tax_types))

        broken = info["broken"]
        purchases = [d for d in documents if d["vendor_id"] and d["document_type"] == "invoice" and d["taxes"]
                     and d["currency"] == "EUR" and d["status"] == "review" and not d.get("_line_items")]
        no_tax, unknown_vendor, mismatch, non_pdf = rng.sample(purchases, 4)
        no_tax.update(taxes=[], taxes_total_amount_cents=0, net_amount_cents=no_tax["total_amount_cents"])
        broken["no_tax"] = no_tax["id"]
        unknown_vendor.update(vendor_id="999999", issuer_name="Plomberie Express SARL",
                              issuer_tax_id=fr_vat(siren(rng)), issuer_city="Montreuil", issuer_postal_code="93100",
                              issuer_address_line_1="7 rue de Paris", issuer_state="Île-de-France",
                              issuer_country_code="FR")
        broken["unknown_vendor"] = unknown_vendor["id"]
        mismatch["total_amount_cents"] += 1000
        broken["total_mismatch"] = mismatch["id"]
        fake = b"<html><head><title>403 Forbidden</title></head><body><h1>AccessDenied</h1></body></html>\n"
        stored = state.files[non_pdf["file"]["id"]]
        stored["content"] = fake
        non_pdf["file"]["size"] = len(fake)
        broken["non_pdf_file"] = non_pdf["id"]

        # A detected duplicate upload of a recent invoice
        original = next(d for d in reversed(documents) if d["vendor_id"] and d["document_type"] == "invoice"
                        and d["status"] in ("review", "sent_to_pay") and d["id"] not in broken.values())
        dup = {k: v for k, v in original.items() if k not in ("id",)}
        dup.update(status="processing", validated_at=None, validated_by_id=None, recorded_at=None,
                   duplicate_financial_document_id=original["id"],
                   updated_at=iso(clock.at(today - dt.timedelta(days=1), rng)))
        dup["file"] = state.add_file(original["file"]["filename"], state.files[original["file"]["id"]]["content"],
                                     signature=f"{rng.getrandbits(64):016x}", created_at=dup["updated_at"])
        documents.append(state.add("finance/financial_documents", dup))
        info["duplicate"] = [original["id"], documents[-1]["id"]]
        shared = {}
        for d in documents:
            if d["vendor_id"] and d["document_number"]:
                shared.setdefault(d["document_number"], set()).add(d["vendor_id"])
        info["shared_numbers"] = sorted(n for n, vendors in shared.items() if len(vendors) > 1)

        # Journal entries for validated EUR documents
        for doc in sorted(documents, key=lambda d: (d["validated_at"] or "", int(d["id"]))):
            if doc["validated_at"] and doc["currency"] == "EUR" and doc["id"] not in broken.values():
                _journal(state, doc, accounts, contacts)

        _expenses(state, rng, clock, today, start, centers, accounts)
        for contact in contacts.values():
            contact.pop("_spec", None)


def _number(spec: dict, counters: dict, rng: random.Random, when: dt.date) -> str:
    name, pattern = spec["name"], spec["_spec"][14]
    if name not in counters:  # "F{year}-{n:04d}" vendors all start at 40: their numbers collide, legally
        counters[name] = 40 if pattern.startswith("F{year}") else rng.randint(1000, 90000)
    counters[name] += 1
    return pattern.format(year=when.year, month=when.month, n=counters[name], hex=f"{rng.getrandbits(32):08X}",
                          code="".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(6)))


def _status(rng: random.Random, age: int, receipt: bool) -> str:
    if receipt:
        return "paid" if age > 3 else "review"
    if age > 40:
        return "paid" if rng.random() < 0.95 else "sent_to_pay"
    if age > 15:
        return rng.choices(["sent_to_pay", "paid", "review"], [5, 3, 2])[0]
    if age > 3:
        return rng.choices(["review", "processing", "sent_to_pay"], [7, 1, 2])[0]
    return rng.choice(["processing", "review"])


def _split(rng: random.Random, net: int, rates: list) -> list[tuple[int, object]]:
    if len(rates) == 1 or rng.random() < 0.5:
        return [(net, rates[0])]
    first = int(net * rng.uniform(0.15, 0.6))
    return [(first, rates[1]), (net - first, rates[0])]


def _taxes(parts, tax_types) -> list[dict]:
    taxes = []
    for base, rate in parts:
        if rate == "intracom":
            taxes.append(tax_line(base, 0.0, tax_types["intracom"]))
        else:
            taxes.append(tax_line(base, float(rate), tax_types["vat"]))
    return taxes


def _lifecycle(state, rng, clock, record: dict, when: dt.date, status: str) -> None:
    age = (clock.today - when).days
    record["status"] = status
    created = clock.at(when, rng, rng.uniform(0, 2))
    moments = [created]
    if status in ("sent_to_pay", "paid"):
        validated = clock.at(when, rng, rng.uniform(1, 4))
        record.update(validated_at=iso(validated), validated_by_id="501")
        moments.append(validated)
        if status == "paid":
            paid = clock.at(when, rng, min(age - 0.5, rng.uniform(5, 35)) if age > 1 else 0)
            record.update(recorded_at=iso(max(paid, validated)), fully_reconciled_at=iso(max(paid, validated)))
            moments.append(max(paid, validated))
    updated = max(moments)
    if rng.random() < 0.05:  # edited again lately
        updated = clock.at(clock.today - dt.timedelta(days=rng.randint(1, 3)), rng)
    record["updated_at"] = iso(max(updated, created))
    record["_created_at"] = iso(created)


def _attach(state, rng, record: dict, lines: list[str]) -> None:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", record["document_number"] or "document")
    record["file"] = state.add_file(f"{safe}.pdf", make_pdf(lines), signature=f"{rng.getrandbits(64):016x}",
                                    created_at=record["_created_at"])


def _pdf_lines(title: str, record: dict) -> list[str]:
    lines = [record["issuer_name"] or "", f"{record['issuer_address_line_1'] or ''}",
             f"{record['issuer_postal_code'] or ''} {record['issuer_city'] or ''}",
             f"N° TVA : {record['issuer_tax_id'] or '-'}", "", f"{title} n° {record['document_number']}",
             f"Date : {record['document_date']}    Échéance : {record['due_date'] or '-'}", "",
             f"Client : {record['recipient_name'] or ''}", f"N° TVA client : {record['recipient_tax_id'] or '-'}", ""]
    for tax in record["taxes"]:
        lines.append(f"Base HT {money(tax['base_amount_cents'], record['currency'])}  TVA {tax['percentage']} % : "
                     f"{money(tax['amount_cents'], record['currency'])}")
    lines += ["", f"Total HT : {money(record['net_amount_cents'], record['currency'])}",
              f"Total TVA : {money(record['taxes_total_amount_cents'], record['currency'])}",
              f"Total TTC : {money(record['total_amount_cents'], record['currency'])}"]
    return lines


def _purchase(state, rng, clock, when: dt.date, contact: dict, counters, tax_types) -> dict:
    spec = contact["_spec"]
    lo, hi = spec[13]
    net = rng.randint(lo, hi)
    rates, currency, doc_type = spec[9], spec[10], spec[11]
    parts = _split(rng, net, rates) if rates else []
    taxes = _taxes(parts, tax_types)
    record = empty_document()
    record.update(state._vendor_fields(contact["id"]))
    record.update(state._recipient_fields(LEGAL_ENTITY_ID))
    record.update(document_type=doc_type, taxes=taxes, net_amount_cents=net,
                  taxes_total_amount_cents=sum(t["amount_cents"] for t in taxes), currency=currency,
                  document_number=_number(contact, counters, rng, when), document_date=when.isoformat(),
                  due_date=(when if doc_type == "receipt" or spec[14].startswith("QUITT")
                            else when + dt.timedelta(days=30)).isoformat(),
                  legal_entity_id=LEGAL_ENTITY_ID, vendor_id=contact["id"])
    record["total_amount_cents"] = record["net_amount_cents"] + record["taxes_total_amount_cents"]
    _lifecycle(state, rng, clock, record, when, _status(rng, (clock.today - when).days, doc_type == "receipt"))
    _attach(state, rng, record, _pdf_lines("Ticket" if doc_type == "receipt" else "Facture", record))
    record["_account"] = spec[8]
    return state.add("finance/financial_documents", record)


def _sale(state, rng, clock, when: dt.date, client: dict, counters, tax_types, entity) -> dict:
    counters["_sales"] = counters.get("_sales", 0) + 1
    net = rng.randrange(80000, 1200000, 500)
    taxes = _taxes([(net, 20.0)], tax_types)
    address = client["address"]
    record = empty_document()
    record.update(
        issuer_name=entity["legal_name"], issuer_address_line_1=entity["address_line_1"], issuer_city=entity["city"],
        issuer_postal_code=entity["postal_code"], issuer_state=entity["state"], issuer_country_code="FR",
        issuer_tax_id=entity["tin"], recipient_name=client["legal_name"], recipient_address_line_1=address["line1"],
        recipient_city=address["city"], recipient_postal_code=address["postal_code"], recipient_state=address["state"],
        recipient_country_code=address["country_code"], recipient_tax_id=client["tax_id"], document_type="invoice",
        taxes=taxes, net_amount_cents=net, taxes_total_amount_cents=taxes[0]["amount_cents"], currency="EUR",
        document_number=f"FA-{when.year}-{counters['_sales']:04d}", document_date=when.isoformat(),
        due_date=(when + dt.timedelta(days=30)).isoformat(), legal_entity_id=LEGAL_ENTITY_ID, vendor_id=None)
    record["total_amount_cents"] = net + record["taxes_total_amount_cents"]
    age = (clock.today - when).days
    _lifecycle(state, rng, clock, record, when, "paid" if age > 45 else "review")
    _attach(state, rng, record, _pdf_lines("Facture", record))
    record["_account"] = "706000"
    record["_client_id"] = client["id"]
    return state.add("finance/financial_documents", record)


def _credit_note(state, rng, clock, parent: dict, counters, tax_types) -> dict:
    when = min(dt.date.fromisoformat(parent["document_date"]) + dt.timedelta(days=rng.randint(7, 25)),
               clock.today - dt.timedelta(days=1))
    share = rng.choice([0.1, 0.25, 0.5, 1.0])
    parts = [(round(t["base_amount_cents"] * share), t["percentage"] if t["tax_type_name"] == "TVA" else "intracom")
             for t in parent["taxes"]]
    taxes = _taxes(parts, tax_types)
    record = {k: v for k, v in parent.items() if k not in ("id", "file")}
    record.update(document_type="credit_note", taxes=taxes, net_amount_cents=sum(p[0] for p in parts),
                  taxes_total_amount_cents=sum(t["amount_cents"] for t in taxes),
                  document_number=f"AV-{parent['document_number']}", document_date=when.isoformat(),
                  due_date=when.isoformat(), parent_financial_document_id=parent["id"], validated_at=None,
                  validated_by_id=None, recorded_at=None, fully_reconciled_at=None)
    record["total_amount_cents"] = record["net_amount_cents"] + record["taxes_total_amount_cents"]
    age = (clock.today - when).days
    _lifecycle(state, rng, clock, record, when, "paid" if age > 20 else "review")
    _attach(state, rng, record, _pdf_lines("Avoir", record))
    return state.add("finance/financial_documents", record)


def _journal(state, doc: dict, accounts: dict, contacts: dict) -> None:
    acc = {number: a["id"] for number, a in accounts.items()}
    net, tax, total = doc["net_amount_cents"], doc["taxes_total_amount_cents"], doc["total_amount_cents"]
    if doc["vendor_id"] is None:  # sales invoice
        lines = [(acc["411000"], total, 0, None), (acc["706000"], 0, net, None)]
        if tax:
            lines.append((acc["445710"], 0, tax, None))
        entry_type = "invoice"
    else:
        charge = [(acc[doc["_account"]], net, 0, None)] + ([(acc["445660"], tax, 0, None)] if tax else [])
        if doc["document_type"] == "credit_note":
            lines = [(acc["401000"], total, 0, None)] + [(a, c, d, x) for a, d, c, x in charge]
        else:
            lines = charge + [(acc["401000"], 0, total, None)]
        entry_type = {"invoice": "bill", "receipt": "receipt", "credit_note": "credit_note"}[doc["document_type"]]
    state.add_journal_entry(legal_entity_id=LEGAL_ENTITY_ID, reference_date=doc["document_date"],
                            entry_type=entry_type, description=f"{doc['issuer_name']} {doc['document_number']}",
                            source_id=doc["id"], source_type="invoice", lines=lines, published_at=doc["validated_at"])


def _expenses(state, rng, clock, today, start, centers, accounts) -> None:
    categories = {c[0]: c for c in EXPENSE_CATEGORIES}
    plans = []  # (date, employee, category, merchant, currency, rate, amount, trip_group)
    for _ in range(88):
        employee = rng.choice(EMPLOYEES)
        category = rng.choices(EXPENSE_CATEGORIES, [c[4] for c in EXPENSE_CATEGORIES])[0]
        plans.append((start + dt.timedelta(days=rng.randint(0, 182)), employee, category,
                      rng.choice(category[5]), "EUR", 1.0, rng.randint(*category[6]), None))
    for group, (employee_id, currency, rate, _city, days_ago, items) in enumerate(TRIPS, 1):
        employee = next(e for e in EMPLOYEES if e[0] == employee_id)
        for i, (merchant, category_id, amount) in enumerate(items):
            plans.append((today - dt.timedelta(days=days_ago - i % 3), employee, categories[category_id], merchant,
                          currency, round(rate + rng.uniform(-0.004, 0.004), 4), amount, str(700 + group)))
    plans.sort(key=lambda p: (p[0], p[1][0]))
    card_ids = {e[0]: str(70 + i) for i, e in enumerate(EMPLOYEES) if e[3]}
    for when, employee, category, merchant, currency, rate, amount, group in plans:
        employee_id, _name, center, card = employee
        age = (today - when).days
        automatic = bool(card) and group is None and category[0] in ("15", "17", "18", "11") and rng.random() < 0.6
        if automatic:
            status = "paid" if age > 12 else "approved"
        elif age < 10 and rng.random() < 0.35:
            status = "draft"
        else:
            status = rng.choices(
                ["paid", "approved", "sent_to_pay", "pending", "rejected", "changes_requested", "in_payroll"],
                [60, 10, 6, 12, 5, 3, 4] if age > 30 else [15, 20, 10, 40, 5, 8, 2])[0]
        vat = category[2] if currency == "EUR" else None
        taxes = []
        if vat:
            base = round(amount / (1 + vat / 100))
            taxes = [{"type": "vat", "amount": amount - base, "percentage": vat, "base_amount": base}]
        created = clock.at(when, rng, rng.uniform(0, 1.5))
        submitted = None if status == "draft" else clock.at(when, rng, rng.uniform(0.5, 6))
        status_at = submitted or created
        paid_at = None
        if status in ("approved", "sent_to_pay", "paid", "in_payroll", "rejected", "changes_requested"):
            status_at = clock.at(when, rng, rng.uniform(2, 12))
        if status == "paid":
            paid_at = clock.at(when, rng, rng.uniform(8, 30))
            status_at = paid_at
        reimbursable = 0 if automatic else round(amount * rate)
        french = currency == "EUR" and merchant not in ("Adobe Systems Software Ireland",)
        expense_id = str(state._next_id["expenses/expenses"])
        expensable_id = str(state._next_id["expenses/expensables"])
        number = (f"{rng.randint(100000, 999999)}" if category[7] == "receipt"
                  else f"F-{when.year}-{rng.randint(1000, 99999)}")
        files = []
        if status != "draft" or rng.random() < 0.5:
            lines = [merchant, f"{category[1]} - {when.isoformat()}", f"N° {number}",
                     f"Total : {money(amount, currency)}"] + (
                [f"dont TVA {vat} % : {money(taxes[0]['amount'], currency)}"] if taxes else [])
            stored = state.add_file(f"ticket_{number}.pdf", make_pdf(lines), signature=f"{rng.getrandbits(64):016x}",
                                    created_at=iso(created))
            files = [{"id": stored["id"], "filename": stored["filename"], "byte_size": stored["size"],
                      "url": stored["url"], "download_url": stored["url"], "content_type": "application/pdf"}]
        ledger = accounts[category[3]]["id"] if rng.random() < 0.85 else None
        project = rng.choice(["88", "89"]) if rng.random() < 0.15 else None
        description = f"{category[1]} - {merchant}" + (f" ({_name.split()[0]})" if rng.random() < 0.3 else "")
        state.add("expenses/expenses", {
            "company_id": state.company_id, "creation_type": "automatic" if automatic else "manual",
            "currency": currency, "status": status, "effective_on": when.isoformat(),
            "status_updated_at": iso(status_at), "files": files, "taxes": taxes,
            "cost_center_ids": [centers[center]["id"]], "employee_id": employee_id,
            "card_payment_id": str(rng.randint(600000, 699999)) if automatic else None, "dispute_id": None,
            "expenses_expensable_id": expensable_id, "merchant_name": merchant.upper() if automatic else merchant,
            "user_merchant": merchant if automatic and rng.random() < 0.5 else None,
            "merchant_tin": fr_vat(siren(rng)) if french else None,
            "category": {"id": category[0], "name": category[1]}, "subcategory": None, "reference": None,
            "amount": amount, "description": description, "review_request_at": iso(submitted) if submitted else None,
            "external_authorization_id": None, "expenses_card_id": card_ids.get(employee_id) if automatic else None,
            "card": {"card_type": card[0], "last4": card[1]} if automatic else None,
            "document_id": files[0]["id"] if files else None, "signed_document": None, "access_token": None,
            "paid_at": iso(paid_at) if paid_at else None, "document_number": number, "document_type": category[7],
            "payment": "not_reimbursable" if automatic else "reimbursable",
            "payment_method": "company_card" if automatic else rng.choice(["personal_card", "cash"]),
            "exchange_rate": rate, "reimbursable_currency": "EUR", "reimbursable_amount": reimbursable,
            "category_id": category[0], "ledger_account_id": ledger, "budget_id": None, "project_id": project,
        }, record_id=expense_id)
        state.add("expenses/expensables", {
            "type": "expense", "company_id": state.company_id, "employee_id": employee_id,
            "created_at": iso(created), "currency": currency, "status": status, "status_updated_at": iso(status_at),
            "updated_at": iso(max(status_at, paid_at or status_at)), "cost_center_ids": [centers[center]["id"]],
            "group_id": group, "legal_entity_id": LEGAL_ENTITY_ID, "amount": amount, "description": description,
            "reporter_id": "501" if employee_id != "501" and rng.random() < 0.1 else None,
            "effective_on": when.isoformat(), "review_request_at": iso(submitted) if submitted else None,
            "paid_at": iso(paid_at) if paid_at else None, "reimbursable_amount": reimbursable,
            "reimbursable_currency": "EUR", "reimbursement_method": "unknown" if automatic else "sepa_transfer",
            "internal_reference": None, "expense_id": expense_id, "mileage_id": None, "per_diem_id": None,
            "budget_id": None, "project_id": project, "_creation_type": "automatic" if automatic else "manual",
        }, record_id=expensable_id)
