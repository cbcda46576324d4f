"""herald campaign: a bulk-send connector, a client of the public Twilio API only."""
