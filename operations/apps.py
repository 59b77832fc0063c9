from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """The server's upkeep: its health check, backups and restores."""

    name = "operations"
    verbose_name = "Operations"
