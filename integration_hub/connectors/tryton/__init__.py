"""Tryton (JSON-RPC over HTTP): accounting target and invoicing source."""
