"""The Xero sandbox's seeds: two UK organisations, each with its own chart, VAT rates and data.

``populate(state, "demo")`` builds "Demo Company (Global)" and "Harbour Trading Ltd": chart of
accounts (one archived account, a rounding account), UK VAT rates (one DELETED), GBP/EUR/USD,
two tracking categories, ~20 contacts (one archived), ~10 items, and invoices in every state (a
paid one, a part-paid one, approved ones, drafts, bills, a credit note, a quote, a purchase
order). ``populate(state, None)`` builds the same two organisations with only the chart, tax
rates, currencies and tracking categories.

Every id is derived from the organisation and a counter, so a restarted sandbox answers with the
same ids (the demo hub keeps them in its database). Documents go through the same rules as API
calls, so the seed cannot hold anything the API would refuse.
"""
from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import TYPE_CHECKING

from .state import (CREDIT_NOTES, INVOICES, PURCHASE_ORDERS, QUOTES, ACCOUNT_CLASSES, Organisation, stable_id)

if TYPE_CHECKING:
    from .state import XeroState

UTC = dt.timezone.utc

# (Code, Name, Type, default TaxType, extras)
CHART: list[tuple[str, str, str, str, dict]] = [
    ("090", "Business Bank Account", "BANK", "NONE", {"BankAccountNumber": "20-45-77 43218765",
                                                      "BankAccountType": "BANK", "CurrencyCode": "GBP"}),
    ("091", "Business Savings Account", "BANK", "NONE", {"BankAccountNumber": "20-45-77 90017722",
                                                         "BankAccountType": "BANK", "CurrencyCode": "GBP"}),
    ("200", "Sales", "SALES", "OUTPUT2", {"Description": "Income from the sale of goods and services."}),
    ("260", "Other Revenue", "REVENUE", "OUTPUT2", {"Description": "Income that is not from the main business."}),
    ("270", "Interest Income", "OTHERINCOME", "EXEMPTOUTPUT", {}),
    ("310", "Cost of Goods Sold", "DIRECTCOSTS", "INPUT2", {"Description": "Cost of the goods sold."}),
    ("320", "Direct Wages", "DIRECTCOSTS", "NONE", {}),
    ("400", "Advertising", "OVERHEADS", "INPUT2", {}),
    ("404", "Bank Fees", "OVERHEADS", "EXEMPTEXPENSES", {}),
    ("408", "Cleaning", "OVERHEADS", "INPUT2", {}),
    ("412", "Consulting & Accounting", "OVERHEADS", "INPUT2", {}),
    ("425", "Freight & Courier", "OVERHEADS", "INPUT2", {"Status": "ARCHIVED"}),
    ("429", "General Expenses", "OVERHEADS", "INPUT2", {}),
    ("433", "Insurance", "OVERHEADS", "EXEMPTEXPENSES", {}),
    ("445", "Light, Power, Heating", "OVERHEADS", "RRINPUT", {}),
    ("449", "Motor Vehicle Expenses", "OVERHEADS", "INPUT2", {}),
    ("460", "Rounding Differences", "OVERHEADS", "NONE",
     {"Description": "Pennies between the source document's total and the total Xero computes per line."}),
    ("461", "Printing & Stationery", "OVERHEADS", "INPUT2", {}),
    ("469", "Rent", "OVERHEADS", "EXEMPTEXPENSES", {}),
    ("473", "Repairs and Maintenance", "OVERHEADS", "INPUT2", {}),
    ("485", "Subscriptions", "OVERHEADS", "INPUT2", {}),
    ("489", "Telephone & Internet", "OVERHEADS", "INPUT2", {}),
    ("493", "Travel - National", "OVERHEADS", "INPUT2", {}),
    ("610", "Accounts Receivable", "CURRENT", "NONE", {"SystemAccount": "DEBTORS"}),
    ("720", "Office Equipment", "FIXED", "INPUT2", {}),
    ("800", "Accounts Payable", "CURRLIAB", "NONE", {"SystemAccount": "CREDITORS"}),
    ("820", "VAT", "CURRLIAB", "NONE", {"SystemAccount": "GST"}),
    ("860", "Rounding", "CURRLIAB", "NONE", {"SystemAccount": "ROUNDING"}),
    ("960", "Retained Earnings", "EQUITY", "NONE", {"SystemAccount": "RETAINEDEARNINGS"}),
    ("970", "Owner A Funds Introduced", "EQUITY", "NONE", {}),
]

# (TaxType, Name, rate %, ReportTaxType, applies to: income | expense | all, Status)
TAX_RATES: list[tuple[str, str, str, str, str, str]] = [
    ("OUTPUT2", "20% (VAT on Income)", "20", "OUTPUT", "income", "ACTIVE"),
    ("INPUT2", "20% (VAT on Expenses)", "20", "INPUT", "expense", "ACTIVE"),
    ("RROUTPUT", "5% (VAT on Income)", "5", "OUTPUT", "income", "ACTIVE"),
    ("RRINPUT", "5% (VAT on Expenses)", "5", "INPUT", "expense", "ACTIVE"),
    ("ZERORATEDOUTPUT", "Zero Rated Income", "0", "OUTPUT", "income", "ACTIVE"),
    ("ZERORATEDINPUT", "Zero Rated Expenses", "0", "INPUT", "expense", "ACTIVE"),
    ("EXEMPTOUTPUT", "Exempt Income", "0", "EXEMPTOUTPUT", "income", "ACTIVE"),
    ("EXEMPTEXPENSES", "Exempt Expenses", "0", "EXEMPTEXPENSES", "expense", "ACTIVE"),
    ("NONE", "No VAT", "0", "NONE", "all", "ACTIVE"),
    ("OUTPUT", "17.5% (VAT on Income)", "17.5", "OUTPUT", "income", "DELETED"),
]

CURRENCIES = [("GBP", "British Pound"), ("EUR", "Euro"), ("USD", "United States Dollar")]

TRACKING = [("Region", ["North", "South", "East", "West"], ["Overseas"]),
            ("Cost Centre", ["Sales", "Operations", "Administration"], [])]

# One organisation's people: (name, role C|S, account number, VAT number, company number, email, status)
Party = tuple[str, str, str | None, str | None, str | None, str | None, str]

ORGANISATIONS: list[dict] = [
    {
        "Name": "Demo Company (Global)", "LegalName": "Demo Company Global Ltd", "ShortCode": "!dC7gL",
        "RegistrationNumber": "09876543", "TaxNumber": "GB 284 7719 02", "LineOfBusiness": "Consulting services",
        "City": "London", "AddressLine1": "23 Main Street", "PostalCode": "EC1A 1BB",
        "parties": [
            ("Northwind Studios Ltd", "C", "C001", "GB 100 2000 31", "07700001", "ap@northwind.example", "ACTIVE"),
            ("Bramble & Finch LLP", "C", "C002", "GB 100 2000 42", "OC400102", "ap@bramblefinch.example", "ACTIVE"),
            ("Castlegate Hotels Ltd", "C", "C003", "GB 100 2000 53", "07700003", None, "ACTIVE"),
            ("Dunmore Engineering Ltd", "C", "C004", None, "07700004", "finance@dunmore.example", "ACTIVE"),
            ("Elmstead Primary Academy", "C", "C005", None, None, "office@elmstead.example", "ACTIVE"),
            ("Foxglove Florists", "C", None, None, None, "hello@foxglove.example", "ACTIVE"),
            ("Greyfriars Dental Practice", "C", "C007", "GB 100 2000 75", None, None, "ACTIVE"),
            ("Hollybank Garden Centre", "C", "C008", None, "07700008", None, "ACTIVE"),
            ("Ironbridge Cycles Ltd", "C", "C009", "GB 100 2000 97", "07700009", "ap@ironbridge.example", "ACTIVE"),
            ("Juniper Health Clinic", "C", None, None, None, None, "ACTIVE"),
            ("Kingsmead Lettings", "C", "C011", None, None, "lettings@kingsmead.example", "ACTIVE"),
            ("Larkspur Office Supplies Ltd", "S", "S001", "GB 200 3000 14", "08800001", "ar@larkspur.example",
             "ACTIVE"),
            ("Meridian Telecom plc", "S", "S002", "GB 200 3000 25", "08800002", "billing@meridian.example", "ACTIVE"),
            ("Northgate Couriers Ltd", "S", "S003", None, "08800003", None, "ACTIVE"),
            ("Oakfield Print Works", "S", "S004", "GB 200 3000 47", None, "orders@oakfield.example", "ACTIVE"),
            ("Penhallow Energy Ltd", "S", "S005", "GB 200 3000 58", "08800005", None, "ACTIVE"),
            ("Quayside Cleaning Services", "S", None, None, None, "team@quayside-cleaning.example", "ACTIVE"),
            ("Redwood IT Consulting Ltd", "S", "S007", "GB 200 3000 70", "08800007", None, "ACTIVE"),
            ("Saltmarsh Insurance Brokers", "S", "S008", None, "08800008", None, "ACTIVE"),
            ("Thistle Catering Ltd", "C", "C099", "GB 100 2000 99", "07700099", None, "ARCHIVED"),
        ],
        # (Code, Name, sale price, sale account, sale tax, purchase price, purchase account, purchase tax)
        "items": [
            ("CONSULT-HR", "Consulting (per hour)", "95.00", "200", "OUTPUT2", None, None, None),
            ("WEB-DESIGN", "Website design package", "1200.00", "200", "OUTPUT2", None, None, None),
            ("SUPPORT-M", "Support (monthly)", "250.00", "200", "OUTPUT2", None, None, None),
            ("TRAINING-D", "Training day", "650.00", "200", "OUTPUT2", None, None, None),
            ("HOSTING-Y", "Hosting (yearly)", "180.00", "200", "OUTPUT2", "120.00", "485", "INPUT2"),
            ("PAPER-A4", "A4 paper (box of 5 reams)", "24.00", "200", "OUTPUT2", "18.50", "461", "INPUT2"),
            ("TONER-BK", "Black toner cartridge", "79.99", "200", "OUTPUT2", "52.40", "461", "INPUT2"),
            ("GUIDE-BOOK", "Printed user guide (book)", "12.50", "200", "ZERORATEDOUTPUT", "4.10", "310",
             "ZERORATEDINPUT"),
            ("INSUL-ROLL", "Loft insulation roll", "31.00", "200", "RROUTPUT", "22.00", "310", "RRINPUT"),
            ("CHAIR-ERG", "Ergonomic office chair", "289.00", "200", "OUTPUT2", "174.00", "720", "INPUT2"),
        ],
    },
    {
        "Name": "Harbour Trading Ltd", "LegalName": "Harbour Trading Limited", "ShortCode": "!hT4rb",
        "RegistrationNumber": "11223344", "TaxNumber": "GB 391 5502 77", "LineOfBusiness": "Marine supplies",
        "City": "Falmouth", "AddressLine1": "4 Quay Hill", "PostalCode": "TR11 3HA",
        "parties": [
            ("Anchor Marine Supplies", "C", "H-C01", "GB 300 4000 11", "05500001", "ap@anchor.example", "ACTIVE"),
            ("Beacon Yacht Club", "C", "H-C02", None, None, "treasurer@beacon-yc.example", "ACTIVE"),
            ("Coastline Ferries Ltd", "C", "H-C03", "GB 300 4000 33", "05500003", None, "ACTIVE"),
            ("Driftwood Cafe", "C", None, None, None, None, "ACTIVE"),
            ("Estuary Boatyard Ltd", "C", "H-C05", "GB 300 4000 55", "05500005", "yard@estuary.example", "ACTIVE"),
            ("Fathom Diving School", "C", "H-C06", None, None, None, "ACTIVE"),
            ("Gull Rock Holidays", "C", "H-C07", "GB 300 4000 77", None, "bookings@gullrock.example", "ACTIVE"),
            ("Harbourmaster's Office", "C", "H-C08", None, None, None, "ACTIVE"),
            ("Islander Fish Co", "C", "H-C09", None, "05500009", None, "ACTIVE"),
            ("Jetty Timber Merchants", "S", "H-S01", "GB 400 5000 12", "06600001", "ar@jetty-timber.example", "ACTIVE"),
            ("Keel & Rudder Chandlery", "S", "H-S02", "GB 400 5000 23", None, None, "ACTIVE"),
            ("Lighthouse Fuels Ltd", "S", "H-S03", "GB 400 5000 34", "06600003", "ar@lighthouse.example", "ACTIVE"),
            ("Mooring Systems Ltd", "S", "H-S04", None, "06600004", None, "ACTIVE"),
            ("Netmakers Guild", "S", None, None, None, None, "ACTIVE"),
            ("Oarsman Logistics Ltd", "S", "H-S06", "GB 400 5000 67", "06600006", None, "ACTIVE"),
            ("Pier Electrical Services", "S", "H-S07", None, None, "jobs@pier-electrical.example", "ACTIVE"),
            ("Quay Stationers", "S", "H-S08", "GB 400 5000 89", None, None, "ACTIVE"),
            ("Rope Walk Textiles Ltd", "S", "H-S09", None, "06600009", None, "ACTIVE"),
            ("Seaview Accountants LLP", "S", "H-S10", "GB 400 5000 01", "OC300010", "ar@seaview.example", "ACTIVE"),
            ("Tidewater Traders", "C", "H-C99", None, None, None, "ARCHIVED"),
        ],
        "items": [
            ("ROPE-12MM", "12mm mooring rope (per metre)", "3.20", "200", "OUTPUT2", "1.85", "310", "INPUT2"),
            ("FENDER-L", "Large boat fender", "42.00", "200", "OUTPUT2", "24.00", "310", "INPUT2"),
            ("LIFEJACKET", "Lifejacket 150N", "89.00", "200", "OUTPUT2", "51.00", "310", "INPUT2"),
            ("CHART-PACK", "Navigation chart pack (book)", "19.95", "200", "ZERORATEDOUTPUT", "11.00", "310",
             "ZERORATEDINPUT"),
            ("ANTIFOUL-2L", "Antifouling paint 2L", "64.50", "200", "OUTPUT2", "38.20", "310", "INPUT2"),
            ("BERTH-DAY", "Visitor berth (per night)", "28.00", "260", "OUTPUT2", None, None, None),
            ("REPAIR-HR", "Workshop repairs (per hour)", "58.00", "200", "OUTPUT2", None, None, None),
            ("DIESEL-L", "Marine diesel (per litre)", "1.18", "200", "RROUTPUT", "0.96", "310", "RRINPUT"),
            ("SHACKLE-10", "Stainless shackle 10mm", "7.40", "200", "OUTPUT2", "3.10", "310", "INPUT2"),
            ("WINTER-STORE", "Winter storage (per month)", "145.00", "260", "OUTPUT2", None, None, None),
        ],
    },
]


def tenant_id(name: str) -> str:
    return stable_id("tenant", name)


def populate(state: "XeroState", seed: str | None, *, today: dt.date | None = None) -> None:
    """Create the organisations of ``seed`` ("demo" or None) in ``state`` (called under its lock)."""
    if seed not in (None, "demo"):
        raise ValueError(f"unknown Xero sandbox seed {seed!r} (known: 'demo', or None for empty organisations)")
    today = today or state.clock.utcnow().date()
    for spec in ORGANISATIONS:
        org = state.add_organisation(tenant_id(spec["Name"]), _organisation_info(spec))
        counter = itertools.count(1)
        org.id_source = lambda org=org, counter=counter: stable_id(org.tenant_id, "seed", next(counter))
        try:
            _settings(org)
            if seed == "demo":
                _parties(org, spec)
                _items(org, spec)
                _documents(org, spec, today)
        finally:
            org.id_source = None


def _organisation_info(spec: dict) -> dict:
    return {
        "OrganisationID": stable_id("organisation", spec["Name"]), "APIKey": stable_id("apikey", spec["Name"])[:30]
        .replace("-", "").upper(), "Name": spec["Name"], "LegalName": spec["LegalName"], "PaysTax": True,
        "Version": "UK", "OrganisationType": "COMPANY", "BaseCurrency": "GBP", "CountryCode": "GB",
        "IsDemoCompany": False, "OrganisationStatus": "ACTIVE", "RegistrationNumber": spec["RegistrationNumber"],
        "TaxNumber": spec["TaxNumber"], "FinancialYearEndDay": 31, "FinancialYearEndMonth": 3,
        "SalesTaxBasis": "ACCRUALS", "SalesTaxPeriod": "QUARTERLY1", "DefaultSalesTax": "Tax Exclusive",
        "DefaultPurchasesTax": "Tax Exclusive", "CreatedDateUTC": dt.datetime(2024, 4, 1, 9, 0, tzinfo=UTC),
        "OrganisationEntityType": "COMPANY", "Timezone": "GMTSTANDARDTIME", "ShortCode": spec["ShortCode"],
        "Edition": "BUSINESS", "Class": "PREMIUM", "LineOfBusiness": spec["LineOfBusiness"],
        "Addresses": [{"AddressType": "STREET", "AddressLine1": spec["AddressLine1"], "City": spec["City"],
                       "PostalCode": spec["PostalCode"], "Country": "United Kingdom"}],
        "Phones": [{"PhoneType": "OFFICE", "PhoneNumber": "0300 555 0100"}], "ExternalLinks": [], "PaymentTerms": {},
    }


def _settings(org: Organisation) -> None:
    """Chart of accounts, tax rates, currencies and tracking categories: present in every seed."""
    for type_, name, rate, report, applies, status in TAX_RATES:
        income, expense = applies in ("income", "all"), applies in ("expense", "all")
        org.tax_rates[type_] = {
            "TaxType": type_, "Name": name, "ReportTaxType": report, "Status": status,
            "CanApplyToAssets": True, "CanApplyToEquity": True, "CanApplyToLiabilities": True,
            "CanApplyToRevenue": income, "CanApplyToExpenses": expense, "EffectiveRate": Decimal(rate),
            "TaxComponents": [{"Name": "VAT", "Rate": Decimal(rate)}],
        }
    for code, name, type_, tax, extras in CHART:
        account = {"AccountID": org.new_id(), "Code": code, "Name": name, "Type": type_, "TaxType": tax,
                   "Status": "ACTIVE", "Class": ACCOUNT_CLASSES[type_],
                   "EnablePaymentsToAccount": False, "ShowInExpenseClaims": ACCOUNT_CLASSES[type_] == "EXPENSE",
                   "UpdatedDateUTC": org.stamp(), **extras}
        org.accounts[account["AccountID"]] = account
    for code, description in CURRENCIES:
        org.currencies[code] = {"Code": code, "Description": description}
    for name, options, archived in TRACKING:
        category_id = org.new_id()
        org.tracking[category_id] = {
            "TrackingCategoryID": category_id, "Name": name, "Status": "ACTIVE",
            "Options": [{"TrackingOptionID": org.new_id(), "Name": o, "Status": "ACTIVE"} for o in options]
            + [{"TrackingOptionID": org.new_id(), "Name": o, "Status": "ARCHIVED"} for o in archived]}


def _check(outcomes, what: str) -> list[dict]:
    failed = [(o.record, o.errors) for o in outcomes if not o.saved]
    if failed:
        raise RuntimeError(f"the Xero sandbox seed is inconsistent ({what}): {failed}")
    return [o.record for o in outcomes]


def _parties(org: Organisation, spec: dict) -> None:
    contacts = []
    for index, (name, role, account_number, vat, company, email, status) in enumerate(spec["parties"]):
        contact: dict = {"Name": name, "ContactStatus": status}
        if account_number:
            contact["AccountNumber"] = account_number
        if vat:
            contact["TaxNumber"] = vat
        if company:
            contact["CompanyNumber"] = company
        if email:
            contact["EmailAddress"] = email
        if index % 3 == 0:
            contact["FirstName"], contact["LastName"] = ("Alex", "Morgan") if role == "C" else ("Sam", "Patel")
        contact["Addresses"] = [{"AddressType": "POBOX", "AddressLine1": f"{10 + index} Market Street",
                                 "City": spec["City"], "PostalCode": spec["PostalCode"], "Country": "United Kingdom"}]
        contact["Phones"] = [{"PhoneType": "DEFAULT", "PhoneNumber": f"0300 555 {index:04d}"}]
        if role == "S":
            contact["PurchasesDefaultAccountCode"] = "429"
        contacts.append(contact)
    _check(org.save_contacts(contacts, upsert=False), "contacts")


def _items(org: Organisation, spec: dict) -> None:
    items = []
    for code, name, sale, sale_account, sale_tax, buy, buy_account, buy_tax in spec["items"]:
        item: dict = {"Code": code, "Name": name, "Description": name,
                      "SalesDetails": {"UnitPrice": Decimal(sale), "AccountCode": sale_account, "TaxType": sale_tax}}
        if buy:
            item["PurchaseDescription"] = name
            item["PurchaseDetails"] = {"UnitPrice": Decimal(buy), "AccountCode": buy_account, "TaxType": buy_tax}
        items.append(item)
    _check(org.save_items(items, upsert=False), "items")


def _documents(org: Organisation, spec: dict, today: dt.date) -> None:
    """Invoices in every state, a bill or three, a credit note, a quote and a purchase order."""
    parties = [p for p in spec["parties"] if p[6] == "ACTIVE"]
    customers = [{"Name": p[0]} for p in parties if p[1] == "C"]
    suppliers = [{"Name": p[0]} for p in parties if p[1] == "S"]
    items = spec["items"]
    buyable = [index for index, item in enumerate(items) if item[5]]

    def day(offset: int) -> str:
        return (today + dt.timedelta(days=offset)).isoformat()

    def item_line(index: int, quantity: str, **extra) -> dict:
        code = items[index][0]
        return {"ItemCode": code, "Quantity": Decimal(quantity), **extra}

    sales = [
        {"Type": "ACCREC", "Contact": customers[0], "Date": day(-40), "DueDate": day(-10), "Status": "AUTHORISED",
         "Reference": "PO 4471", "LineItems": [item_line(0, "3")]},
        {"Type": "ACCREC", "Contact": customers[1], "Date": day(-20), "DueDate": day(10), "Status": "AUTHORISED",
         "Reference": "Website project", "LineItems": [item_line(1, "1"), item_line(4, "1")]},
        {"Type": "ACCREC", "Contact": customers[2], "Date": day(-5), "DueDate": day(25), "Status": "AUTHORISED",
         "LineItems": [item_line(2, "2", Tracking=[{"Name": "Region", "Option": "North"}])]},
        {"Type": "ACCREC", "Contact": customers[3], "Date": day(-1), "DueDate": day(29), "Status": "DRAFT",
         "LineItems": [item_line(3, "1")]},
        {"Type": "ACCREC", "Contact": customers[4], "Date": day(0), "DueDate": day(30), "Status": "DRAFT",
         "Reference": "Mixed VAT rates",
         "LineItems": [item_line(7, "4"), item_line(5, "2"), item_line(8, "3")]},
        {"Type": "ACCREC", "Contact": customers[5], "Date": day(-12), "DueDate": day(18), "Status": "AUTHORISED",
         "CurrencyCode": "EUR", "LineItems": [item_line(0, "8")]},
    ]
    bills = [
        {"Type": "ACCPAY", "Contact": suppliers[0], "InvoiceNumber": "LOS-88231", "Date": day(-15), "DueDate": day(15),
         "Status": "AUTHORISED", "LineItems": [item_line(buyable[0], "10"), item_line(buyable[1], "2")]},
        {"Type": "ACCPAY", "Contact": suppliers[1], "InvoiceNumber": "MT-2026-11", "Date": day(-3), "DueDate": day(27),
         "Status": "DRAFT", "LineItems": [{"Description": "Broadband and phone lines", "Quantity": Decimal("1"),
                                           "UnitAmount": Decimal("86.40"), "AccountCode": "489", "TaxType": "INPUT2"}]},
        {"Type": "ACCPAY", "Contact": suppliers[4], "InvoiceNumber": "PE-77120", "Date": day(-35), "DueDate": day(-5),
         "Status": "AUTHORISED", "LineItems": [{"Description": "Electricity, quarter", "Quantity": Decimal("1"),
                                                "UnitAmount": Decimal("412.00"), "AccountCode": "445",
                                                "TaxType": "RRINPUT"}]},
    ]
    saved = _check(org.save_documents(INVOICES, sales + bills, upsert=False), "invoices")
    bank = org.account_by_code("090")["AccountID"]

    def pay(invoice: dict, amount, offset: int) -> None:
        _check(org.save_payments([{"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": {"AccountID": bank},
                                   "Date": day(offset), "Amount": amount, "Reference": "Bank transfer"}]), "payments")

    pay(saved[0], saved[0]["Total"], -8)  # paid in full
    pay(saved[1], (saved[1]["Total"] / 2).quantize(Decimal("0.01")), -2)  # part payment
    pay(saved[8], saved[8]["Total"], -6)  # a paid bill

    _check(org.save_documents(CREDIT_NOTES, [
        {"Type": "ACCRECCREDIT", "Contact": customers[0], "Date": day(-7), "Status": "AUTHORISED",
         "Reference": "Refund: one hour not worked", "LineItems": [item_line(0, "1")]},
    ], upsert=False), "credit notes")
    _check(org.save_documents(QUOTES, [
        {"Contact": customers[6], "Date": day(-2), "ExpiryDate": day(28), "Status": "SENT", "Title": "Support renewal",
         "LineItems": [item_line(2, "12")]},
    ], upsert=False), "quotes")
    _check(org.save_documents(PURCHASE_ORDERS, [
        {"Contact": suppliers[0], "Date": day(-4), "DeliveryDate": day(6), "Status": "AUTHORISED",
         "LineItems": [item_line(buyable[2], "20")]},
    ], upsert=False), "purchase orders")
