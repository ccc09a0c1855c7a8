"""The results of recd's methods, one dataclass each, as docs/protocol.md
lists their fields.

Every class is built by ``from_dict`` from the reply's JSON. A field the
daemon left out is None; a field this version of the client does not know
(one a newer daemon added) lands in ``extra``, so an upgrade of the daemon
never breaks a caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Optional


class Record:
    """The base of every result: building from JSON, unknown keys kept."""

    # Field name -> a Record class (one object) or [class] (a list of them).
    _nested: Dict[str, Any] = {}

    @classmethod
    def from_dict(cls, data: Optional[Dict[str, Any]]):
        if data is None:
            return None
        if not isinstance(data, dict):
            raise TypeError(f"{cls.__name__}: expected a JSON object, got {data!r}")
        names = [f.name for f in fields(cls) if f.name != "extra"]
        values = {name: data.get(name) for name in names}
        for name, kind in cls._nested.items():
            value = values.get(name)
            if value is None:
                continue
            if isinstance(kind, list):
                values[name] = [kind[0].from_dict(v) for v in value]
            else:
                values[name] = kind.from_dict(value)
        extra = {k: v for k, v in data.items() if k not in values}
        return cls(**values, extra=extra)


def _extra() -> Any:
    return field(default_factory=dict, repr=False, compare=False)


@dataclass
class Item(Record):
    """A recommended movie; ``score`` is the predicted rating."""

    movie: int
    title: str
    score: float
    extra: Dict[str, Any] = _extra()


@dataclass
class Recommendation(Record):
    """``recommend``: ``items`` best first; ``degraded`` says why the
    strategy was forced, when it was."""

    user: str
    model: str
    strategy: str
    items: List[Item]
    degraded: Optional[str] = None
    extra: Dict[str, Any] = _extra()

    _nested = {"items": [Item]}


@dataclass
class Prediction(Record):
    """``predict``."""

    user: str
    movie: int
    title: str
    rating: float
    model: str
    strategy: str
    degraded: Optional[str] = None
    #: The posterior standard deviation of ``rating``, where the model gives
    #: one (a ``bayes_svdpp`` model, a user in it).
    std_dev: Optional[float] = None
    extra: Dict[str, Any] = _extra()


@dataclass
class SimilarItem(Record):
    movie: int
    title: str
    similarity: float
    extra: Dict[str, Any] = _extra()


@dataclass
class SimilarMovies(Record):
    """``similar``: the movie asked about and the movies most like it."""

    movie: int
    title: str
    model: str
    items: List[SimilarItem]
    extra: Dict[str, Any] = _extra()

    _nested = {"items": [SimilarItem]}


@dataclass
class Rated(Record):
    """``rate``: ``seq`` only grows, so a re-rating is newer than all before it."""

    user: str
    movie: int
    rating: float
    seq: int
    extra: Dict[str, Any] = _extra()


@dataclass
class Unrated(Record):
    """``unrate``: ``removed`` is False when there was no rating."""

    user: str
    movie: int
    removed: bool
    extra: Dict[str, Any] = _extra()


@dataclass
class Forgotten(Record):
    """``forget``: the user erased, how many of their ratings were deleted,
    the erasure's id and time; anything newer is in ``extra``."""

    user: Optional[str] = None
    deleted: Optional[int] = None
    erasure: Optional[int] = None
    erased_at: Optional[str] = None
    extra: Dict[str, Any] = _extra()


@dataclass
class RejectedLine(Record):
    """A line of an import that was refused, and why (an error code)."""

    line: int
    code: str
    reason: str
    extra: Dict[str, Any] = _extra()


@dataclass
class Imported(Record):
    """``import``: ``rejected`` holds the first 1,000 refused lines, all
    of them are counted in ``rejected_count``."""

    name: Optional[str]
    bytes: int
    accepted: int
    written: int
    rejected_count: int
    rejected: List[RejectedLine]
    seconds: float
    extra: Dict[str, Any] = _extra()

    _nested = {"rejected": [RejectedLine]}


@dataclass
class ModelInfo(Record):
    """A model as ``health`` and ``stats`` describe it."""

    version: str
    trained_at: str
    metrics: Optional[Dict[str, float]]
    counts: Dict[str, Any]
    params: Dict[str, Any]
    db_watermark: int
    users: int
    items: int
    factors: int
    dataset_users: Optional[int] = None
    extra: Dict[str, Any] = _extra()


@dataclass
class ModelVersion(Record):
    """One version in the models directory (``models``). An unreadable
    file has ``valid`` False, ``error`` set and no model fields."""

    version: str
    current: bool
    valid: bool
    error: Optional[str] = None
    bytes: Optional[int] = None
    trained_at: Optional[str] = None
    metrics: Optional[Dict[str, float]] = None
    counts: Optional[Dict[str, Any]] = None
    params: Optional[Dict[str, Any]] = None
    db_watermark: Optional[int] = None
    users: Optional[int] = None
    dataset_users: Optional[int] = None
    items: Optional[int] = None
    factors: Optional[int] = None
    extra: Dict[str, Any] = _extra()


@dataclass
class Models(Record):
    """``models``: ``versions`` newest first."""

    current: Optional[str]
    serving: Optional[str]
    versions: List[ModelVersion]
    extra: Dict[str, Any] = _extra()

    _nested = {"versions": [ModelVersion]}


@dataclass
class JobStatus(Record):
    """A retrain job: ``retrain``'s result and ``job_status``'s. ``state``
    is ``running``, then ``published``, ``skipped``, ``rejected``,
    ``failed`` or ``cancelled``; ``outcome`` is as ``recd train --json``."""

    id: int
    trigger: str
    state: str
    stage: Optional[str]
    epoch: int
    n_epochs: int
    train_rmse: Optional[float]
    started_at: str
    finished_at: Optional[str]
    seconds: float
    outcome: Optional[Dict[str, Any]]
    reason: Optional[str]
    starved: Optional[str] = None
    extra: Dict[str, Any] = _extra()


@dataclass
class Progress(Record):
    """One progress line of ``retrain``: a stage ``started`` or
    ``finished`` (``state``), or an epoch done (``epoch``, ``n_epochs``,
    ``train_rmse``)."""

    job: int
    stage: str
    state: Optional[str] = None
    seconds: Optional[float] = None
    detail: Optional[str] = None
    epoch: Optional[int] = None
    n_epochs: Optional[int] = None
    train_rmse: Optional[float] = None
    extra: Dict[str, Any] = _extra()


@dataclass
class JobCancelled(Record):
    """``job.cancel``: ``cancelled`` is False when the job had ended."""

    job: int
    cancelled: bool
    state: str
    extra: Dict[str, Any] = _extra()


@dataclass
class Run(Record):
    """A training run as ``history`` records it."""

    id: int
    trigger: str
    status: str
    started_at: str
    finished_at: Optional[str]
    seconds: Optional[float]
    params: Dict[str, Any]
    metrics: Optional[Dict[str, Any]]
    counts: Optional[Dict[str, Any]]
    new_ratings: Optional[int]
    watermark: int
    model_version: Optional[str]
    reason: Optional[str]
    extra: Dict[str, Any] = _extra()


@dataclass
class History(Record):
    """``history``: runs newest first."""

    runs: List[Run]
    extra: Dict[str, Any] = _extra()

    _nested = {"runs": [Run]}


@dataclass
class Health(Record):
    """``health``: ``status`` is ``ok``, ``degraded``, ``training``,
    ``downloading``, ``no_model`` or ``shutting_down``."""

    status: str
    uptime_seconds: float
    protocol_version: int
    recd_version: str
    model: Optional[ModelInfo]
    job: Optional[JobStatus]
    degraded: Optional[str] = None
    next_run: Optional[str] = None
    extra: Dict[str, Any] = _extra()

    _nested = {"model": ModelInfo, "job": JobStatus}


@dataclass
class Connections(Record):
    open: int
    total: int
    rejected: int
    extra: Dict[str, Any] = _extra()


@dataclass
class Requests(Record):
    total: int
    by_method: Dict[str, int]
    extra: Dict[str, Any] = _extra()


@dataclass
class DatabaseStats(Record):
    """The ratings database's part of ``stats``: the counts are None when
    it is not ``available`` (``error`` says why)."""

    backend: str
    target: str
    available: bool
    error: Optional[str] = None
    ratings: Optional[int] = None
    users: Optional[int] = None
    movies: Optional[int] = None
    catalogue: Optional[int] = None
    max_seq: Optional[int] = None
    watermark: Optional[int] = None
    since_watermark: Optional[int] = None
    last_run: Optional[Run] = None
    extra: Dict[str, Any] = _extra()

    _nested = {"last_run": Run}


@dataclass
class Stats(Record):
    """``stats``: ``errors`` counts error replies by code."""

    uptime_seconds: float
    connections: Connections
    requests: Requests
    errors: Dict[str, int]
    model: Optional[ModelInfo]
    database: DatabaseStats
    extra: Dict[str, Any] = _extra()

    _nested = {
        "connections": Connections,
        "requests": Requests,
        "model": ModelInfo,
        "database": DatabaseStats,
    }


@dataclass
class RetrainCheck(Record):
    """``retrain.check``: ``verdict`` is ``not_needed``, ``consider``,
    ``recommended`` or ``necessary``."""

    current_version: Optional[str]
    watermark: int
    new_ratings: int
    threshold: int
    verdict: str
    retrain: bool
    database: str
    extra: Dict[str, Any] = _extra()


@dataclass
class Schedule(Record):
    """``schedule``: the retraining schedule, its gates and how it went."""

    schedule: str
    expression: Optional[str]
    timezone: str
    next: List[str]
    next_local: List[str]
    paused: bool
    paused_at: Optional[str]
    min_new_ratings: int
    new_ratings: Optional[int]
    max_rmse_increase: float
    random_delay_secs: int
    catch_up: bool
    max_duration_secs: Optional[int]
    last_attempt: Optional[Run]
    last_success: Optional[Run]
    notifications: Dict[str, Any]
    extra: Dict[str, Any] = _extra()

    _nested = {"last_attempt": Run, "last_success": Run}


@dataclass
class SchedulePaused(Record):
    """``schedule.pause`` and ``schedule.resume``."""

    paused: bool
    changed: bool
    extra: Dict[str, Any] = _extra()


@dataclass
class Reloaded(Record):
    """``reload``: ``changed`` tells whether another version serves now."""

    version: str
    previous: Optional[str]
    changed: bool
    extra: Dict[str, Any] = _extra()


@dataclass
class RolledBack(Record):
    """``rollback``."""

    version: str
    previous: Optional[str]
    extra: Dict[str, Any] = _extra()
