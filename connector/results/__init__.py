"""Delivery results: one a record, built from what became of it, their codec, and the match-quality
summary analysts read (`report`)."""
