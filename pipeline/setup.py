"""Setup: install the index template, the data stream mapping and the lifecycle policy."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from pipeline import ingest, templates
from pipeline.cluster import Cluster, ClusterError

log = logging.getLogger("senderlog")


@dataclass
class SetupReport:
    """What setup did, one line per object."""

    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def install(cluster: Cluster, retention_days: int = 90, lifecycle: bool = True,
            pipeline_timezone: str | None = None) -> SetupReport:
    """Create or update everything the data streams need; safe to run again.

    With a pipeline time zone the ingest pipeline for Filebeat is installed too.
    """
    report = SetupReport()
    if pipeline_timezone:
        cluster.request("PUT", f"/_ingest/pipeline/{ingest.NAME}",
                        body=ingest.pipeline(pipeline_timezone))
        report.done.append(f"ingest pipeline {ingest.NAME} (local time {pipeline_timezone})")
    lifecycle = lifecycle and _lifecycle(cluster, retention_days, report)

    cluster.request("PUT", f"/_component_template/{templates.COMPONENT}",
                    body=templates.component_template())
    report.done.append(f"component template {templates.COMPONENT}")

    cluster.request("PUT", f"/_index_template/{templates.TEMPLATE}",
                    body=templates.index_template(cluster.engine, lifecycle))
    report.done.append(f"index template {templates.TEMPLATE} ({templates.PATTERN})")
    return report


def _lifecycle(cluster: Cluster, retention_days: int, report: SetupReport) -> bool:
    if cluster.engine == "elasticsearch":
        cluster.request("PUT", f"/_ilm/policy/{templates.POLICY}",
                        body=templates.ilm_policy(retention_days))
        report.done.append(f"ILM policy {templates.POLICY} (delete after {retention_days} d)")
        return True

    path = f"/_plugins/_ism/policies/{templates.POLICY}"
    try:
        current = cluster.request("GET", path)
        params = {"if_seq_no": current["_seq_no"], "if_primary_term": current["_primary_term"]}
    except ClusterError as error:
        if error.status == 400 and "no handler" in str(error).lower():
            return _no_ism(report)
        if error.status != 404:
            raise
        params = None
    try:
        cluster.request("PUT", path, body=templates.ism_policy(retention_days), params=params)
    except ClusterError as error:
        if error.status in (400, 404) and "no handler" in str(error).lower():
            return _no_ism(report)
        raise
    report.done.append(f"ISM policy {templates.POLICY} (delete after {retention_days} d)")
    return True


def _no_ism(report: SetupReport) -> bool:
    log.warning("the cluster has no Index State Management plugin: no lifecycle policy")
    report.skipped.append("ISM policy (the Index State Management plugin is not installed)")
    return False
