"""Seed data for the Netvisor sandbox.

Every organisation starts with a Finnish chart of accounts (the numbering of the common Finnish
"tililuettelo": 1701 sales receivables, 1763 purchase VAT receivable, 1910 bank, 2871 trade payables,
2939 sales VAT debt, 3000 sales, 4000 purchases...) and Netvisor's company default accounts.
The "demo" seed adds customers, products, a cost-centre dimension ("Kustannuspaikka") and a few
sales and purchase invoices in different states (unsent, open and overdue, paid, partly paid).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Callable

from .state import Account, Customer, Organisation, Product

# (number, name) of the accounts; groups have no number of their own in Netvisor's list, we give them a name only.
CHART: list[tuple[str, str]] = [
    ("1010", "Kehittämismenot"),
    ("1160", "Koneet ja kalusto"),
    ("1500", "Aineet ja tarvikkeet"),
    ("1701", "Myyntisaamiset"),
    ("1702", "Myyntisaamiset, muut"),
    ("1763", "Arvonlisäverosaamiset"),
    ("1849", "Siirtosaamiset"),
    ("1900", "Käteisvarat"),
    ("1910", "Pankkitili"),
    ("1911", "Pankkitili 2"),
    ("2001", "Osakepääoma"),
    ("2251", "Edellisten tilikausien voitto"),
    ("2861", "Saadut ennakot"),
    ("2871", "Ostovelat"),
    ("2939", "Arvonlisäverovelka"),
    ("2946", "Arvonlisävero, tilitettävä"),
    ("2948", "Verotilin saldo"),
    ("2960", "Siirtovelat"),
    ("3000", "Myynti"),
    ("3010", "Myynti, kotimaa"),
    ("3050", "Palvelumyynti"),
    ("3360", "Myynti, EU"),
    ("3380", "Myynti, EU:n ulkopuolelle"),
    ("3500", "Myynnin alennukset"),
    ("4000", "Ostot"),
    ("4110", "Ostot, EU"),
    ("4130", "Ostot, EU:n ulkopuolelta"),
    ("4230", "Ostojen alennukset"),
    ("4450", "Ulkopuoliset palvelut"),
    ("5000", "Palkat"),
    ("6800", "Toimitilavuokrat"),
    ("7680", "Puhelinkulut"),
    ("7800", "Pankkikulut"),
    ("8570", "Pyöristyserot"),
    ("9170", "Perintäkulut"),
]
INACTIVE = {"1911"}
DEFAULT_ACCOUNTS = {
    "TradePayables": "2871", "PurchaseVATReceivable": "1763", "RoundingOffDifference": "8570",
    "VATpayable": "2946", "TaxAccount": "2948", "AdvancePayments": "2861", "SalesReceivables": "1701",
    "SalesVATDebt": "2939", "Inventory": "1500", "SalesDiscount": "3500", "Collection": "9170",
    "PurchasesDiscounts": "4230", "PurchaseInvoiceAccrual": "1849", "SalesInvoiceAccrual": "1701",
    "PurchaseDomesticDefault": "4000", "PurchaseEUDefault": "4110", "PurchaseOutsideEUDefault": "4130",
    "SalesDomesticDefault": "3000", "SalesEUDefault": "3360", "SalesOutsideEUDefault": "3380", "Bank": "1910",
}
# Account groups by the first digit of the account number.
GROUPS = [("Vastaavaa", "1"), ("Vastattavaa", "2"), ("Tuotot", "3"), ("Kulut", "456789")]


def base_organisation(business_id: str) -> Organisation:
    """The chart of accounts and default accounts every organisation has, nothing else."""
    org = Organisation(business_id=business_id)
    for name, digits in GROUPS:
        key = org.new_key()
        org.accounts[f"group:{name}"] = Account(number="", name=name, key=key, kind="accountgroup")
        for number, account_name in CHART:
            if number[0] in digits:
                org.accounts[number] = Account(number=number, name=account_name, key=org.new_key(), father=key,
                                               active=number not in INACTIVE)
    org.default_accounts = dict(DEFAULT_ACCOUNTS)
    return org


def demo(state) -> None:
    """A small Finnish company with customers, a cost-centre dimension and invoices in every state."""
    org = state.org
    org.name = "Demo Palvelut Oy"
    org.locked_until = dt.date(2023, 12, 31)  # last year's books are closed
    for code, name, business_id, city in [
        ("ASIAKAS1", "Mäkinen Rakennus Oy", "1572860-0", "Tampere"),
        ("ASIAKAS2", "Virtanen & Korhonen Ky", "2345678-1", "Helsinki"),
        ("ASIAKAS3", "Lappeenrannan Kahvila Oy", "0112038-9", "Lappeenranta"),
    ]:
        key = org.new_key()
        org.customers[key] = Customer(key=key, name=name, code=code, business_id=business_id, city=city,
                                      street="Esimerkkikatu 1", post_number="00100", email=f"laskut@{code.lower()}.fi")
    for code, name, price, vat, account in [
        ("KONSULTOINTI", "Konsultointi (h)", "95.00", "25.5", "3050"),
        ("TUKI", "Tukipalvelu", "45.00", "25.5", "3050"),
        ("KIRJA", "Käsikirja", "30.00", "10", "3000"),
        ("LOUNAS", "Lounastarjoilu", "12.50", "14", "3000"),
    ]:
        key = org.new_key()
        org.products[key] = Product(key=key, code=code, name=name, unit_price=Decimal(price), vat=Decimal(vat),
                                    account=account)
    for name, items in [("Kustannuspaikka", ["Helsinki", "Tampere", "Hallinto"]),
                        ("Projekti", ["Projekti A", "Projekti B"])]:
        for item in items:
            state.save_dimension_item(name, item)
    customers = sorted(org.customers)
    consulting = next(p for p in org.products.values() if p.code == "KONSULTOINTI")
    book = next(p for p in org.products.values() if p.code == "KIRJA")

    def line(product, quantity, dims=()):
        return {"product_id": str(product.key), "product_id_type": "netvisor", "name": product.name,
                "unit_price": product.unit_price, "price_type": "net", "vat_percent": product.vat,
                "vat_code": "KOMY", "quantity": Decimal(quantity), "dimensions": list(dims)}

    def invoice(number, day, customer, status, lines):
        from .state import InvoiceLine

        amount = sum((InvoiceLine(product_code="", name="", unit_price=raw["unit_price"], price_type="net",
                                  vat_percent=raw["vat_percent"], vat_code="KOMY", quantity=raw["quantity"]).gross
                      for raw in lines), Decimal(0))
        return state.add_sales_invoice({"number": str(number), "date": day, "customer_id": str(customer),
                                        "customer_id_type": "netvisor", "status": status, "amount": amount,
                                        "lines": lines, "payment_term_days": 14})

    # Dates in 2025: open for booking whatever the day the sandbox runs.
    paid = invoice(1001, dt.date(2025, 1, 10), customers[0], "open",
                   [line(consulting, 8, [("Kustannuspaikka", "Tampere")])])
    partly = invoice(1002, dt.date(2025, 2, 3), customers[1], "open", [line(consulting, 2), line(book, 3)])
    invoice(1003, dt.date(2025, 3, 1), customers[2], "open", [line(book, 1)])
    invoice(1004, dt.date(2025, 3, 5), customers[0], "unsent", [line(consulting, 1)])
    for key, share in ((paid, Decimal(1)), (partly, Decimal("0.5"))):
        target = org.sales_invoices[key]
        state.add_sales_payment({"target_type": "invoicenumber", "target": target.number,
                                 "amount": (target.amount * share).quantize(Decimal("0.01")),
                                 "date": target.date + dt.timedelta(days=10), "source_name": target.customer_name,
                                 "method": "bank"})
    state.add_purchase_invoice({"number": "INV-778", "date": dt.date(2025, 2, 14), "vendor_name": "Toimisto Tarvike Oy",
                                "vendor_business_id": "1234567-8", "amount": Decimal("125.50"),
                                "reference": "12344", "lines": [
                                    {"name": "Toimistotarvikkeet", "line_sum": Decimal("125.50"),
                                     "vat_percent": Decimal("25.5"), "vat_code": "KOOS", "account": "4000",
                                     "dimensions": [("Kustannuspaikka", "Hallinto")]}]})


SEEDS: dict[str, Callable] = {"demo": demo}
