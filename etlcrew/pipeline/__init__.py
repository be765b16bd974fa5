"""The data path, read in one direction: sources → items → batches → records → targets.

``sources`` yields ``Item``s before any model is called; ``records`` turns the crew's YAML schema into pydantic
models and validates model output; ``targets`` loads records idempotently (dlt merge on the primary key).
"""
