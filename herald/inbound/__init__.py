"""Two-way messaging: inbound messages from the carriers, opt-out keywords and the ledger,
inbound webhooks and the TwiML replies they answer with."""
