"""A small MQTT broker in Python, the zero-set-up default when mosquitto is not installed.

``packets`` is the wire format, ``core`` the sessions and routing (both sans-IO),
``server`` the asyncio adapter. mosquitto stays the reference broker: CI runs every
broker test against it, and the demo prefers it when it is installed.
"""

from .server import EmbeddedBroker

__all__ = ["EmbeddedBroker"]
