"""One role policy for the pages and the admin: the role x model x action matrix, and the escalations it stops.

The expected answers are written out here, independently of tenants/policy.py, so that a change of
the policy that was not meant shows up as a failing row.
"""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core import mail
from django.urls import reverse

from mappings.models import JournalMapping, VatMapping
from syncs.models import ErrorStatus, SyncError, SyncRun
from tenants import policy
from tenants.models import Membership, Role
from tenants.services import membership_set, tenant_create
from tests.support.books import add, invoice, line, make_books, make_flow

pytestmark = pytest.mark.django_db

ROLES = ("owner", "accountant", "viewer", "support", "outsider")

# permission: the roles that must hold it (in the tenant of the object)
EXPECTED = {
    "tenants.view_tenant": {"owner", "accountant", "viewer", "support"},
    "tenants.change_tenant": {"owner"},
    "tenants.view_membership": {"owner"},
    "tenants.add_membership": {"owner"},
    "tenants.change_membership": {"owner"},
    "tenants.delete_membership": {"owner"},
    "tenants.view_connection": {"owner", "accountant", "viewer", "support"},
    "tenants.change_connection": {"owner"},
    "tenants.delete_connection": {"owner"},
    "tenants.view_credentials": {"owner"},
    "mappings.view_flow": {"owner", "accountant", "viewer", "support"},
    "mappings.add_flow": {"owner"},
    "mappings.change_flow": {"owner"},
    "mappings.delete_flow": {"owner"},
    "mappings.import_flow": {"owner", "accountant"},
    "mappings.view_vatmapping": {"owner", "accountant", "viewer", "support"},
    "mappings.add_vatmapping": {"owner", "accountant"},
    "mappings.change_vatmapping": {"owner", "accountant"},
    "mappings.delete_vatmapping": {"owner", "accountant"},
    "mappings.import_vatmapping": {"owner", "accountant"},
    "mappings.change_journalmapping": {"owner", "accountant"},
    "mappings.import_journalmapping": {"owner", "accountant"},
    "syncs.view_syncrun": {"owner", "accountant", "viewer", "support"},
    "syncs.add_syncrun": {"owner", "accountant"},
    "syncs.view_syncdocument": {"owner", "accountant", "viewer", "support"},
    "syncs.retry_syncdocument": {"owner", "accountant", "support"},
    "syncs.view_syncerror": {"owner", "accountant", "viewer", "support"},
    "syncs.retry_syncerror": {"owner", "accountant", "support"},
    "syncs.resolve_syncerror": {"owner", "accountant"},
}


@pytest.fixture
def people(make_user, tenant_a):
    users = {}
    for role in ("owner", "accountant", "viewer"):
        users[role] = make_user(f"{role}_of_a")
        membership_set(tenant=tenant_a, user=users[role], role=role)
    users["support"] = make_user("support_person", perms=("tenants.support_all_tenants",))
    users["outsider"] = make_user("outsider")
    return users


@pytest.fixture
def world(tenant_a, people):
    """One object of each kind in tenant A, with an open error on a document (a VAT rate nobody mapped)."""
    from syncs.services import execute_run, run_request

    source, _ = make_books("matrix")
    flow = make_flow(tenant_a, name="matrix")
    add(source, invoice("bad", lines=[line(rate="5.5", tax="t55")]))

    run, _ = run_request(flow=flow, enqueue=False)
    execute_run(run.pk)
    error = SyncError.objects.get(flow=flow)
    return {
        "tenant": tenant_a, "membership": Membership.objects.filter(tenant=tenant_a).first(),
        "connection": flow.target, "flow": flow, "vatmapping": VatMapping.objects.filter(flow=flow).first(),
        "journalmapping": JournalMapping(flow=flow), "syncrun": SyncRun.objects.get(pk=run.pk),
        "syncdocument": error.document, "syncerror": error, "credentials": flow.target,
    }


def test_the_role_matrix_answers_every_role_model_and_action_as_written(people, world):
    wrong = []
    for permission, holders in EXPECTED.items():
        model = permission.split(".")[1].split("_", 1)[1]
        obj = world[model]
        for role in ROLES:
            user = get_user_model().objects.get(pk=people[role].pk)
            expected = role in holders
            if policy.may(user, permission, obj) != expected or user.has_perm(permission, obj) != expected:
                wrong.append((role, permission, not expected))
    assert wrong == []


def test_a_member_of_another_tenant_holds_nothing_on_this_tenant_s_objects(make_user, world):
    other = tenant_create(name="Other Co", slug="other-co")
    stranger = make_user("stranger")
    membership_set(tenant=other, user=stranger, role=Role.OWNER)
    assert [p for p in EXPECTED if policy.may(stranger, p, world[p.split(".")[1].split("_", 1)[1]])] == []


def test_permissions_granted_by_hand_in_django_give_nothing_beyond_the_role(make_user, tenant_a, world):
    viewer = make_user("viewer_with_perms", staff=True, perms=("tenants.add_membership", "tenants.change_membership",
                                                               "mappings.add_flow", "mappings.add_vatmapping"))
    membership_set(tenant=tenant_a, user=viewer, role=Role.VIEWER)
    assert Permission.objects.filter(user=viewer).count() == 4
    for permission in ("tenants.add_membership", "tenants.change_membership", "mappings.add_flow",
                       "mappings.add_vatmapping"):
        assert not viewer.has_perm(permission)
        assert not viewer.has_perm(permission, world["flow"])


# --- the admin --------------------------------------------------------------------------------------

def test_the_demo_s_kind_of_user_opens_the_admin_the_error_desk_and_run_history_without_any_grant(
        client, make_user, tenant_a, tenant_b, world):
    user = make_user("plain_member")  # not staff, no Django permission
    membership_set(tenant=tenant_a, user=user, role=Role.OWNER)
    membership_set(tenant=tenant_b, user=user, role=Role.ACCOUNTANT)
    client.force_login(user)
    index = client.get("/admin/")
    assert index.status_code == 200
    assert "have permission to view or edit anything" not in index.content.decode()
    for url in ("/admin/syncs/syncerror/?status__exact=open", "/admin/syncs/syncrun/",
                "/admin/mappings/vatmapping/import/", "/admin/mappings/vatmapping/"):
        response = client.get(url)
        assert response.status_code == 200, url
    assert world["syncerror"].document.source_number in client.get("/admin/syncs/syncerror/").content.decode()


def test_someone_with_no_role_anywhere_is_sent_to_the_login_page_of_the_admin(client, make_user):
    client.force_login(make_user("nobody"))
    response = client.get("/admin/syncs/syncerror/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_a_viewer_cannot_add_an_owner_membership_flows_or_mappings_nor_import(client, people, tenant_a, world):
    viewer = people["viewer"]
    client.force_login(viewer)
    response = client.post("/admin/tenants/membership/add/",
                           {"tenant": tenant_a.pk, "email": "mallory@example.com", "role": "owner"})
    assert response.status_code == 403
    assert not Membership.objects.filter(user__email="mallory@example.com").exists()
    assert client.get("/admin/mappings/flow/add/").status_code == 403
    before = VatMapping.objects.count()
    assert client.post("/admin/mappings/vatmapping/add/", {"flow": world["flow"].pk, "kind": "sale",
                                                            "source_tax_id": "x", "source_rate": "5",
                                                            "target_vat_code_id": "V20"}).status_code == 403
    assert VatMapping.objects.count() == before
    assert client.get("/admin/mappings/vatmapping/import/").status_code == 403
    assert client.get("/admin/tenants/membership/").status_code == 403  # members are the owners' business


def test_an_accountant_imports_and_edits_mappings_but_not_members_or_connections(client, people, world):
    client.force_login(people["accountant"])
    assert client.get("/admin/mappings/vatmapping/import/").status_code == 200
    assert client.get("/admin/mappings/vatmapping/add/").status_code == 200
    assert client.get("/admin/tenants/membership/add/").status_code == 403
    change = client.get(reverse("admin:tenants_connection_change", args=[world["connection"].pk]))
    assert change.status_code == 200 and 'name="name"' not in change.content.decode()  # read only
    assert "Credentials" not in change.content.decode()


def test_an_owner_of_b_and_viewer_of_a_cannot_move_a_membership_or_a_flow_into_a(client, make_user, tenant_a,
                                                                                   tenant_b, world):
    climber = make_user("climber")
    membership_set(tenant=tenant_a, user=climber, role=Role.VIEWER)
    membership_set(tenant=tenant_b, user=climber, role=Role.OWNER)
    helper = make_user("helper_in_b")
    in_b = membership_set(tenant=tenant_b, user=helper, role=Role.VIEWER)
    flow_b = make_flow(tenant_b, name="B flow")
    client.force_login(climber)

    form = client.get("/admin/tenants/membership/add/").content.decode()
    assert f'value="{tenant_b.pk}"' in form and f'value="{tenant_a.pk}"' not in form  # owner tenants only

    moved = client.post(reverse("admin:tenants_membership_change", args=[in_b.pk]),
                        {"tenant": tenant_a.pk, "role": "owner"})
    assert moved.status_code == 200 and "Select a valid choice" in moved.content.decode()
    in_b.refresh_from_db()
    assert (in_b.tenant_id, in_b.role) == (tenant_b.pk, "viewer")

    moved = client.post(reverse("admin:mappings_flow_change", args=[flow_b.pk]),
                        {"tenant": tenant_a.pk, "name": flow_b.name, "source": flow_b.source_id,
                         "target": flow_b.target_id})
    flow_b.refresh_from_db()
    assert flow_b.tenant_id == tenant_b.pk
    assert moved.status_code in (200, 403)

    mapping = VatMapping.objects.filter(flow=flow_b).first()
    client.post(reverse("admin:mappings_vatmapping_change", args=[mapping.pk]),
                {"flow": world["flow"].pk, "kind": mapping.kind, "source_tax_id": mapping.source_tax_id,
                 "source_rate": mapping.source_rate, "target_vat_code_id": mapping.target_vat_code_id})
    mapping.refresh_from_db()
    assert mapping.flow_id == flow_b.pk


def test_an_owner_invites_a_member_by_e_mail_and_a_new_person_gets_a_link_to_choose_a_password(
        client, people, tenant_a):
    client.force_login(people["owner"])
    form = client.get("/admin/tenants/membership/add/").content.decode()
    assert "outsider" not in form and "support_person" not in form  # no list of the hub's users
    response = client.post("/admin/tenants/membership/add/",
                           {"tenant": tenant_a.pk, "email": "New.Person@Example.com", "role": "accountant"})
    assert response.status_code == 302
    member = Membership.objects.get(tenant=tenant_a, user__email__iexact="new.person@example.com")
    assert member.role == "accountant" and not member.user.has_usable_password()
    assert len(mail.outbox) == 1 and "/accounts/reset/" in mail.outbox[0].body
    again = client.post("/admin/tenants/membership/add/",
                        {"tenant": tenant_a.pk, "email": "new.person@example.com", "role": "viewer"})
    assert again.status_code == 200 and "already a member" in again.content.decode()


def test_support_reads_every_tenant_and_retries_but_never_sees_members_or_credentials(client, people, world):
    client.force_login(people["support"])
    assert client.get("/admin/syncs/syncerror/").status_code == 200
    assert client.get("/admin/tenants/membership/").status_code == 403
    page = client.get(reverse("admin:tenants_connection_change", args=[world["connection"].pk])).content.decode()
    assert "Credentials" not in page
    error = world["syncerror"]
    response = client.post("/admin/syncs/syncerror/", {"action": "retry_now", "_selected_action": [error.pk]})
    assert response.status_code == 302
    assert SyncRun.objects.filter(flow=world["flow"]).count() == 2
    response = client.post("/admin/syncs/syncerror/", {"action": "mark_resolved", "_selected_action": [error.pk],
                                                        "apply": "1", "note": "support says so"})
    error.refresh_from_db()
    assert error.status == ErrorStatus.OPEN  # resolving is the accountants' call


def test_a_viewer_cannot_retry_or_resolve_errors_in_the_admin(client, people, world):
    client.force_login(people["viewer"])
    error = world["syncerror"]
    page = client.get("/admin/syncs/syncerror/").content.decode()
    assert "retry_now" not in page and "mark_resolved" not in page
    client.post("/admin/syncs/syncerror/", {"action": "mark_resolved", "_selected_action": [error.pk],
                                            "apply": "1", "note": "I am only a viewer"})
    error.refresh_from_db()
    assert error.status == ErrorStatus.OPEN
    assert SyncRun.objects.filter(flow=world["flow"]).count() == 1


# --- the pages ask the same policy --------------------------------------------------------------------

def test_the_pages_follow_the_same_matrix(client, people, world):
    slug, flow, connection = world["tenant"].slug, world["flow"], world["connection"]
    document = world["syncdocument"]
    cases = [  # (method, url, roles that get through)
        ("get", reverse("connection_new", args=[slug]), {"owner"}),
        ("get", reverse("connection_edit", args=[slug, connection.pk]), {"owner"}),
        ("post", reverse("flow_sync_now", args=[slug, flow.pk]), {"owner", "accountant"}),
        ("post", reverse("document_retry", args=[slug, document.pk]), {"owner", "accountant", "support"}),
        ("get", reverse("flow_detail", args=[slug, flow.pk]), {"owner", "accountant", "viewer", "support"}),
    ]
    wrong = []
    for role in ROLES:
        client.force_login(people[role])
        for method, url, allowed in cases:
            status = getattr(client, method)(url).status_code
            expected = "allowed" if role in allowed else ("404" if role == "outsider" else "403")
            got = "allowed" if status in (200, 302) else str(status)
            if got != expected:
                wrong.append((role, method, url, status))
        SyncRun.objects.filter(flow=flow).exclude(pk=world["syncrun"].pk).delete()
    assert wrong == []
