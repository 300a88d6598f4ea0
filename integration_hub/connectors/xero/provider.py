from integration_hub.connectors.base import AuthKind, CredentialField, ProviderDescriptor, Role

PROVIDER = ProviderDescriptor(
    key="xero",
    name="Xero",
    description="Accounting: sales invoices, bills and credit notes booked as Xero documents (draft or awaiting "
                "payment), contacts matched or created, files attached; one call budget per organisation.",
    roles=frozenset({Role.TARGET}),
    auth_kinds=(AuthKind.OAUTH2, AuthKind.CREDENTIALS),
    connector_path="integration_hub.connectors.xero.connector.XeroConnector",
    credential_fields={
        # No address: Xero's are the hub's settings (HUB_XERO_*_URL), never a tenant's.
        AuthKind.OAUTH2: (),
        # A custom connection (one organisation, client credentials grant), made in Xero's developer portal.
        AuthKind.CREDENTIALS: (
            CredentialField("client_id", "Client id of the custom connection"),
            CredentialField("client_secret", "Client secret", secret=True, kind="password"),
        ),
    },
    # No "journal_entries": Xero books documents, with no journal and its own receivable/payable accounts.
    features=frozenset({"documents", "attachments", "drafts", "partners", "tracking", "organisations",
                        "call_budget"}),
)
