"""Seed and drive the ERP company of the Tryton peer (sales, purchases, products) through proteus.

Run in a subprocess like ``tryton_setup`` (same command line, same result line)::

    python -m integration_hub.peers.tryton_erp_setup --config trytond.conf --database DB \
        ACTION [--kwargs '{"json": "object"}']

``TrytonPeer.run_setup`` sends the actions named ``seed_erp`` and ``erp_*`` here.  They live
apart from ``tryton_setup.py`` on purpose: the template keys hash that file, so changing how
ERP documents are seeded rebuilds no template.  The database must come from the ``erp``
template (``TrytonPeer.create_database(name, kind="erp")``).

Actions:

* ``seed_erp`` -- customers, suppliers, products, quotes, sales orders (some invoiced, their
  customer invoice posted), purchase orders (some billed, their supplier invoice posted).
* ``erp_add_sale`` / ``erp_update_sale`` / ``erp_invoice_sale`` -- one sale, as a user makes it.
* ``erp_add_purchase`` / ``erp_bill_purchase`` -- one purchase and its supplier invoice.
* ``erp_add_party`` / ``erp_add_product`` -- one customer or supplier, one product.
* ``erp_document`` -- one document as Tryton stores it (state, number, comment...), to check
  what the hub wrote back.
* ``erp_add_user`` -- a user with some groups only (what may a non-administrator do?).

Sales are created with raw ``create`` values (no on_change round trips, as a JSON-RPC client
sends them) and moved through Tryton's own buttons (quote, confirm, post), so Tryton numbers,
computes, ships and invoices them itself.
"""
from __future__ import annotations

import datetime as dt
import random
import sys
from decimal import Decimal

from integration_hub.peers import tryton_setup as base
from integration_hub.peers.tryton_setup import _account_by_code, _company, _model, _parse_date

#: Tryton numbers a sale when it is quoted and a purchase when it is quoted, one sequence each.
SALE_PREFIX = "VTE-"
PURCHASE_PREFIX = "ACH-"

#: Accounting categories: name -> (product type, revenue account, expense account,
#: sale tax XML id, purchase tax XML id).  Several products share each of them.
CATEGORIES = {
    "Composants": ("goods", "7071", "6071", "tva_vente_biens_taux_normal", "tva_achat_biens_taux_normal"),
    "Produits finis": ("goods", "7071", "6071", "tva_vente_biens_taux_normal", "tva_achat_biens_taux_normal"),
    "Prestations": ("service", "706", "604", "tva_vente_services_taux_normal",
                    "tva_achat_services_taux_normal"),
    "Documentation": ("goods", "7071", "6071", "tva_vente_biens_5_5", "tva_achat_biens_5_5"),
}

#: The catalogue: code, name, category, list price (sale), cost price (purchase), salable,
#: purchasable.  A service with a cost only (sub-contracting) is bought, never sold.
CATALOGUE = [
    ("VIS-M6", "Vis inox M6 (boîte de 100)", "Composants", "12.50", "4.80", True, True),
    ("ECR-M6", "Écrou frein M6 (boîte de 100)", "Composants", "9.90", "3.10", True, True),
    ("ROU-6204", "Roulement à billes 6204", "Composants", "7.40", "2.95", True, True),
    ("ARM-600", "Armoire électrique AE-600", "Produits finis", "1450.00", "820.00", True, False),
    ("SRV-INST", "Installation sur site (heure)", "Prestations", "85.00", "0", True, False),
    ("TOL-2MM", "Tôle acier 2 mm (m²)", "Composants", "38.00", "21.50", True, True),
    ("CONV-2000", "Convoyeur à bande CB-2000", "Produits finis", "8900.00", "5100.00", True, False),
    ("SRV-TRANS", "Transport et livraison", "Prestations", "120.00", "95.00", True, True),
    ("DOC-MAN", "Manuel technique imprimé", "Documentation", "25.00", "8.00", True, True),
    ("ALU-4040", "Profilé aluminium 40x40 (barre 3 m)", "Composants", "54.00", "29.00", True, True),
    ("PS-200", "Poste de soudure PS-200", "Produits finis", "2350.00", "1380.00", True, False),
    ("SRV-MAINT", "Maintenance préventive (forfait)", "Prestations", "450.00", "0", True, False),
    ("SRV-USIN", "Usinage sous-traité (heure)", "Prestations", "0", "65.00", False, True),
    ("SRV-FORM", "Formation opérateur (jour)", "Prestations", "780.00", "0", True, False),
]

#: Sales taxes replacing the category's for customers abroad, by product type.
EXPORT_SALE_TAXES = {
    "eu": {"goods": "tva_vente_intracommunautaire_biens_0", "service": "tva_vente_intracommunautaire_services_0"},
    "export": {"goods": "tva_vente_biens_hors_communaute", "service": "tva_vente_services_hors_communaute"},
}
#: Reverse-charge purchase taxes for suppliers elsewhere in the EU.
EU_PURCHASE_TAXES = {"goods": "tva_achat_intracommunautaire_biens_taux_normal",
                     "service": "tva_achat_intracommunautaire_services_taux_normal"}

CUSTOMER_PROFILES = ["fr_siret", "fr_siren", "eu", "fr_siret", "person", "export"]
SUPPLIER_PROFILES = ["fr_siret", "fr_siren"]


# --------------------------------------------------------------------------- configuration

class _Erp:
    """What every ERP action needs, read (and completed) once per run."""

    def __init__(self, cfg):
        self.cfg = cfg
        cfg.skip_warning = True  # past dates with a payment term raise a warning a user would accept
        self.company = _company()
        Tax = _model("account.tax")
        template_ids = base._tax_template_xml_ids(cfg)
        self.taxes = {template_ids[t.template.id]: t for t in Tax.find([("parent", "=", None)])
                      if t.template and t.template.id in template_ids}
        self.unit, = _model("product.uom").find([("name", "=", "Unit")], limit=1)
        self.warehouse, = _model("stock.location").find([("type", "=", "warehouse")], limit=1)
        self._numbering()
        self.categories = self._categories()

    def _numbering(self) -> None:
        """Readable numbers (VTE-00001, ACH-00001) instead of Tryton's bare 1, 2, 3."""
        for config_model, field, prefix in (("sale.configuration", "sale_sequence", SALE_PREFIX),
                                            ("purchase.configuration", "purchase_sequence", PURCHASE_PREFIX)):
            sequence = getattr(_model(config_model)(1), field)
            if sequence is not None and sequence.prefix != prefix:
                sequence.prefix, sequence.padding = prefix, 5
                sequence.save()

    def _categories(self) -> dict:
        Category = _model("product.category")
        found = {}
        for name, (_kind, revenue, expense, sale_tax, purchase_tax) in CATEGORIES.items():
            existing = Category.find([("name", "=", name), ("accounting", "=", True)], limit=1)
            if existing:
                found[name] = existing[0]
                continue
            category = Category(name=name, accounting=True, account_revenue=_account_by_code(revenue),
                                account_expense=_account_by_code(expense))
            category.customer_taxes.append(self.tax(sale_tax))
            category.supplier_taxes.append(self.tax(purchase_tax))
            category.save()
            found[name] = category
        return found

    def tax(self, xml_id: str):
        return _model("account.tax")(self.taxes[xml_id].id)

    def tax_for(self, kind: str, product: dict, profile: str) -> int:
        """The parent tax of a line: the category's, unless the party is abroad."""
        _type, _rev, _exp, sale_tax, purchase_tax = CATEGORIES[product["category"]]
        if kind == "sale":
            xml_id = EXPORT_SALE_TAXES.get(profile, {}).get(product["type"], sale_tax)
        else:
            xml_id = EU_PURCHASE_TAXES[product["type"]] if profile == "eu" else purchase_tax
        return self.taxes[xml_id].id


def _profile(party) -> str:
    """The tax profile of a party from its address: fr, eu or export."""
    country = party.addresses[0].country.code if party.addresses and party.addresses[0].country else "FR"
    if country == "FR":
        return "fr"
    return "eu" if country in base.EU_COUNTRIES else "export"


# --------------------------------------------------------------------------- products

def _create_product(erp: _Erp, code: str, name: str, category: str, list_price: str, cost_price: str,
                    salable: bool, purchasable: bool) -> dict:
    Template = _model("product.template")
    kind = CATEGORIES[category][0]
    template = Template(name=name, code=code, type=kind, default_uom=erp.unit, list_price=Decimal(list_price),
                        salable=salable, purchasable=purchasable, account_category=erp.categories[category])
    template.save()
    product = template.products[0]
    product.cost_price = Decimal(cost_price)
    product.save()
    return _product_dict(product)


def _product_dict(product) -> dict:
    category = product.template.account_category
    return {"id": product.id, "code": product.code, "name": product.template.name, "type": product.template.type,
            "category": category.name if category else None, "list_price": product.template.list_price,
            "cost_price": product.cost_price, "salable": bool(product.template.salable),
            "purchasable": bool(product.template.purchasable)}


def _find_product(value) -> dict:
    Product = _model("product.product")
    domain = [("id", "=", int(value))] if str(value).isdigit() else [("code", "=", str(value))]
    found = Product.find(domain, limit=1)
    if not found:
        raise ValueError(f"no product {value!r}")
    return _product_dict(found[0])


def _find_party(value):
    Party = _model("party.party")
    domain = [("id", "=", int(value))] if str(value).isdigit() else [("name", "=", str(value))]
    found = Party.find(domain, limit=1)
    if not found:
        raise ValueError(f"no party {value!r}")
    return found[0]


# --------------------------------------------------------------------------- documents

def _line_values(erp: _Erp, kind: str, spec: dict, profile: str) -> dict:
    product = _find_product(spec["product"]) if not isinstance(spec.get("product"), dict) else spec["product"]
    price = spec.get("unit_price")
    if price is None:
        price = product["list_price"] if kind == "sale" else product["cost_price"]
    taxes = [erp.taxes[x].id for x in spec["taxes"]] if spec.get("taxes") else [erp.tax_for(kind, product, profile)]
    return {"type": "line", "product": product["id"], "unit": erp.unit.id, "quantity": float(spec.get("quantity", 1)),
            "unit_price": Decimal(str(price)).quantize(Decimal("0.0001")),
            "description": spec.get("description") or product["name"], "taxes": [("add", taxes)]}


def _sale_values(erp: _Erp, party, lines: list[dict], day: dt.date, reference: str | None = None,
                 description: str | None = None) -> dict:
    address = party.addresses[0]
    return {"company": erp.company.id, "party": party.id, "invoice_address": address.id,
            "shipment_address": address.id, "currency": erp.company.currency.id, "warehouse": erp.warehouse.id,
            "sale_date": day, "quotation_date": day, "reference": reference, "description": description,
            "lines": [("create", [_line_values(erp, "sale", spec, _profile(party)) for spec in lines])]}


def _purchase_values(erp: _Erp, party, lines: list[dict], day: dt.date, reference: str | None = None) -> dict:
    return {"company": erp.company.id, "party": party.id, "invoice_address": party.addresses[0].id,
            "currency": erp.company.currency.id, "warehouse": erp.warehouse.id, "purchase_date": day,
            "reference": reference,
            "lines": [("create", [_line_values(erp, "purchase", spec, _profile(party)) for spec in lines])]}


SALE_FIELDS = ["number", "state", "party", "party.name", "sale_date", "reference", "untaxed_amount", "tax_amount",
               "total_amount", "lines", "invoices", "comment", "invoice_state"]
PURCHASE_FIELDS = ["number", "state", "party", "party.name", "purchase_date", "reference", "untaxed_amount",
                   "tax_amount", "total_amount", "lines", "invoices", "comment", "invoice_state"]
INVOICE_FIELDS = ["number", "type", "state", "invoice_date", "party", "reference", "untaxed_amount", "tax_amount",
                  "total_amount", "comment"]


def _rows(cfg, model: str, ids: list[int], fields: list[str]) -> list[dict]:
    if not ids:
        return []
    by_id = {row["id"]: row for row in _model(model)._proxy.read(ids, fields, cfg.context)}
    return [by_id[i] for i in ids]


def _document(row: dict, invoices: dict[int, dict] | None = None) -> dict:
    result = {key: value for key, value in row.items() if key not in ("party.", "lines", "invoices")}
    result["party_name"] = (row.get("party.") or {}).get("name")
    if "lines" in row:
        result["lines"] = len(row["lines"])
    if "invoices" in row:
        result["invoice_ids"] = list(row["invoices"])
        if invoices is not None:
            result["invoice_numbers"] = [invoices[i]["number"] for i in row["invoices"] if i in invoices]
    return result


def _latest_invoice_date(kind: str) -> dt.date | None:
    Invoice = _model("account.invoice")
    found = Invoice.find([("type", "=", kind), ("number", "!=", None), ("invoice_date", "!=", None)],
                         order=[("invoice_date", "DESC")], limit=1)
    return found[0].invoice_date if found else None


def _post_invoices(cfg, dated: list[tuple[int, dt.date, str | None]]) -> None:
    """Give each draft invoice its date (and supplier reference), then post them together: Tryton numbers
    a sequence in date order, so no invoice may be dated before one already numbered."""
    if not dated:
        return
    Invoice = _model("account.invoice")
    proxy = Invoice._proxy
    kinds = {row["id"]: row["type"] for row in proxy.read([i for i, _d, _r in dated], ["type"], cfg.context)}
    latest = {kind: _latest_invoice_date(kind) for kind in set(kinds.values())}
    for invoice_id, day, reference in dated:
        last = latest.get(kinds[invoice_id])
        if last and day < last:
            raise ValueError(f"an invoice dated {day} would come before {last}, the date of an invoice already "
                             "numbered: Tryton numbers invoices in date order (use later dates)")
        values = {"invoice_date": day, "payment_term_date": day}
        if reference:
            values["reference"] = reference
        proxy.write([invoice_id], values, cfg.context)
    ordered = [i for i, _d, _r in sorted(dated, key=lambda item: (item[1], item[0]))]
    proxy.post(ordered, cfg.context)


def _draft_invoices(cfg, model: str, document_id: int) -> list[int]:
    row, = _model(model)._proxy.read([document_id], ["invoices"], cfg.context)
    if not row["invoices"]:
        return []
    rows = _model("account.invoice")._proxy.read(list(row["invoices"]), ["state"], cfg.context)
    return [r["id"] for r in rows if r["state"] == "draft"]


# --------------------------------------------------------------------------- seed

def seed_erp(cfg, *, customers: int = 6, suppliers: int = 3, products: int = 10, quotes: int = 4, orders: int = 6,
             invoiced_orders: int = 3, purchase_orders: int = 4, billed_purchases: int = 2, seed: int = 0,
             start_date: str | None = None, end_date: str | None = None, name_prefix: str = "",
             customer_profiles: list[str] | None = None, supplier_profiles: list[str] | None = None) -> dict:
    """An ERP company's history, deterministic for a seed: customers and suppliers, products in shared
    categories, quotes, confirmed sales orders (the first ``invoiced_orders`` of them invoiced, their
    invoice posted), confirmed purchase orders (the first ``billed_purchases`` billed, posted).

    Dates fall in ``start_date``..``end_date`` (default: the 60 days before today); numbers follow
    dates.  ``name_prefix`` prefixes party names and product codes (to seed a database twice).
    """
    if invoiced_orders > orders or billed_purchases > purchase_orders:
        raise ValueError("seed_erp: invoiced_orders <= orders and billed_purchases <= purchase_orders")
    rng = random.Random(seed)
    erp = _Erp(cfg)
    end = _parse_date(end_date) if end_date else dt.date.today()
    start = _parse_date(start_date) if start_date else end - dt.timedelta(days=60)
    span = max((end - start).days, 0)

    def pick_date() -> dt.date:
        return start + dt.timedelta(days=rng.randint(0, span))

    # Parties: the same generator as seed_invoicing (addresses, SIREN/SIRET, VAT numbers).
    customer_profiles = customer_profiles or CUSTOMER_PROFILES
    supplier_profiles = supplier_profiles or SUPPLIER_PROFILES
    customer_list, supplier_list = [], []
    for i in range(customers):
        party, data = base._create_party(rng, i, "customer", name_prefix, customer_profiles[i % len(customer_profiles)])
        customer_list.append((party, data))
    for i in range(suppliers):
        party, data = base._create_party(rng, i, "supplier", name_prefix, supplier_profiles[i % len(supplier_profiles)])
        supplier_list.append((party, data))

    # Products: the catalogue in a seeded order (goods and services both), repeated as variants if asked more.
    catalogue = list(CATALOGUE)
    rng.shuffle(catalogue)
    catalogue.sort(key=lambda item: 0 if item[0] in ("VIS-M6", "SRV-INST", "SRV-USIN") else 1)
    product_list = []
    for i in range(products):
        code, name, category, list_price, cost_price, salable, purchasable = catalogue[i % len(catalogue)]
        variant = i // len(catalogue)
        if variant:
            code, name = f"{code}-{variant + 1}", f"{name} (variante {variant + 1})"
        product_list.append(_create_product(erp, f"{name_prefix}{code}", name, category, list_price, cost_price,
                                            salable, purchasable))
    salable = [p for p in product_list if p["salable"]]
    purchasable = [p for p in product_list if p["purchasable"]]
    if (quotes or orders) and not salable or purchase_orders and not purchasable:
        raise ValueError("seed_erp: not enough products to sell and to buy (raise products)")

    def lines_for(pool: list[dict]) -> list[dict]:
        specs = []
        for product in rng.sample(pool, min(len(pool), rng.randint(1, 3))):
            price = Decimal(product["list_price"] if pool is salable else product["cost_price"])
            if product["type"] == "service":
                quantity = rng.randint(1, 8)
            else:
                quantity = rng.randint(1, 3) if price >= 1000 else rng.randint(5, 40)
            specs.append({"product": product, "quantity": quantity})
        return specs

    # Sales: quotes and orders together, numbered in date order when quoted.
    sale_specs = [("quote", pick_date(), rng.choice(customer_list)[0], lines_for(salable)) for _ in range(quotes)]
    sale_specs += [("order", pick_date(), rng.choice(customer_list)[0], lines_for(salable)) for _ in range(orders)]
    order_indexes = list(range(quotes, quotes + orders))
    invoiced = set(rng.sample(order_indexes, invoiced_orders))
    sale_specs = [spec + (index in invoiced,) for index, spec in enumerate(sale_specs)]
    sale_specs.sort(key=lambda spec: spec[1])
    sale_proxy = _model("sale.sale")._proxy
    sale_ids = sale_proxy.create([
        _sale_values(erp, party, lines, day, reference=f"BC-{rng.randint(1000, 9999)}" if rng.random() < 0.5 else None)
        for _kind, day, party, lines, _inv in sale_specs], cfg.context) if sale_specs else []
    if sale_ids:
        sale_proxy.quote(sale_ids, cfg.context)
    order_ids = [i for i, spec in zip(sale_ids, sale_specs) if spec[0] == "order"]
    if order_ids:
        sale_proxy.confirm(order_ids, cfg.context)  # processed at once: Tryton creates invoices and shipments
    to_post = []
    for sale_id, (_kind, day, _party, _lines, is_invoiced) in zip(sale_ids, sale_specs):
        if is_invoiced:
            invoice_day = min(day + dt.timedelta(days=rng.randint(0, 7)), end)
            to_post += [(i, invoice_day, None) for i in _draft_invoices(cfg, "sale.sale", sale_id)]

    # Purchases: confirmed orders; some billed by the supplier.
    purchase_specs = [(pick_date(), rng.choice(supplier_list)[0], lines_for(purchasable))
                      for _ in range(purchase_orders)]
    billed = set(rng.sample(range(purchase_orders), billed_purchases))
    purchase_specs = [spec + (index in billed,) for index, spec in enumerate(purchase_specs)]
    purchase_specs.sort(key=lambda spec: spec[0])
    purchase_proxy = _model("purchase.purchase")._proxy
    purchase_ids = purchase_proxy.create([
        _purchase_values(erp, party, lines, day) for day, party, lines, _billed in purchase_specs],
        cfg.context) if purchase_specs else []
    if purchase_ids:
        purchase_proxy.quote(purchase_ids, cfg.context)
        purchase_proxy.confirm(purchase_ids, cfg.context)
    for purchase_id, (day, _party, _lines, is_billed) in zip(purchase_ids, purchase_specs):
        if is_billed:
            bill_day = min(day + dt.timedelta(days=rng.randint(0, 10)), end)
            to_post += [(i, bill_day, f"FAC-{rng.randint(10000, 99999)}")
                        for i in _draft_invoices(cfg, "purchase.purchase", purchase_id)]
    _post_invoices(cfg, to_post)

    posted_ids = [i for i, _d, _r in to_post]
    invoices = {row["id"]: row for row in _rows(cfg, "account.invoice", posted_ids, INVOICE_FIELDS)}
    sales = [_document(row, invoices) for row in _rows(cfg, "sale.sale", sale_ids, SALE_FIELDS)]
    purchases = [_document(row, invoices) for row in _rows(cfg, "purchase.purchase", purchase_ids, PURCHASE_FIELDS)]
    sale_of = {i: s for s in sales for i in s["invoice_ids"]}
    purchase_of = {i: p for p in purchases for i in p["invoice_ids"]}
    customer_invoices = [dict(invoices[i], sale_id=sale_of[i]["id"], sale_number=sale_of[i]["number"])
                         for i in posted_ids if i in sale_of]
    bills = [dict(invoices[i], purchase_id=purchase_of[i]["id"], purchase_number=purchase_of[i]["number"])
             for i in posted_ids if i in purchase_of]
    return {
        "customers": [data for _p, data in customer_list],
        "suppliers": [data for _p, data in supplier_list],
        "products": product_list,
        "quotes": [s for s in sales if s["state"] == "quotation"],
        "orders": [s for s in sales if s["state"] != "quotation"],
        "invoices": customer_invoices,
        "purchase_orders": purchases,
        "bills": bills,
    }


# --------------------------------------------------------------------------- small actions

def _sale_by_number(number: str):
    found = _model("sale.sale").find([("number", "=", number)], limit=1)
    if not found:
        raise ValueError(f"no sale {number!r}")
    return found[0]


def _purchase_by_number(number: str):
    found = _model("purchase.purchase").find([("number", "=", number)], limit=1)
    if not found:
        raise ValueError(f"no purchase {number!r}")
    return found[0]


def _sale_result(cfg, sale_id: int) -> dict:
    row, = _rows(cfg, "sale.sale", [sale_id], SALE_FIELDS)
    invoices = {r["id"]: r for r in _rows(cfg, "account.invoice", list(row["invoices"]), INVOICE_FIELDS)}
    result = _document(row, invoices)
    result["invoices"] = [invoices[i] for i in row["invoices"]]
    return result


def _purchase_result(cfg, purchase_id: int) -> dict:
    row, = _rows(cfg, "purchase.purchase", [purchase_id], PURCHASE_FIELDS)
    invoices = {r["id"]: r for r in _rows(cfg, "account.invoice", list(row["invoices"]), INVOICE_FIELDS)}
    result = _document(row, invoices)
    result["invoices"] = [invoices[i] for i in row["invoices"]]
    return result


def _move_sale(cfg, sale_id: int, state: str) -> None:
    """Drive a sale to ``state`` with Tryton's buttons (draft -> quotation -> confirmed, or cancelled)."""
    proxy = _model("sale.sale")._proxy
    current, = proxy.read([sale_id], ["state"], cfg.context)
    current = current["state"]
    if state == current:
        return
    if state == "draft":
        proxy.draft([sale_id], cfg.context)
    elif state == "cancelled":
        proxy.cancel([sale_id], cfg.context)
    elif state == "quotation" and current == "draft":
        proxy.quote([sale_id], cfg.context)
    elif state in ("confirmed", "processing") and current in ("draft", "quotation"):
        if current == "draft":
            proxy.quote([sale_id], cfg.context)
        proxy.confirm([sale_id], cfg.context)
    else:
        raise ValueError(f"a sale in state {current} cannot go to {state} in Tryton")


def erp_add_sale(cfg, *, customer, lines: list[dict], state: str = "quotation", sale_date: str | None = None,
                 reference: str | None = None, description: str | None = None) -> dict:
    """One sale as a salesperson makes it: ``customer`` (id or exact name), ``lines`` =
    [{product (id or code), quantity, unit_price?, description?, taxes? (XML ids)}], ``state`` draft,
    quotation (a quote) or confirmed (a sales order, processed at once)."""
    erp = _Erp(cfg)
    party = _find_party(customer)
    day = _parse_date(sale_date) if sale_date else dt.date.today()
    sale_id, = _model("sale.sale")._proxy.create([_sale_values(erp, party, lines, day, reference, description)],
                                                  cfg.context)
    if state != "draft":
        _move_sale(cfg, sale_id, state)
    return _sale_result(cfg, sale_id)


def erp_update_sale(cfg, *, number: str, lines: list[dict] | None = None, quantities: dict | None = None,
                    description: str | None = None, reference: str | None = None, state: str | None = None) -> dict:
    """Change a sale the way Tryton lets a user: lines (``lines`` replaces them, ``quantities`` maps a line's
    position, from 0, to its new quantity) and description only while it is a quote -- a quotation goes back
    to draft, is changed and quoted again; ``reference`` in any state; ``state`` last (confirm, cancel...)."""
    erp = _Erp(cfg)
    sale = _sale_by_number(number)
    proxy = _model("sale.sale")._proxy
    if lines is not None or quantities or description is not None:
        if sale.state not in ("draft", "quotation"):
            raise ValueError(f"sale {number} is {sale.state}: Tryton lets nobody change its lines any more")
        was = sale.state
        if was == "quotation":
            proxy.draft([sale.id], cfg.context)
        values: dict = {}
        if description is not None:
            values["description"] = description
        if lines is not None:
            line_ids = [line.id for line in sale.lines]
            values["lines"] = [("delete", line_ids),
                               ("create", [_line_values(erp, "sale", spec, _profile(sale.party)) for spec in lines])]
        elif quantities:
            line_ids = [line.id for line in sale.lines]
            values["lines"] = [("write", [line_ids[int(index)]], {"quantity": float(quantity)})
                               for index, quantity in quantities.items()]
        proxy.write([sale.id], values, cfg.context)
        if was == "quotation":
            proxy.quote([sale.id], cfg.context)
    if reference is not None:
        proxy.write([sale.id], {"reference": reference}, cfg.context)
    if state is not None:
        _move_sale(cfg, sale.id, state)
    return _sale_result(cfg, sale.id)


def erp_invoice_sale(cfg, *, number: str, invoice_date: str | None = None) -> dict:
    """Invoice a sales order: confirm it if it is still a quote, then date and post its draft invoice(s)
    (default date: today, or the latest customer invoice's date if that is later)."""
    sale = _sale_by_number(number)
    if sale.state in ("draft", "quotation"):
        _move_sale(cfg, sale.id, "confirmed")
    drafts = _draft_invoices(cfg, "sale.sale", sale.id)
    if not drafts:
        raise ValueError(f"sale {number} has no draft invoice to post")
    day = _parse_date(invoice_date) if invoice_date else max(
        [d for d in (dt.date.today(), _latest_invoice_date("out")) if d])
    _post_invoices(cfg, [(i, day, None) for i in drafts])
    return _sale_result(cfg, sale.id)


def erp_add_purchase(cfg, *, supplier, lines: list[dict], state: str = "confirmed", purchase_date: str | None = None,
                     reference: str | None = None) -> dict:
    """One purchase: ``supplier`` (id or exact name), ``lines`` as for erp_add_sale (default price: the
    product's cost), ``state`` draft, quotation (a request for quotation) or confirmed (a purchase order)."""
    erp = _Erp(cfg)
    party = _find_party(supplier)
    day = _parse_date(purchase_date) if purchase_date else dt.date.today()
    proxy = _model("purchase.purchase")._proxy
    purchase_id, = proxy.create([_purchase_values(erp, party, lines, day, reference)], cfg.context)
    if state in ("quotation", "confirmed", "processing"):
        proxy.quote([purchase_id], cfg.context)
    if state in ("confirmed", "processing"):
        proxy.confirm([purchase_id], cfg.context)
    return _purchase_result(cfg, purchase_id)


def erp_bill_purchase(cfg, *, number: str, invoice_date: str | None = None, reference: str | None = None) -> dict:
    """The supplier's invoice of a purchase order arrives: date it, give it the supplier's number
    (``reference``, default FAC-<purchase number>) and post it."""
    purchase = _purchase_by_number(number)
    drafts = _draft_invoices(cfg, "purchase.purchase", purchase.id)
    if not drafts:
        raise ValueError(f"purchase {number} has no draft supplier invoice to post")
    day = _parse_date(invoice_date) if invoice_date else max(
        [d for d in (dt.date.today(), _latest_invoice_date("in")) if d])
    _post_invoices(cfg, [(i, day, reference or f"FAC-{number}") for i in drafts])
    return _purchase_result(cfg, purchase.id)


def erp_add_party(cfg, *, role: str = "customer", profile: str = "fr_siren", seed: int = 0, index: int = 900,
                  name_prefix: str = "") -> dict:
    """One new customer or supplier (addresses and identifiers as seed_erp makes them)."""
    _party, data = base._create_party(random.Random(seed), index, role, name_prefix, profile)
    return data


def erp_add_product(cfg, *, code: str, name: str, category: str = "Composants", list_price: str = "10.00",
                    cost_price: str = "5.00", salable: bool = True, purchasable: bool = True) -> dict:
    """One new product in one of the accounting categories (CATEGORIES)."""
    return _create_product(_Erp(cfg), code, name, category, list_price, cost_price, salable, purchasable)


def erp_add_user(cfg, *, login: str, password: str, groups: list[str] | None = None) -> dict:
    """A Tryton user of the company with only these groups (XML ids ``module.id``; default: sales,
    purchases and accounting without its administration), to check what such a user may do."""
    User, Group, ModelData = _model("res.user"), _model("res.group"), _model("ir.model.data")
    company = _company()
    user = User(login=login, name=login.title(), password=password)
    user.companies.append(_model("company.company")(company.id))
    user.company = _model("company.company")(company.id)
    for xml_id in groups or ["sale.group_sale", "purchase.group_purchase", "account.group_account"]:
        module, name = xml_id.split(".", 1)
        user.groups.append(Group(ModelData.get_id(module, name, cfg.context)))
    user.save()
    return {"id": user.id, "login": login, "groups": [g.name for g in user.groups]}


def erp_document(cfg, *, model: str, id: int) -> dict:  # noqa: A002 - the record's id
    """A sale, purchase or invoice as Tryton stores it (what a user sees on its form)."""
    fields = {"sale.sale": SALE_FIELDS, "purchase.purchase": PURCHASE_FIELDS,
              "account.invoice": INVOICE_FIELDS}[model]
    row, = _rows(cfg, model, [int(id)], fields)
    return _document(row)


ACTIONS = {
    "seed_erp": seed_erp,
    "erp_add_sale": erp_add_sale,
    "erp_update_sale": erp_update_sale,
    "erp_invoice_sale": erp_invoice_sale,
    "erp_add_purchase": erp_add_purchase,
    "erp_bill_purchase": erp_bill_purchase,
    "erp_add_party": erp_add_party,
    "erp_add_product": erp_add_product,
    "erp_document": erp_document,
    "erp_add_user": erp_add_user,
}


def main(argv: list[str] | None = None) -> int:
    """tryton_setup's command line, with the ERP actions."""
    return base.main(argv, actions=ACTIONS)


if __name__ == "__main__":
    sys.exit(main())
