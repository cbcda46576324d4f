"""The functional core: plain values in, plain values out; no I/O, clock or randomness."""
