"""Keeping a store healthy: find and repair what crashes and hand edits left behind."""
