"""svtools: a daemontools-compatible process supervision suite."""

__version__ = "0.1.0"
