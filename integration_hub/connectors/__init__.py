"""The provider library: one package per external system, speaking the hub's unified types.

Nothing here imports the Django apps; connectors receive plain credentials and return
plain dataclasses.
"""
