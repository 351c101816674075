"""The copied-text guard: its record of a copy (`record`, light enough for the app's process) and
the index of training texts (`index`)."""
