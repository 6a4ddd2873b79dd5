"""Errors raised by firmware_bridge, as one documented tree.

Bad bytes from a device are *data*, not exceptions: the decoder turns them into
counted :class:`~firmware_bridge.frames.FrameError` events and keeps going. The
exceptions below are for the caller's mistakes and for I/O adapters::

    BridgeError
    ├── LocalProtocolError      the caller asked the codec for something impossible
    │                           (encode a frame whose fields do not fit the wire format)
    └── TransportError          a port failed in a way the adapter cannot hide
        └── SerialPortError     pyserial's SerialException / OSError, translated once

MQTT errors are :class:`mqtt_client.MqttError`: the client builder every side shares
lives in its own package.
"""

from __future__ import annotations

__all__ = ["BridgeError", "LocalProtocolError", "SerialPortError", "TransportError"]


class BridgeError(Exception):
    """Base class of every error firmware_bridge raises on purpose."""


class LocalProtocolError(BridgeError):
    """The local side misused the codec, e.g. a device id too long to encode."""


class TransportError(BridgeError):
    """An I/O adapter could not reach its port or broker."""


class SerialPortError(TransportError):
    """A serial port could not be opened or read."""

