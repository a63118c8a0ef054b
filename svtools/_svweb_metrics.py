"""svweb's /metrics: the services in the Prometheus text format.

Every family is labelled by `service` (the name in the scan directory,
escaped as _svinfo.display does; a logger is "NAME/log"):

  svtools_service_supervised        1 when supervise is running
  svtools_service_up                1 when ./run is running (up, ready, paused, stopping)
  svtools_service_ready             1 when it signalled readiness
  svtools_service_want_up           1 when supervise wants it up
  svtools_service_normally_up       1 when there is no DIR/down
  svtools_service_failed            1 when it is in state failed: fail-limit
                                    gave up, or ./finish exited 125 (a
                                    deliberate "stay down", e.g. svimport's
                                    autorestart=false)
  svtools_service_fail_limit_reached
                                    1 when fail-limit gave up on it
  svtools_service_scheduled         1 when it runs on a schedule file
  svtools_service_schedule_next_fire_timestamp_seconds
                                    unix time of its next firing
  svtools_service_schedule_skipped_total
                                    firings skipped while a run still went
  svtools_service_crash_loop        1 when it keeps dying within seconds
  svtools_service_uptime_seconds    seconds in the current state
  svtools_service_starts_total      starts of ./run since supervise began
  svtools_service_last_exit_code    code of the last exit, 256 for a signal
  svtools_service_last_exit_signal  signal of the last exit, 0 for none
  svtools_service_resident_memory_bytes, svtools_service_cpu_seconds_total
                                    of the service's process tree

A value that is not known (no pid, a 0.76 supervise) is left out rather
than reported as 0.  svweb's own: svweb_http_requests_total{code},
svweb_refused_total, svweb_scans_total, svweb_scan_ok, and prometheus_client's
process_*.
"""

import prometheus_client
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

_UP = ("up", "ready", "paused", "stopping")

_GAUGES = (
    ("supervised", "1 when supervise is running on the service",
     lambda s: int(s["supervised"])),
    ("up", "1 when the service's ./run is running",
     lambda s: int(s["state"] in _UP) if s["supervised"] else None),
    ("ready", "1 when the service signalled readiness",
     lambda s: int(s["state"] == "ready") if s["supervised"] else None),
    ("want_up", "1 when supervise wants the service up",
     lambda s: None if s["want"] is None else int(s["want"] == "up")),
    ("normally_up", "1 when the service has no down file",
     lambda s: int(s["normally"] == "up")),
    ("failed", "1 when the service is failed (fail-limit reached, or ./finish exited 125)",
     lambda s: int(s["state"] == "failed") if s["supervised"] else None),
    ("fail_limit_reached", "1 when fail-limit stopped restarting the service",
     lambda s: int(s["state"] == "failed" and bool(s["fail_limit"])
                   and (s["fails"] or 0) >= s["fail_limit"])
     if s["source"] == "xstatus" else None),
    ("scheduled", "1 when the service is started at the firings of its schedule file",
     lambda s: int(s["scheduled"]) if s["supervised"] else None),
    ("schedule_next_fire_timestamp_seconds", "Unix time of the next firing of the schedule",
     lambda s: s["next_fire"] if s["scheduled"] else None),
    ("crash_loop", "1 when the service keeps dying within seconds of starting",
     lambda s: int(s["crash_loop"]) if s["supervised"] else None),
    ("uptime_seconds", "Seconds since the service entered its current state",
     lambda s: s["uptime"]),
    ("last_exit_code", "Exit code of the last exit (256 when killed by a signal)",
     lambda s: s["exit"]["code"] if s["exit"] else None),
    ("last_exit_signal", "Signal that ended the last run, 0 for none",
     lambda s: s["exit"]["signal"] if s["exit"] else None),
    ("resident_memory_bytes", "Resident memory of the service's process tree",
     lambda s: s["rss"]),
)
_COUNTERS = (
    ("starts", "Starts of ./run since supervise began",
     lambda s: None if s["restarts"] is None
     else s["restarts"] + 1 if s["pid"] or s["exit"] else 0),
    ("schedule_skipped", "Firings of the schedule skipped because a run was still going",
     lambda s: s["skipped"] if s["scheduled"] else None),
    ("cpu_seconds", "CPU seconds (user and system) of the service's process tree",
     lambda s: s["cpu"]),
)


_FAMILIES = tuple((GaugeMetricFamily, "svtools_service_" + key, doc, get)
                  for key, doc, get in _GAUGES) + tuple(
    (CounterMetricFamily, "svtools_service_" + key, doc, get) for key, doc, get in _COUNTERS)


class _One:
    """A collector of one ready-made family, for generate_latest."""

    def __init__(self, family):
        self.family = family

    def collect(self):
        yield self.family


class _Services:
    """The services' families in the text format, each encoded by
    prometheus_client again only when one of its samples changed."""

    def __init__(self):
        self._memo = {}  # family name -> (samples, encoded bytes)

    def encode(self, snap):
        """Bytes of every family for the services of SNAP (a Snapshot)."""
        entries = []
        for js in snap.services:
            entries.append((js["name"], js))
            if js["log"]:
                entries.append((js["name"] + "/log", js["log"]))
        out = []
        for kind, name, doc, get in _FAMILIES:
            samples = []
            for label, js in entries:
                value = get(js)
                if value is not None:
                    samples.append((label, value))
            memo = self._memo.get(name)
            if memo is None or memo[0] != samples:
                fam = kind(name, doc, labels=["service"])
                for label, value in samples:
                    fam.add_metric([label], value)
                memo = self._memo[name] = (samples, generate_latest(_One(fam)))
            out.append(memo[1])
        return b"".join(out)


# Counters without their *_created twins: fewer series, same meaning.
prometheus_client.disable_created_metrics()


class Metrics:
    """What /metrics renders: the services of the board's snapshot (encoded
    once per snapshot; a family whose samples are all as in the previous
    snapshot is not encoded again: prometheus_client costs about 2 us a
    sample, and most families rarely change), then svweb's own counters and
    the process_* of svweb itself (encoded per request)."""

    def __init__(self, board):
        self.board = board
        self.registry = prometheus_client.CollectorRegistry(auto_describe=False)
        prometheus_client.ProcessCollector(registry=self.registry)
        self.requests = prometheus_client.Counter(
            "svweb_http_requests", "HTTP requests answered by svweb, by status code",
            ["code"], registry=self.registry)
        self.refused = prometheus_client.Counter(
            "svweb_refused", "Requests svweb refused (4xx it logged as refused)",
            registry=self.registry)
        self.last = None
        self.registry.register(_Own(board, self))
        self.services = _Services()

    def render(self, snap):
        """(body bytes, content type) in the Prometheus text format 0.0.4,
        for the services of SNAP (a _svweb_model.Snapshot)."""
        self.last = snap
        body = snap.cache.get("metrics")
        if body is None:
            body = snap.cache["metrics"] = self.services.encode(snap)
        return body + generate_latest(self.registry), CONTENT_TYPE_LATEST


class _Own:
    def __init__(self, board, metrics):
        self.board = board
        self.metrics = metrics

    def collect(self):
        yield CounterMetricFamily("svweb_scans", "Reads of the whole scan directory",
                                  value=self.board.scans)
        yield GaugeMetricFamily("svweb_scan_ok", "1 when the scan directory could be read",
                                value=int(self.metrics.last.error is None))
