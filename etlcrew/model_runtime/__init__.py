"""Where model answers come from: the embedded llama.cpp server, hosted providers through CrewAI, or the
scripted model for deterministic tests. Importing this package imports neither CrewAI nor llama.cpp.
"""
