"""A client of recd, the recommendation daemon, over its Unix socket or
its HTTP API, with the standard library alone.

>>> from recd_client import Client, UnknownUser
>>> with Client.unix("/run/recd/recd.sock") as recd:
...     for item in recd.recommend("app-42", n=5).items:
...         print(item.movie, item.title, item.score)

``client`` holds :class:`Client`, ``types`` the result dataclasses,
``errors`` the exceptions, ``transport`` the socket and HTTP transports.
"""

from .client import DEFAULT_SOCKET, Client
from .errors import (
    BaseDatasetUser,
    BodyTooLarge,
    Busy,
    DbUnavailable,
    Internal,
    InvalidParams,
    InvalidRating,
    InvalidRequest,
    InvalidUser,
    LineTooLong,
    NoModel,
    ParseError,
    PermissionDenied,
    RecdError,
    ReloadFailed,
    ShuttingDown,
    TooManyConnections,
    TrainFailed,
    TransportError,
    Unauthorized,
    UnknownJob,
    UnknownMethod,
    UnknownMovie,
    UnknownUser,
    UnknownVersion,
    Unsupported,
)
from .types import (
    Connections,
    DatabaseStats,
    Forgotten,
    Health,
    History,
    Imported,
    Item,
    JobCancelled,
    JobStatus,
    ModelInfo,
    Models,
    ModelVersion,
    Prediction,
    Progress,
    Rated,
    Recommendation,
    RejectedLine,
    Reloaded,
    Requests,
    RetrainCheck,
    RolledBack,
    Run,
    Schedule,
    SchedulePaused,
    SimilarItem,
    SimilarMovies,
    Stats,
    Unrated,
)

__version__ = "0.1.0"

__all__ = [name for name in dir() if not name.startswith("_")]
