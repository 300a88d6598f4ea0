from integration_hub.connectors.base import AuthKind, CredentialField, ProviderDescriptor, Role

BASE_URL = CredentialField("base_url", "API address", kind="url", initial="https://api.factorialhr.com",
                           help_text="https://api.factorialhr.com, or the address of a Factorial sandbox.")

PROVIDER = ProviderDescriptor(
    key="factorial",
    name="Factorial",
    description="Expenses and financial documents (invoices, receipts, credit notes) to post in accounting; "
                "the accounting side's ledger accounts and contacts pushed back with their external id.",
    roles=frozenset({Role.SOURCE}),
    auth_kinds=(AuthKind.OAUTH2, AuthKind.API_KEY),
    connector_path="integration_hub.connectors.factorial.connector.FactorialConnector",
    credential_fields={
        AuthKind.API_KEY: (BASE_URL, CredentialField("api_key", "API key", secret=True, kind="password")),
        AuthKind.OAUTH2: (BASE_URL,),
    },
    features=frozenset({"invoices", "expenses", "attachments", "partners", "master_data_target", "webhooks"}),
)
