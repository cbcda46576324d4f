"""Dispatch: per-sender queues at legal rates, from the store to a carrier transport."""
