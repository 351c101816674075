"""Widgets of the drafting app."""
