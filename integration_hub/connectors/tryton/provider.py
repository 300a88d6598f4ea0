from integration_hub.connectors.base import AuthKind, CredentialField, ProviderDescriptor, Role

PROVIDER = ProviderDescriptor(
    key="tryton",
    name="Tryton",
    description="Open-source ERP: its accounting as a target, its customer and supplier invoices as a source.",
    roles=frozenset({Role.SOURCE, Role.TARGET}),
    auth_kinds=(AuthKind.CREDENTIALS,),
    connector_path="integration_hub.connectors.tryton.connector.TrytonConnector",
    credential_fields={
        AuthKind.CREDENTIALS: (
            CredentialField("url", "Server URL", kind="url", help_text="e.g. https://erp.example.com"),
            CredentialField("database", "Database"),
            CredentialField("username", "User name"),
            CredentialField("password", "Password", secret=True, kind="password"),
        ),
    },
    # "erp_documents": its sales, purchases and products are read by document flows (connectors/tryton/erp.py).
    features=frozenset({"invoices", "journal_entries", "attachments", "drafts", "partners", "master_data_source",
                        "erp_documents"}),
)
