"""``python -m seldon.launch``: ``seldon-core-microservice seldon.model.CodingPotential`` on one host address.

seldon-core 1.18's microservice binds its REST and metrics servers to ``0.0.0.0``, fixed in its code:
right in a pod, wrong on a workstation or in tests, which must listen on loopback only. This runs the
same ``seldon_core.microservice.main`` with the gunicorn ``bind`` host replaced by ``$SERVE_HOST``
(default ``127.0.0.1``) and gRPC off. The container image runs the stock ``seldon-core-microservice``.

Ports: REST ``$SERVE_PORT`` (default 9000), metrics ``$SERVE_METRICS_PORT`` (default 6000, path
``/prometheus``). Gunicorn: ``$SERVE_WORKERS`` processes (default 2, one per core here) of
``$SERVE_THREADS`` threads (default 1: synchronous workers, the fastest here; they expect a buffering
proxy in front, as Seldon's executor is in a cluster). A worker silent for ``$SERVE_TIMEOUT`` seconds
(default 30) is replaced, so a client that stalls mid-request holds a worker that long at most (Seldon's
own default is 5000 s, its annotation's milliseconds read as seconds). Exposed without a proxy, give
threads: a stalled client then holds one thread, not a worker. Other arguments go to the microservice
as they are.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

INTERFACE = "seldon.model.CodingPotential"
#: Where the metrics port serves Prometheus metrics (Seldon's operator sets the same in a cluster).
METRICS_PATH = "/prometheus"


class LaunchError(ValueError):
    """A ``SERVE_*`` setting that cannot start the server."""


def _bind_to(host: str, timeout: int) -> None:
    """Make every gunicorn app of the microservice bind ``host`` instead of ``0.0.0.0``, with ``timeout``."""
    from seldon_core.gunicorn_utils import StandaloneApplication

    original = StandaloneApplication.load_config

    def load_config(self) -> None:
        bind = self.options.get("bind")
        if isinstance(bind, str) and bind.startswith("0.0.0.0:"):
            self.options["bind"] = f"{host}:{bind.rsplit(':', 1)[1]}"
        self.options["timeout"] = timeout
        original(self)

    StandaloneApplication.load_config = load_config


#: Each setting: (default, smallest, largest).
SETTINGS = {"SERVE_PORT": (9000, 1, 65535), "SERVE_METRICS_PORT": (6000, 1, 65535), "SERVE_WORKERS": (2, 1, 64),
            "SERVE_THREADS": (1, 1, 64), "SERVE_TIMEOUT": (30, 1, 3600)}


def setting(name: str, environ: Mapping[str, str] = os.environ) -> int:
    """The whole number ``$name`` (or its default), checked against its range.

    Raises
    ------
    LaunchError
        Not a whole number, or out of range.
    """
    default, smallest, largest = SETTINGS[name]
    text = environ.get(name, "").strip() or str(default)
    if not text.isdigit() or not smallest <= int(text) <= largest:
        raise LaunchError(f"{name}={text!r}: give a whole number from {smallest} to {largest}")
    return int(text)


def arguments(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The microservice's command line for ``environ``."""
    if setting("SERVE_PORT", environ) == setting("SERVE_METRICS_PORT", environ):
        raise LaunchError("SERVE_PORT and SERVE_METRICS_PORT are the same port: give two")
    return [INTERFACE, "--service-type", "MODEL", "--grpc-workers", "0",
            *(option for name, flag in (("SERVE_PORT", "--http-port"), ("SERVE_METRICS_PORT", "--metrics-port"),
                                        ("SERVE_WORKERS", "--workers"), ("SERVE_THREADS", "--threads"))
              for option in (flag, str(setting(name, environ))))]


def main(argv: list[str] | None = None) -> None:
    # The custom metrics go to the metrics port, not back to the client in every answer (read at import),
    # under the path Seldon's operator sets in a cluster (the chart's PodMonitor scrapes it).
    os.environ.setdefault("INCLUDE_METRICS_IN_CLIENT_RESPONSE", "false")
    os.environ.setdefault("PREDICTIVE_UNIT_METRICS_ENDPOINT", METRICS_PATH)
    try:
        command = ["seldon-core-microservice", *arguments(), *(sys.argv[1:] if argv is None else argv)]
        timeout = setting("SERVE_TIMEOUT")
    except LaunchError as error:
        sys.exit(f"seldon.launch: {error}")
    from seldon_core import microservice

    _bind_to(os.environ.get("SERVE_HOST", "127.0.0.1"), timeout)
    sys.argv = command
    microservice.main()


if __name__ == "__main__":
    main()
