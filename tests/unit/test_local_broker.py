"""Local broker management: clear errors when something is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.broker_support import free_port
from workers.runtime.local_broker import BrokerError, LocalBroker
from workers.runtime.settings import Settings


def broker(tmp_path: Path) -> LocalBroker:
    return LocalBroker(
        Settings(
            broker_home=tmp_path / "home",
            broker_jar_cache=tmp_path / "jars",
            broker_port=free_port(),
            broker_controller_port=free_port(),
        )
    )


def test_missing_java_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BrokerError, match=r"'java' was not found.*Java runtime"):
        broker(tmp_path).start()


def test_missing_maven_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "java").symlink_to("/bin/true")
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(BrokerError, match=r"'mvn' was not found.*Maven"):
        broker(tmp_path).ensure_jars()


def test_jar_cache_is_outside_the_repository_and_keyed_by_the_pom(tmp_path: Path) -> None:
    b = broker(tmp_path)
    assert b.kafka_version.startswith("4.1.")
    assert b.jar_dir.parent == tmp_path / "jars"
    assert b.kafka_version in b.jar_dir.name


def test_stop_without_a_broker_is_harmless(tmp_path: Path) -> None:
    b = broker(tmp_path)
    assert b.stop() is False
    status = b.status()
    assert status["running"] is False and status["answers"] is False


def test_a_port_taken_by_someone_else_is_reported(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        b = LocalBroker(
            Settings(broker_home=tmp_path / "h", broker_jar_cache=tmp_path / "j", broker_port=port)
        )
        with pytest.raises(BrokerError, match=r"already in use.*CLAIMS_BROKER_PORT"):
            b.start()


def test_the_server_properties_template_renders(tmp_path: Path) -> None:
    b = broker(tmp_path)
    b.home.mkdir(parents=True)
    b._render_properties()
    text = b.properties_path.read_text()
    assert f"listeners=PLAINTEXT://127.0.0.1:{b.settings.broker_port}," in text
    assert "process.roles=broker,controller" in text
    assert "${" not in text


def test_cluster_ids_never_start_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """An id starting with ``-`` reads as an option to the storage tool (format fails)."""
    import uuid

    from workers.runtime import local_broker

    dash_first = uuid.UUID(bytes=b"\xf8" + bytes(15))  # base64 "-A..."
    plain = uuid.UUID(bytes=b"\x00" + bytes(15))
    draws = iter([dash_first, dash_first, plain])
    monkeypatch.setattr(local_broker.uuid, "uuid4", lambda: next(draws))
    assert local_broker.new_cluster_id() == "AAAAAAAAAAAAAAAAAAAAAA"
    monkeypatch.undo()
    ids = {local_broker.new_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000 and not any(i.startswith("-") for i in ids)
    assert all(len(i) == 22 for i in ids)
