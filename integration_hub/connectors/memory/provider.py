from integration_hub.connectors.base import AuthKind, CredentialField, ProviderDescriptor, Role

PROVIDER = ProviderDescriptor(
    key="memory",
    name="In-memory books (tests)",
    description="An invoicing tool and an accounting tool living inside the hub's process. For tests only.",
    roles=frozenset({Role.SOURCE, Role.TARGET}),
    auth_kinds=(AuthKind.API_KEY,),
    connector_path="integration_hub.connectors.memory.connector.MemoryConnector",
    credential_fields={AuthKind.API_KEY: (CredentialField("store", "Store name"),
                                          CredentialField("api_key", "API key", secret=True))},
    features=frozenset({"invoices", "journal_entries", "attachments", "drafts", "partners"}),
)

# The same books, followed after submission like Netvisor or Procountor ("status_monitoring"): what the target says
# of each entry is the store's `statuses` (tests of syncs/monitoring.py). Enabled in the tests' settings only.
MONITORED_PROVIDER = ProviderDescriptor(
    key="memory_monitored",
    name="In-memory books with status monitoring (tests)",
    description="The in-memory accounting tool, telling where each entry stands after it was received.",
    roles=frozenset({Role.TARGET}),
    auth_kinds=(AuthKind.API_KEY,),
    connector_path="integration_hub.connectors.memory.connector.MemoryConnector",
    credential_fields=PROVIDER.credential_fields,
    features=PROVIDER.features | {"status_monitoring"},
)
