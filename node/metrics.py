"""The daemon's Prometheus metrics, read from the status document at each scrape (served on the
address the config's status.metrics gives; loopback unless the operator says otherwise).

Names follow Prometheus's conventions: base units, `_total` for counters, a timestamp as
`…_timestamp_seconds` (RPO in PromQL: `time() - pitmirror_committed_point_timestamp_seconds`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

Document = Callable[[], dict[str, Any]]


class StatusCollector(Collector):
    def __init__(self, document: Document) -> None:
        self.document = document

    def collect(self) -> Iterator[Metric]:
        doc = self.document()
        labels = ["mirror", "site"]
        values = [str(doc["mirror"]), str(doc["site"])]

        def gauge(name: str, text: str, value: float | None) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, text, labels=labels)
            if value is not None:
                family.add_metric(values, value)
            return family

        point, link = doc.get("committed_point") or {}, doc["link"]
        out_of_sync = doc.get("out_of_sync") or {}
        yield gauge("pitmirror_committed_point", "The newest committed point's number.",
                    point.get("number"))  # fmt: skip
        yield gauge("pitmirror_committed_point_timestamp_seconds",
                    "The source time the committed point stands for.",
                    point.get("source_time"))  # fmt: skip
        yield gauge("pitmirror_out_of_sync_bytes", "Bytes the target does not hold yet.",
                    out_of_sync.get("bytes"))  # fmt: skip
        yield gauge("pitmirror_link_up", "1 when the link to the peer is up.", float(link["up"]))
        yield gauge("pitmirror_epoch", "The mirror's epoch (generation).", doc["epoch"])
        role = GaugeMetricFamily("pitmirror_role", "The site's role (1 for the one it has).",
                                 labels=[*labels, "role"])  # fmt: skip
        role.add_metric([*values, str(doc.get("role"))], 1.0)
        yield role
        pairs = doc.get("roles") or {}  # design A's one pair (""), design B's groups
        epochs = GaugeMetricFamily("pitmirror_pair_epoch", "Each pair's epoch (design B: per "
                                   "group).", labels=[*labels, "pair"])  # fmt: skip
        states = GaugeMetricFamily("pitmirror_pair_state", "Each pair's state (1 for the one it "
                                   "has: primary, secondary, outdated, split brain).",
                                   labels=[*labels, "pair", "state"])  # fmt: skip
        for pair, words in pairs.items():
            epochs.add_metric([*values, pair], words["epoch"])
            states.add_metric([*values, pair, str(words["state"])], 1.0)
        yield epochs
        yield states
        for name, key in (("pitmirror_link_sent_bytes", "sent_bytes"),
                          ("pitmirror_link_received_bytes", "received_bytes")):  # fmt: skip
            counter = CounterMetricFamily(name, f"Bytes of frames {key.split('_')[0]} on the link.",
                                          labels=labels)  # fmt: skip
            counter.add_metric(values, link[key])
            yield counter


class MetricsServer:
    def __init__(self, address: tuple[str, int], document: Document) -> None:
        registry = CollectorRegistry()
        registry.register(StatusCollector(document))
        self.server, self.thread = start_http_server(address[1], address[0], registry=registry)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def shutdown(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5.0)
