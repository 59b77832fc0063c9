"""Helpers that several test modules share (not tests themselves)."""
