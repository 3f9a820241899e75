"""Local stand-ins that speak the real protocols of the services gitorch talks to (loopback only)."""
