"""Factorial (HR, expenses and finance): expenses and financial documents as a source; ledger
accounts and contacts pushed from the accounting side (the ERP is the source of truth)."""
