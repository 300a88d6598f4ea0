"""Payments that also pay penalty interest and collection fees (issue 17, Finnish collection practice): the source
says how much of a payment paid each; that part goes to the account the flow maps it to, the rest settles the
invoice and is lettered with it. A split the hub cannot book is a catalogued error on the document, never a guess."""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from integration_hub.connectors.types import Account, Payment
from syncs import catalogue
from syncs.models import ErrorStatus, PaymentStatus, SyncError, SyncPayment
from tests.support.books import add, invoice
from tests.syncs.test_payments import PAID_ON, invoice_entry_id, paid, rows, third_party_keys

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


@pytest.fixture
def collecting(paying, books):
    """The paying flow, with accounts for penalty interest and collection fees."""
    _, target = books
    for number, name in (("763", "Intérêts de retard"), ("7588", "Frais de recouvrement")):
        target.accounts[number] = Account(id=f"A{number}", number=number, name=name)
    paying.interest_account, paying.collection_fees_account = "763", "7588"
    paying.save()
    return paying


def test_a_payment_with_interest_and_fees_books_each_part_on_its_account_and_letters_the_invoice(collecting, books,
                                                                                                 sync):
    source, target = books
    add(source, invoice())  # 120.00 incl. VAT
    sync(collecting)
    add(source, paid(source.invoices["i1"], Payment(id="pay-1", date=PAID_ON, amount=D("135.30"),
                                                    interest=D("7.80"), fees=D("7.50"))))
    sync(collecting)
    row = SyncPayment.objects.get(document__source_id="i1")
    assert (row.status, row.amount, row.interest, row.fees) == (PaymentStatus.RECONCILED, D("135.30"), D("7.80"),
                                                                D("7.50"))
    assert rows(target, row.target_entry_id) == [
        ("4111", D("0"), D("120.00"), True), ("512", D("135.30"), D("0"), False),
        ("7588", D("0"), D("7.50"), False), ("763", D("0"), D("7.80"), False)]
    lettered = third_party_keys(target, invoice_entry_id(collecting)) + third_party_keys(target, row.target_entry_id)
    assert len({target.reconciled.get(key) for key in lettered} - {None}) == 1


def test_a_later_payment_settles_only_what_the_capital_left_due(collecting, books, sync):
    source, target = books
    add(source, paid(invoice(), Payment(id="pay-1", date=PAID_ON, amount=D("60.00"), interest=D("5.00"),
                                        fees=D("5.00"))))
    sync(collecting)
    first = SyncPayment.objects.get(source_payment_id="pay-1")
    assert first.status == PaymentStatus.SYNCED  # 50.00 of capital: 70.00 still due
    add(source, paid(source.invoices["i1"], Payment(id="pay-1", date=PAID_ON, amount=D("60.00"), interest=D("5.00"),
                                                    fees=D("5.00")),
                     Payment(id="pay-2", date=PAID_ON, amount=D("70.00"))))
    sync(collecting)
    second = SyncPayment.objects.get(source_payment_id="pay-2")
    assert second.status == PaymentStatus.RECONCILED
    assert rows(target, second.target_entry_id) == [("4111", D("0"), D("70.00"), True),
                                                    ("512", D("70.00"), D("0"), False)]


@pytest.mark.parametrize("interest, fees, unset, expected", [
    ("7.80", None, "interest_account", "penalty interest account is not set"),
    (None, "5.00", "collection_fees_account", "collection fees account is not set"),
    ("100.00", "30.00", "", "more than the payment itself"),
    ("-1.00", None, "", "not negative"),
])
def test_a_split_the_hub_cannot_book_is_a_catalogued_error_and_nothing_is_booked(collecting, books, sync, interest,
                                                                                 fees, unset, expected):
    source, target = books
    if unset:
        setattr(collecting, unset, "")
        collecting.save()
    add(source, paid(invoice(), Payment(id="pay-1", date=PAID_ON, amount=D("120.00"),
                                        interest=D(interest) if interest else None, fees=D(fees) if fees else None)))
    run = sync(collecting)
    error = SyncError.objects.get(document__source_id="i1", status=ErrorStatus.OPEN)
    assert error.code in (catalogue.PAYMENT_SETTINGS_INCOMPLETE, catalogue.PAYMENT_NOT_BOOKED)
    assert expected in error.message, error.message
    assert not SyncPayment.objects.filter(status__in=[PaymentStatus.SYNCED, PaymentStatus.RECONCILED]).exists()
    assert run.error_count == 1
    assert len(target.entries) == 1  # the invoice only
