"""``${NAME}`` in header values: credentials come from the environment (or ``.env``), never from crews.yaml.

Resolved only when a request is made, so the secret is in no spec, hash, ledger row or trace; ``validate``
checks beforehand that every name is set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def env_names(values: Mapping[str, str]) -> list[str]:
    """The variables the values refer to, in order, once each."""
    return list(dict.fromkeys(name for value in values.values() for name in ENV_REF.findall(value)))


def with_env(values: Mapping[str, str], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The values with each ``${NAME}`` replaced from the environment; an unset name raises ``KeyError``."""
    env = os.environ if environ is None else environ
    return {key: ENV_REF.sub(lambda m: env[m.group(1)], value) for key, value in values.items()}
