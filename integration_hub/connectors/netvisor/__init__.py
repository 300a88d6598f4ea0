"""Netvisor (Visma's Finnish accounting service): its XML API client and documents.

``client.NetvisorClient`` signs and sends every call; ``xml`` builds the request documents and reads
the answers (defusedxml). The Netvisor sandbox (sandboxes/netvisor) stands in for the service in tests.
"""
from .client import NetvisorClient
from .xml import (CustomerData, Dimension, PurchaseInvoiceData, PurchaseInvoiceLineData, SalesInvoiceData,
                  SalesInvoiceLine, SalesPaymentData, VoucherData, VoucherLineData)

__all__ = ["NetvisorClient", "CustomerData", "Dimension", "PurchaseInvoiceData", "PurchaseInvoiceLineData",
           "SalesInvoiceData", "SalesInvoiceLine", "SalesPaymentData", "VoucherData", "VoucherLineData"]
