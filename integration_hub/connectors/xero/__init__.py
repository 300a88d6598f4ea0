"""Xero as an accounting target: invoices, bills and credit notes booked as Xero documents."""
