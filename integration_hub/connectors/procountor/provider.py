"""Procountor's descriptor: a Finnish accounting target that a tenant connects with the company's API key."""
from integration_hub.connectors.base import AuthKind, CredentialField, ProviderDescriptor, Role

PROVIDER = ProviderDescriptor(
    key="procountor",
    name="Procountor",
    description="Finnish accounting: entries booked as Procountor sales or purchase invoices (followed for status "
                "and payments) or as ledger receipts with accounts, VAT and dimensions; payments with interest "
                "and fees; business partners matched or created.",
    roles=frozenset({Role.TARGET}),
    auth_kinds=(AuthKind.CREDENTIALS,),
    connector_path="integration_hub.connectors.procountor.connector.ProcountorConnector",
    credential_fields={
        # The client id and secret are the hub's (it is the registered application): settings, never typed here.
        # The address too (HUB_PROCOUNTOR_API_URL).
        AuthKind.CREDENTIALS: (
            CredentialField("api_key", "API key of the company", secret=True, kind="password",
                            help_text="Created in Procountor: Management > Company info > Usage settings > "
                                      "API keys, for the hub's application."),
            CredentialField("invoice_channel", "How Procountor sends the sales invoices it receives",
                            required=False, initial="NO_SENDING",
                            help_text="NO_SENDING (the invoicing tool already sent them), ELECTRONIC_INVOICE, "
                                      "EMAIL or MAIL."),
        ),
    },
    features=frozenset({"journal_entries", "partners", "status_monitoring", "payments", "attachments", "drafts",
                        "dimensions", "call_budget"}),
)
