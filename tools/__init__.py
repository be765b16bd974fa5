"""Everything an agent may touch. Drop a file here holding a CrewAI ``BaseTool`` subclass or an ``@tool``
function and refer to it by name in ``config/agents.yaml``; ``registry`` finds it without importing CrewAI.
"""
