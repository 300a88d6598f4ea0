"""The Netvisor sandbox as a plain WSGI application, plus a threading server to run it.

``NetvisorSandbox(state, authenticator)`` serves Netvisor's resources (``<name>.nv``, names matched
without regard to case) and an admin API; see docs/sandbox-netvisor.md:

  GET  /                    what this is (no auth)
  *    /<resource>.nv       Netvisor's API (X-Netvisor-Authentication-* headers and MAC)
  *    /_sandbox/...        admin (header x-sandbox-key: <partner key>): reset, faults, requests, clock

It routes on PATH_INFO only; the MAC is checked against the URL the client called (scheme, Host,
SCRIPT_NAME, PATH_INFO and query), so it works at the root of its own server and mounted under a prefix.
Answers are Netvisor's XML envelope; with ``X-Netvisor-Authentication-UseHTTPResponseStatusCodes: 1``
a refusal also carries an HTTP error status (without it Netvisor answers 200 whatever happened).
"""
from __future__ import annotations

import datetime as dt
import http
import json
import threading
import urllib.parse
from decimal import Decimal
from typing import Callable, Iterable
from xml.etree.ElementTree import Element
from wsgiref.simple_server import WSGIServer

from sandboxes.serving import ServedSandbox
from sandboxes.xero.app import DropConnection, make_sandbox_server

from .auth import Authenticator, Credentials
from .state import (Clock, NetvisorFailure, NetvisorState, Voucher, invalid)
from .xmlio import (Node, XmlError, add, add_all, envelope, fi_date, fi_decimal, parse_date, parse_decimal,
                    parse_root, query_date, serialise)

XML = "text/xml; charset=utf-8"
MAX_BODY = 10_000_000
# With UseHTTPResponseStatusCodes=1, the HTTP status of each error category (the sandbox's choice where the
# public documentation gives none: see docs/sandbox-netvisor.md).
HTTP_STATUS = {"AUTHENTICATION_FAILED": 401, "REQUEST_NOT_UNIQUE": 401, "SERVICE_ACCESS_ERROR": 403,
               "INVALID_DATA": 400, "INVALID_DATA_SIZE": 413, "DUPLICATE_DATA": 409, "PERIOD_LOCK": 400,
               "TECHNICAL_ERROR": 500, "SYSTEM_MAINTANANCE": 503, "NOT_FOUND": 404}
READS = {"customerlist", "getcustomer", "productlist", "salesinvoicelist", "getsalesinvoice", "purchaseinvoicelist",
         "getpurchaseinvoice", "accountingledger", "accountlist", "dimensionlist", "salespaymentlist"}
WRITES = {"customer", "salesinvoice", "matchcreditnote", "purchaseinvoice", "accounting", "dimensionitem",
          "salespayment"}


class Answer:
    def __init__(self, status: int, body: bytes, content_type: str = XML):
        self.status, self.body, self.content_type = status, body, content_type


class Call:
    """One request as the resources see it."""

    def __init__(self, environ: dict):
        self.environ = environ
        self.method = environ.get("REQUEST_METHOD", "GET").upper()
        self.path = environ.get("PATH_INFO") or "/"
        self.query_string = environ.get("QUERY_STRING", "")
        self.params = {k.lower(): v[-1] for k, v in
                       urllib.parse.parse_qs(self.query_string, keep_blank_values=True).items()}
        self.headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        self.too_large = length > MAX_BODY
        self.raw = environ["wsgi.input"].read(length) if 0 < length <= MAX_BODY else b""
        self.content_type = environ.get("CONTENT_TYPE", "") or ""
        self.use_status_codes = self.headers.get("x-netvisor-authentication-usehttpresponsestatuscodes", "") == "1"

    def called_url(self) -> str:
        """The address the client called, as it computed its MAC over it."""
        env = self.environ
        scheme = env.get("wsgi.url_scheme", "http")
        host = env.get("HTTP_HOST") or f"{env.get('SERVER_NAME', 'localhost')}:{env.get('SERVER_PORT', '80')}"
        path = urllib.parse.quote((env.get("SCRIPT_NAME") or "") + self.path, safe="/:@!$&'()*+,;=-._~%")
        return f"{scheme}://{host}{path}" + (f"?{self.query_string}" if self.query_string else "")

    def root(self) -> Node:
        if self.too_large:
            raise NetvisorFailure("INVALID_DATA_SIZE", "Message is too large")
        return parse_root(self.raw, self.content_type)


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes")


def _dimensions(node: Node) -> list[tuple[str, str]]:
    return [((d.value("DimensionName") or "").strip(), (d.value("DimensionItem") or "").strip())
            for d in node.children("Dimension")]


class NetvisorSandbox:
    """WSGI app over a ``NetvisorState`` and an ``Authenticator`` sharing one ``Clock``."""

    def __init__(self, state: NetvisorState, authenticator: Authenticator, *, admin_key: str | None = None):
        self.state = state
        self.auth = authenticator
        self.clock = state.clock
        self.admin_key = admin_key if admin_key is not None else authenticator.credentials.partner_key
        self.released = threading.Event()  # set on stop: a held ("timeout") answer gives up

    # ---- WSGI ----------------------------------------------------------------------------

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        call = Call(environ)
        entry: dict = {"method": call.method, "path": call.path, "query": call.query_string}
        try:
            answer = self.dispatch(call, entry)
        except DropConnection:
            entry["dropped"] = True
            self._log(call, entry)
            if environ.get("sandbox.can_drop"):
                raise
            answer = self.failure(call, "TECHNICAL_ERROR", "The sandbox dropped this answer (fault injection)")
        except Exception as exc:  # a sandbox bug still answers like Netvisor's technical error
            answer = self.failure(call, "TECHNICAL_ERROR", f"Sandbox error: {exc!r}")
        entry["status"] = answer.status
        self._log(call, entry)
        start_response(f"{answer.status} {http.HTTPStatus(answer.status).phrase}",
                       [("Content-Type", answer.content_type), ("Content-Length", str(len(answer.body)))])
        return [answer.body] if call.method != "HEAD" else [b""]

    def _log(self, call: Call, entry: dict) -> None:
        if call.path.startswith("/_sandbox") or entry.get("logged"):
            return
        entry["logged"] = True
        entry["at"] = self.clock.now().isoformat()
        with self.state.lock:
            self.state.log({k: v for k, v in entry.items() if k != "logged"})

    def ok(self, root: Element | None = None) -> Answer:
        document = envelope(self.clock.now())
        if root is not None:
            for child in list(root):
                document.append(child)
        return Answer(200, serialise(document))

    def failure(self, call: Call, code: str, message: str) -> Answer:
        status = HTTP_STATUS.get(code, 400) if call.use_status_codes else 200
        return Answer(status, serialise(envelope(self.clock.now(), failed=(code, message))))

    def dispatch(self, call: Call, entry: dict) -> Answer:
        if call.path in ("", "/"):
            return Answer(200, json.dumps(self.index()).encode(), "application/json")
        if call.path.startswith("/_sandbox"):
            return self.admin(call)
        resource = call.path.strip("/").lower()
        if not resource.endswith(".nv") or "/" in resource:
            return self.failure(call, "NOT_FOUND", f"Resource {call.path} not found")
        name = resource[:-3]
        entry["resource"] = name
        if name not in READS | WRITES:
            return self.failure(call, "NOT_FOUND", f"Resource {resource} not found")
        with self.state.lock:
            fault = self.state.faults.pick(call.method, call.path)
        if fault:
            entry["fault"] = fault["kind"]
            if fault["kind"] in ("500", "503"):
                code = "TECHNICAL_ERROR" if fault["kind"] == "500" else "SYSTEM_MAINTANANCE"
                return Answer(int(fault["kind"]), serialise(envelope(self.clock.now(), failed=(
                    code, "Injected fault"))))
            if fault["kind"] == "maintenance":
                return self.failure(call, "SYSTEM_MAINTANANCE", "Netvisor is under maintenance, try again later")
            if fault["kind"] == "drop":
                raise DropConnection()
            if fault["kind"] == "timeout":  # hold the answer past the client's read timeout, then say nothing
                self.released.wait(fault["delay"])
                raise DropConnection()
        try:
            language = self.auth.check(call.headers, call.called_url())
            entry["transaction_id"] = call.headers.get("x-netvisor-authentication-transactionid", "")
            answer = self.resource(call, name, language)
        except NetvisorFailure as exc:
            entry["error"] = exc.code
            return self.failure(call, exc.code, exc.text)
        except XmlError as exc:
            entry["error"] = "INVALID_DATA"
            return self.failure(call, "INVALID_DATA", f"Data form incorrect:. {exc}")
        if fault and fault["kind"] == "500_after":
            return Answer(500, serialise(envelope(self.clock.now(), failed=("TECHNICAL_ERROR", "Injected fault"))))
        if fault and fault["kind"] == "drop_after":
            entry["status"] = answer.status
            raise DropConnection()
        return answer

    def index(self) -> dict:
        return {"sandbox": "netvisor", "organisation": self.state.organisation_id,
                "resources": sorted(f"{name}.nv" for name in READS | WRITES),
                "docs": "docs/sandbox-netvisor.md"}

    def resource(self, call: Call, name: str, language: str) -> Answer:
        wants = "POST" if name in WRITES else "GET"
        if call.method != wants:
            raise invalid(f"Resource {name}.nv is called with {wants}, not {call.method}")
        handler = getattr(self, f"r_{name}")
        with self.state.lock:
            if wants == "GET":
                return handler(call)
            snapshot = self.state.snapshot()
            try:
                return handler(call)
            except BaseException:
                self.state.restore(snapshot)  # a refused write leaves nothing behind
                raise

    @staticmethod
    def inserted(key: int) -> Element:
        root = Element("Root")
        add(add(root, "Replies"), "InsertedDataIdentifier", key)
        return root

    def uri(self, call: Call, resource: str, key: int) -> str:
        base = call.called_url().split("?")[0].rsplit("/", 1)[0]
        return f"{base}/{resource}.nv?netvisorkey={key}"

    # ---- customers -----------------------------------------------------------------------

    def r_customer(self, call: Call) -> Answer:
        method = (call.params.get("method") or "").lower()
        if method not in ("add", "edit"):
            raise invalid("Parameter method must be add or edit")
        node = call.root().child("Customer")
        if node is None:
            raise invalid("Element Customer is missing")
        base = node.child("CustomerBaseInformation")
        if base is None:
            raise invalid("Element CustomerBaseInformation is missing")
        data = {"name": base.value("Name"), "code": base.value("InternalIdentifier"),
                "business_id": base.value("ExternalIdentifier"), "street": base.value("StreetAddress"),
                "city": base.value("City"), "post_number": base.value("PostNumber"), "country": base.value("Country"),
                "email": base.value("Email"), "email_invoicing": base.value("EmailInvoicingAddress"),
                "phone": base.value("PhoneNumber")}
        if base.value("IsActive") is not None:
            data["active"] = _flag(base.value("IsActive"))
        extra = node.child("CustomerAdditionalInformation")
        if extra is not None and extra.value("CustomerReferenceNumber"):
            data["reference"] = extra.value("CustomerReferenceNumber")
        if method == "add":
            return self.ok(self.inserted(self.state.save_customer(data)))
        key = call.params.get("id", "")
        if not key.isdigit():
            raise invalid("Parameter id is missing or not a number")
        self.state.save_customer(data, int(key))
        return self.ok()

    def r_customerlist(self, call: Call) -> Answer:
        keyword = (call.params.get("keyword") or "").lower()
        root = Element("Root")
        listing = add(root, "Customerlist")
        for customer in sorted(self.state.org.customers.values(), key=lambda c: c.key):
            if keyword and keyword not in " ".join([customer.name, customer.code, customer.business_id]).lower():
                continue
            row = add(listing, "Customer")
            add_all(row, [("Netvisorkey", customer.key), ("Name", customer.name), ("Code", customer.code),
                          ("OrganisationIdentifier", customer.business_id),
                          ("Uri", self.uri(call, "getcustomer", customer.key).replace("netvisorkey", "id"))])
        return self.ok(root)

    def r_getcustomer(self, call: Call) -> Answer:
        key = call.params.get("id", "")
        customer = self.state.org.customers.get(int(key)) if key.isdigit() else None
        if customer is None:
            raise invalid(f"Customer not found with Netvisor identifier: {key}")
        root = Element("Root")
        node = add(root, "Customer")
        base = add(node, "CustomerBaseInformation")
        add_all(base, [("NetvisorKey", customer.key), ("InternalIdentifier", customer.code),
                       ("ExternalIdentifier", customer.business_id), ("Name", customer.name),
                       ("StreetAddress", customer.street), ("City", customer.city),
                       ("PostNumber", customer.post_number)])
        add(base, "Country", customer.country, type="ISO-3166")
        add_all(base, [("PhoneNumber", customer.phone), ("Email", customer.email),
                       ("EmailInvoicingAddress", customer.email_invoicing), ("IsActive", int(customer.active))])
        add_all(add(node, "CustomerAdditionalInformation"), [("ReferenceNumber", customer.reference)])
        return self.ok(root)

    def r_productlist(self, call: Call) -> Answer:
        root = Element("Root")
        listing = add(root, "ProductList")
        for product in sorted(self.state.org.products.values(), key=lambda p: p.key):
            add_all(add(listing, "Product"), [
                ("NetvisorKey", product.key), ("ProductCode", product.code), ("Name", product.name),
                ("UnitPrice", fi_decimal(product.unit_price)),
                ("UnitGrossPrice", fi_decimal(product.unit_price * (1 + product.vat / 100))),
                ("Uri", self.uri(call, "getproduct", product.key).replace("netvisorkey", "id"))])
        return self.ok(root)

    # ---- sales invoices ------------------------------------------------------------------

    def r_salesinvoice(self, call: Call) -> Answer:
        method = (call.params.get("method") or "add").lower()
        if method != "add":
            raise invalid("The sandbox accepts method=add only on salesinvoice.nv")
        node = call.root().child("SalesInvoice")
        if node is None:
            raise invalid("Element SalesInvoice is missing")
        date = parse_date(node.child("SalesInvoiceDate"), "SalesInvoiceDate")
        amount_node = node.child("SalesInvoiceAmount")
        customer = node.child("InvoicingCustomerIdentifier")
        if customer is None or not customer.text:
            raise invalid("Element InvoicingCustomerIdentifier is missing or empty")
        status = node.child("SalesInvoiceStatus")
        if status is None or not status.text:
            raise invalid("Element SalesInvoiceStatus is missing or empty")
        lines = []
        holder = node.child("InvoiceLines")
        for invoice_line in holder.children("InvoiceLine") if holder is not None else []:
            for product_line in invoice_line.children("SalesInvoiceProductLine"):
                lines.append(self._sales_line(product_line, len(lines) + 1))
        terms = node.value("PaymentTermNetDays")
        data = {"number": node.value("SalesInvoiceNumber"), "date": date,
                "due_date": parse_date(node.child("SalesInvoiceDueDate"), "SalesInvoiceDueDate", required=False),
                "delivery_date": parse_date(node.child("SalesInvoiceDeliveryDate"), "SalesInvoiceDeliveryDate",
                                            required=False),
                "reference": node.value("SalesInvoiceReferenceNumber"),
                "amount": parse_decimal(amount_node.text if amount_node is not None else None, "SalesInvoiceAmount"),
                "currency": (amount_node.attr("iso4217currencycode") if amount_node is not None else None) or "EUR",
                "invoice_type": node.value("InvoiceType"), "status": status.text,
                "customer_id": customer.text, "customer_id_type": customer.attr("type", "netvisor"),
                "customer_name": node.value("InvoicingCustomerName"),
                "our_reference": node.value("SalesInvoiceOurReference"),
                "your_reference": node.value("SalesInvoiceYourReference"),
                "free_text_before": node.value("SalesInvoiceFreeTextBeforeLines"),
                "private_comment": node.value("SalesInvoicePrivateComment"),
                "payment_term_days": int(terms) if terms and terms.isdigit() else None, "lines": lines}
        return self.ok(self.inserted(self.state.add_sales_invoice(data)))

    def _sales_line(self, line: Node, index: int) -> dict:
        what = f"InvoiceLine {index}"
        product = line.child("ProductIdentifier")
        if product is None or not product.text:
            raise invalid(f"{what}: element ProductIdentifier is missing or empty")
        price = line.child("ProductUnitPrice")
        vat = line.child("ProductVatPercentage")
        if vat is None:
            raise invalid(f"{what}: element ProductVatPercentage is missing")
        discount = line.value("SalesInvoiceProductLineDiscountPercentage")
        return {"product_id": product.text, "product_id_type": product.attr("type", "netvisor"),
                "name": line.value("ProductName"),
                "unit_price": parse_decimal(price.text if price is not None else None, f"{what} ProductUnitPrice"),
                "price_type": ((price.attr("type") if price is not None else None) or "net").lower(),
                "vat_percent": parse_decimal(vat.text, f"{what} ProductVatPercentage"),
                "vat_code": vat.attr("vatcode") or "",
                "quantity": parse_decimal(line.value("SalesInvoiceProductLineQuantity"),
                                          f"{what} SalesInvoiceProductLineQuantity"),
                "discount": parse_decimal(discount, f"{what} discount") if discount else Decimal(0),
                "free_text": line.value("SalesInvoiceProductLineFreeText"),
                "account": line.value("AccountingAccountSuggestion"), "dimensions": _dimensions(line)}

    def r_salesinvoicelist(self, call: Call) -> Answer:
        params, today = call.params, self.clock.today()
        above = params.get("invoicesabovenetvisorkey", "")
        status = (params.get("invoicestatus") or "").lower()
        number = params.get("invoicenumber") or ""
        begin = query_date(params.get("begininvoicedate"), "BeginInvoiceDate")
        end = query_date(params.get("endinvoicedate"), "EndInvoiceDate")
        root = Element("Root")
        listing = add(root, "SalesInvoiceList")
        for invoice in sorted(self.state.org.sales_invoices.values(), key=lambda i: i.key):
            state, substatus = invoice.status(today)
            undelivered = invoice.delivery_failure(self.clock.now(), self.state.delivery_delay) \
                if state != "paid" else ""
            substatus = "undelivered" if undelivered else substatus
            if above.isdigit() and invoice.key <= int(above):
                continue
            if status and status not in (state, substatus):
                continue
            if number and invoice.number != number:
                continue
            if (begin and invoice.date < begin) or (end and invoice.date > end):
                continue
            row = add(listing, "SalesInvoice")
            customer = self.state.org.customers.get(invoice.customer_key)
            add_all(row, [("NetvisorKey", invoice.key), ("InvoiceNumber", invoice.number)])
            add(row, "Invoicedate", invoice.date.isoformat(), format="ansi")
            add(row, "InvoiceStatus", state, substatus=substatus or None)
            add_all(row, [("CustomerCode", customer.code if customer else ""), ("CustomerName", invoice.customer_name),
                          ("ReferenceNumber", invoice.reference), ("InvoiceSum", fi_decimal(invoice.amount)),
                          ("OpenSum", fi_decimal(invoice.open_sum)),
                          ("Uri", self.uri(call, "getsalesinvoice", invoice.key))])
            if undelivered:  # (sandbox choice: the element's name and place)
                add(row, "DeliveryErrorMessage", undelivered)
        return self.ok(root)

    def r_getsalesinvoice(self, call: Call) -> Answer:
        key = call.params.get("netvisorkey", "")
        invoice = self.state.org.sales_invoices.get(int(key)) if key.isdigit() else None
        root = Element("Root")
        node = add(root, "SalesInvoice")
        if invoice is None:  # Netvisor answers OK with an empty element
            return self.ok(root)
        state, substatus = invoice.status(self.clock.today())
        customer = self.state.org.customers.get(invoice.customer_key)
        # Netvisor writes every element of the invoice, empty ones too, in this order.
        add_all(node, [("SalesInvoiceNetvisorKey", invoice.key), ("SalesInvoiceNumber", invoice.number)])
        add(node, "SalesInvoiceDate", invoice.date.isoformat(), format="ansi")
        add(node, "SalesInvoiceDeliveryDate", (invoice.delivery_date or invoice.date).isoformat(), format="ansi")
        add(node, "SalesInvoiceDueDate", invoice.due_date.isoformat(), format="ansi")
        add(node, "SalesInvoiceReferencenumber", invoice.reference)
        add(node, "SalesInvoiceAmount", fi_decimal(invoice.amount), iso4217currencycode=invoice.currency,
            currencyrate="1")
        add(node, "InvoiceStatus", state, substatus=substatus or None)
        add_all(node, [("SalesInvoiceOpenSum", fi_decimal(invoice.open_sum)),
                       ("SalesInvoiceFreeTextBeforeLines", invoice.free_text_before),
                       ("SalesInvoiceFreeTextAfterLines", ""),
                       ("SalesInvoiceOurReference", invoice.our_reference),
                       ("SalesInvoiceYourReference", invoice.your_reference),
                       ("SalesInvoicePrivateComment", invoice.private_comment),
                       ("InvoicingCustomerNetvisorKey", invoice.customer_key),
                       ("InvoicingCustomerName", invoice.customer_name),
                       ("InvoicingCustomerAddressline", customer.street if customer else ""),
                       ("InvoicingCustomerPostnumber", customer.post_number if customer else ""),
                       ("InvoicingCustomerTown", customer.city if customer else ""),
                       ("InvoicingCustomerCountryCode", customer.country if customer else ""),
                       ("MatchPartialPaymentsByDefault", "No"),
                       ("DeliveryAddressName", ""), ("DeliveryAddressLine", ""), ("DeliveryAddressPostnumber", ""),
                       ("DeliveryAddressTown", ""), ("DeliveryAddressCountryCode", ""), ("DeliveryMethod", ""),
                       ("DeliveryTerm", ""), ("PaymentTermNetDays", invoice.payment_term_days),
                       ("PaymentTermCashDiscountDays", 0)])
        add(node, "PaymentTermCashDiscount", "0", type="percentage")
        add(node, "VoucherID", invoice.voucher_key)
        lines = add(add(node, "InvoiceLines"), "InvoiceLine")
        for line in invoice.lines:
            row = add(lines, "SalesInvoiceProductLine")
            add(row, "productidentifier", line.product_code, type="customer")  # lower case, as Netvisor writes it
            add_all(row, [("ProductName", line.name), ("ProductUnitPrice", fi_decimal(line.unit_price, 4))])
            add(row, "ProductVatPercentage", f"{line.vat_percent:f}".replace(".", ","), vatcode=line.vat_code)
            add_all(row, [("SalesInvoiceProductLineQuantity", f"{line.quantity:f}".replace(".", ",")),
                          ("SalesInvoiceProductLineDiscountPercentage", f"{line.discount:f}".replace(".", ",")),
                          ("SalesInvoiceProductLineFreeText", line.free_text),
                          ("SalesInvoiceProductLineVatSum", fi_decimal(line.vat)),
                          ("SalesInvoiceProductLineSum", fi_decimal(line.gross)),
                          ("AccountingAccountSuggestion", line.account)])
            for name, item in line.dimensions:
                add_all(add(row, "Dimension"), [("DimensionName", name), ("DimensionItem", item)])
        return self.ok(root)

    def r_matchcreditnote(self, call: Call) -> Answer:
        node = call.root().child("MatchCreditNote")
        if node is None:
            raise invalid("Element MatchCreditNote is missing")
        credit, invoice = node.value("CreditNoteNetvisorKey") or "", node.value("InvoiceNetvisorKey") or ""
        if not (credit.isdigit() and invoice.isdigit()):
            raise invalid("CreditNoteNetvisorKey and InvoiceNetvisorKey must be numbers")
        self.state.match_credit_note(int(credit), int(invoice))
        return self.ok()

    # ---- purchase invoices ---------------------------------------------------------------

    def r_purchaseinvoice(self, call: Call) -> Answer:
        node = call.root().child("PurchaseInvoice")
        if node is None:
            raise invalid("Element PurchaseInvoice is missing")
        lines = []
        holder = node.child("PurchaseInvoiceLines")
        for index, line in enumerate(holder.children("PurchaseInvoiceLine") if holder is not None else [], 1):
            what = f"PurchaseInvoiceLine {index}"
            vat = line.child("VatPercent")
            if vat is None:
                raise invalid(f"{what}: element VatPercent is missing")
            quantity, price = line.value("DeliveredAmount"), line.value("UnitPrice")
            lines.append({"name": line.value("ProductName"), "description": line.value("Description"),
                          "quantity": parse_decimal(quantity, f"{what} DeliveredAmount") if quantity else None,
                          "unit_price": parse_decimal(price, f"{what} UnitPrice") if price else None,
                          "vat_percent": parse_decimal(vat.text, f"{what} VatPercent"),
                          "vat_code": vat.attr("vatcode") or "KOOS",
                          "line_sum": parse_decimal(line.value("LineSum"), f"{what} LineSum"),
                          "account": line.value("AccountingSuggestion"), "dimensions": _dimensions(line)})
        data = {"number": node.value("InvoiceNumber"),
                "date": parse_date(node.child("InvoiceDate"), "InvoiceDate"),
                "value_date": parse_date(node.child("ValueDate"), "ValueDate", required=False),
                "due_date": parse_date(node.child("DueDate"), "DueDate", required=False),
                "vendor_name": node.value("VendorName"), "vendor_business_id": node.value("VendorBusinessId"),
                "amount": parse_decimal(node.value("Amount"), "Amount"),
                "reference": node.value("BankReferenceNumber"), "bank_account": node.value("AccountNumber"),
                "comment": node.value("Comment"), "lines": lines}
        return self.ok(self.inserted(self.state.add_purchase_invoice(data)))

    def r_purchaseinvoicelist(self, call: Call) -> Answer:
        params = call.params
        number = params.get("invoicenumber") or ""
        status = (params.get("invoicestatus") or "").lower()
        begin = query_date(params.get("begininvoicedate"), "BeginInvoiceDate")
        end = query_date(params.get("endinvoicedate"), "EndInvoiceDate")
        root = Element("Root")
        listing = add(root, "PurchaseInvoiceList")
        for invoice in sorted(self.state.org.purchase_invoices.values(), key=lambda i: i.key):
            open_sum = invoice.amount - invoice.paid
            if number and invoice.number != number:
                continue
            if status and status != ("paid" if open_sum <= 0 else "open"):
                continue
            if (begin and invoice.date < begin) or (end and invoice.date > end):
                continue
            row = add(listing, "PurchaseInvoice")
            add_all(row, [("NetvisorKey", invoice.key), ("InvoiceNumber", invoice.number)])
            add(row, "InvoiceDate", invoice.date.isoformat(), format="ansi")
            add_all(row, [("Vendor", invoice.vendor_name), ("VendorOrganizationIdentifier", invoice.vendor_business_id),
                          ("Sum", fi_decimal(invoice.amount)), ("Payments", fi_decimal(invoice.paid)),
                          ("OpenSum", fi_decimal(open_sum)),
                          ("Uri", self.uri(call, "getpurchaseinvoice", invoice.key))])
        return self.ok(root)

    def r_getpurchaseinvoice(self, call: Call) -> Answer:
        key = call.params.get("netvisorkey", "")
        invoice = self.state.org.purchase_invoices.get(int(key)) if key.isdigit() else None
        root = Element("Root")
        node = add(root, "PurchaseInvoice")
        if invoice is None:
            return self.ok(root)
        add_all(node, [("PurchaseInvoiceNetvisorKey", invoice.key), ("PurchaseInvoiceNumber", invoice.number)])
        add(node, "PurchaseInvoiceDate", invoice.date.isoformat(), format="ansi")
        add(node, "PurchaseInvoiceDueDate", invoice.due_date.isoformat(), format="ansi")
        add_all(node, [("PurchaseInvoiceReferencenumber", invoice.reference),
                       ("PurchaseInvoiceAmount", fi_decimal(invoice.amount)),
                       ("PurchaseInvoicePaidAmount", fi_decimal(invoice.paid)),
                       ("InvoiceStatus", "Maksettu" if invoice.amount - invoice.paid <= 0 else "Avoin"),
                       ("ApprovalStatus", invoice.status), ("PurchaseInvoiceDescription", invoice.comment),
                       ("VendorOrganizationIdentifier", invoice.vendor_business_id),
                       ("VendorName", invoice.vendor_name), ("VoucherID", invoice.voucher_key),
                       ("IsAccounted", "True" if invoice.voucher_key else "False")])
        lines = add(node, "InvoiceLines")
        for line in invoice.lines:
            row = add(lines, "PurchaseInvoiceLine")
            add_all(row, [("LineSum", fi_decimal(line.line_sum)), ("LineNetSum", fi_decimal(line.net)),
                          ("UnitPrice", fi_decimal(line.unit_price, 4)),
                          ("VatPercent", f"{line.vat_percent:f}".replace(".", ",")), ("VatCode", line.vat_code),
                          ("Description", line.description), ("ProductName", line.name),
                          ("DeliveredAmount", f"{line.quantity:f}".replace(".", ",")),
                          ("AccountingSuggestionBookkeepingAccount", line.account)])
        return self.ok(root)

    # ---- accounting ----------------------------------------------------------------------

    def r_accounting(self, call: Call) -> Answer:
        node = call.root().child("Voucher")
        if node is None:
            raise invalid("Element Voucher is missing")
        lines = []
        for index, line in enumerate(node.children("VoucherLine"), 1):
            what = f"VoucherLine {index}"
            line_sum, vat = line.child("LineSum"), line.child("VatPercent")
            if vat is None:
                raise invalid(f"{what}: element VatPercent is missing")
            account = (line.value("AccountNumber") or "").strip()
            if not account:
                raise invalid(f"{what}: element AccountNumber is missing or empty")
            lines.append({"line_sum": parse_decimal(line_sum.text if line_sum is not None else None, f"{what} LineSum"),
                          "sum_type": line_sum.attr("type") if line_sum is not None else None,
                          "description": line.value("Description"), "account": account,
                          "vat_percent": parse_decimal(vat.text, f"{what} VatPercent"),
                          "vat_code": vat.attr("vatcode") or "", "dimensions": _dimensions(line)})
        number = node.value("VoucherNumber")
        data = {"mode": node.value("CalculationMode"), "date": parse_date(node.child("VoucherDate"), "VoucherDate"),
                "number": int(number) if number and number.isdigit() else None,
                "description": node.value("Description"), "voucher_class": node.value("VoucherClass"),
                "lines": lines}
        return self.ok(self.inserted(self.state.add_voucher(data)))

    def r_accountingledger(self, call: Call) -> Answer:
        params = call.params
        start = query_date(params.get("startdate"), "StartDate")
        end = query_date(params.get("enddate"), "EndDate")
        first, last = params.get("accountnumberstart") or "", params.get("accountnumberend") or ""
        keys = {k.strip() for k in (params.get("netvisorkeylist") or "").split(",") if k.strip()}
        wanted_status = (params.get("voucherstatus") or "").strip()
        root = Element("Root")
        listing = add(root, "Vouchers")
        for voucher in sorted(self.state.org.vouchers.values(), key=lambda v: (v.date, v.key)):
            if (start and voucher.date < start) or (end and voucher.date > end):
                continue
            if keys and str(voucher.key) not in keys:
                continue
            if wanted_status == "1" and voucher.status != "valid":
                continue
            lines = [line for line in voucher.lines
                     if (not first or line.account >= first) and (not last or line.account <= last)]
            if (first or last) and not lines:
                continue
            self._voucher(call, listing, voucher, lines)
        return self.ok(root)

    def _voucher(self, call: Call, listing: Element, voucher: Voucher, lines) -> None:
        row = add(listing, "Voucher", Status=voucher.status)
        add_all(row, [("NetvisorKey", voucher.key), ("VoucherDate", fi_date(voucher.date)),
                      ("VoucherNumber", voucher.number), ("VoucherDescription", voucher.description),
                      ("VoucherClass", voucher.voucher_class)])
        if voucher.linked:
            add(row, "LinkedSourceNetvisorKey", voucher.linked[1], type=voucher.linked[0])
        add(row, "VoucherNetvisorURI", self.uri(call, "voucher", voucher.key))
        for line in lines:
            item = add(row, "VoucherLine")
            add_all(item, [("NetvisorKey", line.key), ("LineSum", fi_decimal(line.line_sum)),
                           ("Description", line.description), ("AccountNumber", line.account),
                           ("VatPercent", f"{line.vat_percent:f}".replace(".", ",")),
                           ("VatCode", line.vat_code if line.vat_code != "NONE" else "-")])
            for name, value in line.dimensions:
                add_all(add(item, "Dimension"), [("DimensionName", name), ("DimensionItem", value)])

    def r_accountlist(self, call: Call) -> Answer:
        org = self.state.org
        root = Element("Root")
        listing = add(root, "AccountList")
        defaults = add(listing, "CompanyDefaultAccounts")
        for name, number in org.default_accounts.items():
            if name != "Bank":
                add(defaults, name, number)
        accounts = add(listing, "Accounts")
        for sort, account in enumerate(sorted(org.accounts.values(), key=lambda a: a.key)):
            add_all(add(accounts, "Account"), [
                ("NetvisorKey", account.key), ("Number", account.number), ("Name", account.name),
                ("AccountType", account.kind), ("FatherNetvisorKey", account.father),
                ("IsActive", int(account.active)), ("IsCumulative", int(account.kind == "accountgroup")),
                ("Sort", sort), ("EndSort", sort), ("IsNaturalNegative", int(account.number[:1] in ("2", "3")))])
        return self.ok(root)

    # ---- dimensions ----------------------------------------------------------------------

    def r_dimensionlist(self, call: Call) -> Answer:
        show_hidden = _flag(call.params.get("showhidden"))
        root = Element("Root")
        listing = add(root, "DimensionNameList")
        for dimension in sorted(self.state.org.dimensions.values(), key=lambda d: d.key):
            if dimension.hidden and not show_hidden:
                continue
            row = add(listing, "DimensionName")
            add_all(row, [("Netvisorkey", dimension.key), ("Name", dimension.name),
                          ("IsHidden", str(dimension.hidden)), ("LinkType", 0)])
            details = add(row, "DimensionDetails")
            for sort, item in enumerate(dimension.items):
                if item.hidden and not show_hidden:
                    continue
                add_all(add(details, "DimensionDetail"), [
                    ("Netvisorkey", item.key), ("Name", item.name), ("IsHidden", str(item.hidden)),
                    ("Level", item.level), ("Sort", sort), ("EndSort", sort), ("FatherID", item.father)])
        return self.ok(root)

    def r_dimensionitem(self, call: Call) -> Answer:
        method = (call.params.get("method") or "add").lower()
        if method not in ("add", "edit"):
            raise invalid("Parameter method must be add or edit")
        node = call.root().child("Dimensionitem")
        if node is None:
            raise invalid("Element DimensionItem is missing")
        old = node.value("OldItem") if method == "edit" else None
        if method == "edit" and not old:
            raise invalid("Element OldItem is missing or empty")
        key = self.state.save_dimension_item((node.value("Name") or "").strip(), (node.value("Item") or "").strip(),
                                             old_item=old, father_item=(node.value("FatherItem") or "").strip(),
                                             hidden=_flag(node.value("IsHidden")))
        return self.ok(self.inserted(key))

    # ---- payments ------------------------------------------------------------------------

    def r_salespayment(self, call: Call) -> Answer:
        node = call.root().child("SalesPayment")
        if node is None:
            raise invalid("Element SalesPayment is missing")
        total, target, method = node.child("Sum"), node.child("TargetIdentifier"), node.child("PaymentMethod")
        if target is None or not target.text:
            raise invalid("Element TargetIdentifier is missing or empty")
        source = (node.value("SourceName") or "").strip()
        if not source:
            raise invalid("Element SourceName is missing or empty")
        if method is None or not method.text:
            raise invalid("Element PaymentMethod is missing or empty")
        data = {"amount": parse_decimal(total.text if total is not None else None, "Sum"),
                "currency": (total.attr("currency") if total is not None else None) or "EUR",
                "date": parse_date(node.child("PaymentDate"), "PaymentDate"),
                "target": target.text, "target_type": target.attr("type") or "", "source_name": source,
                "method": method.text, "bank_account": method.attr("overrideaccountingaccountnumber")}
        return self.ok(self.inserted(self.state.add_sales_payment(data)))

    def r_salespaymentlist(self, call: Call) -> Answer:
        root = Element("Root")
        listing = add(root, "SalesPaymentList")
        for payment in sorted(self.state.org.payments.values(), key=lambda p: p.key):
            add_all(add(listing, "SalesPayment"), [
                ("NetvisorKey", payment.key), ("Name", payment.source_name), ("Date", fi_date(payment.date)),
                ("Sum", fi_decimal(payment.amount)), ("ReferenceNumber", payment.reference),
                ("ForeignCurrencyAmount", ""), ("InvoiceNumber", payment.invoice_number),
                ("BankStatus", payment.bank_status)])
        return self.ok(root)

    # ---- admin ---------------------------------------------------------------------------

    def admin(self, call: Call) -> Answer:
        def answer(status: int, body) -> Answer:
            return Answer(status, json.dumps(body, default=str).encode(), "application/json")

        if not self.admin_key or call.headers.get("x-sandbox-key") != self.admin_key:
            return answer(401, {"error": "The sandbox admin endpoints need the header x-sandbox-key: <partner key>."})
        action = call.path[len("/_sandbox"):].strip("/")
        try:
            body = json.loads(call.raw) if call.raw.strip() else {}
            if action == "" and call.method == "GET":
                with self.state.lock:
                    return answer(200, self.state.summary())
            if action == "reset" and call.method == "POST":
                self.state.reset(body["seed"] if "seed" in body else True)
                self.auth.reset()
                return answer(200, self.state.summary())
            if action == "requests" and call.method == "GET":
                limit = int(call.params.get("limit") or 100)
                with self.state.lock:
                    entries = list(self.state.request_log)[-limit:] if limit > 0 else []
                return answer(200, {"requests": entries})
            if action == "faults":
                with self.state.lock:
                    if call.method in ("POST", "PUT"):
                        self.state.faults.add(str(body.get("kind", "500")), int(body.get("count", 1)),
                                              body.get("method"), body.get("path_contains"),
                                              float(body.get("delay", 30)))
                    elif call.method == "DELETE":
                        self.state.faults.queue.clear()
                    return answer(200, self.state.faults.describe())
            if action == "clock" and call.method == "POST":
                now = self.clock.advance(float(body.get("seconds", 0)), days=float(body.get("days", 0)))
                return answer(200, {"now": now.isoformat()})
        except (KeyError, TypeError, ValueError) as exc:
            return answer(400, {"error": f"Bad sandbox admin request: {exc}"})
        return answer(404, {"error": f"No sandbox admin route [{call.method}] {call.path}"})


# --------------------------------------------------------------------------------------------
# Building and serving


def build_sandbox(*, sender: str = "integration-hub", customer_id: str = "sandbox-customer",
                  customer_key: str = "sandbox-customer-key", partner_id: str = "sandbox-partner",
                  partner_key: str = "sandbox-partner-key", organisation_id: str = "1234567-1",
                  seed: str | None = None, clock: Clock | None = None,
                  window: dt.timedelta | None = None) -> NetvisorSandbox:
    """A sandbox for one organisation whose API keys are the ones given. ``sender`` is what the hub will send
    (Netvisor accepts any name there; the sandbox logs it)."""
    clock = clock or Clock()
    state = NetvisorState(organisation_id=organisation_id, clock=clock, seed=seed)
    credentials = Credentials(sender=sender, customer_id=customer_id, customer_key=customer_key,
                              partner_id=partner_id, partner_key=partner_key, organisation_id=organisation_id)
    authenticator = Authenticator(credentials, clock, **({"window": window} if window else {}))
    return NetvisorSandbox(state, authenticator)


class RunningSandbox(ServedSandbox):
    """A sandbox served in a background thread; ``url`` has no trailing slash."""

    def __init__(self, sandbox: NetvisorSandbox, server: WSGIServer):
        super().__init__(server, "netvisor", sandbox)
        self.state, self.clock = sandbox.state, sandbox.clock
        self.credentials = sandbox.auth.credentials
        self.start()

    def _before_stop(self) -> None:
        self.sandbox.released.set()


def start_sandbox(*, sandbox: NetvisorSandbox | None = None, host: str = "127.0.0.1", port: int = 0,
                  verbose: bool = False, **build) -> RunningSandbox:
    """Serve a sandbox on ``host:port`` (0 = a free port) in a background thread; use it as a context manager
    (``with start_sandbox(seed="demo") as running: ...``). ``build`` goes to ``build_sandbox``."""
    sandbox = sandbox or build_sandbox(**build)
    return RunningSandbox(sandbox, make_sandbox_server(sandbox, host, port, verbose))


__all__ = ["NetvisorSandbox", "RunningSandbox", "build_sandbox", "start_sandbox", "Clock"]
