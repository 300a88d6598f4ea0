"""Netvisor's descriptor: what a tenant types to connect it and what the hub can do with it.

The hub is Netvisor's integration partner: the partner id and key and the sender name are the operator's
settings (HUB_NETVISOR_PARTNER_ID, HUB_NETVISOR_PARTNER_KEY, HUB_NETVISOR_SENDER), like the API address
(HUB_NETVISOR_API_URL). A tenant types only what Netvisor gives the company for this integration.
"""
from integration_hub.connectors.base import AuthKind, CredentialField, ProviderDescriptor, Role

PROVIDER = ProviderDescriptor(
    key="netvisor",
    name="Netvisor",
    description="Finnish accounting (Visma Netvisor): entries booked as sales or purchase invoices or as vouchers "
                "with VAT codes and dimensions, customers matched or created, invoice statuses followed, payments "
                "booked against the invoices with their interest and collection fees.",
    roles=frozenset({Role.TARGET}),
    auth_kinds=(AuthKind.CREDENTIALS,),
    connector_path="integration_hub.connectors.netvisor.connector.NetvisorConnector",
    credential_fields={
        AuthKind.CREDENTIALS: (
            CredentialField("customer_id", "Customer id (käyttäjätunnus)",
                            help_text="Netvisor: Management > Software interface (API) > the hub's integration"),
            CredentialField("customer_key", "Customer key", secret=True, kind="password"),
            CredentialField("organisation_id", "Business id (Y-tunnus) of the company",
                            help_text="e.g. 1234567-8"),
            CredentialField("product_code", "Product code for invoice lines", required=False,
                            help_text="The Netvisor product every invoice line refers to (each line keeps its own "
                                      "account, VAT and text). Empty: the first product Netvisor lists."),
        ),
    },
    features=frozenset({"journal_entries", "partners", "status_monitoring", "payments", "dimensions",
                        "call_budget"}),
)
