"""Screens of the drafting app."""
