from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.config import load_config
from edge.consumables import CONDITION, Condition
from edge.errors import ConfigError
from edge.runner import EdgeRunner
from firmware_bridge import contract
from firmware_bridge.contract import ContractError, FaultEventMessage, parse_edge_message


def test_config_round_trip_and_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "edge.toml"
    conf.write_text('data_dir = "data"\n[[sources]]\nkind = "serial"\nport = "/dev/ttyUSB0"\n')
    monkeypatch.setenv("PROGNOS_EDGE_AGENT_ID", "edge-99")
    cfg = load_config(conf)
    assert cfg.agent_id == "edge-99" and cfg.data_dir == tmp_path / "data"
    assert cfg.uplink.broker == "127.0.0.1:1883"


def test_consumable_limits_and_tls_files_come_from_the_file(tmp_path: Path) -> None:
    conf = tmp_path / "edge.toml"
    conf.write_text(
        'data_dir = "data"\n'
        "[rated_life]\nair_filter = 2000.0\n"
        '[condition.air_filter]\nchannel = "filter_dp"\nclean = 0.05\nworn = 0.30\n'
        '[[sources]]\nkind = "mqtt"\nbroker = "127.0.0.1:1"\n'
        '[uplink]\ntls = true\nca_file = "certs/ca.pem"\n'
    )
    cfg = load_config(conf)
    assert cfg.rated_life == {"air_filter": 2000.0}
    assert cfg.condition["air_filter"].worn == 0.30
    assert cfg.uplink.ca_file == tmp_path / "certs" / "ca.pem"
    with pytest.raises(ConfigError, match=r"uplink TLS: cannot load .*certs/ca\.pem"):
        EdgeRunner(cfg)  # the CA file does not exist: said at start-up, not at first connect
    runner = EdgeRunner(cfg.model_copy(update={"uplink": cfg.uplink.model_copy(update={"ca_file": None})}))
    try:
        assert runner.agent.settings.condition["air_filter"] == Condition("filter_dp", 0.05, 0.30)
        assert runner.agent.settings.condition["sediment_filter"] == CONDITION["sediment_filter"]
        assert runner.agent.settings.rated_life["air_filter"] == 2000.0
    finally:
        runner.outbox.close()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('data_dir = "d"\n', "sources"),
        (
            'data_dir = "d"\n[condition.f]\nchannel = "dp"\nclean = 1\nworn = 1\n'
            '[[sources]]\nkind = "mqtt"\n',
            "condition.f",
        ),
        ('data_dir = "d"\n[[sources]]\nkind = "carrier-pigeon"\n', "sources.0.kind"),
        ('data_dir = "d"\nbogus = 1\n[[sources]]\nkind = "mqtt"\n', "bogus"),
        ("data_dir = [\n", "edge.toml"),
    ],
)
def test_config_errors_name_the_setting(tmp_path: Path, text: str, message: str) -> None:
    conf = tmp_path / "edge.toml"
    conf.write_text(text)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_config(conf)


def test_contract_rejects_bad_payloads() -> None:
    good = FaultEventMessage(
        message_id="abcdef0123",
        tenant="t",
        agent_id="a",
        device_id="d",
        created_at=1.0,
        code=1,
        name="x",
        severity=0,
        at=1.0,
    )
    assert parse_edge_message(good.model_dump_json()) == good
    doc = json.loads(good.model_dump_json())
    for bad in (b"{", json.dumps({**doc, "schema_version": 2}), json.dumps({**doc, "kind": "gossip"}),
                json.dumps({**doc, "extra": 1}), json.dumps({**doc, "code": 70000})):  # fmt: skip
        with pytest.raises(ContractError):
            parse_edge_message(bad)


def test_contract_public_names_are_pinned() -> None:
    assert sorted(contract.__all__) == [
        "AgentStatus",
        "AlertMessage",
        "ChannelStats",
        "ConsumableStatusMessage",
        "ContractError",
        "EdgeDelivery",
        "EdgeMessage",
        "EvidencePoint",
        "FaultEventMessage",
        "MAX_MESSAGE_BYTES",
        "ModelCommand",
        "ModelRef",
        "ModelStatusMessage",
        "SCHEMA_VERSION",
        "StoredConfirmation",
        "TelemetrySummaryMessage",
        "broker_username",
        "device_passwords",
        "edge_topic",
        "message_id",
        "model_command_topic",
        "parse_edge_delivery",
        "parse_edge_message",
        "parse_edge_topic",
        "stored_topic",
    ]


@pytest.mark.parametrize("bad", [1e13, -1.0, float("nan"), float("inf")])
def test_times_a_date_cannot_hold_are_refused_as_invalid(bad: float) -> None:
    """Found by a 60-day demo: forecasts for the year 13164 used to fail in the cloud, not here."""
    doc = {
        "message_id": "0123456789abcdef", "tenant": "acme", "agent_id": "e1", "device_id": "ro-1",
        "created_at": 1.0, "kind": "consumable", "consumable": "ro_membrane", "unit": "l", "usage": 10.0,
        "remaining_fraction": 0.9, "predicted_depletion_at": bad, "at": 1.0,
    }  # fmt: skip
    with pytest.raises(ContractError, match="predicted_depletion_at"):
        parse_edge_message(json.dumps(doc))
    doc["predicted_depletion_at"] = 1_900_000_000.0
    assert parse_edge_message(json.dumps(doc)).predicted_depletion_at == 1_900_000_000.0


def test_the_example_configuration_in_the_repository_loads() -> None:
    """docs/examples/edge.toml is what `prognos edge run --help` points people to."""
    from pathlib import Path

    from edge.config import load_config

    cfg = load_config(Path(__file__).resolve().parents[2] / "docs" / "examples" / "edge.toml")
    assert [s.kind for s in cfg.sources] == ["serial", "mqtt"] and cfg.uplink.confirm_by == "cloud"
    assert cfg.condition["air_filter"].channel == "filter_dp" and cfg.detector == "surprise"


def test_every_configuration_problem_is_reported_at_once(tmp_path: Path) -> None:
    """Issue 16: three runs to learn three mistakes; a serial source without a port started
    and then logged "cannot open None" every 5 s; detector = "bogus" failed when data came."""
    from edge.config import load_config
    from edge.errors import ConfigError

    bad = tmp_path / "edge.toml"
    bad.write_text(
        'data_dir = "d"\ndetector = "bogus"\n\n[[sources]]\nkind = "serial"\n\n'
        '[[sources]]\nkind = "mqtt"\nbroker = "host:notaport"\n\n[uplink]\nbroker = "also bad:"\n'
    )
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    lines = str(err.value).splitlines()
    assert len(lines) == 4 and all(line.startswith(f"{bad}: ") for line in lines)
    assert "detector: unknown detector 'bogus'" in lines[0]
    assert "sources.0: a serial source needs its port" in lines[1]
    assert "sources.1: broker address 'host:notaport' is not HOST:PORT" in lines[2]
    assert "uplink.broker: broker address 'also bad:' is not HOST:PORT" in lines[3]
