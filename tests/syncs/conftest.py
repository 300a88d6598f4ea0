import pytest

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
