"""rrasctl: a Windows-RRAS-style VPN router for Linux. Importing this package costs nothing."""

__version__ = "0.1.0"
