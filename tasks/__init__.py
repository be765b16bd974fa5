"""The ETL phases from ``config/tasks.yaml`` become CrewAI ``Task``s here."""
