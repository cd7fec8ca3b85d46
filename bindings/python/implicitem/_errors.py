"""The package's one exception type and the one helper that checks every status."""

from __future__ import annotations

from typing import Optional


class ImplicitEMError(ValueError):
    """A failure reported by libimplicitem (or caught by the binding before calling it).

    ``status`` is the library's ``ie_status`` number (an :class:`~implicitem.Status`),
    ``message`` the detail naming the argument (and the row, column and value where they apply).
    """

    def __init__(self, status: int, message: str) -> None:
        from ._prototypes import Status

        try:
            self.status = Status(status)
        except ValueError:  # a status newer than this package: keep the number
            self.status = status
        self.message = message
        name = self.status.name if isinstance(self.status, Status) else f"status {status}"
        super().__init__(f"{name}: {message}" if message else name)


def check_status(status: int, lib: Optional[object] = None) -> None:
    """Raise :class:`ImplicitEMError` with the library's message unless ``status`` is ``IE_OK``."""
    if status == 0:
        return
    message = ""
    if lib is None:
        from ._loader import library as lib
    detail = lib.ie_last_error_message()
    if detail:
        message = detail.decode("utf-8", "replace")
    if not message:
        message = lib.ie_status_string(status).decode("utf-8", "replace")
    raise ImplicitEMError(status, message)
