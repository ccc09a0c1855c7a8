"""The client: one method per recd method, the same over both transports.

Each method sends only the params it was given (None means "the daemon's
default") and returns the result as its dataclass from :mod:`.types`.
"""

from __future__ import annotations

import io
import os
from typing import Any, Callable, Dict, Optional, Union

from .transport import Body, HttpTransport, UnixTransport
from .types import (
    Forgotten,
    Health,
    History,
    Imported,
    JobCancelled,
    JobStatus,
    Models,
    Prediction,
    Progress,
    Rated,
    Recommendation,
    Reloaded,
    RetrainCheck,
    RolledBack,
    Schedule,
    SchedulePaused,
    SimilarMovies,
    Stats,
    Unrated,
)

DEFAULT_SOCKET = "/run/recd/recd.sock"
DEFAULT_TIMEOUT = 30.0


def _params(**given: Any) -> Dict[str, Any]:
    return {k: v for k, v in given.items() if v is not None}


class Client:
    """A connection to recd. Make one with :meth:`unix` or :meth:`http`.

    Calls on one client are sent one at a time (a lock guards the
    connection), so a client may be shared between threads, which then
    wait for each other; give each thread its own client for parallel
    calls. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, transport: Union[UnixTransport, HttpTransport]):
        self.transport = transport

    @classmethod
    def unix(cls, path: str = DEFAULT_SOCKET, timeout: Optional[float] = DEFAULT_TIMEOUT) -> "Client":
        """The daemon's Unix socket (``daemon.socket`` in its config).
        ``timeout`` bounds connecting and each wait for the daemon's next
        bytes, not a whole call: a retrain sends a progress line per epoch."""
        return cls(UnixTransport(os.fspath(path), timeout))

    @classmethod
    def http(
        cls,
        base_url: str,
        token: Optional[str] = None,
        cafile: Optional[str] = None,
        timeout: Optional[float] = DEFAULT_TIMEOUT,
    ) -> "Client":
        """The daemon's HTTP API at ``base_url`` (``http://host:port`` or
        ``https://...``; a path prefix is kept). ``token`` is sent as
        ``Authorization: Bearer``; ``cafile`` verifies a self-signed
        certificate."""
        return cls(HttpTransport(base_url, token, os.fspath(cafile) if cafile else None, timeout))

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def call(self, method: str, **params: Any) -> Any:
        """Any method by its protocol name (``"retrain.check"``), the
        params as keywords; the result as plain JSON."""
        return self.transport.call(method, params)

    # Queries.

    def recommend(self, user: str, n: Optional[int] = None) -> Recommendation:
        return Recommendation.from_dict(self.call("recommend", **_params(user=user, n=n)))

    def predict(self, user: str, movie: int) -> Prediction:
        return Prediction.from_dict(self.call("predict", user=user, movie=movie))

    def similar(self, movie: int, n: Optional[int] = None) -> SimilarMovies:
        return SimilarMovies.from_dict(self.call("similar", **_params(movie=movie, n=n)))

    # Ratings.

    def rate(self, user: str, movie: int, rating: float) -> Rated:
        return Rated.from_dict(self.call("rate", user=user, movie=movie, rating=rating))

    def unrate(self, user: str, movie: int) -> Unrated:
        return Unrated.from_dict(self.call("unrate", user=user, movie=movie))

    def forget(self, user: str) -> Forgotten:
        """Erase a user and their ratings."""
        return Forgotten.from_dict(self.call("forget", user=user))

    def import_file(self, path: Union[str, os.PathLike], name: Optional[str] = None) -> Imported:
        """Send a ratings file (CSV ``user,movie,rating[,timestamp]``, or
        MovieLens ``::`` or tab-separated) to be imported; the daemon never
        opens a path itself. ``name`` defaults to the file's name."""
        path = os.fspath(path)
        size = os.stat(path).st_size
        body = Body(size, lambda: open(path, "rb"))
        return self._import(body, name if name is not None else os.path.basename(path))

    def import_bytes(self, data: bytes, name: Optional[str] = None) -> Imported:
        """As :meth:`import_file`, for ratings already in memory."""
        data = bytes(data)
        return self._import(Body(len(data), lambda: io.BytesIO(data)), name)

    def _import(self, body: Body, name: Optional[str]) -> Imported:
        params = _params(bytes=body.size, name=name)
        return Imported.from_dict(self.transport.call("import", params, body=body))

    # Training.

    def retrain(self, on_progress: Optional[Callable[[Progress], None]] = None, **params: Any) -> JobStatus:
        """Train and publish a model; returns the job's status once a
        published model serves (or the run was ``skipped``). ``params`` as
        the flags of ``recd train``: ``factors``, ``epochs``, ``lr``,
        ``reg``, ``init_std_dev``, ``threads``, ``seed``, ``min_ratings``,
        ``no_backup``, ``force``. ``on_progress`` gets each
        :class:`Progress` line. A rejected, failed or cancelled run raises
        :class:`TrainFailed`, whose ``job`` is its status."""
        forward = None
        if on_progress is not None:

            def forward(p: Dict[str, Any]) -> None:
                on_progress(Progress.from_dict(p))

        result = self.transport.call("retrain", _params(**params), on_progress=forward)
        return JobStatus.from_dict(result)

    def retrain_check(self, min_ratings: Optional[int] = None) -> RetrainCheck:
        return RetrainCheck.from_dict(self.call("retrain.check", **_params(min_ratings=min_ratings)))

    def job_status(self, job: Optional[int] = None) -> JobStatus:
        """A job's status; the newest run's by default."""
        return JobStatus.from_dict(self.call("job.status", **_params(job=job)))

    def job_cancel(self, job: Optional[int] = None) -> JobCancelled:
        """Cancel a job of this daemon's life; the running one by default."""
        return JobCancelled.from_dict(self.call("job.cancel", **_params(job=job)))

    def history(
        self,
        limit: Optional[int] = None,
        status: Optional[str] = None,
        trigger: Optional[str] = None,
    ) -> History:
        params = _params(limit=limit, status=status, trigger=trigger)
        return History.from_dict(self.call("history", **params))

    def schedule(self, next: Optional[int] = None) -> Schedule:
        """The schedule; ``next``: how many run times to list."""
        return Schedule.from_dict(self.call("schedule", **_params(next=next)))

    def schedule_pause(self) -> SchedulePaused:
        return SchedulePaused.from_dict(self.call("schedule.pause"))

    def schedule_resume(self) -> SchedulePaused:
        return SchedulePaused.from_dict(self.call("schedule.resume"))

    # Models and the daemon.

    def health(self) -> Health:
        return Health.from_dict(self.call("health"))

    def stats(self) -> Stats:
        return Stats.from_dict(self.call("stats"))

    def models(self) -> Models:
        return Models.from_dict(self.call("models"))

    def reload(self) -> Reloaded:
        return Reloaded.from_dict(self.call("reload"))

    def rollback(self, version: str) -> RolledBack:
        return RolledBack.from_dict(self.call("rollback", version=version))
