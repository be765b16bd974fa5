"""What a tool raises when asked to reach outside its crew's declared sources and targets.

Its own module so the helpers the scope uses (``safe_sql``, ``data_wrapping``) can raise it without importing
the scope; tools import it from ``tools.scope``, next to ``current_scope()``, as the README shows.
"""

from __future__ import annotations


class ToolScopeError(ValueError):
    """A tool was asked to reach outside what its crew declares; the message says what is allowed."""
