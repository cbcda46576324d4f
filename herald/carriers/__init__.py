"""Carrier connections: the simulated carrier network (default) and SMPP."""
