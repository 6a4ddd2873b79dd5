"""Device <-> edge wire protocol: frames, a sans-IO codec, and serial / MQTT adapters.

The codec (``cobs``, ``crc``, ``frames``, ``layout``, ``encoder``, ``decoder``) does no
I/O. ``serial_reader``, ``mqtt_reader`` and ``bridge`` own ports and sockets. Both kinds
of reader yield the same :class:`Sample` (and event / consumable / heartbeat) objects.
"""

from __future__ import annotations

from .decoder import Decoder, decode_one
from .encoder import encode, encode_body
from .errors import BridgeError, LocalProtocolError, SerialPortError, TransportError
from .frames import (
    DEFAULT_MAX_FRAME_SIZE,
    NEED_DATA,
    PROTOCOL_VERSION,
    ConsumableFrame,
    ErrorKind,
    EventFrame,
    Frame,
    FrameError,
    FrameType,
    HeartbeatFrame,
    TelemetryFrame,
)
from .gate import MessageGate
from .json_codec import JsonError, message_from_json, message_to_json
from .messages import (
    ConsumableUsage,
    DeviceEvent,
    DeviceMessage,
    Heartbeat,
    Sample,
    message_from_frame,
    message_to_frame,
)
from .sequence import SequenceTracker, SeqVerdict
from .topics import device_topic, parse_device_topic, telemetry_filter

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "NEED_DATA",
    "PROTOCOL_VERSION",
    "BridgeError",
    "ConsumableFrame",
    "ConsumableUsage",
    "Decoder",
    "DeviceEvent",
    "DeviceMessage",
    "ErrorKind",
    "EventFrame",
    "Frame",
    "FrameError",
    "FrameType",
    "Heartbeat",
    "HeartbeatFrame",
    "JsonError",
    "LocalProtocolError",
    "MessageGate",
    "Sample",
    "SeqVerdict",
    "SequenceTracker",
    "SerialPortError",
    "TelemetryFrame",
    "TransportError",
    "decode_one",
    "device_topic",
    "encode",
    "encode_body",
    "message_from_frame",
    "message_from_json",
    "message_to_frame",
    "message_to_json",
    "parse_device_topic",
    "telemetry_filter",
]
