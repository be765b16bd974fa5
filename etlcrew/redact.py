"""Mask secrets in text before it is shown or stored: the console, the ledger, the report and the trace.

What counts as a secret:

- the value of any environment variable whose name contains KEY, TOKEN, SECRET or PASSWORD (8 characters or
  more; exact occurrences, also in their JSON-escaped form), so a key loaded from ``.env`` is caught whatever
  its shape;
- common key shapes: ``sk-...`` / ``sk-ant-...`` (OpenAI, Anthropic), ``ghp_...`` and other GitHub tokens,
  ``AKIA...`` (AWS), ``xox?-...`` (Slack), ``AIza...`` (Google), ``Bearer ...``;
- ``api_key=``, ``token=``, ``password=``... query or form parameters, and the same keys as JSON strings;
- passwords in URLs: ``scheme://user:pass@host`` becomes ``scheme://user:***@host``.

Masks never contain a quote or a backslash and never eat one, so redacted JSON stays valid JSON.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

MASK = "***"
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD")
_MIN_ENV_VALUE = 8
_VALUE = r"[A-Za-z0-9_\-.~+/=]"  # what a token is made of; never a quote, a backslash or a space
_PARAM_NAMES = (r"api[_\-]?key|apikey|access[_\-]?token|auth[_\-]?token|token|client[_\-]?secret|secret|password|"
                r"passwd|pwd")
# (pattern, replacement, substrings of the lower-cased text one of which must be present for it to match):
# Python's re costs ~40 ns a character per pattern, so a pattern runs only where its literal part occurs
_PATTERNS: list[tuple[re.Pattern[str], str, tuple[str, ...]]] = [
    # scheme://user:password@host  (the user stays: it tells which account)
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@\"'\\]*:)[^\s/?#\"'\\]+(@)"), rf"\1{MASK}\2", ("://",)),
    (re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{8,}"), f"sk-ant-{MASK}", ("sk-ant-",)),
    (re.compile(r"\bsk-(?!ant-)[A-Za-z0-9_\-]{8,}"), f"sk-{MASK}", ("sk-",)),
    (re.compile(r"\b(gh[pousr]_)[A-Za-z0-9]{16,}"), rf"\1{MASK}", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")),
    (re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"), f"github_pat_{MASK}", ("github_pat_",)),
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), rf"\1{MASK}", ("akia", "asia")),
    (re.compile(r"\b(xox[abposr]-)[A-Za-z0-9\-]{8,}"), rf"\1{MASK}", ("xox",)),
    (re.compile(r"\bAIza[0-9A-Za-z_\-]{30,}"), f"AIza{MASK}", ("aiza",)),
    (re.compile(rf"(?i)\b(bearer)(\s+){_VALUE}{{8,}}"), rf"\1\2{MASK}", ("bearer",)),
    # ?api_key=..., &token=..., password=... (a name of its own: primary_key= is left alone)
    (re.compile(rf"(?i)(?<![A-Za-z0-9_\-])((?:{_PARAM_NAMES})=)(?!\*\*\*)[^&\s\"'#<>\\]+"), rf"\1{MASK}",
     ("key=", "token=", "secret=", "password=", "passwd=", "pwd=")),
    # "api_key": "...", "Authorization": "..." (JSON or Python reprs)
    (re.compile(rf"(?i)([\"'](?:{_PARAM_NAMES}|authorization|x-api-key)[\"']\s*:\s*[\"'])(?!\*\*\*)[^\"'\\]{{4,}}"),
     rf"\1{MASK}", ("key\"", "key'", "token\"", "token'", "secret\"", "secret'", "passwd", "password", "pwd",
                    "authorization")),
]
_env_cache: tuple[int | None, list[str]] = (None, [])


def _env_fingerprint() -> int:
    """Changes whenever a variable is set or unset; ~3 us where decoding the whole environment costs ~60 us."""
    data = getattr(os.environ, "_data", None)
    return hash(tuple(data.items())) if isinstance(data, dict) else hash(tuple(os.environ.items()))


def secret_env_values() -> list[str]:
    """Values of secret-looking environment variables, longest first (so one never half-masks another)."""
    global _env_cache
    fingerprint = _env_fingerprint()
    if _env_cache[0] != fingerprint:
        found = {value for name, value in os.environ.items()
                 if len(value) >= _MIN_ENV_VALUE and _SECRET_NAME.search(name.upper()) and value.strip()}
        escaped = {json.dumps(v)[1:-1] for v in found} - found
        _env_cache = (fingerprint, sorted(found | escaped, key=len, reverse=True))
    return _env_cache[1]


def redact(text: str) -> str:
    """``text`` with every secret masked as ``***``; cheap enough for every ledger write and console line."""
    if not text:
        return text
    for value in secret_env_values():
        if value in text:
            text = text.replace(value, MASK)
    lower = text.lower()
    for pattern, replacement, needles in _PATTERNS:
        if any(needle in lower for needle in needles):
            text = pattern.sub(replacement, text)
    return text


def redact_obj(obj: Any) -> Any:
    """A copy of ``obj`` (dicts, lists, tuples, strings, scalars) with every string redacted, keys included."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {redact_obj(k): redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact_obj(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(redact_obj(v) for v in obj)
    return obj


# A URL to show in a message: beyond ``redact``, every credential-like query parameter and any user name
_HIDDEN_PARAMS = r"(?:token|access_token|refresh_token|api_key|apikey|api-key|key|password|passwd|pwd|secret|" \
                 r"client_secret|signature|sig|auth|authorization|session|sessionid|code)"
_SECRET_QUERY = re.compile(rf"([?&;]{_HIDDEN_PARAMS}=)[^&#\s;]*", re.IGNORECASE)
_USERINFO = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.\-]*://)([^/@\s:]*)(:[^/@\s]*)?@")
_BARE_USERINFO = re.compile(r"(^|[\s/])([^\s/@:]+):[^\s/@]+@")


def redact_url(text: str) -> str:
    """``text`` naming URLs (a source's, a request's): passwords in ``scheme://user:pw@host``, a bare
    ``user@host`` and every credential-like query parameter (``token=``, ``sig=``, ``code=``...) hidden, then
    ``redact``."""
    text = _USERINFO.sub(lambda m: f"{m.group(1)}{m.group(2)}:***@" if m.group(3) else f"{m.group(1)}***@", text)
    text = _BARE_USERINFO.sub(r"\1\2:***@", text)
    return redact(_SECRET_QUERY.sub(r"\1***", text))

