"""Reference HTTP service for :class:`~serving.engine.DecisionEngine` (Starlette + uvicorn).

    graphdet serve artifacts/                      # what `graphdet train` wrote; 127.0.0.1:8025

Endpoints:

``POST /v1/decide``
    Chosen by ``Content-Type``: ``application/json`` is one message-log row (the columns of
    :data:`graphdet.messagelog.MESSAGE_SCHEMA`, validated by
    :func:`graphdet.ingest.tables.row_to_messages`, ``received_at`` as ISO 8601) or
    ``{"messages": [row, ...]}`` for a batch; ``message/rfc822`` or
    ``application/octet-stream`` is one raw RFC 5322 message. The answer is always
    ``{"decisions": [...]}``: one row may reach several tenants, so one request can give
    several decisions (in input order). A bad payload is a 400 ``{"error": "..."}`` naming
    the column and the message at fault, an unknown content type a 415; bad input never
    gives a 500.
``POST /v1/feedback``
    Late feedback, ``application/json``: ``{"message": row, "category": "bec"}`` with ``row``
    as for ``/v1/decide``. An attack category marks the message's recipients as attacked from
    its time on (:meth:`DecisionEngine.record_feedback`, the ``rcpt_attacked_before`` feature
    of later decisions); ``safe`` is accepted and changes nothing. The answer is
    ``{"recorded": n}``, the tenants whose state took it; bad input is a 400 as above.
``GET /healthz``
    The process is alive (200 even while the engine loads).
``GET /readyz``
    200 once the engine is loaded, with its versions and any degraded reasons; 503 with
    the reasons while it is not (still loading, load failed, shutting down).
``GET /metrics``
    Prometheus text format, from a registry owned by the app (never the global one).

Deciding is synchronous and CPU-bound, so it runs in Starlette's threadpool; the engine is
thread-safe. A background task calls :meth:`DecisionEngine.reload` every ``reload_seconds``
(hot swap: requests in flight finish on the old bundle).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
import pyarrow as pa
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from graphdet.exceptions import GraphdetError
from graphdet.ingest import RecordError
from graphdet.ingest.tables import row_to_messages
from graphdet.messagelog import MESSAGE_SCHEMA
from graphdet.schema import Category, Decision, Message, Verdict
from serving.engine import DecisionEngine, ServingConfig

__all__ = ["create_app", "decision_to_json", "serve"]

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_BATCH = 1000
_JSON_TYPES = ("application/json",)
_RAW_TYPES = ("message/rfc822", "application/octet-stream")
_LABEL_COLUMNS = ("category", "campaign_id", "label_source")  # accepted by row_to_messages, unused here
_COLUMNS = frozenset(MESSAGE_SCHEMA.names) | frozenset(_LABEL_COLUMNS)
_STRING_COLUMNS = tuple(f.name for f in MESSAGE_SCHEMA if pa.types.is_string(f.type)) + _LABEL_COLUMNS
_T = TypeVar("_T")
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _BadRequest(Exception):
    """A request the service cannot use; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400, kind: str = "bad_request") -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


def decision_to_json(d: Decision) -> dict[str, Any]:
    """A decision as a JSON object; NaN scores and contributions become ``null``."""
    return {
        "message_id": d.message_id,
        "tenant": d.tenant,
        "verdict": d.verdict.value,
        "category": d.category.value,
        "score": _finite(d.score),
        "reasons": list(d.reasons),
        "attribution": [{"feature": name, "contribution": _finite(c)} for name, c in d.attribution],
        "rule_hits": list(d.rule_hits),
        "degraded": d.degraded,
        "degraded_reason": d.degraded_reason,
        "versions": dict(d.versions),
    }


def _finite(x: float) -> float | None:
    return None if math.isnan(x) or math.isinf(x) else float(x)


# ---------------------------------------------------------------------------- metrics


class _Metrics:
    """The service's Prometheus collectors, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.decisions = Counter("graphdet_decisions", "Decisions returned, by verdict", ["verdict"],
                                 registry=self.registry)
        self.degraded = Counter("graphdet_degraded_decisions", "Decisions made in a degraded mode (or failed)",
                                registry=self.registry)
        self.latency = Histogram("graphdet_decide_seconds", "Wall time of one engine decide call (a whole batch)",
                                 ["kind"], buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.errors = Counter("graphdet_errors", "Requests answered with an error, by kind", ["kind"],
                              registry=self.registry)
        self.reloads = Counter("graphdet_reloads", "Hot swaps of the engine's artifacts", registry=self.registry)
        self.feedback = Counter("graphdet_feedback", "Feedback labels received, by category", ["category"],
                                registry=self.registry)
        # read from the engine at each scrape (0 while none is loaded): set by _build_app
        self.reloads_refused = Gauge("graphdet_reloads_refused", "Reloads that kept the running artifacts "
                                     "(the new ones broken or more degraded)", registry=self.registry)
        self.chronicle_failures = Gauge("graphdet_chronicle_failures", "Decisions the chronicle could not take "
                                        "(each logged)", registry=self.registry)
        self.chronicle_quarantined = Gauge("graphdet_chronicle_quarantined", "Chronicle lines set aside in "
                                           "quarantine-*.jsonl (unreadable or unstorable)", registry=self.registry)
        for v in Verdict:  # every series exists from the start, at 0
            self.decisions.labels(verdict=v.value)
        for kind in ("json", "raw"):
            self.latency.labels(kind=kind)
        for kind in ("bad_request", "unsupported_media_type", "payload_too_large", "not_ready", "internal"):
            self.errors.labels(kind=kind)


# ---------------------------------------------------------------------------- service state


@dataclass
class _Service:
    """What the routes share: the engine (None until loaded) and why it is not ready."""

    loader: Callable[[], DecisionEngine] | None
    engine: DecisionEngine | None
    owns_engine: bool
    reload_seconds: float | None
    metrics: _Metrics
    decide_threads: int
    not_ready: str = ""
    stopping: bool = False
    _limiter: anyio.CapacityLimiter | None = None

    async def run(self, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn(*args)`` in a worker thread, at most ``decide_threads`` at once: more threads than
        cores only fight over the GIL and the engine's lock (measured: p99 x20 at 16 in flight)."""
        if self._limiter is None:  # created lazily: it must belong to the running event loop
            self._limiter = anyio.CapacityLimiter(self.decide_threads)
        return await anyio.to_thread.run_sync(functools.partial(fn, *args), limiter=self._limiter)

    def unready(self) -> str:
        """Why requests cannot be served now ("" when they can)."""
        if self.stopping:
            return "shutting down"
        return "" if self.engine is not None else self.not_ready or "engine is loading"

    def load(self) -> None:
        """Load the engine (serve() only); a failure is kept as the not-ready reason."""
        if self.loader is None:
            raise RuntimeError("this app was given a loaded engine; it has nothing to load")
        try:
            self.engine = self.loader()
            self.not_ready = ""
            logger.info("engine loaded: versions %s, degraded %s", self.engine.versions, self.engine.degraded)
        except Exception as e:  # any failure is a not-ready reason, retried: never a dead loader
            self.not_ready = f"engine failed to load: {e}" if isinstance(e, (GraphdetError, OSError)) else \
                f"engine failed to load: {type(e).__name__}: {e}"
            logger.error("%s (retrying every %ss)", self.not_ready, self.reload_seconds,
                         exc_info=not isinstance(e, (GraphdetError, OSError)))


async def _background(service: _Service) -> None:
    """Load the engine if the app was not given one, then reload it every ``reload_seconds``."""
    if service.engine is None:
        await run_in_threadpool(service.load)  # never raises: a failure is the not-ready reason
    if not service.reload_seconds:
        return
    while True:
        await asyncio.sleep(service.reload_seconds)
        try:
            if service.engine is None:
                await run_in_threadpool(service.load)
            elif await run_in_threadpool(service.engine.reload):
                service.metrics.reloads.inc()
        except Exception:  # the reload loop must outlive any one failure
            logger.exception("reload of the engine failed; keeping the current one")


# ---------------------------------------------------------------------------- request parsing


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _row_messages(row: Any, where: str, engine: DecisionEngine) -> list[Message]:
    if not isinstance(row, dict):
        raise _BadRequest(f"{where}: expected a JSON object (a message-log row), got {type(row).__name__}")
    unknown = sorted(set(row) - _COLUMNS)
    if unknown:
        raise _BadRequest(f"{where}: unknown column(s) {unknown}; valid columns are {sorted(_COLUMNS)}")
    for column in _STRING_COLUMNS:
        value = row.get(column)
        if value is not None and not isinstance(value, str):
            raise _BadRequest(f"{where}: {column} must be a string, got {type(value).__name__} {value!r:.80}")
    if not isinstance(row.get("received_at"), str):
        raise _BadRequest(f"{where}: received_at must be an ISO 8601 string, got {row.get('received_at')!r:.80}")
    try:
        messages, _label = row_to_messages(row, engine.tenant_config)
    except RecordError as e:
        raise _BadRequest(f"{where}: {e}") from None
    except (TypeError, ValueError, KeyError, AttributeError) as e:  # a shape row_to_messages did not foresee
        raise _BadRequest(f"{where}: malformed message ({type(e).__name__}: {e})") from None
    return messages


def _unpaired_surrogate(payload: Any) -> str:
    """Where in ``payload`` a string holds a lone UTF-16 surrogate (JSON lets ``"\\ud800"``
    through; it is no text and no UTF-8), or ""."""
    stack: list[tuple[Any, str]] = [(payload, "body")]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    return where
        elif isinstance(value, dict):
            for k, v in value.items():
                stack.append((k, f"{where}: the key {k!a}"))
                stack.append((v, f"{where}.{ascii(k)[1:-1]}"))
        elif isinstance(value, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(value))
    return ""


def _loads(body: bytes) -> Any:
    """The JSON body, or a 400 naming what is wrong with it."""
    try:
        payload = json.loads(body)
    except RecursionError:
        raise _BadRequest("body is not valid JSON (nested too deeply)") from None
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
        raise _BadRequest(f"body is not valid JSON ({e})") from None
    where = _unpaired_surrogate(payload)
    if where:
        raise _BadRequest(f"{where}: a string holds an unpaired UTF-16 surrogate (an escape like \\ud800 "
                          "without its pair), which is not text")
    return payload


def _json_messages(body: bytes, engine: DecisionEngine) -> list[Message]:
    payload = _loads(body)
    if isinstance(payload, dict) and "messages" in payload:
        if set(payload) != {"messages"}:
            extra = sorted(set(payload) - {"messages"})
            raise _BadRequest(f'a batch is {{"messages": [...]}} and nothing else; unexpected keys {extra}')
        rows = payload["messages"]
        if not isinstance(rows, list) or not rows:
            raise _BadRequest(f"messages must be a non-empty list of message objects, got {rows!r:.80}")
        if len(rows) > MAX_BATCH:
            raise _BadRequest(f"messages: {len(rows)} messages, at most {MAX_BATCH} per request", 413,
                             "payload_too_large")
        return [m for i, row in enumerate(rows) for m in _row_messages(row, f"messages[{i}]", engine)]
    return _row_messages(payload, "message", engine)


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _BadRequest(f"body of {declared} bytes exceeds the limit of {MAX_BODY_BYTES}", 413, "payload_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _BadRequest(f"body exceeds the limit of {MAX_BODY_BYTES} bytes", 413, "payload_too_large")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise _BadRequest("body is empty")
    return body


# ---------------------------------------------------------------------------- routes


def _error(service: _Service, message: str, status: int, kind: str) -> JSONResponse:
    service.metrics.errors.labels(kind=kind).inc()
    return JSONResponse({"error": message}, status_code=status)


def _decide_route(service: _Service) -> Callable[[Request], Any]:
    async def decide(request: Request) -> Response:
        engine, reason = service.engine, service.unready()
        if engine is None or reason:
            return _error(service, f"not ready: {reason}", 503, "not_ready")
        media = _media_type(request)
        try:
            if media not in _JSON_TYPES + _RAW_TYPES:
                raise _BadRequest(f"unsupported Content-Type {media or '(none)'!r}; use one of "
                                 f"{list(_JSON_TYPES + _RAW_TYPES)}", 415, "unsupported_media_type")
            body = await _body(request)
            if media in _JSON_TYPES:
                kind = "json"
                messages = await service.run(_json_messages, body, engine)
                started = time.perf_counter()
                decisions: Sequence[Decision] = await service.run(engine.decide_batch, messages)
            else:
                kind = "raw"
                started = time.perf_counter()
                decisions = await service.run(engine.decide_raw, body)
        except _BadRequest as e:
            return _error(service, str(e), e.status, e.kind)
        except Exception as e:  # the engine promises not to raise: a 500 if it does
            logger.exception("deciding a %s request failed", media)
            return _error(service, f"internal error: {type(e).__name__}: {e}", 500, "internal")
        service.metrics.latency.labels(kind=kind).observe(time.perf_counter() - started)
        for d in decisions:
            service.metrics.decisions.labels(verdict=d.verdict.value).inc()
            if d.degraded:
                service.metrics.degraded.inc()
        try:  # ASCII JSON: any text a parsed mail carries (even an undecodable byte) renders
            content = json.dumps({"decisions": [decision_to_json(d) for d in decisions]}, separators=(",", ":"))
        except (TypeError, ValueError) as e:
            logger.exception("rendering %d decisions failed", len(decisions))
            return _error(service, f"internal error: cannot render the decisions ({type(e).__name__}: {e})", 500,
                          "internal")
        return Response(content, media_type="application/json")

    return decide


def _feedback_payload(body: bytes, engine: DecisionEngine) -> tuple[list[Message], str]:
    payload = _loads(body)
    if not isinstance(payload, dict) or set(payload) != {"message", "category"}:
        got = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
        raise _BadRequest(f'feedback is {{"message": {{...}}, "category": "..."}}, got {got}')
    category = payload["category"]
    if not isinstance(category, str) or category not in Category._value2member_map_:
        raise _BadRequest(f"category: {category!r:.80} is not one of {[c.value for c in Category]}")
    return _row_messages(payload["message"], "message", engine), category


def _feedback_route(service: _Service) -> Callable[[Request], Any]:
    async def feedback(request: Request) -> Response:
        engine, reason = service.engine, service.unready()
        if engine is None or reason:
            return _error(service, f"not ready: {reason}", 503, "not_ready")
        try:
            if _media_type(request) not in _JSON_TYPES:
                raise _BadRequest(f"unsupported Content-Type {_media_type(request) or '(none)'!r}; use one of "
                                  f"{list(_JSON_TYPES)}", 415, "unsupported_media_type")
            messages, category = await service.run(_feedback_payload, await _body(request), engine)
            recorded = 0
            for m in messages:
                recorded += await service.run(engine.record_feedback, m, category)
        except _BadRequest as e:
            return _error(service, str(e), e.status, e.kind)
        except Exception as e:
            logger.exception("recording feedback failed")
            return _error(service, f"internal error: {type(e).__name__}: {e}", 500, "internal")
        service.metrics.feedback.labels(category=category).inc()
        return JSONResponse({"recorded": recorded})

    return feedback


def _readyz_route(service: _Service) -> Callable[[Request], Any]:
    async def readyz(request: Request) -> Response:
        engine, reason = service.engine, service.unready()
        if engine is None or reason:
            return JSONResponse({"ready": False, "reasons": [reason]}, status_code=503)
        return JSONResponse({"ready": True, "versions": engine.versions, "degraded": list(engine.degraded)})

    return readyz


async def _healthz(request: Request) -> Response:
    return JSONResponse({"alive": True})


def _metrics_route(service: _Service) -> Callable[[Request], Any]:
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return metrics


def _default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _build_app(service: _Service) -> Starlette:
    if service.decide_threads < 1:
        raise ValueError(f"decide_threads must be >= 1, got {service.decide_threads!r}")
    every = service.reload_seconds
    if every is not None and not (math.isfinite(every) and every >= 0):
        raise ValueError(f"reload_seconds must be a finite number >= 0 (0: never reload), got {every!r}")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(_background(service), name="graphdet-engine-reload")
        try:
            yield
        finally:
            service.stopping = True
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if service.owns_engine and service.engine is not None:
                service.engine.close()  # flush the chronicle

    routes = [
        Route("/v1/decide", _decide_route(service), methods=["POST"]),
        Route("/v1/feedback", _feedback_route(service), methods=["POST"]),
        Route("/healthz", _healthz, methods=["GET"]),
        Route("/readyz", _readyz_route(service), methods=["GET"]),
        Route("/metrics", _metrics_route(service), methods=["GET"]),
    ]
    def engine_count(read: Callable[[DecisionEngine], int]) -> Callable[[], float]:
        return lambda: float(read(service.engine)) if service.engine is not None else 0.0

    m = service.metrics
    m.reloads_refused.set_function(engine_count(lambda e: e.reloads_refused))
    m.chronicle_failures.set_function(engine_count(lambda e: e.chronicle_failures))
    m.chronicle_quarantined.set_function(
        engine_count(lambda e: e.chronicle.quarantined_ if e.chronicle is not None else 0))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.service = service
    return app


def create_app(engine: DecisionEngine, *, reload_seconds: float | None = None,
               decide_threads: int | None = None) -> Starlette:
    """The ASGI app around a loaded ``engine`` (the caller keeps it and closes it).

    ``reload_seconds``: call ``engine.reload()`` that often while the app runs (None or 0: never).
    ``decide_threads``: most decide calls run at once (default: the number of CPUs); the
    others wait in the event loop.
    """
    threads = _default_threads() if decide_threads is None else decide_threads
    return _build_app(_Service(loader=None, engine=engine, owns_engine=False, reload_seconds=reload_seconds,
                               metrics=_Metrics(), decide_threads=threads))


def serve(artifacts: Path, host: str = "127.0.0.1", port: int = 8025, *, chronicle: Path | None = None,
          reload_seconds: float = 30.0, fail_open: bool = True, learn: bool = True) -> None:
    """Serve ``artifacts`` over HTTP until SIGINT/SIGTERM (blocking).

    The port opens at once (``/healthz`` answers) and the engine loads in the background;
    ``/readyz`` turns 200 when it has. A load that fails is retried every ``reload_seconds``
    and its reason shown by ``/readyz``. ``chronicle``: folder of the decision log (None: off);
    ``fail_open`` and ``learn`` as in :class:`~serving.ServingConfig`.
    Logging is left to the caller (uvicorn is told not to configure it).
    """
    import uvicorn

    root = Path(artifacts)
    if not root.is_dir():
        raise GraphdetError(f"artifacts folder {root} does not exist")
    config = ServingConfig(chronicle=chronicle, fail_open=fail_open, learn=learn)
    service = _Service(loader=lambda: DecisionEngine.load(root, config=config), engine=None, owns_engine=True,
                       reload_seconds=reload_seconds, metrics=_Metrics(), decide_threads=_default_threads())
    app = _build_app(service)
    if host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("serving on %s: reachable from outside this machine, and the service has no authentication",
                       host)
    logger.info("serving %s on http://%s:%d", root, host, port)
    uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                                  lifespan="on")).run()
