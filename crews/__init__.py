"""Crews from ``config/crews.yaml`` become CrewAI ``Crew``s here (sequential or hierarchical)."""
