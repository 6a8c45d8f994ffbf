"""``python -m seldon.launch``: ``seldon-core-microservice seldon.model.CodingPotential`` on one host address.

seldon-core 1.18's microservice binds its REST and metrics servers to ``0.0.0.0``, fixed in its code:
right in a pod, wrong on a workstation or in tests, which must listen on loopback only. This runs the
same ``seldon_core.microservice.main`` with the gunicorn ``bind`` host replaced by ``$SERVE_HOST``
(default ``127.0.0.1``) and gRPC off. The container image runs the stock ``seldon-core-microservice``.

Ports: REST ``$SERVE_PORT`` (default 9000), metrics ``$SERVE_METRICS_PORT`` (default 6000, path
``/prometheus``); workers
``$SERVE_WORKERS`` (default 2, one per core here). Other arguments go to the microservice as they are.
"""

from __future__ import annotations

import os
import sys

INTERFACE = "seldon.model.CodingPotential"
#: Where the metrics port serves Prometheus metrics (Seldon's operator sets the same in a cluster).
METRICS_PATH = "/prometheus"


def _bind_to(host: str) -> None:
    """Make every gunicorn app of the microservice bind ``host`` instead of ``0.0.0.0``."""
    from seldon_core.gunicorn_utils import StandaloneApplication

    original = StandaloneApplication.load_config

    def load_config(self) -> None:
        bind = self.options.get("bind")
        if isinstance(bind, str) and bind.startswith("0.0.0.0:"):
            self.options["bind"] = f"{host}:{bind.rsplit(':', 1)[1]}"
        original(self)

    StandaloneApplication.load_config = load_config


def arguments(environ: dict[str, str] | os._Environ = os.environ) -> list[str]:
    """The microservice's command line for ``environ``."""
    return [INTERFACE, "--service-type", "MODEL", "--grpc-workers", "0",
            "--http-port", environ.get("SERVE_PORT", "9000"),
            "--metrics-port", environ.get("SERVE_METRICS_PORT", "6000"),
            "--workers", environ.get("SERVE_WORKERS", "2")]


def main(argv: list[str] | None = None) -> None:
    # The custom metrics go to the metrics port, not back to the client in every answer (read at import),
    # under the path Seldon's operator sets in a cluster (the chart's PodMonitor scrapes it).
    os.environ.setdefault("INCLUDE_METRICS_IN_CLIENT_RESPONSE", "false")
    os.environ.setdefault("PREDICTIVE_UNIT_METRICS_ENDPOINT", METRICS_PATH)
    from seldon_core import microservice

    _bind_to(os.environ.get("SERVE_HOST", "127.0.0.1"))
    sys.argv = ["seldon-core-microservice", *arguments(), *(sys.argv[1:] if argv is None else argv)]
    microservice.main()


if __name__ == "__main__":
    main()
