"""Kafka administration with kafka-python: topic creation and verification.

``ensure_topics`` is idempotent: missing topics are created with the catalogue's
partition count and configuration, existing ones are checked (partition count
and cleanup policy) and reported, never silently altered.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from workers.runtime import kafka_clients
from workers.runtime.settings import Settings
from workers.runtime.topics import Catalogue, TopicSpec

Status = Literal["created", "ok", "mismatch"]


@dataclass(frozen=True)
class TopicReport:
    name: str
    physical: str
    status: Status
    partitions: int
    detail: str = ""


def admin_client(settings: Settings) -> Any:
    return kafka_clients.admin(settings)


def leader_topic(app_id: str) -> str:
    """faust's leader-election topic of the app ``app_id`` (one partition)."""
    return f"{app_id}-__assignor-__leader"


def ensure_leader_topic(settings: Settings, app_id: str, admin: Any = None) -> bool:
    """Create the app's leader-election topic before the worker joins its group;
    returns whether it had to be created.

    faust declares it itself at start, but concurrently with joining the group: when
    the broker's metadata does not list it yet at the first assignment, faust ignores
    it, no process of the group becomes leader, and the timers that run on the leader
    only (hold expiry sweeps, the claims stage's release ticks, deposit sweeps) never
    fire until some later rebalance.  Created here first, it is always assigned."""
    name = leader_topic(app_id)
    own = admin is None
    client = admin or admin_client(settings)
    try:
        described = client.describe_topics([name])
        if any(t.get("name") == name and t.get("error_code", 3) == 0 for t in described):
            return False
        spec = {name: {"num_partitions": 1, "replication_factor": settings.topic_replication}}
        result = client.create_topics(spec, raise_errors=False)
        for t in result["topics"]:
            if t["error_code"] not in (0, 36):  # 36: created concurrently by someone else
                raise RuntimeError(
                    f"cannot create topic {t['name']}: {t['error_message'] or t['error_code']}"
                )
        client.wait_for_topics([name], timeout_ms=30000)
        return True
    finally:
        if own:
            client.close()


def ensure_topics(
    settings: Settings,
    catalogue: Catalogue | None = None,
    only: Iterable[str] | None = None,
    admin: Any = None,
) -> list[TopicReport]:
    """Create missing catalogue topics and verify existing ones."""
    from kafka.admin import ConfigResource, ConfigResourceType

    cat = catalogue or Catalogue(settings)
    wanted: list[TopicSpec] = [cat.spec(n) for n in only] if only else list(cat)
    own = admin is None
    client = admin or admin_client(settings)
    try:
        physical = {spec.name: settings.topic(spec.name) for spec in wanted}
        described = {t["name"]: t for t in client.describe_topics(list(physical.values()))}
        missing = {
            settings.topic(spec.name): {
                "num_partitions": cat.partitions(spec.name),
                "replication_factor": settings.topic_replication,
                "configs": cat.config(spec.name),
            }
            for spec in wanted
            if described.get(physical[spec.name], {}).get("error_code", 3) != 0
        }
        created: set[str] = set()
        if missing:
            result = client.create_topics(missing, raise_errors=False)
            for t in result["topics"]:
                if t["error_code"] == 0:
                    created.add(t["name"])
                elif t["error_code"] != 36:  # 36: created concurrently by someone else
                    raise RuntimeError(
                        f"cannot create topic {t['name']}: {t['error_message'] or t['error_code']}"
                    )
            client.wait_for_topics(list(missing), timeout_ms=30000)
            described.update(
                {t["name"]: t for t in client.describe_topics(list(missing)) if t["name"]}
            )
        existing = [physical[s.name] for s in wanted if physical[s.name] not in created]
        configs: dict[str, Any] = {}
        if existing:
            res = client.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, name) for name in existing],
                config_filter="all",
            )
            configs = res.get("topic", {})
        reports: list[TopicReport] = []
        for spec in wanted:
            name = physical[spec.name]
            want_parts = cat.partitions(spec.name)
            if name in created:
                reports.append(TopicReport(spec.name, name, "created", want_parts))
                continue
            have_parts = len(described.get(name, {}).get("partitions", []))
            problems = []
            if have_parts != want_parts:
                problems.append(f"has {have_parts} partitions, catalogue says {want_parts}")
            policy = configs.get(name, {}).get("cleanup.policy", {}).get("value")
            if policy is not None and set(policy.split(",")) != set(spec.cleanup.split(",")):
                problems.append(f"cleanup.policy is {policy}, catalogue says {spec.cleanup}")
            reports.append(
                TopicReport(
                    spec.name,
                    name,
                    "mismatch" if problems else "ok",
                    have_parts,
                    "; ".join(problems),
                )
            )
        return reports
    finally:
        if own:
            client.close()


def delete_topics_with_prefix(settings: Settings, prefix: str) -> int:
    """Delete every topic whose name starts with ``prefix`` (test clean-up)."""
    if not prefix:
        raise ValueError("refusing to delete topics without a prefix")
    client = admin_client(settings)
    try:
        names = [t for t in client.list_topics() if t.startswith(prefix)]
        if names:
            client.delete_topics(names, raise_errors=False)
        return len(names)
    finally:
        client.close()
