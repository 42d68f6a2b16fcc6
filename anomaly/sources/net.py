"""Calling upstream services robustly: hard timeout, retries with backoff, per-site rate limit.

Every network adapter (akshare, baostock) goes through :func:`call_upstream` so that failures
reach the user as ONE line naming the site, the call, the symbol/dates and what happened::

    akshare stock_zh_a_hist(002230, 2023-05-01..2023-05-31) failed after 3 tries:
    the server closed the connection without answering (blocked or rate-limited?) (eastmoney.com)

Design choices (documented because they matter when a site misbehaves):

* **Hard timeout** — most akshare functions call ``requests.get`` without a timeout (Sina, cninfo,
  e互动) and baostock reads a raw socket without one, so a stalled server would hang a nightly scan
  forever. Each call runs in a *daemon* ``threading.Thread`` and we stop waiting after ``timeout``
  seconds. A daemon thread (not ``concurrent.futures``) is deliberate: the executor's atexit hook
  joins its workers, so one hung request would keep the process from exiting; an abandoned daemon
  thread dies with the process. Where the upstream function has an explicit ``timeout`` parameter
  (``stock_zh_a_hist``, ``stock_zh_a_hist_tx``) it is passed too, so the abandoned thread also
  ends soon. ``timeout=None``/``0`` runs the call inline (debugging).
  We do not patch ``requests`` globally: that would change behaviour for every other user of it
  in the process and would not cover ``curl_cffi`` (``stock_news_em``) or baostock's socket.
* **Retries** — only *transient* failures are retried (connection refused/reset/closed, DNS,
  timeouts, HTTP 429/5xx, an answer that is not JSON — the usual shape of a block page).
  Failures that mean "the site changed" (``KeyError``/``TypeError``/``IndexError`` raised while
  akshare parses an answer) are reported at once: retrying a parser bug only costs time.
  Delay before retry *k* (1-based) is ``min(max_delay, backoff * 2**(k-1) * (1 + jitter * u))``
  with ``u`` uniform in [0, 1): increasing (for ``jitter <= 1``), jittered, bounded.
* **Rate limit** — a :class:`RateLimiter` keeps a minimum interval between calls to one site
  (Eastmoney and Sina block IPs that hammer them). It is thread-safe: each caller reserves its slot
  under a lock and sleeps outside it.
* **Circuit breaker** — a :class:`SiteBreaker` (one per adapter, so one per run) stops calling a
  site that is plainly unreachable: after one call when the host cannot be resolved, refuses
  connections or has no route (that call is retried once, not ``retries`` times), else after
  ``after`` calls in a row failed even with their retries. Later calls
  to that site fail immediately ("not tried: … failed earlier in this run"), so a machine without
  network fails a nightly scan in about a minute instead of retrying every symbol on every site;
  the fallback providers are still tried.
* **Empty answers** — an empty frame from a market-data function means "no data or blocked"
  (Eastmoney answers a blocked IP with ``{"data": null}`` which akshare turns into an empty frame).
  It is raised as ``SourceError``, never returned, so it can never be cached as "nothing there".
  Feeds where empty is a normal answer (e.g. announcements in a quiet week) pass ``allow_empty``.

Sleep, clock and random source are injectable so the tests take no real time.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from ..errors import SchemaChanged, SourceError

log = logging.getLogger(__name__)

#: Minimum seconds between two calls to one site (per process). Sina bans IPs quickly.
SITE_INTERVALS: dict[str, float] = {
    "eastmoney.com": 0.5,
    "sina.com.cn": 1.0,
    "qq.com": 0.3,
    "cninfo.com.cn": 0.5,
    "sseinfo.com": 0.5,
    "cls.cn": 1.0,
    "baostock.com": 0.0,
}
DEFAULT_INTERVAL = 0.3


class UpstreamError(Exception):
    """Raised by adapters inside an upstream call to say what went wrong and whether to retry."""

    def __init__(self, reason: str, transient: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


class UpstreamTimeout(Exception):
    """The call did not return within the hard timeout."""


class RateLimiter:
    """Minimum interval between calls to the same site; thread-safe.

    ``wait(site)`` blocks (via the injected ``sleep``) until the site's next free slot and returns
    the seconds it waited. Slots are reserved under a lock, so N concurrent callers get N distinct
    slots ``interval`` apart; the sleeping happens outside the lock.
    """

    def __init__(self, intervals: dict[str, float] | None = None, default: float = DEFAULT_INTERVAL,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Any] = time.sleep):
        self.intervals = dict(SITE_INTERVALS if intervals is None else intervals)
        self.default = default
        self.clock = clock
        self.sleep = sleep
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def interval(self, site: str) -> float:
        return float(self.intervals.get(site, self.default))

    def wait(self, site: str) -> float:
        gap = self.interval(site)
        with self._lock:
            now = self.clock()
            slot = max(now, self._next.get(site, now))
            self._next[site] = slot + gap
        delay = slot - now
        if delay > 0:
            self.sleep(delay)
        return delay


_DEFAULT_LIMITER = RateLimiter()


def default_limiter() -> RateLimiter:
    """The process-wide limiter shared by every adapter (one budget per site)."""
    return _DEFAULT_LIMITER


def backoff_delays(retries: int, backoff: float, jitter: float, max_delay: float,
                   rng: random.Random) -> list[float]:
    """The delays before retry 1..retries (see module docstring for the formula)."""
    out = []
    for k in range(1, retries + 1):
        base = backoff * (2 ** (k - 1))
        out.append(min(max_delay, base * (1.0 + jitter * rng.random())))
    return out


# --- exception → one readable reason -----------------------------------------------------------

_NETWORK_HINTS = (
    (("RemoteDisconnected", "Remote end closed connection", "Connection aborted"),
     "the server closed the connection without answering (blocked or rate-limited?)"),
    (("Connection refused", "ECONNREFUSED", "Errno 111"), "connection refused"),
    (("NameResolution", "Name or service not known", "Could not resolve host",
      "getaddrinfo failed", "Temporary failure in name resolution", "DNSError", "nodename nor servname"),
     "cannot resolve the host (offline, or DNS blocked?)"),
    (("Connection reset", "ECONNRESET", "Errno 104"), "connection reset by the server"),
    (("Network is unreachable", "No route to host", "Errno 101", "Errno 113"), "network unreachable"),
    (("timed out", "Timeout", "timeout"), "timed out"),
)


def _names(exc: BaseException) -> set[str]:
    return {c.__name__ for c in type(exc).__mro__}


def _short(exc: BaseException, limit: int = 160) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _chain_text(exc: BaseException) -> str:
    parts, seen, cur = [], set(), exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        parts.append(f"{type(cur).__name__} {cur!r}")
        cur = cur.__cause__ or cur.__context__
    return " | ".join(parts)


def describe(exc: BaseException, timeout: float | None = None) -> tuple[str, bool]:
    """``(reason, transient)`` for an exception raised by an upstream call."""
    if isinstance(exc, UpstreamTimeout):
        return f"no answer within {timeout:g} s" if timeout else "no answer (timeout)", True
    if isinstance(exc, UpstreamError):
        return exc.reason, exc.transient
    names = _names(exc)
    if "JSONDecodeError" in names or "InvalidJSONError" in names:
        return "the answer is not JSON (blocked, a captcha page, or the site changed)", True
    if "HTTPError" in names:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        transient = status is None or status == 429 or status >= 500
        return (f"HTTP {status}" if status else f"HTTP error: {_short(exc)}"), transient
    if "ProxyError" in names:
        return "proxy error", True
    if "SSLError" in names or "CertificateVerifyError" in names:
        return "TLS/SSL error", True
    if names & {"ConnectTimeout", "ReadTimeout", "Timeout", "TimeoutError", "timeout"}:
        return "timed out", True
    if isinstance(exc, OSError) or names & {"ConnectionError", "ProtocolError", "MaxRetryError",
                                            "RequestException", "CurlError", "HTTPException",
                                            "IncompleteRead", "ChunkedEncodingError"}:
        text = _chain_text(exc)
        for needles, reason in _NETWORK_HINTS:
            if any(n in text for n in needles):
                return reason, True
        return f"connection failed: {_short(exc)}", True
    if isinstance(exc, KeyError):
        key = exc.args[0] if exc.args else "?"
        return (f"the answer lacks key {key!r} (the site changed its API or refused the request)",
                False)
    if isinstance(exc, (TypeError, IndexError, AttributeError, ValueError)):
        return (f"unexpected answer ({type(exc).__name__}: {_short(exc)}); the site changed "
                "or refused the request", False)
    return f"{type(exc).__name__}: {_short(exc)}", False


# --- the call ------------------------------------------------------------------------------------


def _accepts_timeout(fn: Callable) -> bool:
    import inspect

    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    p = params.get("timeout")
    return p is not None and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)


def _run_with_timeout(fn: Callable, args: tuple, kwargs: dict, timeout: float | None, name: str):
    if not timeout or timeout <= 0:
        return fn(*args, **kwargs)
    box: dict[str, Any] = {}
    done = threading.Event()

    def target():
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=target, name=f"upstream {name}", daemon=True)
    worker.start()
    if not done.wait(timeout):
        raise UpstreamTimeout(name)
    if "error" in box:
        raise box["error"]
    return box["value"]


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    empty = getattr(value, "empty", None)
    if isinstance(empty, bool):
        return empty
    try:
        return len(value) == 0
    except TypeError:
        return False


#: Failures that mean the site cannot be reached at all from here (not a slow or refusing server).
UNREACHABLE = ("cannot resolve the host (offline, or DNS blocked?)", "connection refused", "network unreachable")


class SiteBreaker:
    """Which sites failed in this run, and whether to call them again (see the module docstring)."""

    def __init__(self, after: int = 2):
        self.after = max(1, int(after))
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._open: dict[str, str] = {}

    def check(self, site: str, what: str) -> None:
        reason = self._open.get(site)
        if reason is not None:
            raise SourceError(f"{what} not tried: {site} failed earlier in this run ({reason})")

    def failed(self, site: str, reason: str) -> None:
        with self._lock:
            n = self._failures.get(site, 0) + 1
            self._failures[site] = n
            if reason in UNREACHABLE or n >= self.after:
                self._open.setdefault(site, reason)

    def succeeded(self, site: str) -> None:
        with self._lock:
            self._failures[site] = 0

    def down(self) -> dict[str, str]:
        """Sites given up on in this run → the failure that decided it."""
        return dict(self._open)


def call_upstream(fn: Callable, *args, site: str, timeout: float | None = 30.0, retries: int = 2,
                  backoff: float = 1.0, jitter: float = 0.5, what: str,
                  max_delay: float = 30.0, allow_empty: bool = False, empty_hint: str = "",
                  sleep: Callable[[float], Any] | None = None, rng: random.Random | None = None,
                  limiter: RateLimiter | None = None, breaker: SiteBreaker | None = None, **kwargs):
    """Call ``fn(*args, **kwargs)`` against ``site`` and return its answer, or raise ``SourceError``.

    ``what`` names the call for messages (``"akshare stock_zh_a_hist(002230, 2023-05-01..2023-05-31)"``).
    ``retries`` is the number of *extra* attempts after the first (so ``retries=2`` → 3 tries).
    ``SchemaChanged``/``SourceError`` raised inside ``fn`` propagate unchanged. An empty answer
    raises ``SourceError("… no data or blocked …")`` unless ``allow_empty``.
    ``sleep``/``rng``/``limiter`` default to ``time.sleep``, a fresh ``random.Random()`` and the
    process-wide limiter; tests inject fakes. With a ``breaker``, a site it has given up on is not
    called (``SourceError`` at once), and this call's outcome is recorded in it.
    """
    if breaker is not None:
        breaker.check(site, what)
    sleep = time.sleep if sleep is None else sleep
    rng = random.Random() if rng is None else rng
    limiter = _DEFAULT_LIMITER if limiter is None else limiter
    if timeout and _accepts_timeout(fn) and "timeout" not in kwargs:
        kwargs["timeout"] = timeout
    delays = backoff_delays(max(0, retries), backoff, jitter, max_delay, rng)
    tries = 0
    reason = ""
    while True:
        tries += 1
        limiter.wait(site)
        try:
            value = _run_with_timeout(fn, args, kwargs, timeout, what)
        except (SchemaChanged, SourceError):
            raise
        except Exception as exc:  # noqa: BLE001 - every upstream failure becomes one line
            reason, transient = describe(exc, timeout)
            # An unreachable host is retried once (a DNS blip), not `retries` times: offline, the
            # first call to each site then gives up in seconds and the breaker stops the rest.
            allowed = min(len(delays), 1) if breaker is not None and reason in UNREACHABLE else len(delays)
            if transient and tries <= allowed:
                delay = delays[tries - 1]
                log.info("%s: %s (%s); retry %d/%d in %.1f s", what, reason, site, tries,
                         len(delays), delay)
                sleep(delay)
                continue
            if transient and breaker is not None:
                breaker.failed(site, reason)
            n = f"{tries} {'try' if tries == 1 else 'tries'}"
            raise SourceError(f"{what} failed after {n}: {reason} ({site})") from exc
        if breaker is not None:
            breaker.succeeded(site)
        if not allow_empty and _is_empty(value):
            hint = f"; {empty_hint}" if empty_hint else ""
            raise SourceError(f"{what}: no data or blocked ({site}){hint}")
        return value


def require_columns(frame, needed: Iterable[str], what: str):
    """Raise ``SchemaChanged`` naming every column of ``needed`` that ``frame`` lacks."""
    cols = [str(c) for c in getattr(frame, "columns", [])]
    missing = [c for c in needed if c not in cols]
    if missing:
        shown = ", ".join(cols[:16]) + (", …" if len(cols) > 16 else "")
        raise SchemaChanged(f"{what}: upstream columns changed, missing {', '.join(missing)} "
                            f"(got: {shown or 'no columns'}); update akshare or the adapter")
    return frame


@dataclass
class NetPolicy:
    """Timeouts/retries/backoff/rate limits shared by one adapter; ``call`` wraps ``call_upstream``."""

    timeout: float | None = 30.0
    retries: int = 2
    backoff: float = 1.0
    jitter: float = 0.5
    max_delay: float = 30.0
    sleep: Callable[[float], Any] = field(default=time.sleep)
    rng: random.Random | None = None
    limiter: RateLimiter | None = None
    breaker: SiteBreaker | None = field(default_factory=SiteBreaker)

    def call(self, fn: Callable, *args, site: str, what: str, timeout: float | None = None,
             allow_empty: bool = False, empty_hint: str = "", **kwargs):
        return call_upstream(fn, *args, site=site, what=what,
                             timeout=self.timeout if timeout is None else timeout,
                             retries=self.retries, backoff=self.backoff, jitter=self.jitter,
                             max_delay=self.max_delay, allow_empty=allow_empty,
                             empty_hint=empty_hint, sleep=self.sleep, rng=self.rng,
                             limiter=self.limiter, breaker=self.breaker, **kwargs)

    @classmethod
    def build(cls, net: "NetPolicy | None" = None, **overrides) -> "NetPolicy":
        """``net`` (or a default policy) with the non-None ``overrides`` applied (config keys
        ``timeout``, ``retries``, ``backoff``, ``jitter``, ``max_delay``)."""
        import dataclasses

        base = net or cls()
        min_interval = overrides.pop("min_interval", None)
        if min_interval is not None:
            # One limiter per policy: every call this adapter makes shares the per-site slots.
            overrides["limiter"] = RateLimiter(default=float(min_interval))
        unknown = sorted(k for k in overrides if k not in {f.name for f in dataclasses.fields(cls)})
        if unknown:
            from ..errors import ConfigError

            raise ConfigError(f"unknown network option(s) {', '.join(unknown)}; use timeout, retries, "
                              "backoff, jitter, max_delay or min_interval")
        given = {k: v for k, v in overrides.items() if v is not None}
        return dataclasses.replace(base, **given) if given else base
