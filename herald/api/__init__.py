"""The HTTP API: Twilio's resources at Twilio's paths, plus Herald's extensions."""
