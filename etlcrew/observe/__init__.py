"""Seeing a run while it happens and after: one event hub feeding the live display and the JSONL trace."""
