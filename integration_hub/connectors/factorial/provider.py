from integration_hub.connectors.base import AuthKind, CredentialField, ProviderDescriptor, Role

PROVIDER = ProviderDescriptor(
    key="factorial",
    name="Factorial",
    description="Expenses and financial documents (invoices, receipts, credit notes) to post in accounting; "
                "the accounting side's ledger accounts and contacts pushed back with their external id.",
    roles=frozenset({Role.SOURCE}),
    auth_kinds=(AuthKind.OAUTH2, AuthKind.API_KEY),
    connector_path="integration_hub.connectors.factorial.connector.FactorialConnector",
    credential_fields={
        # No address: Factorial's is the hub's setting HUB_FACTORIAL_BASE_URL, never a tenant's.
        AuthKind.API_KEY: (CredentialField("api_key", "API key", secret=True, kind="password"),),
        AuthKind.OAUTH2: (),
    },
    features=frozenset({"invoices", "expenses", "attachments", "partners", "master_data_target", "webhooks"}),
)
