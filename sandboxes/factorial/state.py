"""In-memory state of the Factorial sandbox: records, OAuth grants, webhooks, faults and logs.

Stdlib only, no Django: the WSGI app in ``app.py`` and the tests drive it. Everything that
mutates goes through ``SandboxState.lock`` (an RLock), so one instance can serve a threading
server and be poked at from a test thread at the same time.

Field names and shapes follow the official SDK ``factorial-api-client`` 3.0.0 (API version
2026-10-01), ``generated/models/*.py`` and the docstrings of ``generated/api/*``; what the SDK
does not say is a sandbox choice, written down in ``docs/sandbox-factorial.md``.
"""
from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import random
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable

UTC = dt.timezone.utc
API_VERSION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DEFAULT_API_VERSION = "2026-10-01"
WEBHOOK_API_VERSIONS = ("2025-10-01", "2026-01-01", "2026-04-01", "2026-07-01", "2026-10-01")
MAX_LIMIT = 100  # docs: "a set limit of 100 items per request ... also the max limit per request"
ACCESS_TOKEN_TTL = 7200  # the token response in Factorial's docs says expires_in 7200
REFRESH_TOKEN_TTL = 7 * 86400  # docs: "The refresh access token will last 1 week"
AUTH_CODE_TTL = 600
POST_RATE_LIMIT = 200  # FAQ: "a limit of 200 requests per minute for POST requests"
FILE_MARK = "sandbox:"  # stored file URLs start with this; rendered against the request's base URL

# Every subscription_type of the SDK's webhook catalog (factorial_api_client/webhooks.py).
WEBHOOK_SUBSCRIPTION_TYPES = frozenset("""
    api_public/webhook_subscription/create api_public/webhook_subscription/delete
    api_public/webhook_subscription/update ats/application/apply ats/application/create
    ats/application/create_from_employee ats/application/delete ats/application/update
    ats/candidate/create ats/candidate/delete ats/candidate/update ats/evaluation_form/save_as_template
    ats/job_posting/create ats/job_posting/delete ats/job_posting/duplicate ats/job_posting/update
    attendance/shift/autofill attendance/shift/break_end attendance/shift/break_start
    attendance/shift/clock_in attendance/shift/clock_out attendance/shift/create attendance/shift/delete
    attendance/shift/toggle_clock attendance/shift/update banking/bank_account_number/upsert
    bookkeepers_management/incidence/update companies/legal_entity/create
    contracts/contract_version/create contracts/contract_version/delete
    contracts/contract_version/update contracts/contract_version_request/approve
    contracts/contract_version_request/create_promote_request contracts/contract_version_request/delete
    contracts/contract_version_request/reject custom_resources/schema/create
    documents/document/bulk_create documents/document/create documents/document/delete
    documents/document/move_to_trash_bin documents/document/restore_from_trash_bin
    documents/document/update documents/folder/create documents/folder/update
    employees/employee/create_with_contract employees/employee/invite
    employees/employee/set_regular_access_start_date employees/employee/terminate
    employees/employee/unterminate employees/employee/update expenses/expensable/bulk_set_to_paid
    expenses/expensable/update_reimbursable_amount finance/cost_center/create finance/cost_center/delete
    finance/cost_center/edit locations/location/create locations/location/delete
    locations/location/update payroll/policy_period/change_status payroll/supplement/create
    payroll/supplement/delete payroll/supplement/update payroll_integrations_base/code/create
    payroll_integrations_base/code/delete payroll_integrations_base/code/update
    performance/review_process/create performance/review_process/create_from_template
    performance/review_process/delete performance/review_process/duplicate
    performance/review_process/remind_in_bulk performance/review_process/remove_schedule
    performance/review_process/reopen performance/review_process/schedule
    performance/review_process/start performance/review_process/stop
    performance/review_process/toggle_archive performance/review_process/update_agreements_configuration
    performance/review_process/update_basic_info
    performance/review_process/update_competencies_assessments_configuration
    performance/review_process/update_deadline
    performance/review_process/update_employee_score_configuration
    performance/review_process/update_reviewer_strategies performance/review_process/update_schedule
    performance/review_process/update_target_strategy project_management/time_record/create
    project_management/time_record/delete project_management/time_record/update_imputed_minutes
    project_management/time_record/update_observations
    project_management/time_record/update_project_worker shift_management/shift/bulk_create
    shift_management/shift/bulk_delete shift_management/shift/create shift_management/shift/delete
    tasks/task/bulk_create tasks/task/bulk_delete tasks/task/bulk_update tasks/task/copy
    tasks/task/create tasks/task/create_comment tasks/task/delete tasks/task/update
    teams/membership/bulk_upsert teams/membership/create teams/membership/delete teams/membership/move
    teams/membership/update teams/team/create teams/team/delete teams/team/move teams/team/project
    teams/team/update timeoff/blocked_period/create timeoff/blocked_period/delete
    timeoff/blocked_period/update timeoff/leave/approve timeoff/leave/bulk_delete timeoff/leave/create
    timeoff/leave/delete timeoff/leave/reject timeoff/leave/update timeoff/leave_type/create
    timeoff/leave_type/update timeoff/policy/create timeoff/policy/delete timeoff/policy/update
    trainings/category/create trainings/category/delete trainings/category/update
    trainings/training/bulk_delete trainings/training/bulk_update_catalog trainings/training/create
    trainings/training/delete trainings/training/update trainings/training/update_status
    work_schedule/schedule/create work_schedule/schedule/toggle_archive work_schedule/schedule/update
""".split())

# Resource key (the path under /resources/) -> (first id, model name used in 404 messages).
RESOURCES: dict[str, tuple[int, str]] = {
    "api_public/credentials": (1, "ApiPublic::Credential"),
    "api_public/webhook_subscriptions": (11301, "ApiPublic::WebhookSubscription"),
    "companies/legal_entities": (1201, "Companies::LegalEntity"),
    "finance/accounts": (7001, "Finance::Account"),
    "finance/contacts": (5001, "Finance::Contact"),
    "finance/cost_centers": (61, "Finance::CostCenter"),
    "finance/financial_documents": (120001, "Finance::FinancialDocument"),
    "finance/journal_entries": (88001, "Finance::JournalEntry"),
    "finance/journal_lines": (440001, "Finance::JournalLine"),
    "finance/tax_rates": (401, "Finance::TaxRate"),
    "finance/tax_types": (301, "Finance::TaxType"),
    "expenses/expenses": (23001, "Expenses::Expense"),
    "expenses/expensables": (31001, "Expenses::Expensable"),
    "project_management/projects": (88, "ProjectManagement::Project"),
}
ACCOUNT_TYPES = ("bank", "current_asset", "current_liability", "equity", "expense", "income",
                 "non_current_asset", "non_current_liability")
DOCUMENT_TYPES = ("invoice", "receipt", "credit_note")
DOCUMENT_STATUSES = ("processing", "review", "sent_to_pay", "paid")
TAX_TYPE_TYPES = ("vat", "personal_income")
EXPENSE_STATUSES = ("draft", "pending", "changes_requested", "approved", "rejected", "reversed",
                    "in_payroll", "sent_to_pay", "paid")
# Models without updated_at in the SDK: never stamped with one.
NO_UPDATED_AT = frozenset({"api_public/credentials", "api_public/webhook_subscriptions", "companies/legal_entities",
                           "finance/cost_centers", "expenses/expenses", "project_management/projects"})
JOURNAL_ENTRY_TYPES = ("bank", "bill", "invoice", "credit_note", "merged_ledger_account", "reconciliation",
                       "tax", "receipt", "payroll_result", "external")


# --------------------------------------------------------------------------------------------
# Errors


class ApiError(Exception):
    """An error answered by the API, in the sandbox's error shape (see docs/sandbox-factorial.md)."""

    def __init__(self, status: int, code: str, message: str, *, errors: dict[str, list[str]] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.errors = errors
        self.headers = headers or {}

    def body(self) -> dict:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.errors:
            error["errors"] = self.errors
        return {"error": error}


def invalid(field_name: str, message: str, *, status: int = 422, code: str = "validation_error") -> ApiError:
    """A validation error naming the field, e.g. invalid("external_id", "has already been taken")."""
    return ApiError(status, code, f"Validation failed: {field_name} {message}", errors={field_name: [message]})


def bad_request(field_name: str, message: str) -> ApiError:
    return invalid(field_name, message, status=400, code="bad_request")


class OAuthError(Exception):
    """An OAuth2 error (RFC 6749 section 5.2 / Doorkeeper shape): {"error", "error_description"}."""

    DESCRIPTIONS = {
        "invalid_grant": "The provided authorization grant is invalid, expired, revoked, does not match the "
                         "redirection URI used in the authorization request, or was issued to another client.",
        "invalid_client": "Client authentication failed due to unknown client, no client authentication "
                          "included, or unsupported authentication method.",
        "invalid_request": "The request is missing a required parameter, includes an unsupported parameter "
                           "value, or is otherwise malformed.",
        "unsupported_grant_type": "The authorization grant type is not supported by the authorization server.",
        "access_denied": "The resource owner or authorization server denied the request.",
        "unsupported_response_type": "The authorization server does not support this response type.",
    }

    def __init__(self, error: str, status: int = 400, description: str | None = None):
        super().__init__(error)
        self.error, self.status = error, status
        self.description = description or self.DESCRIPTIONS.get(error, error)

    def body(self) -> dict:
        return {"error": self.error, "error_description": self.description}


# --------------------------------------------------------------------------------------------
# Small helpers


def iso(moment: dt.datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(value: str) -> dt.datetime:
    """ISO 8601 date or date-time -> aware datetime (a bare date is midnight UTC). Raises ValueError."""
    value = (value or "").strip()
    if not value:
        raise ValueError("empty")
    if len(value) == 10:
        return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), tzinfo=UTC)
    if "T" in value and value.count(" ") == 1:  # an unencoded "+02:00" arrives as " 02:00"
        value = value.replace(" ", "+")
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def encode_cursor(record_id: str | int) -> str:
    return base64.b64encode(str(record_id).encode()).decode()


def decode_cursor(cursor: str, name: str) -> int:
    """Cursors are opaque (base64 of the id); a raw row id is refused with 400 like the real API."""
    try:
        raw = base64.b64decode(cursor.encode(), validate=True).decode()
        if not raw.isdigit():
            raise ValueError(raw)
        return int(raw)
    except (ValueError, UnicodeError) as exc:
        raise bad_request(name, "is not a valid cursor (pass meta.end_cursor of the previous page)") from exc


KEEP_NULL = frozenset({"employee_id"})  # required in the SDK model even when it has no value (credentials)


def public(record: dict, base_url: str = "") -> dict:
    """The API view of a stored record: no private "_" keys, file URLs made absolute, and optional
    fields without a value left out (the SDK's ``Unset``; its parsers crash on null nested objects)."""
    def walk(value):
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()
                    if not k.startswith("_") and (v is not None or k in KEEP_NULL)}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str) and value.startswith(FILE_MARK):
            return base_url.rstrip("/") + value[len(FILE_MARK):]
        return value
    return walk(record)


def _num(record: dict) -> int:
    """Ids are strings; they sort (and cursors compare) by their number ("api_key_1" -> 1)."""
    return int(re.sub(r"\D", "", record["id"]) or 0)


def as_bool(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.strip().lower() in ("1", "true", "t", "yes", "on")


class Query:
    """Parsed query string: one() for scalars, many() for Rails-style ``name[]`` arrays."""

    def __init__(self, params: dict[str, list[str]]):
        self.params = params

    def one(self, name: str) -> str | None:
        values = self.params.get(name)
        return values[-1] if values else None

    def many(self, name: str) -> list[str] | None:
        values = self.params.get(name + "[]")
        return list(values) if values is not None else None


# --------------------------------------------------------------------------------------------
# Fault injection


FAULT_KINDS = ("500", "502", "503", "429", "timeout", "500_after_write")


@dataclass
class FaultConfig:
    rate: float = 0.0
    kinds: tuple[str, ...] = ("500",)
    retry_after: int = 1
    timeout_delay: float = 2.0
    seed: int | None = None
    methods: tuple[str, ...] | None = None
    path_contains: str | None = None


class Faults:
    """Random faults (``set``) and scripted ones (``queue``), consulted before each request.

    Kinds: "500", "502" (HTML body, like a proxy), "503", "429" (with Retry-After) answer before the
    request is applied, so it has no effect; "timeout" sleeps ``timeout_delay`` seconds and then
    applies and answers normally (a client with a shorter timeout gives up, the write still
    happens); "500_after_write" applies a write (POST/PUT/PATCH/DELETE) and then answers 500 (on a
    GET it is a plain "500"). /_sandbox admin calls are never faulted.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.config = FaultConfig()
        self._rng = random.Random()
        self._queue: list[dict] = []
        self.history: list[tuple[str, str, str]] = []  # (method, path, kind) of every injected fault

    def set(self, rate: float = 1.0, kinds: Iterable[str] = ("500",), retry_after: int = 1,
            timeout_delay: float = 2.0, seed: int | None = None, methods: Iterable[str] | None = None,
            path_contains: str | None = None) -> dict:
        kinds = tuple(str(k) for k in kinds)
        unknown = [k for k in kinds if k not in FAULT_KINDS]
        if unknown or not kinds:
            raise ValueError(f"unknown fault kinds {unknown}; known: {', '.join(FAULT_KINDS)}")
        if not 0.0 <= float(rate) <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        with self._lock:
            self.config = FaultConfig(float(rate), kinds, int(retry_after), float(timeout_delay), seed,
                                      tuple(m.upper() for m in methods) if methods else None, path_contains)
            self._rng = random.Random(seed)
        return self.describe()

    def clear(self) -> None:
        with self._lock:
            self.config = FaultConfig()
            self._queue.clear()

    def queue(self, kind: str, count: int = 1, method: str | None = None, path_contains: str | None = None) -> None:
        """Inject ``kind`` into the next ``count`` matching requests, whatever the random rate."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            for _ in range(count):
                self._queue.append({"kind": kind, "method": method.upper() if method else None,
                                    "path_contains": path_contains})

    def pick(self, method: str, path: str) -> str | None:
        with self._lock:
            for i, item in enumerate(self._queue):
                if (item["method"] in (None, method)) and (not item["path_contains"] or item["path_contains"] in path):
                    del self._queue[i]
                    kind = item["kind"]
                    break
            else:
                cfg = self.config
                if cfg.rate <= 0 or (cfg.methods and method not in cfg.methods) or (
                        cfg.path_contains and cfg.path_contains not in path):
                    return None
                if self._rng.random() >= cfg.rate:
                    return None
                kind = self._rng.choice(cfg.kinds)
            if kind == "500_after_write" and method in ("GET", "HEAD"):
                kind = "500"
            self.history.append((method, path, kind))
            return kind

    def describe(self) -> dict:
        cfg = self.config
        return {"rate": cfg.rate, "kinds": list(cfg.kinds), "retry_after": cfg.retry_after,
                "timeout_delay": cfg.timeout_delay, "seed": cfg.seed,
                "methods": list(cfg.methods) if cfg.methods else None, "path_contains": cfg.path_contains,
                "queued": [dict(q) for q in self._queue], "injected": len(self.history)}


# --------------------------------------------------------------------------------------------
# Webhook deliveries


@dataclass
class Delivery:
    subscription_id: str
    subscription_type: str
    target_url: str
    headers: dict
    body: bytes
    status: int | None = None
    error: str | None = None
    attempts: int = 0
    at: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


# --------------------------------------------------------------------------------------------
# The state


class SandboxState:
    """Everything the sandbox knows. Construct, then ``reset()`` re-seeds it as it was."""

    def __init__(self, api_key: str | Iterable[str] = "sandbox-factorial-key", *, seed: str | None = None,
                 today: dt.date | None = None, oauth_client_id: str = "sandbox-client",
                 oauth_client_secret: str = "sandbox-secret", oauth_redirect_uris: Iterable[str] | None = None,
                 company_id: str = "7301", strict_limit: bool = False, post_rate_limit: int | None = POST_RATE_LIMIT):
        self.lock = threading.RLock()
        self.api_keys = {api_key} if isinstance(api_key, str) else set(api_key)
        self.seed, self.today = seed, today
        self.company_id = company_id
        redirect_uris = list(oauth_redirect_uris) if oauth_redirect_uris else None  # None: any redirect_uri
        self.oauth_clients = {oauth_client_id: {"secret": oauth_client_secret, "redirect_uris": redirect_uris}}
        self.strict_limit = strict_limit  # True: limit > 100 is a 400 instead of being capped at 100
        self.post_rate_limit = post_rate_limit  # POSTs per rolling minute; None disables
        self.access_token_ttl = ACCESS_TOKEN_TTL
        self.webhook_timeout = 5.0
        self.webhook_immediate_retries = 0  # extra attempts inside one emit()
        self.webhook_max_failures = 20  # docs: disabled after 20 failed attempts
        self.base_url = "http://127.0.0.1"  # last seen public base URL (for webhook payload file URLs)
        self.faults = Faults()
        self._clock_offset = 0.0
        self._clear()
        if seed:
            self._seed(seed)

    # ---- lifecycle -----------------------------------------------------------------------

    def _clear(self) -> None:
        self.data: dict[str, dict[str, dict]] = {name: {} for name in RESOURCES}
        self._next_id = {name: start for name, (start, _) in RESOURCES.items()}
        self.files: dict[str, dict] = {}
        self._next_file_id = 900001
        self.requests: list[tuple[str, str, int]] = []
        self.request_log: list[dict] = []
        self.api_versions: Counter[str] = Counter()
        self.deliveries: list[Delivery] = []
        self._codes: dict[str, dict] = {}
        self._grants: dict[str, dict] = {}
        self._access: dict[str, dict] = {}
        self._refresh: dict[str, dict] = {}
        self.oauth_events: list[tuple[str, str]] = []
        self.refresh_count = 0
        self.oauth_deny = False
        self._post_times: deque[float] = deque()
        self.seed_info: dict = {}
        self._company_defaults()

    def _company_defaults(self) -> None:
        self.data["api_public/credentials"] = {"1": {
            "id": "api_key_1", "company_id": self.company_id, "employee_id": None, "name": "Sandbox company",
            "legal_name": "Sandbox company SAS", "locale": "fr", "tin": None, "gdpr_tos": True, "tos": True,
            "subscription_plan": "business", "onboarded_on": None, "logo": None, "to_be_deleted": None}}

    def _seed(self, seed: str) -> None:
        if seed != "demo":
            raise ValueError(f"unknown seed {seed!r} (known: demo)")
        from .seed import seed_demo
        seed_demo(self, today=self.today)

    def reset(self, seed: str | None | bool = True) -> None:
        """Drop every record, token, subscription, log and fault; re-seed (same seed by default)."""
        with self.lock:
            if seed is not True:
                self.seed = seed or None
            self.faults.clear()
            self.faults.history.clear()
            self._clock_offset = 0.0
            self._clear()
            if self.seed:
                self._seed(self.seed)

    # ---- clock ---------------------------------------------------------------------------

    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC) + dt.timedelta(seconds=self._clock_offset)

    def advance_time(self, seconds: float) -> None:
        """Move the sandbox clock forward (token expiry, updated_at of later writes)."""
        with self.lock:
            self._clock_offset += seconds

    # ---- generic records (also the test hooks) -------------------------------------------

    def model_name(self, resource: str) -> str:
        return RESOURCES[resource][1]

    def add(self, resource: str, record: dict, *, record_id: str | int | None = None) -> dict:
        """Insert a record (stored as given, plus id and updated_at if missing); returns it."""
        with self.lock:
            if record_id is None:
                record_id = self._next_id[resource]
            record_id = str(record_id)
            self._next_id[resource] = max(self._next_id[resource], int(record_id) + 1)
            record = dict(record)
            record["id"] = record_id
            if resource not in NO_UPDATED_AT:
                record.setdefault("updated_at", iso(self.now()))
            self.data[resource][record_id] = record
            return record

    def get(self, resource: str, record_id: str | int) -> dict:
        with self.lock:
            record = self.data[resource].get(str(record_id))
            if record is None:
                raise ApiError(404, "not_found", f"Couldn't find {self.model_name(resource)} with 'id'={record_id}")
            return record

    def records(self, resource: str) -> list[dict]:
        """Deep copies of the stored records, sorted by id."""
        with self.lock:
            return [copy.deepcopy(r) for r in self._sorted(resource)]

    def touch(self, resource: str, record_id: str | int, **changes) -> dict:
        """Change fields of a record as if someone did it in Factorial; bumps updated_at."""
        with self.lock:
            record = self.get(resource, record_id)
            record.update(changes)
            stamp = iso(self.now())
            if resource not in NO_UPDATED_AT:
                record["updated_at"] = stamp
            if resource == "expenses/expenses":  # an expense has no updated_at: its expensable does
                expensable = self.data["expenses/expensables"].get(record.get("expenses_expensable_id") or "")
                if expensable is not None:
                    expensable["updated_at"] = stamp
                    for key in ("status", "amount", "reimbursable_amount", "paid_at", "status_updated_at"):
                        if key in changes:
                            expensable[key] = changes[key]
            return copy.deepcopy(record)

    def _sorted(self, resource: str) -> list[dict]:
        return sorted(self.data[resource].values(), key=_num)

    def add_file(self, filename: str, content: bytes, content_type: str = "application/pdf", *,
                 signature: str | None = None, created_at: str | None = None) -> dict:
        """Store a downloadable file; returns {id, filename, url (FILE_MARK-relative), size, ...}."""
        with self.lock:
            file_id = str(self._next_file_id)
            self._next_file_id += 1
            signature = signature or secrets.token_hex(8)
            self.files[file_id] = {"filename": filename, "content": content, "content_type": content_type,
                                   "signature": signature}
            return {"id": file_id, "filename": filename,
                    "url": f"{FILE_MARK}/_files/{file_id}/{filename}?signature={signature}",
                    "size": len(content), "content_type": content_type, "created_at": created_at or iso(self.now())}

    def file(self, file_id: str, signature: str | None) -> dict:
        with self.lock:
            stored = self.files.get(file_id)
            if stored is None or not signature or not secrets.compare_digest(stored["signature"], signature):
                raise ApiError(403, "forbidden", "Request has expired or the signature does not match")
            return stored

    # ---- request log & versions ----------------------------------------------------------

    def log_request(self, method: str, path: str, status: int, **details) -> None:
        with self.lock:
            self.requests.append((method, path, status))
            self.request_log.append({"method": method, "path": path, "status": status, **details})
            if details.get("api_version"):
                self.api_versions[details["api_version"]] += 1

    def check_post_rate(self) -> None:
        if not self.post_rate_limit:
            return
        with self.lock:
            now = time.monotonic()
            while self._post_times and now - self._post_times[0] >= 60:
                self._post_times.popleft()
            if len(self._post_times) >= self.post_rate_limit:
                wait = max(1, int(60 - (now - self._post_times[0])) + 1)
                raise ApiError(429, "too_many_requests", "Rate limit exceeded: 200 POST requests per minute",
                               headers={"Retry-After": str(wait)})
            self._post_times.append(now)

    # ---- authentication ------------------------------------------------------------------

    def authenticate(self, api_key: str | None, authorization: str | None) -> str:
        """Returns "api_key" or "oauth"; raises a 401 ApiError otherwise."""
        with self.lock:
            if api_key and api_key in self.api_keys:
                return "api_key"
            if authorization and authorization.lower().startswith("bearer "):
                token = authorization[7:].strip()
                problem = self._bearer_problem(token)
                if problem is None:
                    return "oauth"
                if not api_key:
                    challenge = f'Bearer realm="Doorkeeper", error="invalid_token", error_description="{problem}"'
                    raise ApiError(401, "invalid_token", problem, headers={"WWW-Authenticate": challenge})
            if api_key:
                raise ApiError(401, "unauthorized", "Invalid API key")
            raise ApiError(401, "unauthorized",
                           "Missing credentials: send the x-api-key header or Authorization: Bearer <access token>")

    def _bearer_problem(self, token: str) -> str | None:
        info = self._access.get(token)
        if info is None:
            return "The access token is invalid"
        if info["revoked"] or self._grants[info["grant_id"]]["revoked"]:
            return "The access token was revoked"
        if info["expires_at"] is not None and self.now().timestamp() >= info["expires_at"]:
            return "The access token expired"
        return None

    # ---- OAuth2 (Doorkeeper-like) --------------------------------------------------------

    def _client(self, client_id: str | None, client_secret: str | None = None, *, check_secret: bool = True) -> dict:
        client = self.oauth_clients.get(client_id or "")
        if client is None or (check_secret and not secrets.compare_digest(client["secret"], client_secret or "")):
            raise OAuthError("invalid_client", 401)
        return client

    def authorize(self, params: Query) -> str:
        """GET /oauth/authorize -> the redirect Location (auto-approves unless told to deny)."""
        from urllib.parse import urlencode
        with self.lock:
            client_id, redirect_uri = params.one("client_id"), params.one("redirect_uri")
            client = self._client(client_id, check_secret=False)
            if not redirect_uri or (client["redirect_uris"] and redirect_uri not in client["redirect_uris"]):
                raise OAuthError("invalid_request", 400, "The requested redirect uri is malformed or doesn't match "
                                                         "client redirect URI.")
            state = params.one("state")
            sep = "&" if "?" in redirect_uri else "?"
            answer: dict[str, str] = {}
            if params.one("response_type") != "code":
                answer = {"error": "unsupported_response_type",
                          "error_description": OAuthError.DESCRIPTIONS["unsupported_response_type"]}
            elif self.oauth_deny or as_bool(params.one("sandbox_deny")):
                answer = {"error": "access_denied", "error_description": OAuthError.DESCRIPTIONS["access_denied"]}
                self.oauth_events.append(("denied", client_id))
            else:
                code = secrets.token_hex(20)
                self._codes[code] = {"client_id": client_id, "redirect_uri": redirect_uri,
                                     "scope": params.one("scope") or "read write",
                                     "resource_owner_type": params.one("resource_owner_type") or "user",
                                     "expires_at": self.now().timestamp() + AUTH_CODE_TTL, "used": False}
                answer = {"code": code}
                self.oauth_events.append(("authorized", client_id))
            if state is not None:
                answer["state"] = state
            return redirect_uri + sep + urlencode(answer)

    def token(self, form: Query) -> dict:
        """POST /oauth/token (grant_type authorization_code | refresh_token)."""
        with self.lock:
            grant_type = form.one("grant_type")
            if grant_type not in ("authorization_code", "refresh_token"):
                raise OAuthError("unsupported_grant_type" if grant_type else "invalid_request")
            client_id = form.one("client_id")
            self._client(client_id, form.one("client_secret"))
            now = self.now().timestamp()
            if grant_type == "authorization_code":
                code = self._codes.get(form.one("code") or "")
                if (code is None or code["used"] or code["client_id"] != client_id or now >= code["expires_at"]
                        or code["redirect_uri"] != form.one("redirect_uri")):
                    self.oauth_events.append(("code_refused", client_id))
                    raise OAuthError("invalid_grant")
                code["used"] = True
                grant_id = str(len(self._grants) + 1)
                self._grants[grant_id] = {"client_id": client_id, "scope": code["scope"], "revoked": False,
                                          "resource_owner_type": code["resource_owner_type"]}
                self.oauth_events.append(("issued", client_id))
                return self._issue(grant_id)
            old = form.one("refresh_token") or ""
            info = self._refresh.get(old)
            if (info is None or info["revoked"] or now >= info["expires_at"]
                    or self._grants[info["grant_id"]]["revoked"]
                    or self._grants[info["grant_id"]]["client_id"] != client_id):
                self.oauth_events.append(("refresh_refused", client_id))
                raise OAuthError("invalid_grant")
            info["revoked"] = True  # rotation: the old refresh token is dead from now on
            for token_info in self._access.values():  # and so is the access token it came with
                if token_info.get("refresh_token") == old:
                    token_info["revoked"] = True
            self.refresh_count += 1
            self.oauth_events.append(("refreshed", client_id))
            return self._issue(info["grant_id"])

    def _issue(self, grant_id: str) -> dict:
        grant = self._grants[grant_id]
        access, refresh = secrets.token_hex(32), secrets.token_hex(32)
        now = self.now().timestamp()
        self._access[access] = {"grant_id": grant_id, "expires_at": now + self.access_token_ttl, "revoked": False,
                                "refresh_token": refresh}
        self._refresh[refresh] = {"grant_id": grant_id, "expires_at": now + REFRESH_TOKEN_TTL, "revoked": False}
        return {"access_token": access, "token_type": "Bearer", "expires_in": self.access_token_ttl,
                "refresh_token": refresh, "scope": grant["scope"], "created_at": int(now)}

    def revoke(self, form: Query) -> None:
        """POST /oauth/revoke (RFC 7009): revokes an access or refresh token; always 200."""
        with self.lock:
            self._client(form.one("client_id"), form.one("client_secret"))
            token = form.one("token") or ""
            if token in self._access:
                self._access[token]["revoked"] = True
            if token in self._refresh:
                self._refresh[token]["revoked"] = True

    # Test hooks for OAuth.

    def issue_token(self, client_id: str | None = None, scope: str = "read write") -> dict:
        """A token response as if the code flow had just run (for tests that only need a bearer)."""
        with self.lock:
            client_id = client_id or next(iter(self.oauth_clients))
            grant_id = str(len(self._grants) + 1)
            self._grants[grant_id] = {"client_id": client_id, "scope": scope, "revoked": False,
                                      "resource_owner_type": "user"}
            return self._issue(grant_id)

    def expire_access_tokens(self, token: str | None = None) -> int:
        """Make one access token (or all of them) expired now; returns how many."""
        with self.lock:
            targets = [self._access[token]] if token else list(self._access.values())
            for info in targets:
                info["expires_at"] = self.now().timestamp() - 1
            return len(targets)

    def revoke_refresh_token(self, token: str) -> None:
        with self.lock:
            self._refresh[token]["revoked"] = True

    def revoke_grant(self, *, refresh_token: str | None = None, access_token: str | None = None) -> None:
        """Revoke the whole authorization (the user disconnected the app): every token of it dies."""
        with self.lock:
            info = self._refresh.get(refresh_token or "") or self._access.get(access_token or "")
            if info is None:
                raise KeyError("unknown token")
            self._grants[info["grant_id"]]["revoked"] = True

    # ---- listing ---------------------------------------------------------------------------

    def list(self, resource: str, query: Query) -> tuple[list[dict], dict]:
        """Filter (per resource, as the SDK documents) and paginate by cursor; returns (items, meta)."""
        with self.lock:
            limit_raw = query.one("limit")
            limit = MAX_LIMIT
            if limit_raw not in (None, ""):
                try:
                    limit = int(limit_raw)
                except ValueError:
                    raise bad_request("limit", "must be an integer") from None
                if limit < 1:
                    raise bad_request("limit", "must be greater than 0")
                if limit > MAX_LIMIT:
                    if self.strict_limit:
                        raise bad_request("limit", f"must be less than or equal to {MAX_LIMIT}")
                    limit = MAX_LIMIT
            items = [r for r in self._sorted(resource)]
            filt = LIST_FILTERS.get(resource)
            if filt:
                items = filt(self, items, query)
            updated_from = query.one("updated_from")
            if updated_from and resource in UPDATED_FROM_RESOURCES:
                try:
                    since = parse_iso(updated_from)
                except ValueError:
                    raise bad_request("updated_from", "is not a valid ISO 8601 date") from None
                items = [r for r in items if parse_iso(r["updated_at"]) >= since]
            total = len(items)
            after, before = query.one("after_id"), query.one("before_id")
            if after:
                after_id = decode_cursor(after, "after_id")
                position = [r for r in items if _num(r) > after_id]
                has_previous = len(position) < total
                page = position[:limit]
                has_next = len(position) > limit
            elif before:
                before_id = decode_cursor(before, "before_id")
                position = [r for r in items if _num(r) < before_id]
                page = position[-limit:]
                has_previous = len(position) > limit
                has_next = len(position) < total
            else:
                page, has_previous, has_next = items[:limit], False, total > limit
            meta = {"has_next_page": has_next, "has_previous_page": has_previous, "limit": limit, "total": total,
                    "start_cursor": encode_cursor(_num(page[0])) if page else None,
                    "end_cursor": encode_cursor(_num(page[-1])) if page else None}
            if not page:
                del meta["start_cursor"], meta["end_cursor"]
            return [copy.deepcopy(r) for r in page], meta

    # ---- contacts ------------------------------------------------------------------------

    def _unique(self, resource: str, field_name: str, value, *, exclude: str | None = None,
                scope: Callable[[dict], bool] | None = None) -> None:
        if value in (None, ""):
            return
        for record in self.data[resource].values():
            if record["id"] != exclude and record.get(field_name) == value and (scope is None or scope(record)):
                raise invalid(field_name, "has already been taken")

    @staticmethod
    def _require(body: dict, *names: str, prefix: str = "") -> None:
        for name in names:
            if body.get(name) in (None, ""):
                raise invalid(prefix + name, "can't be blank")

    def _address(self, address) -> dict:
        if not isinstance(address, dict):
            raise invalid("address", "can't be blank")
        self._require(address, "line1", "city", "postal_code", "country_code", prefix="address.")
        if address.get("state") is None:
            raise invalid("address.state", "can't be blank")
        return {k: address.get(k) for k in ("line1", "line2", "city", "postal_code", "state", "country_code")}

    def create_contact(self, body: dict) -> dict:
        with self.lock:
            self._require(body, "name")
            address = self._address(body.get("address"))
            self._unique("finance/contacts", "external_id", body.get("external_id"))
            record = {"name": body["name"], "address": address}
            for key in ("legal_name", "tax_id", "external_id", "iban", "bank_code", "website", "email",
                        "phone_number"):
                record[key] = body.get(key)
            record["preferred_payment_method"] = None
            record["_contact_type"] = "vendor"  # POST has no contact_type: a created contact is a vendor
            record["_project_ids"] = [str(p) for p in body.get("project_ids") or []]
            return self.add("finance/contacts", record)

    def update_contact(self, record_id: str, body: dict) -> dict:
        with self.lock:
            record = self.get("finance/contacts", record_id)
            self._check_body_id(body, record_id)
            address = self._address(body.get("address"))
            changes = {"address": address}
            # The PUT body of the SDK has no external_id, iban or bank_code: they are not updatable.
            for key in ("tax_id", "legal_name", "name", "website", "email", "phone_number"):
                if key in body:
                    changes[key] = body[key]
            if changes.get("name", "x") in (None, ""):
                raise invalid("name", "can't be blank")
            record.update(changes)
            record["updated_at"] = iso(self.now())
            return record

    @staticmethod
    def _check_body_id(body: dict, record_id: str) -> None:
        if str(body.get("id", "")) != str(record_id):
            raise invalid("id", "must match the id in the path")

    # ---- ledger accounts -----------------------------------------------------------------

    def create_account(self, body: dict) -> dict:
        with self.lock:
            self._require(body, "number", "type", "currency", "legal_entity_id")
            if body["type"] not in ACCOUNT_TYPES:
                raise invalid("type", "is not included in the list")
            legal_entity_id = str(body["legal_entity_id"])
            self.get_legal_entity(legal_entity_id)
            self._unique("finance/accounts", "external_id", body.get("external_id"))
            self._unique("finance/accounts", "number", str(body["number"]),
                         scope=lambda r: r["legal_entity_id"] == legal_entity_id)
            record = {"legal_entity_id": legal_entity_id, "number": str(body["number"]), "disabled": False,
                      "type": body["type"], "name": body.get("name"), "external_id": body.get("external_id"),
                      "_currency": body["currency"]}
            return self.add("finance/accounts", record)

    def update_account(self, record_id: str, body: dict) -> dict:
        with self.lock:
            record = self.get("finance/accounts", record_id)
            self._check_body_id(body, record_id)
            if "type" in body and body["type"] not in ACCOUNT_TYPES:
                raise invalid("type", "is not included in the list")
            legal_entity_id = str(body.get("legal_entity_id") or record["legal_entity_id"])
            self.get_legal_entity(legal_entity_id)
            if "external_id" in body:
                self._unique("finance/accounts", "external_id", body["external_id"], exclude=record_id)
            if "number" in body:
                self._require(body, "number")
                self._unique("finance/accounts", "number", str(body["number"]), exclude=record_id,
                             scope=lambda r: r["legal_entity_id"] == legal_entity_id)
            for key in ("name", "number", "type", "external_id"):
                if key in body:
                    record[key] = str(body[key]) if key == "number" else body[key]
            record["legal_entity_id"] = legal_entity_id
            if "currency" in body:
                record["_currency"] = body["currency"]
            record["updated_at"] = iso(self.now())
            return record

    def get_legal_entity(self, legal_entity_id: str) -> dict:
        if str(legal_entity_id) not in self.data["companies/legal_entities"]:
            raise invalid("legal_entity_id", "does not exist")
        return self.data["companies/legal_entities"][str(legal_entity_id)]

    # ---- taxes ---------------------------------------------------------------------------

    def create_tax_type(self, body: dict) -> dict:
        with self.lock:
            self._require(body, "name", "type")
            if body["type"] not in TAX_TYPE_TYPES:
                raise invalid("type", "is not included in the list")
            self._unique("finance/tax_types", "external_id", body.get("external_id"))
            return self.add("finance/tax_types", {"name": body["name"], "type": body["type"],
                                                  "country_code": body.get("country_code"),
                                                  "external_id": body.get("external_id")})

    def update_tax_type(self, record_id: str, body: dict) -> dict:
        with self.lock:
            record = self.get("finance/tax_types", record_id)
            self._check_body_id(body, record_id)
            self._require(body, "type")
            if body["type"] not in TAX_TYPE_TYPES:
                raise invalid("type", "is not included in the list")
            for key in ("type", "name", "country_code"):
                if key in body:
                    record[key] = body[key]
            record["updated_at"] = iso(self.now())
            return record

    def create_tax_rate(self, body: dict) -> dict:
        with self.lock:
            self._require(body, "rate", "tax_type_id")
            try:
                rate = float(body["rate"])
            except (TypeError, ValueError):
                raise invalid("rate", "is not a number") from None
            if not -1 <= rate <= 1:
                raise invalid("rate", "must be between -1 and 1")
            if str(body["tax_type_id"]) not in self.data["finance/tax_types"]:
                raise invalid("tax_type_id", "does not exist")
            self._unique("finance/tax_rates", "external_id", body.get("external_id"))
            return self.add("finance/tax_rates", {"rate": rate, "tax_type_id": str(body["tax_type_id"]),
                                                  "description": body.get("description"),
                                                  "external_id": body.get("external_id")})

    def update_tax_rate(self, record_id: str, body: dict) -> dict:
        with self.lock:
            record = self.get("finance/tax_rates", record_id)
            self._check_body_id(body, record_id)
            if "description" in body:  # the only updatable field in the SDK
                record["description"] = body["description"]
            record["updated_at"] = iso(self.now())
            return record

    # ---- cost centers --------------------------------------------------------------------

    def create_cost_center(self, body: dict) -> dict:
        with self.lock:
            self._require(body, "name", "company_id")
            self._check_company(body["company_id"], "company_id", status=422)
            self._unique("finance/cost_centers", "code", body.get("code"))
            record = self.add("finance/cost_centers", {
                "name": body["name"], "company_id": self.company_id, "legal_entity_id": body.get("legal_entity_id"),
                "code": body.get("code"), "description": body.get("description"), "active_employees_count": 0,
                "historical_employees_count": 0, "status": "active", "deactivation_date": None})
        self.emit_async("finance/cost_center/create", record)
        return record

    def edit_cost_center(self, body: dict) -> dict:
        with self.lock:
            self._require(body, "id")
            record = self.get("finance/cost_centers", body["id"])
            if "code" in body:
                self._unique("finance/cost_centers", "code", body["code"], exclude=record["id"])
            for key in ("name", "code", "description"):
                if key in body:
                    record[key] = body[key]
        self.emit_async("finance/cost_center/edit", record)
        return record

    def delete_cost_center(self, record_id: str) -> dict:
        with self.lock:
            record = self.get("finance/cost_centers", record_id)
            del self.data["finance/cost_centers"][record["id"]]
        self.emit_async("finance/cost_center/delete", record)
        return record

    def _check_company(self, company_id, name: str = "company_id", status: int = 403) -> None:
        if str(company_id) != self.company_id:
            if status == 403:
                raise ApiError(403, "forbidden", f"You don't have access to company {company_id}")
            raise invalid(name, "is not a company you have access to")

    # ---- financial documents -------------------------------------------------------------

    def _line_items(self, items, prefix: str = "line_items") -> tuple[int, list[dict]]:
        if isinstance(items, str):
            try:
                items = json.loads(items)
            except ValueError:
                raise invalid(prefix, "is not valid JSON") from None
        if not isinstance(items, list):
            raise invalid(prefix, "must be an array")
        net, by_rate = 0, {}
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise invalid(f"{prefix}[{i}]", "must be an object")
            self._require(item, "description", "quantity", "unit_price_cents", prefix=f"{prefix}[{i}].")
            try:
                amount = round(float(item["quantity"]) * int(item["unit_price_cents"])
                               * (1 - float(item.get("discount_percentage") or 0) / 100))
            except (TypeError, ValueError):
                raise invalid(f"{prefix}[{i}]", "has a non-numeric quantity, price or discount") from None
            net += amount
            if item.get("tax_rate_id") not in (None, ""):
                rate = self.data["finance/tax_rates"].get(str(item["tax_rate_id"]))
                if rate is None:
                    raise invalid(f"{prefix}[{i}].tax_rate_id", "does not exist")
                by_rate[rate["id"]] = by_rate.get(rate["id"], 0) + amount
        taxes = []
        for rate_id, base in by_rate.items():
            rate = self.data["finance/tax_rates"][rate_id]
            tax_type = self.data["finance/tax_types"][rate["tax_type_id"]]
            pct = round(rate["rate"] * 100, 4)
            taxes.append(tax_line(base, pct, tax_type))
        return net, taxes

    def _vendor_fields(self, vendor_id) -> dict:
        vendor = self.data["finance/contacts"].get(str(vendor_id)) if vendor_id not in (None, "") else None
        if vendor is None:
            return {}
        address = vendor.get("address") or {}
        return {"issuer_name": vendor.get("legal_name") or vendor["name"],
                "issuer_address_line_1": address.get("line1"),
                "issuer_address_line_2": address.get("line2"), "issuer_city": address.get("city"),
                "issuer_postal_code": address.get("postal_code"), "issuer_state": address.get("state"),
                "issuer_country_code": address.get("country_code"), "issuer_tax_id": vendor.get("tax_id")}

    def _duplicate_number(self, vendor_id, number, exclude=None) -> bool:
        if number in (None, "") or vendor_id in (None, ""):
            return False
        return any(r["id"] != exclude and r.get("vendor_id") == str(vendor_id) and r.get("document_number") == number
                   for r in self.data["finance/financial_documents"].values())

    def create_financial_document(self, fields: dict, upload: dict | None) -> dict:
        """POST (multipart/form-data): fields as sent, upload = {filename, content_type, content}."""
        with self.lock:
            self._require(fields, "company_id", "document_type")
            self._check_company(fields["company_id"], status=422)
            if fields["document_type"] not in DOCUMENT_TYPES:
                raise invalid("document_type", "is not included in the list")
            if not upload or not upload.get("content"):
                raise invalid("file", "can't be blank")
            vendor_id = fields.get("vendor_id") or None
            if vendor_id and str(vendor_id) not in self.data["finance/contacts"]:
                raise invalid("vendor_id", "does not exist")
            if self._duplicate_number(vendor_id, fields.get("invoice_number")):
                raise invalid("invoice_number", "has already been taken")
            total, net, taxes = None, None, []
            if fields.get("line_items") not in (None, ""):
                net, taxes = self._line_items(fields["line_items"])
                total = net + sum(t["amount_cents"] for t in taxes)
            elif fields.get("total_amount_cents") not in (None, ""):
                try:
                    total = int(fields["total_amount_cents"])
                except (TypeError, ValueError):
                    raise invalid("total_amount_cents", "is not a number") from None
            parent = fields.get("parent_financial_document_id") or None
            if not parent and fields.get("original_invoice_number"):
                wanted = (str(vendor_id), fields["original_invoice_number"])
                for doc in self.data["finance/financial_documents"].values():
                    if (doc.get("vendor_id"), doc.get("document_number")) == wanted:
                        parent = doc["id"]
                if not parent:
                    raise invalid("original_invoice_number", "does not match a document of this vendor")
            if parent and str(parent) not in self.data["finance/financial_documents"]:
                raise invalid("parent_financial_document_id", "does not exist")
            file_info = self.add_file(upload.get("filename") or "document.pdf", upload["content"],
                                      upload.get("content_type") or "application/octet-stream")
            legal_entity_id = fields.get("legal_entity_id") or self._default_legal_entity_id()
            record = empty_document()
            record.update({
                "status": "review", "document_type": fields["document_type"], "taxes": taxes,
                "net_amount_cents": net if net is not None else total, "total_amount_cents": total,
                "taxes_total_amount_cents": sum(t["amount_cents"] for t in taxes),
                "document_number": fields.get("invoice_number"), "currency": fields.get("currency"),
                "due_date": fields.get("due_date"), "document_date": fields.get("invoice_date"),
                "legal_entity_id": legal_entity_id, "vendor_id": str(vendor_id) if vendor_id else None,
                "file": file_info, "parent_financial_document_id": str(parent) if parent else None,
                "_additional_information": fields.get("additional_information"),
            })
            record.update(self._vendor_fields(vendor_id))
            record.update(self._recipient_fields(legal_entity_id))
            return self.add("finance/financial_documents", record)

    def _default_legal_entity_id(self) -> str | None:
        entities = self._sorted("companies/legal_entities")
        return entities[0]["id"] if entities else None

    def _recipient_fields(self, legal_entity_id) -> dict:
        entity = self.data["companies/legal_entities"].get(str(legal_entity_id or ""))
        if entity is None:
            return {}
        return {"recipient_name": entity["legal_name"], "recipient_address_line_1": entity.get("address_line_1"),
                "recipient_address_line_2": entity.get("address_line_2"), "recipient_city": entity.get("city"),
                "recipient_postal_code": entity.get("postal_code"), "recipient_state": entity.get("state"),
                "recipient_country_code": (entity.get("country") or "").upper() or None,
                "recipient_tax_id": entity.get("tin")}

    def update_financial_document(self, record_id: str, body: dict) -> dict:
        """PUT semantics: the fields are replaced as sent (an absent optional field is cleared)."""
        with self.lock:
            record = self.get("finance/financial_documents", record_id)
            self._check_body_id(body, record_id)
            self._require(body, "company_id", "status")
            self._check_company(body["company_id"], status=422)
            if "taxes" not in body or not isinstance(body["taxes"], list):
                raise invalid("taxes", "can't be blank")
            status = body["status"]
            if status not in DOCUMENT_STATUSES:
                raise invalid("status", "is not included in the list")
            if record["status"] == "sent_to_pay" and status == "paid":
                raise invalid("status", "can't be set to paid on a document sent to pay: the payment flow owns it")
            document_type = body.get("document_type") or record["document_type"]
            if document_type not in DOCUMENT_TYPES:
                raise invalid("document_type", "is not included in the list")
            vendor_id = body.get("vendor_id")
            if vendor_id not in (None, "") and str(vendor_id) not in self.data["finance/contacts"]:
                raise invalid("vendor_id", "does not exist")
            if self._duplicate_number(vendor_id, body.get("document_number"), exclude=record["id"]):
                raise ApiError(409, "conflict", "Validation failed: invoice_number has already been taken",
                               errors={"invoice_number": ["has already been taken"]})
            validated_at = body.get("validated_at")
            if validated_at and not record.get("validated_at"):
                for name in ("currency", "total_amount_cents", "document_number", "document_date", "due_date",
                             "vendor_id", "legal_entity_id"):
                    if body.get(name) in (None, ""):
                        raise invalid(name, "can't be blank when the document is validated")
            if "line_items" in body and body["line_items"] is not None:
                net, taxes = self._line_items(body["line_items"])
                total = net + sum(t["amount_cents"] for t in taxes)
                record["_line_items"] = body["line_items"]
            else:
                taxes = [normalise_tax(t, i) for i, t in enumerate(body["taxes"])]
                total = body.get("total_amount_cents")
                net = total - sum(t.get("amount_cents") or 0 for t in taxes) if isinstance(total, int) else None
            previous_status = record["status"]
            record.update({
                "status": status, "document_type": document_type, "taxes": taxes, "total_amount_cents": total,
                "net_amount_cents": net, "taxes_total_amount_cents": sum(t.get("amount_cents") or 0 for t in taxes),
                "currency": body.get("currency"), "document_number": body.get("document_number"),
                "document_date": body.get("document_date"), "due_date": body.get("due_date"),
                "validated_at": validated_at or None, "legal_entity_id": body.get("legal_entity_id"),
                "vendor_id": str(vendor_id) if vendor_id not in (None, "") else None,
                "parent_financial_document_id": body.get("parent_financial_document_id"),
            })
            if "additional_information" in body:
                record["_additional_information"] = body["additional_information"]
            if status == "paid" and previous_status != "paid":
                record["recorded_at"] = record.get("recorded_at") or iso(self.now())
            record["updated_at"] = iso(self.now())
            return record

    # ---- journal entries -----------------------------------------------------------------

    def create_journal_entry(self, body: dict) -> dict:
        with self.lock:
            self._require(body, "legal_entity_id", "reference_date")
            self.get_legal_entity(str(body["legal_entity_id"]))
            lines = body.get("lines")
            if not isinstance(lines, list) or len(lines) < 2:
                raise invalid("lines", "must have at least two lines")
            debit = credit = 0
            for i, line in enumerate(lines):
                self._require(line, "account_id", prefix=f"lines[{i}].")
                if str(line["account_id"]) not in self.data["finance/accounts"]:
                    raise invalid(f"lines[{i}].account_id", "does not exist")
                try:
                    debit += int(line.get("debit_amount_cents") or 0)
                    credit += int(line.get("credit_amount_cents") or 0)
                except (TypeError, ValueError):
                    raise invalid(f"lines[{i}]", "amounts must be integers in cents") from None
            if debit != credit:
                raise invalid("lines", "debits and credits must balance")
            if body.get("type") and body["type"] not in JOURNAL_ENTRY_TYPES:
                raise invalid("type", "is not included in the list")
            self._unique("finance/journal_entries", "external_id", body.get("external_id"))
            return self.add_journal_entry(
                legal_entity_id=str(body["legal_entity_id"]), reference_date=body["reference_date"],
                entry_type=body.get("type") or "external", status=body.get("status") or "published",
                description=body.get("description"), external_id=body.get("external_id"),
                lines=[(str(line["account_id"]), int(line.get("debit_amount_cents") or 0),
                        int(line.get("credit_amount_cents") or 0), line.get("external_id")) for line in lines])

    def add_journal_entry(self, *, legal_entity_id: str, reference_date: str, entry_type: str,
                          status: str = "published", description: str | None = None, external_id: str | None = None,
                          source_id: str | None = None, source_type: str | None = None,
                          lines: list[tuple[str, int, int, str | None]], published_at: str | None = None) -> dict:
        with self.lock:
            number = len(self.data["finance/journal_entries"]) + 1
            entry = self.add("finance/journal_entries", {
                "number": number, "published_at": published_at or iso(self.now()), "type": entry_type,
                "reference_date": reference_date, "legal_entity_id": legal_entity_id, "status": status,
                "source_id": source_id, "source_type": source_type, "description": description,
                "external_id": external_id})
            if published_at:
                entry["updated_at"] = published_at
            for i, (account_id, debit, credit, line_external_id) in enumerate(lines, 1):
                self.add("finance/journal_lines", {
                    "number": i, "debit_amount_cents": debit, "credit_amount_cents": credit,
                    "journal_entry_id": entry["id"], "account_id": account_id, "fully_reconciled_at": None,
                    "external_id": line_external_id, "updated_at": entry["updated_at"],
                    "_description": description})
            return entry

    # ---- expenses ------------------------------------------------------------------------

    def bulk_set_to_paid(self, body: dict) -> list[dict]:
        with self.lock:
            ids = body.get("ids")
            if not isinstance(ids, list) or not ids:
                raise invalid("ids", "can't be blank")
            changed = []
            for expensable_id in ids:
                expensable = self.get("expenses/expensables", expensable_id)
                if expensable["status"] not in ("approved", "sent_to_pay", "paid"):
                    raise invalid("ids", f"expensable {expensable_id} is {expensable['status']}, not approved")
            now = iso(self.now())
            for expensable_id in ids:
                expensable = self.data["expenses/expensables"][str(expensable_id)]
                expensable.update(status="paid", paid_at=expensable.get("paid_at") or now, status_updated_at=now,
                                  updated_at=now)
                expense = self.data["expenses/expenses"].get(expensable.get("expense_id") or "")
                if expense:
                    expense.update(status="paid", paid_at=expensable["paid_at"], status_updated_at=now)
                changed.append(expensable)
        for expensable in changed:
            self.emit_async("expenses/expensable/bulk_set_to_paid", expensable)
        return changed

    def update_reimbursable_amount(self, body: dict) -> dict:
        with self.lock:
            self._require(body, "id", "reimbursable_amount")
            expensable = self.get("expenses/expensables", body["id"])
            if expensable["type"] != "expense" or expensable.get("reimbursement_method") in (None, "unknown"):
                raise invalid("id", "only expense-type expensables with reimbursable payment are supported")
            try:
                amount = int(body["reimbursable_amount"])
            except (TypeError, ValueError):
                raise invalid("reimbursable_amount", "is not an integer") from None
            now = iso(self.now())
            expensable.update(reimbursable_amount=amount, updated_at=now)
            expense = self.data["expenses/expenses"].get(expensable.get("expense_id") or "")
            if expense:
                expense["reimbursable_amount"] = amount
        self.emit_async("expenses/expensable/update_reimbursable_amount", expensable)
        return expensable

    # ---- webhook subscriptions -----------------------------------------------------------

    def create_subscription(self, body: dict, api_version: str) -> dict:
        with self.lock:
            self._require(body, "subscription_type", "target_url", "company_id")
            self._check_company(body["company_id"], status=422)
            kind = body["subscription_type"]
            if kind not in WEBHOOK_SUBSCRIPTION_TYPES:
                raise invalid("subscription_type", "is not included in the list")
            if not re.match(r"^https?://", str(body["target_url"])):
                raise invalid("target_url", "is not a valid URL")
            self._unique("api_public/webhook_subscriptions", "type", kind)  # one per type and company
            version = body.get("api_version") or (api_version if api_version in WEBHOOK_API_VERSIONS
                                                  else DEFAULT_API_VERSION)
            if version not in WEBHOOK_API_VERSIONS:
                raise invalid("api_version", "is not included in the list")
            enabled = body.get("enabled")
            record = self.add("api_public/webhook_subscriptions", {
                "target_url": body["target_url"], "type": kind, "company_id": self.company_id,
                "enabled": True if enabled is None else bool(enabled), "api_version": version,
                "name": body.get("name"), "challenge": body.get("challenge"), "_failures": 0})
        self.emit_async("api_public/webhook_subscription/create", record)
        return record

    def update_subscription(self, record_id: str, body: dict) -> dict:
        with self.lock:
            record = self.get("api_public/webhook_subscriptions", record_id)
            self._check_body_id(body, record_id)
            if "subscription_type" in body:
                if body["subscription_type"] not in WEBHOOK_SUBSCRIPTION_TYPES:
                    raise invalid("subscription_type", "is not included in the list")
                self._unique("api_public/webhook_subscriptions", "type", body["subscription_type"], exclude=record_id)
                record["type"] = body["subscription_type"]
            if "api_version" in body and body["api_version"] not in WEBHOOK_API_VERSIONS:
                raise invalid("api_version", "is not included in the list")
            for key in ("target_url", "name", "challenge", "enabled", "api_version"):
                if key in body:
                    record[key] = body[key]
            if body.get("enabled"):
                record["_failures"] = 0
        self.emit_async("api_public/webhook_subscription/update", record)
        return record

    def delete_subscription(self, record_id: str) -> dict:
        with self.lock:
            record = self.get("api_public/webhook_subscriptions", record_id)
            del self.data["api_public/webhook_subscriptions"][record["id"]]
        self.emit_async("api_public/webhook_subscription/delete", record)
        return record

    # ---- webhook delivery (also the emit() test hook) ------------------------------------

    def emit(self, subscription_type: str, payload: dict, *, author_id: str | None = None,
             author_type: str | None = None) -> list[Delivery]:
        """POST ``payload`` (the bare resource, no envelope) to every enabled subscription of the type.

        Headers: ``x-factorial-wh-challenge: <the subscription's challenge>`` when it has one, and
        ``x-factorial-author-id`` / ``x-factorial-author-type`` when an author is given. Synchronous;
        returns the deliveries (also appended to ``self.deliveries``). A subscription whose
        deliveries fail ``webhook_max_failures`` times in a row is disabled.
        """
        with self.lock:
            targets = [copy.deepcopy(s) for s in self._sorted("api_public/webhook_subscriptions")
                       if s["type"] == subscription_type and s["enabled"]]
            body = json.dumps(public(payload, self.base_url)).encode()
        results = []
        for sub in targets:
            headers = {"Content-Type": "application/json", "User-Agent": "Factorial-Webhooks (sandbox)"}
            if sub.get("challenge"):
                headers["x-factorial-wh-challenge"] = sub["challenge"]
            if author_id:
                headers["x-factorial-author-id"] = str(author_id)
                headers["x-factorial-author-type"] = author_type or "employee"
            delivery = Delivery(sub["id"], subscription_type, sub["target_url"], headers, body, at=iso(self.now()))
            for _ in range(1 + self.webhook_immediate_retries):
                delivery.attempts += 1
                try:
                    request = urllib.request.Request(sub["target_url"], data=body, headers=headers, method="POST")
                    with urllib.request.urlopen(request, timeout=self.webhook_timeout) as response:
                        delivery.status, delivery.error = response.status, None
                except urllib.error.HTTPError as exc:
                    delivery.status, delivery.error = exc.code, f"HTTP {exc.code}"
                except (OSError, ValueError) as exc:
                    delivery.status, delivery.error = None, str(exc)
                if delivery.ok:
                    break
            with self.lock:
                stored = self.data["api_public/webhook_subscriptions"].get(sub["id"])
                if stored is not None:
                    stored["_failures"] = 0 if delivery.ok else stored.get("_failures", 0) + delivery.attempts
                    if stored["_failures"] >= self.webhook_max_failures:
                        stored["enabled"] = False
                self.deliveries.append(delivery)
            results.append(delivery)
        return results

    def emit_async(self, subscription_type: str, payload: dict) -> None:
        """Deliver in the background (used by API writes so a slow receiver never stalls the request)."""
        with self.lock:
            if not any(s["type"] == subscription_type and s["enabled"]
                       for s in self.data["api_public/webhook_subscriptions"].values()):
                return
            payload = copy.deepcopy(payload)
        threading.Thread(target=self.emit, args=(subscription_type, payload), daemon=True).start()

    # ---- summary -------------------------------------------------------------------------

    def summary(self) -> dict:
        with self.lock:
            return {"seed": self.seed, "company_id": self.company_id,
                    "counts": {name: len(records) for name, records in self.data.items()},
                    "api_versions": dict(self.api_versions), "refresh_count": self.refresh_count,
                    "requests": len(self.requests), "deliveries": len(self.deliveries),
                    "faults": self.faults.describe(), "strict_limit": self.strict_limit,
                    "post_rate_limit": self.post_rate_limit, "oauth_clients": sorted(self.oauth_clients)}


# --------------------------------------------------------------------------------------------
# Record builders shared with the seed


def tax_line(base_cents: int, percentage: float, tax_type: dict) -> dict:
    return {"amount_cents": round(base_cents * percentage / 100), "percentage": percentage,
            "base_amount_cents": base_cents, "type": tax_type["type"], "tax_type_id": tax_type["id"],
            "tax_type_name": tax_type["name"], "tax_rates": [{"percentage": percentage}]}


def normalise_tax(tax, index: int) -> dict:
    if not isinstance(tax, dict):
        raise invalid(f"taxes[{index}]", "must be an object")
    if tax.get("type") not in (None, *TAX_TYPE_TYPES):
        raise invalid(f"taxes[{index}].type", "is not included in the list")
    return {k: tax.get(k) for k in ("amount_cents", "percentage", "base_amount_cents", "type", "tax_type_id",
                                    "tax_type_name")} | {"tax_rates": tax.get("tax_rates") or []}


def empty_document() -> dict:
    keys = ("status", "taxes", "document_type", "net_amount_cents", "total_amount_cents", "document_number",
            "currency", "due_date", "document_date", "legal_entity_id", "vendor_id", "file", "fully_reconciled_at",
            "recorded_at", "duplicate_financial_document_id", "validated_at", "validated_by_id",
            "parent_financial_document_id", "taxes_total_amount_cents")
    record = {k: None for k in keys}
    for side in ("issuer", "recipient"):
        for suffix in ("name", "address_line_1", "address_line_2", "city", "postal_code", "state", "country_code",
                       "tax_id"):
            record[f"{side}_{suffix}"] = None
    return record


# --------------------------------------------------------------------------------------------
# List filters, one per resource, as the SDK's list endpoints document them


def _ids_filter(items, values, key="id"):
    if values is None:
        return items
    wanted = {str(v) for v in values}
    return [r for r in items if str(r.get(key)) in wanted]


def _common(state, items, q: Query, arrays: dict[str, str] = {}, scalars: dict[str, str] = {}):  # noqa: B006
    items = _ids_filter(items, q.many("ids"))
    for param, key in arrays.items():
        items = _ids_filter(items, q.many(param), key)
    for param, key in scalars.items():
        value = q.one(param)
        if value not in (None, ""):
            items = [r for r in items if str(r.get(key)) == value]
    return items


def _contacts(state, items, q: Query):
    items = _common(state, items, q, arrays={"tax_ids": "tax_id"},
                    scalars={"website": "website", "email": "email", "phone_number": "phone_number"})
    contact_type = q.one("contact_type") or "vendor"  # "Type of the contact (defaults to Vendor)"
    if contact_type not in ("vendor", "client"):
        raise bad_request("contact_type", "is not included in the list")
    items = [r for r in items if r.get("_contact_type", "vendor") == contact_type]
    if q.one("legal_name"):
        needle = q.one("legal_name").lower()
        items = [r for r in items if needle in (r.get("legal_name") or "").lower()]
    if q.one("name"):
        items = [r for r in items if (r.get("name") or "").lower() == q.one("name").lower()]
    return items


def _documents(state, items, q: Query):
    if q.one("company_id"):
        state._check_company(q.one("company_id"))
    items = _common(state, items, q, arrays={"legal_entity_ids": "legal_entity_id", "statuses": "status",
                                             "document_types": "document_type"},
                    scalars={"vendor_id": "vendor_id", "currency": "currency"})
    return items


def _expenses(state, items, q: Query):
    items = _common(state, items, q, arrays={"expenses_expensable_ids": "expenses_expensable_id",
                                             "employee_ids": "employee_id",
                                             "external_authorization_ids": "external_authorization_id",
                                             "card_ids": "expenses_card_id", "card_payment_ids": "card_payment_id",
                                             "dispute_ids": "dispute_id"})
    if not as_bool(q.one("include_manual_drafts")):
        items = [r for r in items if not (r["status"] == "draft" and r["creation_type"] == "manual")]
    start, end = q.one("from"), q.one("to")
    if start and end:  # "It only takes effect together with `to`"; `to` is exclusive here
        try:
            lo, hi = parse_iso(start).date(), parse_iso(end).date()
        except ValueError:
            raise bad_request("from", "is not a valid ISO 8601 date") from None
        items = [r for r in items if lo <= dt.date.fromisoformat(r["effective_on"]) < hi]
    if not as_bool(q.one("include_attachments")):
        items = [dict(r, files=[]) for r in items]
    return items


def _expensables(state, items, q: Query):
    items = _common(state, items, q, arrays={"group_ids": "group_id", "status": "status"})
    if q.one("company_id") and q.one("company_id") != state.company_id:
        items = []
    employees, reporters = q.many("employee_ids"), q.many("reporter_ids")
    if employees is not None or reporters is not None:  # OR'ed, not intersected
        wanted_e, wanted_r = set(employees or ()), set(reporters or ())
        items = [r for r in items if r.get("employee_id") in wanted_e or r.get("reporter_id") in wanted_r]
    creation = q.many("creation_type")
    if creation is not None:
        if any(c not in ("manual", "automatic") for c in creation):
            return []  # "any other string makes the read return nothing at all"
        items = [r for r in items if r.get("_creation_type") in creation]
    if not as_bool(q.one("include_manual_drafts")):
        items = [r for r in items if not (r["status"] == "draft" and r.get("_creation_type") == "manual")]
    start, end = q.one("from"), q.one("to")
    if start and end:  # both inclusive on expensables
        try:
            lo, hi = parse_iso(start).date(), parse_iso(end).date()
        except ValueError:
            raise bad_request("from", "is not a valid ISO 8601 date") from None
        items = [r for r in items if r.get("effective_on") and lo <= dt.date.fromisoformat(r["effective_on"]) <= hi]
    if q.one("search"):
        needle = q.one("search").lower()
        items = [r for r in items if needle in (r.get("description") or "").lower()]
    return items


def _cost_centers(state, items, q: Query):
    items = _common(state, items, q, arrays={"legal_entity_ids": "legal_entity_id"},
                    scalars={"company_id": "company_id"})
    if q.one("search"):
        needle = q.one("search").lower()
        items = [r for r in items if needle in (r.get("name") or "").lower() or needle in (r.get("code") or "").lower()]
    return items


def _subscriptions(state, items, q: Query):
    items = _common(state, items, q, scalars={"id": "id", "company_id": "company_id", "type": "type"})
    if q.one("enabled") is not None:
        items = [r for r in items if r["enabled"] == as_bool(q.one("enabled"))]
    return items


LIST_FILTERS: dict[str, Callable] = {
    "finance/accounts": lambda s, i, q: _common(
        s, i, q, arrays={"legal_entity_ids": "legal_entity_id", "types": "type"}, scalars={"number": "number"}),
    "finance/contacts": _contacts,
    "finance/financial_documents": _documents,
    "finance/tax_rates": lambda s, i, q: _common(s, i, q, arrays={"tax_type_ids": "tax_type_id"}),
    "finance/tax_types": lambda s, i, q: _common(s, i, q, scalars={"country_code": "country_code", "type": "type"}),
    "finance/cost_centers": _cost_centers,
    "finance/journal_entries": lambda s, i, q: _common(
        s, i, q, arrays={"legal_entity_ids": "legal_entity_id", "source_ids": "source_id", "types": "type"},
        scalars={"source_type": "source_type", "status": "status"}),
    "finance/journal_lines": lambda s, i, q: _common(
        s, i, q, arrays={"journal_entry_ids": "journal_entry_id", "account_ids": "account_id"}),
    "expenses/expenses": _expenses,
    "expenses/expensables": _expensables,
    "api_public/webhook_subscriptions": _subscriptions,
    "project_management/projects": lambda s, i, q: _common(s, i, q, scalars={"legal_entity_id": "legal_entity_id"}),
    "companies/legal_entities": lambda s, i, q: _common(s, i, q),
}
# Lists whose SDK signature has updated_from (expenses and expensables have none: from/to only).
UPDATED_FROM_RESOURCES = frozenset({"finance/accounts", "finance/contacts", "finance/financial_documents",
                                    "finance/tax_rates", "finance/tax_types", "finance/journal_entries",
                                    "finance/journal_lines"})
