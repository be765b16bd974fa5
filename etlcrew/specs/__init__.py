"""The validated view of ``config/*.yaml``: strict schemas, references and placeholders.

Everything here is checked before any token is spent.

CrewAI ignores unknown keys and a missing config file; this package does not. Importing it never imports CrewAI.
"""

from etlcrew.specs.loader import load_project
from etlcrew.specs.project import ProjectSpec

__all__ = ["ProjectSpec", "load_project"]
