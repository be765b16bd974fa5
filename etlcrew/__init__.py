"""etlcrew: ETL run by CrewAI agents, configured in YAML, loaded through a durable execution layer.

Everything installed lives under this one package (as llm, dlt and crewai do), so nothing generic lands at the top
of site-packages. The engine is here: the CLI and its commands, ``specs/`` (the validated view of
``config/*.yaml``), ``model_runtime/`` (serves models), ``pipeline/`` (moves data), ``ledger/``, ``observe/`` and
``evaluation/``. The design's folders ``agents/ tasks/ crews/ tools/`` stay at the top of the repository, where
CrewAI users look for them, and install as ``etlcrew.agents`` ... ``etlcrew.tools`` (see pyproject.toml).
"""

__version__ = "0.1.0"
