"""Errors raised by the provisioning engine, with messages an operator can read as they are.

Every error a provisioning job may see derives from ProvisioningError, so a job can catch
that one class, record `str(error)` for the user, and keep any `log_tail` for the details.
"""

from __future__ import annotations


class ProvisioningError(Exception):
    """Provisioning failed; `str(error)` is a user-facing English sentence."""

    def __init__(self, message: str, *, log_tail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.log_tail = log_tail


class EngineUnavailable(ProvisioningError):
    """The container engine could not be reached (not running, socket missing, timed out)."""

    def __init__(self, detail: str = "") -> None:
        message = "The container engine is not reachable; no change was made. Try again later."
        super().__init__(message)
        self.detail = detail


class ImageBuildError(ProvisioningError):
    """The app's image could not be built or loaded; `log_tail` holds the last build lines."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message, log_tail=log_tail)


class UnhealthyError(ProvisioningError):
    """The app started but did not answer its health check in time; `log_tail` holds the
    container's last log lines."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message, log_tail=log_tail)


class ContainerNotFound(ProvisioningError):
    """The installation has no container (for operations that need one, such as start)."""
