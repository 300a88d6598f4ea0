"""The accounting integration hub: a Django project that keeps invoicing and accounting tools in sync."""
