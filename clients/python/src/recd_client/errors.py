"""What a call raises besides returning: the daemon's error replies as
:class:`RecdError` (one subclass per code of docs/protocol.md), and
:class:`TransportError` when the daemon could not be reached or its answer
could not be read.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Type

from .types import JobStatus


class TransportError(Exception):
    """The daemon could not be reached, the connection broke mid-call, or
    what came back was not a reply (``status`` is the HTTP status, if any)."""

    def __init__(self, message: str, status: Optional[int] = None):
        super().__init__(message)
        self.status = status


class RecdError(Exception):
    """An error reply: ``code`` as in docs/protocol.md, ``message`` for a
    human, ``data`` the error's details (or None). Over HTTP, ``status`` is
    the response's status code."""

    code: str = ""

    def __init__(
        self,
        code: str,
        message: str,
        data: Any = None,
        status: Optional[int] = None,
    ):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.data = data
        self.status = status


_BY_CODE: Dict[str, Type[RecdError]] = {}


def _code(code: str):
    def register(cls: Type[RecdError]) -> Type[RecdError]:
        cls.code = code
        _BY_CODE[code] = cls
        return cls

    return register


@_code("parse_error")
class ParseError(RecdError):
    pass


@_code("invalid_request")
class InvalidRequest(RecdError):
    pass


@_code("line_too_long")
class LineTooLong(RecdError):
    pass


@_code("unknown_method")
class UnknownMethod(RecdError):
    @property
    def methods(self) -> Optional[list]:
        """The methods the daemon knows."""
        return self.data.get("methods") if isinstance(self.data, dict) else None


@_code("invalid_params")
class InvalidParams(RecdError):
    pass


@_code("unknown_user")
class UnknownUser(RecdError):
    pass


@_code("unknown_movie")
class UnknownMovie(RecdError):
    pass


@_code("invalid_rating")
class InvalidRating(RecdError):
    pass


@_code("invalid_user")
class InvalidUser(RecdError):
    pass


@_code("db_unavailable")
class DbUnavailable(RecdError):
    pass


@_code("no_model")
class NoModel(RecdError):
    pass


@_code("busy")
class Busy(RecdError):
    @property
    def job(self) -> Optional[int]:
        """The running job's id (None while that run is being recorded)."""
        return self.data.get("job") if isinstance(self.data, dict) else None


@_code("unknown_job")
class UnknownJob(RecdError):
    pass


@_code("unknown_version")
class UnknownVersion(RecdError):
    @property
    def versions(self) -> Optional[list]:
        """The versions on disk."""
        return self.data.get("versions") if isinstance(self.data, dict) else None


@_code("reload_failed")
class ReloadFailed(RecdError):
    pass


@_code("train_failed")
class TrainFailed(RecdError):
    @property
    def job(self) -> Optional[JobStatus]:
        """The job's status; its ``state`` says whether it was
        ``rejected``, ``failed`` or ``cancelled``."""
        return JobStatus.from_dict(self.data) if isinstance(self.data, dict) else None


@_code("permission_denied")
class PermissionDenied(RecdError):
    pass


@_code("unauthorized")
class Unauthorized(RecdError):
    """HTTP only: no token, or a wrong one."""


@_code("body_too_large")
class BodyTooLarge(RecdError):
    """HTTP only: a request body past its limit."""


@_code("base_dataset_user")
class BaseDatasetUser(RecdError):
    """``forget`` of a user of the base dataset (``ml:...``)."""


@_code("unsupported")
class Unsupported(RecdError):
    """The method does not apply to this daemon (``backup`` of PostgreSQL)."""


@_code("shutting_down")
class ShuttingDown(RecdError):
    pass


@_code("too_many_connections")
class TooManyConnections(RecdError):
    pass


@_code("internal")
class Internal(RecdError):
    pass


def from_reply(error: Any, status: Optional[int] = None) -> RecdError:
    """The exception for a reply's ``error`` object; a code this client
    does not know is a plain :class:`RecdError`."""
    if not isinstance(error, dict) or not isinstance(error.get("code"), str):
        raise TransportError(f"recd sent an error that is not one: {error!r}", status)
    code = error["code"]
    cls = _BY_CODE.get(code, RecdError)
    return cls(code, str(error.get("message", "")), error.get("data"), status)
