"""One table of broken configurations: each is exit 2 from `validate` and from `run`, with one message naming
file, key and fix, before anything is written or any model is called.

Each row edits a copy of the shipped config with ``edit_config`` (a row whose text is gone fails loudly).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from yaml_edit import edit_config

Edit = tuple[str, str, str]  # file under config/, old text, new text

BRIEF_FILES_SOURCE = ("    - name: docs\n      type: files\n      path: data/docs\n"
                      "      patterns: [\"*.md\", \"*.html\"]\n")
ORDERS_QUERY = ("      query: >\n        SELECT o.id, o.ordered_at, o.amount, o.notes, c.name AS customer, c.country\n"
                "        FROM orders o JOIN customers c ON c.id = o.customer_id ORDER BY o.id\n")
ACTIONS = "  actions: {when: \"urgency in ['urgent', 'high']\"}\n"
TRANSFORM_ITEMS = "    Take every value from the item's own text; the findings, if any, are hints.\n    {items}\n"

# id, edits, crew to run, fragments the output must hold, fragments it must not hold
CASES: list[tuple[str, list[Edit], str | None, list[str], list[str]]] = [
    ("crew-name-escapes", [("crews.yaml", "support_inbox:\n  default: true", "../x:\n  default: true")], None,
     [r"config/crews\.yaml:\d+: crew name '\.\./x' is not a safe name", "rename it to 'x'"], []),
    ("table-renamed-by-store", [("crews.yaml", "    table: tickets\n", "    table: Tickets\n")], None,
     [r"crews\.yaml:\d+: crew 'support_inbox': table name 'Tickets' would be stored as 'tickets', not as written",
      "use 'tickets'"], []),
    ("field-with-umlaut", [("crews.yaml", "      summary: {type: string, max: 100",
                            "      kundenname_ü: {type: string, max: 100")], None,
     ["field name 'kundenname_ü' would be stored as 'kundennamexx'", "rename it to 'kundenname_u'"], []),
    ("field-emoji", [("crews.yaml", "      summary: {type: string, max: 100", "      \"😀\": {type: string, max: 100")],
     None, ["field name '😀' would be stored as 'x'", "rename it to 'field'"], []),
    ("field-product-column", [("crews.yaml", "      summary: {type: string, max: 100",
                               "      review_reason: {type: string, max: 100")], None,
     ["field name 'review_reason' is a column etlcrew or dlt adds", "rename it to 'review_reason_2'"], []),
    ("field-item-id-not-key", [("crews.yaml", "    table: orders\n    primary_key: item_id\n    fields:\n",
                                "    table: orders\n    primary_key: amount\n    fields:\n"
                                "      item_id: {type: string}\n")],
     "orders_enrichment", ["field name 'item_id' is a column etlcrew or dlt adds"], []),
    ("source-name-unsafe", [("crews.yaml", "    - name: inbox\n", "    - name: in/box\n")], None,
     [r"crews\.yaml:\d+: crew 'support_inbox': source name 'in/box' is not a safe name", "rename it to 'in_box'"],
     []),
    ("sql-delete", [("crews.yaml", ORDERS_QUERY, "      query: DELETE FROM orders\n")], "orders_enrichment",
     ["source 'orders': the query starts with DELETE", "write one SELECT"], []),
    ("sql-attach", [("crews.yaml", ORDERS_QUERY, "      query: ATTACH DATABASE '/tmp/x.db' AS x\n")],
     "orders_enrichment", ["the query starts with ATTACH"], []),
    ("sql-pragma", [("crews.yaml", ORDERS_QUERY, "      query: PRAGMA writable_schema = 1\n")], "orders_enrichment",
     ["the query starts with PRAGMA"], []),
    ("sql-two-statements", [("crews.yaml", ORDERS_QUERY, "      query: SELECT 1; DROP TABLE orders\n")],
     "orders_enrichment", ["more than one statement"], []),
    ("sql-load-extension", [("crews.yaml", ORDERS_QUERY, "      query: SELECT load_extension('evil')\n")],
     "orders_enrichment", ["the query contains LOAD_EXTENSION"], []),
    ("missing-source-folder", [("crews.yaml", "      path: data/docs\n", "      path: data/doks\n")], "research_brief",
     [r"crews\.yaml:\d+: crew 'research_brief': source 'docs': folder .*data/doks does not exist", "create it"],
     []),
    ("webhook-credentials", [("crews.yaml", "url: http://127.0.0.1:8765/hooks/urgent",
                              "url: http://hook:s3cretpass@127.0.0.1:8765/hooks/urgent")], None,
     [r"crews\.yaml:\d+: crew 'support_inbox': webhook target: the URL holds credentials",
      "send a header from the environment instead"], ["s3cretpass", "ToolScopeError"]),
    ("webhook-header-env-unset", [("crews.yaml", "      when: \"urgency == 'urgent'\"\n",
                                   "      when: \"urgency == 'urgent'\"\n"
                                   "      headers: {Authorization: 'Bearer ${ETLCREW_TEST_UNSET_TOKEN}'}\n")], None,
     [r"crew 'support_inbox': webhook target: headers use \$\{ETLCREW_TEST_UNSET_TOKEN\}, which is not set",
      "set ETLCREW_TEST_UNSET_TOKEN in the environment or in .env"], []),
    ("http-source-credentials", [("crews.yaml", BRIEF_FILES_SOURCE,
                                  "    - name: docs\n      type: http\n      url: http://me:s3cretpass@127.0.0.1:9/x\n")],
     "research_brief", ["source 'docs': the URL holds credentials", r"headers: \{Authorization: 'Bearer \$\{API_TOKEN"],
     ["s3cretpass"]),
    ("no-transform-task", [("crews.yaml", "tasks: [brief_extract, brief_transform, brief_publish]",
                            "tasks: [brief_extract]")], "research_brief",
     ["crew 'research_brief': has sources but no transform task", "phase: transform"], []),
    ("http-undeclared-host", [("crews.yaml", BRIEF_FILES_SOURCE,
                               "    - name: docs\n      type: http\n      url: https://api.example.com/docs\n")],
     "research_brief", ["source 'docs': host api.example.com is not loopback",
                        r"add 'allowed_hosts: \[api\.example\.com\]'"], []),
    ("items-never-shown", [("tasks.yaml", TRANSFORM_ITEMS, TRANSFORM_ITEMS.replace("    {items}\n", ""))], None,
     ["crew 'support_inbox': the model never sees the items", "add {items} to the description of task 'transform'"],
     []),
    ("agent-typo-once", [("tasks.yaml", "  agent: transformer\n", "  agent: transfomer\n")], None,
     ["task 'transform': unknown agent 'transfomer'", "did you mean 'transformer'?"],
     ["add 'transfomer' to the crew's agents"]),
    ("crew-task-typo-no-context-cascade", [("crews.yaml", "  tasks: [transform, load]\n",
                                            "  tasks: [transfrom, load]\n")], None,
     ["crew 'support_inbox': unknown task 'transfrom'", "did you mean 'transform'?"], ["does not run before it"]),
    ("enum-without-values", [("crews.yaml", "      urgency: {type: enum, values: [low, medium, high, urgent]}",
                              "      urgency: {type: enum}")], None,
     ["key 'schema.fields.urgency': an enum field needs 'values'"], ["{'type'", "'enum'}"]),
    ("schema-key-typo", [("crews.yaml", "    primary_key: item_id\n    reasoning: true",
                          "    primary_kye: item_id\n    reasoning: true")], None,
     ["unknown key 'schema.primary_kye'", "did you mean 'primary_key'?"], []),
    ("field-values-typo", [("crews.yaml", "        values: [billing, bug, feature_request, shipping, account, praise",
                            "        value: [billing, bug, feature_request, shipping, account, praise")], None,
     ["unknown key 'schema.fields.category.value'", "did you mean 'values'?"], []),
    ("primary-key-not-a-field", [("crews.yaml", "    table: orders\n    primary_key: item_id\n",
                                  "    table: orders\n    primary_key: order_no\n")], "orders_enrichment",
     [r"primary_key names 'order_no', which is not a field \(fields: country_code"], ["['order_no']", "{'"]),
    ("prices-not-yaml", [("prices.yaml", "openai/gpt-4o: [2.50, 10.00]", "openai/gpt-4o: [2.50, 10.00")], None,
     [r"config/prices\.yaml:\d+: invalid YAML"], []),
    ("crew-memory-with-sources", [("crews.yaml", "  tasks: [transform, load]\n  process: sequential\n",
                                   "  tasks: [transform, load]\n  process: sequential\n  memory: true\n")], None,
     [r"crews\.yaml:\d+: crew 'support_inbox': has sources and memory: true; CrewAI's memory would keep the items'",
      "remove 'memory: true'"], []),
    ("agent-memory-with-sources", [("agents.yaml", "  role: Transformer\n", "  role: Transformer\n  memory: true\n")],
     None, [r"agents\.yaml:17: agent 'transformer' has memory: true and works in crews with sources \(support_inbox",
            "embedding provider"], []),
    ("check-gives-unknown-value", [("crews.yaml", "locked_out: {value: high,", "locked_out: {value: hgih,")], None,
     [r"crews\.yaml:\d+: crew 'support_inbox': key 'schema\.fields\.urgency'.*check 'locked_out' gives 'hgih', "
      "which is not one of low, medium, high, urgent"], []),
    ("checks-without-otherwise", [("crews.yaml", "        otherwise: low\n", "")], None,
     [r"key 'schema\.fields\.urgency'.*'otherwise' \(the value when no check says yes\) must be one of low, medium"],
     []),
    ("check-named-like-a-field",
     [("crews.yaml", "          praise: {value: positive,", "          summary: {value: positive,")], None,
     [r"check 'summary' has the name of a field or of another check; give it its own name"], []),
    ("check-name-not-a-key",
     [("crews.yaml", "          upset: {value: negative,", "          Upset!: {value: negative,")], None,
     [r"check 'Upset!': name it with lower-case letters, digits and '_'"], []),
    ("checks-on-a-string", [("crews.yaml", "      customer: {type: string, max: 60, description: sender name or email}",
                             "      customer: {type: string, max: 60, checks: {named: {value: x, ask: named?}}}")],
     None, [r"key 'schema\.fields\.customer'.*'checks' decide an enum's value: set type: enum, or remove 'checks'"],
     []),
    ("actions-unknown-field", [("crews.yaml", ACTIONS, ACTIONS.replace("urgency in", "urgncy in"))], None,
     [r"crews\.yaml:\d+: crew 'support_inbox': actions: when: unknown field 'urgncy'",
      r"e\.g\. when: \"urgency in \['urgent', 'high'\]\""], []),
    ("actions-unknown-value", [("crews.yaml", ACTIONS, ACTIONS.replace("'high'", "'hgih'"))], None,
     [r"crew 'support_inbox': actions: when: 'hgih' is not a value of field 'urgency'", "did you mean 'high'?"], []),
    ("actions-not-a-condition", [("crews.yaml", ACTIONS, ACTIONS.replace("urgency in", "urgency.lower() in"))],
     None, [r"crew 'support_inbox': actions: when: cannot read \"\.lower\(\) in"], []),
    ("actions-key-typo", [("crews.yaml", ACTIONS, ACTIONS.replace("{when:", "{whn:"))], None,
     [r"unknown key 'actions\.whn'", "did you mean 'when'?"], []),
    ("actions-rule-without-when", [("crews.yaml", ACTIONS, "  actions: {from: both}\n")], None,
     [r"key 'actions'.*'from: both' needs a rule"], []),
    ("unclosed-quote", [("agents.yaml", "  role: Transformer\n", "  role: 'Transformer\n")], None,
     [r"config/agents\.yaml:16: invalid YAML: a quoted value is not closed .*at key 'role'"], []),
]


@pytest.mark.parametrize(("edits", "crew", "wanted", "unwanted"), [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_broken_config_stops_before_anything_runs(project_dir: Path, isolated_state: Path, scripted,  # type: ignore[no-untyped-def]
                                                  cli, edits: list[Edit],
                                                  crew: str | None, wanted: list[str], unwanted: list[str]) -> None:
    for file, old, new in edits:
        edit_config(project_dir / "config" / file, old, new)
    llm = scripted("broken_table")
    for args in (["validate", *([crew] if crew else [])],
                 ["run", *([crew] if crew else []), "--model", "scripted/broken_table"]):
        code, out, err = cli(*args)
        out = " ".join((err + out).split())  # rich wraps long lines
        assert code == 2, f"{args}: {out}"
        for pattern in wanted:
            assert re.search(pattern, out), f"{args}: {pattern!r} not in:\n{out}"
        for text in [*unwanted, "Traceback", "unexpected"]:
            assert text not in out, f"{args}: {text!r} in:\n{out}"
    assert llm.history == []
    assert not (isolated_state / "ledger.db").exists()
    output = isolated_state.parent / "output"
    assert not output.exists() or not any(output.iterdir())
    assert not (project_dir.parent / "escaped").exists() and not (project_dir.parent / "x-report.md").exists()


def test_each_message_is_given_once(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    edit_config(project_dir / "config" / "tasks.yaml", "  agent: transformer\n", "  agent: transfomer\n")
    code, _, out = cli("validate")
    assert code == 2
    assert out.count("unknown agent 'transfomer'") == 1, out


def test_reference_errors_do_not_hide_placeholder_errors(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    edit_config(project_dir / "config" / "tasks.yaml", "  agent: transformer\n", "  agent: transfomer\n")
    edit_config(project_dir / "config" / "crews.yaml", "    topic: smart thermostats and home energy savings\n", "")
    code, _, err = cli("validate")
    assert code == 2
    out = " ".join(err.split())
    assert "unknown agent 'transfomer'" in out and "crew 'research_brief': placeholder {topic}" in out


def test_inputs_without_a_crew_go_to_the_default_crew(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    edit_config(project_dir / "config" / "crews.yaml", "    audience: the support team lead\n", "")
    code, _, err = cli("validate", "support_inbox")
    assert code == 2
    assert "placeholder {audience}" in err
    code, _, err = cli("validate", "-i", "audience=the lead")
    assert code == 0, err


def test_list_agents_works_while_a_crew_is_broken(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    edit_config(project_dir / "config" / "crews.yaml", "  tasks: [transform, load]\n", "  tasks: [transfrom, load]\n")
    agents = cli("list", "agents", "--json")
    assert agents.code == 0
    assert {a["name"] for a in agents.json} == {"researcher", "transformer", "publisher"}
    code, _, err = cli("list", "crews")
    assert code == 2
    assert "unknown task 'transfrom'" in err


def test_memory_is_kept_for_a_crew_without_sources(project_dir: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """Memory is refused only where items flow: a crew on its inputs alone keeps it (stored under .etlcrew/)."""
    edit_config(project_dir / "config" / "tasks.yaml", "brief_extract:\n",
                "note:\n  description: Write a note on {topic}.\n  expected_output: A note.\n  agent: publisher\n\n"
                "brief_extract:\n")
    edit_config(project_dir / "config" / "crews.yaml", "research_brief:\n",
                "notes:\n  agents: [publisher]\n  tasks: [note]\n  memory: true\n"
                "  inputs: {topic: heat pumps, audience: me}\n\nresearch_brief:\n")
    code, _, err = cli("validate", "notes")
    assert code == 0, err
