"""Which model serves a run, and the CrewAI ``LLM`` for it: the embedded model or a provider CrewAI knows.

``local/NAME`` means a catalogue model served in-process by llama.cpp (see ``server.py``); anything else
(``openai/...``, ``anthropic/...``, ``gemini/...``, ``ollama/...``) goes to CrewAI's native providers.
Structured output needs no shim: CrewAI's OpenAI provider sends ``response_format: {type: json_schema,
json_schema: {name, schema, strict: true}}`` both for ``llm.call(..., response_model=M)`` and for a
Task's ``output_pydantic`` (also after tool calls, in its converter step), and llama.cpp turns that schema
into a grammar, so even SmolLM2-135M returns schema-valid JSON (tests/model_runtime/test_embedded.py).
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from etlcrew.errors import ModelError, ModelSetupError
from etlcrew.model_runtime.catalogue import LOCAL_PREFIX, default_entry, find_entry, load_catalogue

if TYPE_CHECKING:
    from pathlib import Path

    from etlcrew.settings import Settings

LOCAL_API_KEY = "sk-local"
MIN_SLOTS = 2

# Provider prefix -> environment variables that hold its key (any one will do).
PROVIDER_KEYS: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "claude": ("ANTHROPIC_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "google": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "openrouter": ("OPENROUTER_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "cerebras": ("CEREBRAS_API_KEY",),
    "dashscope": ("DASHSCOPE_API_KEY",),
    "deepinfra": ("DEEPINFRA_API_KEY",),
}
# Providers that speak the OpenAI protocol: with a base_url (a self-hosted server) no real key is needed.
OPENAI_COMPATIBLE = {"openai", "ollama", "ollama_chat", "hosted_vllm"}
# Providers whose CrewAI client needs a package of its own: provider -> (module to import, our install extra).
PROVIDER_PACKAGES: dict[str, tuple[str, str]] = {
    "anthropic": ("anthropic", "anthropic"), "claude": ("anthropic", "anthropic"),
    "gemini": ("google.genai", "gemini"), "google": ("google.genai", "gemini"),
    "azure": ("azure.ai.inference", "azure"), "bedrock": ("boto3", "bedrock"),
}
KEYLESS = {"ollama", "ollama_chat", "hosted_vllm"}
GEMINI_PROVIDERS = {"gemini", "google"}  # CrewAI's native Gemini provider (google-genai)


def default_model_name() -> str:
    """``local/<catalogue default>``: what runs when nothing is configured."""
    return default_entry().provider_name


def resolve_model(
    flag: str | None, agent_llm: str | None, crew_model: str | None, env_model: str | None,
    *, default: str | None = None,
) -> tuple[str, str]:
    """The model in force and where it came from, by precedence.

    ``--model`` flag > the agent's ``llm:`` > the crew's ``model:`` > ``MODEL`` (environment or .env) >
    the embedded default (``default`` if given, e.g. ``local/<settings.embedded_model>``). Blank = unset.
    """
    for value, origin in ((flag, "--model flag"), (agent_llm, "agent llm:"), (crew_model, "crew model:"),
                          (env_model, "MODEL")):
        if value and value.strip():
            return normalise(value.strip()), origin
    return normalise(default) if default else default_model_name(), "embedded default"


def resolve_model_name(
    flag: str | None, agent_llm: str | None, crew_model: str | None, env_model: str | None,
    *, default: str | None = None,
) -> str:
    """Just the name from ``resolve_model`` (see there for the precedence)."""
    return resolve_model(flag, agent_llm, crew_model, env_model, default=default)[0]


def normalise(model: str) -> str:
    """A bare catalogue name (``smollm2-135m``) means the local model; other names pass through."""
    if "/" not in model and model in {e.name for e in load_catalogue()}:
        return LOCAL_PREFIX + model
    return model


OLLAMA_ENV = ("OLLAMA_HOST", "OLLAMA_API_BASE")  # Ollama's own name, and the one most guides (LiteLLM) use


def ollama_base_url() -> str | None:
    """The Ollama server from ``OLLAMA_HOST`` or ``OLLAMA_API_BASE`` as an OpenAI-compatible base URL (``http://``
    and port 11434 added when missing, ``/v1`` appended), or ``None`` when neither is set."""
    from urllib.parse import urlsplit, urlunsplit

    value = next((os.environ[n].strip() for n in OLLAMA_ENV if os.environ.get(n, "").strip()), None)
    if value is None:
        return None
    parts = urlsplit(value if "://" in value else f"http://{value}")
    netloc = parts.netloc if parts.port is not None or parts.scheme != "http" else f"{parts.netloc}:11434"
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, netloc, path if path.endswith("/v1") else f"{path}/v1", "", ""))


OPENAI_ENV = ("OPENAI_BASE_URL", "OPENAI_API_BASE")  # the OpenAI SDK's name, and the older one CrewAI also reads


def provider_base_url(model: str) -> str | None:
    """The server a provider's own environment names, for users who point CrewAI there without our flags:
    ``OPENAI_BASE_URL``/``OPENAI_API_BASE`` for ``openai/...`` (and bare names: vLLM, LM Studio, llama-server),
    ``OLLAMA_HOST``/``OLLAMA_API_BASE`` for ``ollama/...``; ``None`` otherwise (``--base-url`` wins over both)."""
    provider, _, name = normalise(model).partition("/")
    if provider in ("ollama", "ollama_chat"):
        return ollama_base_url()
    if provider == "openai" or not name:
        return next((os.environ[n].strip() for n in OPENAI_ENV if os.environ.get(n, "").strip()), None)
    return None


def _require_package(provider: str, model: str) -> None:
    """Stop before the run starts, with the install command, when the provider's client package is missing."""
    import importlib.util

    from etlcrew.invocation import install_hint

    needed = PROVIDER_PACKAGES.get(provider)
    if needed is None:
        return
    module, extra = needed
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        raise ModelSetupError(f"model '{model}' needs the '{module.split('.')[0]}' package, which is not installed",
                              hint=install_hint(extra))


def _require_key(provider: str, model: str) -> None:
    names = PROVIDER_KEYS.get(provider)
    if names and not any(os.environ.get(n) for n in names):
        either = " or ".join(names)
        raise ModelSetupError(
            f"model '{model}' needs {either} to be set",
            hint=f"put {names[0]}=... in .env (or the environment), "
            f"or use a local model (--model {default_model_name()})",
        )


def _require_structured_output(provider: str, name: str, model: str) -> None:
    """Stop before the run when CrewAI cannot ask this Gemini model for records: below Gemini 2.0 (or with no
    version in the name) it sends the schema as google-genai's ``Schema``, which rejects ``prefixItems``."""
    import re

    version = re.search(r"gemini-(\d+(?:\.\d+)?)", name.lower())
    if provider in GEMINI_PROVIDERS and not (version and float(version.group(1)) >= 2.0):
        raise ModelSetupError(
            f"model '{model}' cannot return records: CrewAI asks only Gemini 2.0 and later for structured output "
            "in a form our schemas fit", hint="name a Gemini model by its version, 2.0 or later: "
            "--model gemini/gemini-2.0-flash")


def build_llm(
    model: str, settings: Settings, *, base_url: str | None = None, parallel: int = 2, temperature: float = 0,
    timeout: float | None = None,
) -> Any:
    """A CrewAI ``LLM`` for ``model``; ``local/NAME`` ensures the weights and starts the embedded server.

    ``base_url`` (else ``settings.base_url``) points the provider's client at another server: a self-hosted
    OpenAI-compatible one, a proxy, or a stub on 127.0.0.1 (``endpoint_kwargs`` says how each client takes it).
    Missing keys and unknown local names raise ``ModelSetupError`` before CrewAI is imported. The provider
    client does not retry (``max_retries=0``): ``model_runtime.resilience`` owns retries, so attempts are counted
    and backed off in one place; ``timeout`` is the per-call timeout (the client's default waits 600 s).
    """
    model = normalise(model)
    provider, _, name = model.partition("/")
    base_url = base_url or settings.base_url or provider_base_url(model)
    if provider + "/" == LOCAL_PREFIX:
        return _build_local(name, settings, parallel=parallel, temperature=temperature, timeout=timeout)
    if not name:
        provider = "openai"  # CrewAI's own default for a bare name such as "gpt-4o-mini"
    if not (base_url and provider in OPENAI_COMPATIBLE):
        _require_key(provider, model)
    _require_package(provider, model)
    _require_structured_output(provider, name, model)
    from etlcrew.crewai_env import import_crewai

    crewai = import_crewai(settings.state_dir)
    kwargs: dict[str, Any] = {"model": model, "temperature": temperature, "max_retries": 0}
    if provider == "openai" or not name:  # OpenAI and OpenAI-compatible servers return token log-probabilities
        from etlcrew.model_runtime.confidence import ConfidenceInterceptor

        kwargs |= {"logprobs": True, "interceptor": ConfidenceInterceptor()}
    if timeout:
        kwargs["timeout"] = timeout
    kwargs |= endpoint_kwargs(provider, base_url, timeout)
    if base_url and provider in OPENAI_COMPATIBLE and provider not in KEYLESS and not os.environ.get("OPENAI_API_KEY"):
        kwargs["api_key"] = LOCAL_API_KEY  # self-hosted OpenAI-compatible servers ignore it
    return crewai.LLM(**kwargs)


def endpoint_kwargs(provider: str, base_url: str | None, timeout: float | None = None) -> dict[str, Any]:
    """The ``crewai.LLM`` arguments that send ``provider``'s requests to ``base_url`` (if any) with ``timeout``.

    CrewAI hands ``base_url`` and ``timeout`` to the OpenAI and Anthropic clients (Anthropic's URL is the host: it
    appends ``/v1/messages``), but its Gemini provider ignores both: google-genai takes them in ``http_options``
    (then asks ``{base_url}/v1beta/models/{model}:generateContent``), the timeout in milliseconds.
    """
    if provider in GEMINI_PROVIDERS:
        options: dict[str, Any] = {}
        if base_url:
            options["base_url"] = base_url
        if timeout:
            options["timeout"] = int(timeout * 1000)
        return {"client_params": {"http_options": options}} if options else {}
    return {"base_url": base_url} if base_url else {}


def _draft_weights(settings: Settings, model: str) -> Path | None:
    """The draft model's weights when ``ETLCREW_MODEL_SPECULATIVE=draft`` (never fetched here: pulled by hand)."""
    from etlcrew.invocation import command
    from etlcrew.model_runtime import cpu_tuning

    if cpu_tuning.speculative() != "draft" or model == cpu_tuning.DRAFT_MODEL:
        return None
    path = settings.model_cache_dir / find_entry(cpu_tuning.DRAFT_MODEL).file
    if not path.is_file():
        raise ModelSetupError(f"{cpu_tuning.SPECULATIVE_ENV}=draft needs the {cpu_tuning.DRAFT_MODEL} weights",
                              hint=f"run `{command('models', 'pull', cpu_tuning.DRAFT_MODEL)}`, or unset it")
    return path


def _build_local(name: str, settings: Settings, *, parallel: int, temperature: float,
                 timeout: float | None = None) -> Any:
    from etlcrew.crewai_env import import_crewai
    from etlcrew.model_runtime.server import DEFAULT_CTX_PER_SLOT, start_server
    from etlcrew.model_runtime.weights import ensure_weights

    entry = find_entry(name)
    path = ensure_weights(entry, settings.model_cache_dir)
    # two slots at least: llama.cpp gives a request the slot whose cached prompt is most alike, so the
    # transformer's and the publisher's shared prompts stay cached side by side even when calls come one by one
    server = start_server(path, alias=entry.name, parallel=max(MIN_SLOTS, parallel),
                          ctx_per_slot=min(DEFAULT_CTX_PER_SLOT, entry.context_size),
                          draft_path=_draft_weights(settings, entry.name),
                          **({"repeat_penalty": entry.repeat_penalty} if entry.repeat_penalty else {}))
    crewai = import_crewai(settings.state_dir)
    from etlcrew.model_runtime.confidence import ConfidenceInterceptor

    return crewai.LLM(model=f"openai/{entry.name}", base_url=server.url, api_key=LOCAL_API_KEY,
                      temperature=temperature, max_retries=0, logprobs=True, interceptor=ConfidenceInterceptor(),
                      **({"timeout": timeout} if timeout else {}))


def check_reachable(base_url: str, timeout: float = 3.0) -> None:
    """Fail early, naming the URL, when no server answers at ``base_url`` (any HTTP reply counts)."""
    if not base_url.startswith(("http://", "https://")):
        raise ModelSetupError(f"base URL '{base_url}' must start with http:// or https://")
    probe = base_url.rstrip("/") + "/models"
    try:
        with urllib.request.urlopen(probe, timeout=timeout):  # noqa: S310 - scheme checked above
            return
    except urllib.error.HTTPError:
        return  # it answered (401/404 still prove a server is there)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ModelError(
            f"no model server answers at {base_url} ({reason})",
            hint="start the server, or fix --base-url / ETLCREW_BASE_URL / BASE_URL",
        ) from exc
