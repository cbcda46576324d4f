"""Status callbacks and inbound webhooks: signed, from a durable outbox, retried."""
