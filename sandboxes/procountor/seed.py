"""The Procountor sandbox's company settings and its "demo" data: a Finnish limited company.

``base_settings`` is what every Procountor environment has before anyone books anything: a Finnish
chart of accounts (Liikekirjuri-style numbering), the VAT percentages in force since 1 September
2024 (25.5 / 14 / 10 / 0), the VAT statuses ("VAT defaults") for domestic trade, EU goods and
services, construction reverse charge, export and import, and the fiscal years (the current one open,
the previous one closed). ``apply_seed(state, "demo")`` adds dimensions ("Kustannuspaikka" with its
cost centres, "Projekti"), business partners and a few invoices in different statuses, all dated in
the open fiscal year so that they are valid on the day the sandbox starts.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

ACCOUNTS = [
    ("1010", "Aineettomat oikeudet"), ("1160", "Koneet ja kalusto"), ("1500", "Aineet ja tarvikkeet"),
    ("1701", "Myyntisaamiset"), ("1763", "Arvonlisäverosaamiset"), ("1800", "Siirtosaamiset"),
    ("1900", "Käteiset varat"), ("1910", "Pankkitili"), ("1911", "Pankkitili, säästötili"),
    ("2001", "Osakepääoma"), ("2251", "Edellisten tilikausien voitto (tappio)"), ("2370", "Tilikauden voitto"),
    ("2621", "Lainat rahoituslaitoksilta"), ("2871", "Ostovelat"), ("2939", "Arvonlisäverovelka"),
    ("2940", "Ennakonpidätysvelka"), ("2960", "Siirtovelat"),
    ("3000", "Myynti"), ("3010", "Myynti, palvelut"), ("3300", "Myynti EU, tavarat"), ("3310", "Myynti EU, palvelut"),
    ("3340", "Vientimyynti"), ("3360", "Rakentamispalvelujen myynti, käännetty verovelvollisuus"),
    ("3700", "Muut liiketoiminnan tuotot"),
    ("4000", "Ostot"), ("4010", "Ostot, palvelut"), ("4100", "Ostot EU, tavarat"), ("4110", "Ostot EU, palvelut"),
    ("4130", "Tuonti EU:n ulkopuolelta"), ("4150", "Rakentamispalvelujen ostot, käännetty verovelvollisuus"),
    ("5000", "Palkat"), ("6100", "Työnantajamaksut"), ("7000", "Vuokrat"), ("7600", "Toimistotarvikkeet"),
    ("7680", "Puhelin- ja tietoliikennekulut"), ("8500", "Pankkikulut"), ("9160", "Korkotuotot"),
    ("9440", "Korkokulut"), ("9990", "Tuloverot"),
]

# 13.5 %: Finland's reduced rate since 2026-01-01 (14 % before it)
VAT_PERCENTS = [("25.5", True, True), ("24", False, True), ("14", True, True), ("13.5", True, True),
                ("10", True, True), ("0", True, True)]

# (vatStatus, description, sales, purchase): the numeric part of the "vat_N" codes of VAT defaults.
VAT_STATUSES = [
    (1, "Kotimaa (domestic, VAT)", True, True),
    (2, "EU-tavarat (intra-community goods)", True, True),
    (3, "EU-palvelut (intra-community services)", True, True),
    (4, "Rakentamispalvelut, käännetty verovelvollisuus (construction reverse charge)", True, True),
    (5, "Vienti EU:n ulkopuolelle (export outside the EU)", True, False),
    (6, "Tuonti EU:n ulkopuolelta (import from outside the EU)", False, True),
    (7, "Veroton (tax-free, 0 %)", True, True),
]


def _year_span(year: int, status: str, year_id: int) -> dict:
    months = []
    for month in range(1, 13):
        start = dt.date(year, month, 1)
        end = (dt.date(year + (month == 12), month % 12 + 1, 1) - dt.timedelta(days=1))
        months.append({"id": year_id * 100 + month, "startDate": start.isoformat(), "endDate": end.isoformat()})
    return {"id": year_id, "startDate": f"{year}-01-01", "endDate": f"{year}-12-31", "status": status,
            "trackingPeriods": months}


def base_settings(state) -> None:
    for code, name in ACCOUNTS:
        state.accounts[code] = {"ledgerAccountCode": code, "name": name}
    state.vat_percents = [{"vatPercent": Decimal(p), "sales": s, "purchase": b} for p, s, b in VAT_PERCENTS]
    state.vat_statuses = {n: {"vatStatus": n, "description": d, "sales": s, "purchase": p}
                          for n, d, s, p in VAT_STATUSES}
    year = state.clock.today().year
    state.fiscal_years = [_year_span(year, "OPEN", 40 + year - 2000), _year_span(year - 1, "CLOSED", 39 + year - 2000)]


def _day(state, days_back: int) -> str:
    """A day ``days_back`` before today, never before the open fiscal year starts."""
    today = state.clock.today()
    return max(today - dt.timedelta(days=days_back), dt.date(today.year, 1, 1)).isoformat()


def apply_seed(state, name: str) -> None:
    if name != "demo":
        raise ValueError(f"unknown Procountor seed {name!r} (known: demo)")
    state.dimensions = {
        101: {"id": 101, "name": "Kustannuspaikka", "items": [
            {"id": 1011, "codeName": "HALL", "status": "ACTIVE", "description": "Hallinto"},
            {"id": 1012, "codeName": "MYYNTI", "status": "ACTIVE", "description": "Myynti"},
            {"id": 1013, "codeName": "TUOTANTO", "status": "ACTIVE", "description": "Tuotanto"},
            {"id": 1014, "codeName": "VANHA", "status": "INACTIVE", "description": "Lakkautettu yksikkö"}]},
        102: {"id": 102, "name": "Projekti", "items": [
            {"id": 1021, "codeName": "P-100", "status": "ACTIVE", "description": "Asiakasprojekti 100"},
            {"id": 1022, "codeName": "P-200", "status": "ACTIVE", "description": "Sisäinen kehitys"}]},
    }
    customers = [
        ("CUSTOMER", "Kaupparaitti Oy", "2345678-9", "A-1001", "Aleksanterinkatu 15", "00100", "Helsinki"),
        ("CUSTOMER", "Tampereen Tekniikka Ab", "3456789-0", "A-1002", "Hämeenkatu 3", "33100", "Tampere"),
        ("SUPPLIER", "Konttoritarvike Oy", "4567890-1", "S-2001", "Teollisuustie 8", "20100", "Turku"),
        ("SUPPLIER", "Rakennus Virtanen Oy", "5678901-2", "S-2002", "Rakentajantie 2", "90100", "Oulu"),
    ]
    ids = []
    for kind, partner_name, brn, number, street, zip_code, city in customers:
        ids.append(state.create_partner({"type": kind, "name": partner_name, "identifier": brn,
                                         "customerNumber": number, "email": f"laskutus@{number.lower()}.example",
                                         "address": {"street": street, "zip": zip_code, "city": city,
                                                     "country": "FINLAND"}})["id"])

    def invoice(kind: str, partner_id: int, days_back: int, rows: list[tuple[str, str, str, str]], **extra) -> int:
        partner = state.partners[partner_id]
        date = _day(state, days_back)
        due = (dt.date.fromisoformat(date) + dt.timedelta(days=14)).isoformat()
        body = {"type": kind, "partnerId": partner_id, "date": date,
                "counterParty": {"identifier": partner["identifier"], "customerNumber": partner["customerNumber"],
                                 "counterPartyAddress": {"name": partner["name"], **partner["address"]}},
                "paymentInfo": {"paymentMethod": "BANK_TRANSFER", "currency": "EUR", "dueDate": due,
                                "bankReferenceCodeType": "RF"},
                "extraInfo": {"accountingByRow": False, "unitPricesIncludeVat": False},
                "invoiceChannel": "EMAIL" if kind == "SALES_INVOICE" else None,
                "invoiceRows": [{"product": p, "quantity": Decimal(q), "unit": "PIECE", "unitPrice": Decimal(u),
                                 "vatPercent": Decimal(v), "vatStatus": extra.get("vatStatus", 1)}
                                for p, q, u, v in rows],
                **extra}
        return state.create_invoice(body)["id"]

    sent = invoice("SALES_INVOICE", ids[0], 20, [("Konsultointi", "8", "95.00", "25.5"),
                                                ("Kirja", "2", "39.90", "10")], orderReference="TILAUS-501")
    state.transition(sent, "send")
    paid = invoice("SALES_INVOICE", ids[1], 35, [("Ylläpitosopimus", "1", "1200.00", "25.5")],
                   orderReference="TILAUS-488")
    state.transition(paid, "send")
    total = state.gross(state.invoices[paid])
    state.mark_paid(paid, {"paymentDate": _day(state, 5), "amount": total, "currency": "EUR"})
    invoice("SALES_INVOICE", ids[0], 1, [("Koulutus", "1", "640.00", "25.5")], orderReference="TILAUS-512")
    received = invoice("PURCHASE_INVOICE", ids[2], 10, [("Kopiopaperi", "10", "6.40", "25.5"),
                                                        ("Kahvi", "4", "8.90", "14")], originalInvoiceNumber="KT-7781")
    state.transition(received, "sendToCirculation")
    approved = invoice("PURCHASE_INVOICE", ids[3], 12, [("Remontti, työ", "1", "3500.00", "0")],
                       originalInvoiceNumber="RV-2024-119", vatStatus=4)
    state.transition(approved, "sendToCirculation")
    state.transition(approved, "approve")
