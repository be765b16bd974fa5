"""Roles from ``config/agents.yaml`` become CrewAI ``Agent``s here."""
