"""The one error the PACS link raises: one clear sentence per fault, never a traceback or a secret."""

from __future__ import annotations

#: What went wrong, for callers that react differently (the GUI asks for credentials on "auth").
KINDS = ("config", "down", "timeout", "auth", "forbidden", "not_found", "server", "bad_reply", "tls")


class PacsError(Exception):
    """A PACS request failed; ``str(exc)`` is fit to show a user as it is."""

    def __init__(self, message: str, kind: str = "bad_reply") -> None:
        super().__init__(message)
        self.kind = kind if kind in KINDS else "bad_reply"
