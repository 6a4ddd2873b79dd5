"""The one place that builds paho-mqtt clients, for every side: devices' gateways and
readers (firmware_bridge), the simulator, the edge's uplink and the cloud's workers.

Its own small package so that the cloud can use it without importing the device
transport (serial framing, the device message gate): the cloud's only other project
import is the wire contract (``firmware_bridge.contract``); ``tests/test_architecture.py``
checks both arrows.
"""

from __future__ import annotations

from .link import BrokerAddress, ConnectedClient, MqttError, parse_broker, parse_brokers, secure_client

__all__ = ["BrokerAddress", "ConnectedClient", "MqttError", "parse_broker", "parse_brokers", "secure_client"]
