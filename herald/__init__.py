"""Herald: a self-hosted, Twilio-compatible messaging service."""

__version__ = "0.1.0"
