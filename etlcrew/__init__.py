"""etlcrew: ETL run by CrewAI agents, configured in YAML, loaded through a durable execution layer.

This package is the application shell: CLI wiring, command bodies, console output, errors, settings and
the validated view of ``config/*.yaml``. The architecture lives beside it: ``agents/ tasks/ crews/ tools/``
turn specs into CrewAI objects, ``model_runtime/`` serves models, ``pipeline/`` moves data.
"""

__version__ = "0.1.0"
