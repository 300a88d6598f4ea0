import pytest

from integration_hub.connectors.types import Account, Journal

from syncs.models import SyncRun, Trigger
from syncs.services import execute_run, run_request
from tests.support.books import make_books, make_flow


@pytest.fixture
def books(request):
    name = request.node.name[:40]
    return make_books(name)


@pytest.fixture
def flow(tenant_a, books, request):
    return make_flow(tenant_a, name=request.node.name[:40])


@pytest.fixture
def sync():
    def run(flow, **kwargs) -> SyncRun:
        run_obj, created = run_request(flow=flow, trigger=kwargs.pop("trigger", Trigger.MANUAL), enqueue=False, **kwargs)
        assert created, f"a run was already active: {run_obj}"
        execute_run(run_obj.pk)
        run_obj.refresh_from_db()
        flow.refresh_from_db()
        return run_obj

    return run


@pytest.fixture
def paying(flow, books):
    """The flow books payments on a bank journal; accounting has a bank and the exchange accounts."""
    _, target = books
    for number, name in (("512", "Banque"), ("766", "Gains de change"), ("666", "Pertes de change")):
        target.accounts[number] = Account(id=f"A{number}", number=number, name=name)
    target.journals.append(Journal("J3", "BQ", "Banque", "cash"))
    flow.sync_payments = True
    flow.payment_journal_id, flow.payment_journal_label = "J3", "BQ Banque"
    flow.bank_account, flow.exchange_gain_account, flow.exchange_loss_account = "512", "766", "666"
    flow.save()
    return flow
