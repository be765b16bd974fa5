"""Prompt and decoding variants for the inbox crew's transform, scored on the shipped labels (issue 12).

How: a scripted run of the crew (no model) records the exact messages CrewAI sends for each item's transform
call. Each variant edits those messages (the described schema), the record's JSON schema or the request, sends
one call per item straight to the embedded llama.cpp server (2 in flight, temperature 0), and scores the
records with ``evaluation.scoring``. Fields after sentiment come after every scored choice, so they cannot
change it. For every wrong urgency or sentiment it prints the model's own probabilities at that choice (before
the grammar and the repeat penalty), which is how the variants below were told apart.

Variants (comma-separated): ``base`` (the shipped prompt); ``nopen`` (llama.cpp's repeat penalty off; combine,
e.g. ``reason_nopen``); ``rules`` (urgency and sentiment as "take the first that fits" lists); ``jsonex``
(examples as JSON values); ``reason`` (a few words of reason written right before urgency and sentiment);
``descv`` (the values renamed to short descriptions); ``letters`` (the values numbered, the model writes the
number); ``first`` / ``early`` (urgency and sentiment written before the reasoning sentence, or right after
it, before product and category); ``cal`` (adds label-free calibration of the base answers: by a
content-free item, and by the mean over the run's items); ``checks`` (yes/no questions in place of urgency and
sentiment, code takes the first yes: what the crew ships, see ``pipeline/checks.py``) and ``checks2`` (its
sentiment questions naming the signs of feeling). The server runs with llama.cpp's 1.15 repeat penalty whatever
the catalogue says, so ``X`` and ``X_nopen`` compare the two.
Usage: python bench/prompt_variants.py base,nopen,rules [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ORDINAL = ("urgency", "sentiment")
RULES = {
    "urgency": ("how fast support must act; go down the list and take the first that fits",
                ["urgent", "high", "low", "medium"]),
    "sentiment": ("the writer's tone, not the problem; take the first that fits", ["positive", "negative", "neutral"]),
}
SHORT = {"urgency": {"low": "nothing is broken", "medium": "a usual problem",
                     "high": "locked out or a whole order lost", "urgent": "a safety or security risk"},
         "sentiment": {"negative": "angry, frustrated or worried", "neutral": "polite or factual",
                       "positive": "praise or thanks"}}


# "checks": yes/no questions in place of urgency and sentiment; code takes the first yes (in this order)
CHECKS = {
    "urgency": ([("security_risk", "urgent", "a safety or security risk: fire, smoke, a burning smell, a doorbell or "
                  "camera not working, a stranger in the account"),
                 ("locked_out", "high", "the customer cannot get into the account at all, or a whole order never "
                  "arrived, and it cannot wait"),
                 ("problem", "medium", "something is broken or wrong that support must fix (a fault, a charge, a "
                  "refund, a late or damaged parcel, a password)")], "low"),
    "sentiment": ([("upset", "negative", "the writer sounds angry, frustrated, worried or impatient"),
                   ("praise", "positive", "the writer praises the product or thanks for it")], "neutral"),
}


# "checks2": the sentiment questions name the signs of feeling, as the labelling policy does (data/README.md)
CHECKS2_SENTIMENT = ([("upset", "negative", "beyond reporting a problem, the writer shows anger, frustration or "
                      "worry (capitals, \"!!\", \"again\", a threat to cancel, fear for safety)"),
                     ("praise", "positive", "the writer says they like or love the product, or praises it")],
                     "neutral")


def checks_for(variant: str) -> dict[str, Any]:
    return CHECKS | ({"sentiment": CHECKS2_SENTIMENT} if "checks2" in variant else {})


def derive_checks(answers: dict[str, Any]) -> dict[str, str]:
    """Urgency and sentiment from the model's yes/no answers: the first yes in CHECKS' order wins."""
    return {name: next((value for key, value, _ in checks if answers.get(key) is True), otherwise)
            for name, (checks, otherwise) in CHECKS.items()}


def check_answers(values: dict[str, str]) -> dict[str, bool]:
    """The yes/no answers that give an example's labelled urgency and sentiment (for the examples)."""
    out = {key: values[name] == value for name, (checks, _) in CHECKS.items() for key, value, _ in checks}
    return out | {"problem": values["urgency"] != "low"}  # any urgency above low is a problem too


def captured_calls(item_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """item_id -> the messages of its transform call, from a scripted run of the crew (no model)."""
    os.environ["ETLCREW_STATE_DIR"] = tempfile.mkdtemp(prefix="etlcrew-variants-")
    from etlcrew.crewai_env import prepare_crewai_environment

    prepare_crewai_environment(Path(os.environ["ETLCREW_STATE_DIR"]))
    from click.testing import CliRunner

    from etlcrew.cli import cli
    from etlcrew.model_runtime.scripted import ScriptedLLM, register_scripted, sample_answer

    llm = ScriptedLLM(default=sample_answer)
    register_scripted("variants", llm)
    CliRunner().invoke(cli, ["eval", "--model", "scripted/variants", "--json"], catch_exceptions=False)
    calls = {}
    for call in llm.history:
        if call.task == "transform" and call.response_model is not None:
            item_id = call.response_model.model_json_schema()["properties"]["records"]["prefixItems"][0][
                "properties"]["item_id"]["const"]
            calls[item_id] = call.messages
    return {i: calls[i] for i in item_ids}


def variant_schema(schema: Any, variant: str) -> tuple[Any, dict[str, dict[str, str]]]:
    """The schema the model sees for ``variant``, and written value -> schema value for renamed values."""
    data = schema.model_dump()
    back: dict[str, dict[str, str]] = {}
    for name in ORDINAL:
        spec = data["fields"][name]
        if "rules" in variant:
            spec["description"], order = RULES[name]
            spec["values"] = order
        rename = ({v: str(n) for n, v in enumerate(spec["values"], 1)} if "letters" in variant
                  else SHORT[name] if "descv" in variant else None)
        if rename:
            spec["value_notes"] = {rename[v]: f"{v}: {spec['value_notes'].get(v, '')}" if "letters" in variant
                                   else spec["value_notes"].get(v, "") for v in spec["values"]}
            spec["values"] = [rename[v] for v in spec["values"]]
            spec["description"] = "how fast support must act" if name == "urgency" else "the writer's tone"
            for example in data["examples"]:
                example["values"][name] = rename[example["values"][name]]
            back[name] = {w: v for v, w in rename.items()}
    return type(schema).model_validate(data), back


def described(schema: Any, variant: str) -> str:
    from etlcrew.pipeline.batches import describe_schema

    text = describe_schema(schema)
    if "jsonex" in variant:
        head, _, _ = text.partition("Examples (text -> values):")
        text = head + "Examples (text -> record values):\n" + "\n".join(
            f'- "{" ".join(e.text.split())}" -> {json.dumps(e.values, ensure_ascii=False)}' for e in schema.examples)
    if "checks" in variant:
        lines = text.split("\n")
        keep, skipping = [], False
        for line in lines:
            if line.startswith(("- urgency", "- sentiment")):
                skipping = True
                if line.startswith("- urgency"):
                    keep += [f"- {key}: true or false: {question}"
                             for n in ORDINAL for key, _, question in checks_for(variant)[n][0]]
                continue
            if skipping and line.startswith("    "):
                continue
            skipping = False
            if " -> product:" in line:
                head, _, values = line.partition(" -> ")
                pairs = dict(p.split(": ", 1) for p in values.split("; "))
                answers = check_answers(pairs)
                pairs = {k: v for k, v in pairs.items() if k not in ORDINAL} | {k: str(v).lower()
                                                                              for k, v in answers.items()}
                line = head + " -> " + "; ".join(f"{k}: {v}" for k, v in pairs.items())
            keep.append(line)
        text = "\n".join(keep)
    if "reason" in variant:
        for name in ORDINAL:
            text = text.replace(f"\n- {name}", f"\n- {name}_reason: first, in a few words, which {name} fits and "
                                f"why (not stored)\n- {name}", 1)
    return text


def request(ctx: dict[str, Any], item_id: str, variant: str) -> dict[str, Any]:
    from etlcrew.pipeline.batches import batch_output_model, describe_schema

    schema, _ = variant_schema(ctx["schema"], variant)
    messages = [dict(m) for m in ctx["calls"][item_id]]
    shipped = describe_schema(ctx["schema"])
    assert shipped in messages[-1]["content"], "the captured prompt no longer holds the described schema"
    messages[-1]["content"] = messages[-1]["content"].replace(shipped, described(schema, variant))
    js = batch_output_model(schema, [item_id]).model_json_schema()
    if "reason" in variant:
        record = js["properties"]["records"]["prefixItems"][0]
        record["properties"] = {k2: v2 for k, v in record["properties"].items() for k2, v2 in
                                ([(f"{k}_reason", {"type": "string", "maxLength": 60})] if k in ORDINAL else [])
                                + [(k, v)]}
        record["required"] += [f"{k}_reason" for k in ORDINAL]
    if "checks" in variant:
        record = js["properties"]["records"]["prefixItems"][0]
        checks = [key for n in ORDINAL for key, _, _ in CHECKS[n][0]]
        record["properties"] = {k2: v2 for k, v in record["properties"].items() for k2, v2 in
                                ([(c, {"type": "boolean"}) for c in checks] if k == "urgency" else []
                                 + ([(k, v)] if k not in ORDINAL else []))}
        record["required"] = [k for k in record["required"] if k not in ORDINAL] + checks
    if "first" in variant or "early" in variant:  # the ordinal choices before the reasoning, or right after it
        record = js["properties"]["records"]["prefixItems"][0]
        keys = list(record["properties"])
        moved = [k for k in keys if k.removesuffix("_reason") in ORDINAL]
        rest = [k for k in keys if k not in moved]
        at = 1 if "first" in variant else 2  # after item_id, or after item_id and reasoning
        record["properties"] = {k: record["properties"][k] for k in rest[:at] + moved + rest[at:]}
    body = {"model": ctx["model"], "temperature": 0, "messages": messages, "logprobs": True, "top_logprobs": 10,
            "response_format": {"type": "json_schema", "json_schema": {"name": "records", "schema": js}}}
    return body | ({"repeat_penalty": 1.0} if "nopen" in variant else {})


def ask(ctx: dict[str, Any], item_id: str, variant: str) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """The record for one item, and the model's top probabilities at each ordinal choice."""
    body = request(ctx, item_id, variant)
    req = urllib.request.Request(ctx["url"] + "/chat/completions", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=900) as response:
        reply = json.loads(response.read())
    record = json.loads(reply["choices"][0]["message"]["content"])["records"][0]
    if "checks" in variant:
        record |= derive_checks(record)
    text, choices = "", {}
    for token in (reply["choices"][0].get("logprobs") or {}).get("content") or []:
        for name in (*ORDINAL, "category", *(k for n in ORDINAL for k, _, _ in CHECKS[n][0])):
            if text.rstrip().endswith((f'"{name}": "', f'"{name}":"', f'"{name}":')):
                choices[name] = {c["token"]: round(2.718281828 ** c["logprob"], 3) for c in token["top_logprobs"]}
        text += token["token"]
    for name, names in variant_schema(ctx["schema"], variant)[1].items():
        record[name] = names.get(record[name], record[name])
    return record, choices


def value_probabilities(choice: dict[str, float], values: list[str]) -> dict[str, float]:
    """A value's probability: its share of the first-token candidates that start only that value."""
    return {v: sum(p for t, p in choice.items() if t and v.startswith(t) and sum(w.startswith(t) for w in values) == 1)
            for v in values}


def calibrated(ctx: dict[str, Any], records: dict[str, Any], choices: dict[str, Any]) -> None:
    """Label-free calibration (divide by a prior, take the best): a content-free item's prior, the run's mean."""
    from etlcrew.pipeline.items import make_item

    first = next(iter(records))
    empty = make_item("inbox", "none.eml", "N/A")
    messages = [dict(m) for m in ctx["calls"][first]]
    original = ctx["items"][first]
    messages[-1]["content"] = messages[-1]["content"].replace(" ".join(original.text.split())[:600], empty.text)
    messages[-1]["content"] = messages[-1]["content"].replace(f"item_id={first}>>", f"item_id={empty.item_id}>>")
    ctx["calls"][empty.item_id] = messages
    _, free = ask(ctx, empty.item_id, "base")
    for name in (*ORDINAL, "category"):
        values = ctx["schema"].fields[name].values
        probs = {i: value_probabilities(choices[i].get(name, {}), values) for i in records}
        mean = {v: sum(p[v] for p in probs.values()) / len(probs) for v in values}
        for label, prior in (("content-free", value_probabilities(free.get(name, {}), values)), ("run mean", mean)):
            right = sum(max(values, key=lambda v: probs[i][v] / max(prior[v], 1e-3)) == expected[name]
                        for i, expected in ctx["labels"].expected.items())
            print(f"  {name}: calibrated by {label}: {right}/{len(records)} right", flush=True)


def checks_seen(answer: tuple[dict[str, Any], dict[str, Any]], name: str) -> dict[str, Any]:
    """The yes/no answers behind a derived value, each with the model's probability of its first token."""
    record, choices = answer
    return {key: (record.get(key), max(choices.get(key, {"?": 0}).values())) for key, _, _ in CHECKS[name][0]}


def run_variant(ctx: dict[str, Any], variant: str, ids: list[str]) -> None:
    from etlcrew.evaluation.scoring import score

    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        answers = dict(zip(ids, pool.map(lambda i: ask(ctx, i, variant), ids), strict=True))
    seconds = (time.perf_counter() - started) / len(ids)
    records = {i: a[0] for i, a in answers.items()}
    scored = score(ctx["labels"], ctx["schema"], records, set(records))
    accuracy = "  ".join(f"{k} {f.accuracy:.2f}" for k, f in scored.fields.items())
    print(f"{variant}: {accuracy}  ({seconds:.1f} s/item)", flush=True)
    for miss in scored.misses:
        if miss.field in ORDINAL:
            print(f"    {miss.item_id}: {miss.field} {miss.expected} -> {miss.produced} "
                  f"{answers[miss.item_id][1].get(miss.field) or checks_seen(answers[miss.item_id], miss.field)}",
                  flush=True)
    if "cal" in variant:
        calibrated(ctx, records, {i: a[1] for i, a in answers.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variants")
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()
    os.chdir(ROOT)
    from etlcrew.evaluation.labels import read_labels
    from etlcrew.model_runtime.catalogue import default_entry
    from etlcrew.model_runtime.server import REPEAT_PENALTY, start_server
    from etlcrew.model_runtime.weights import ensure_weights
    from etlcrew.pipeline.sources import iter_items
    from etlcrew.settings import load_settings
    from etlcrew.specs.loader import load_project

    settings = load_settings(load_dotenv_file=False)
    crew = load_project(settings.config_dir).crews["support_inbox"]
    items = {i.item_id: i for s in crew.sources for i in iter_items(s, settings.project_dir)}
    labels = read_labels(ROOT / "data/inbox_expected.csv", "inbox_expected.csv", crew.output_schema, list(items))
    ids = list(labels.expected)[: args.limit]
    labels = replace(labels, expected={i: labels.expected[i] for i in ids})
    ctx = {"schema": crew.output_schema, "labels": labels, "items": items, "calls": captured_calls(ids)}
    entry = default_entry()
    server = start_server(ensure_weights(entry, settings.model_cache_dir), alias=entry.name, parallel=2)
    ctx |= {"url": server.url, "model": entry.name}
    print(f"{entry.name}, {len(ids)} labelled items, repeat penalty {REPEAT_PENALTY} unless 'nopen'", flush=True)
    for variant in args.variants.split(","):
        run_variant(ctx, variant, ids)
    server.stop()


if __name__ == "__main__":
    main()
