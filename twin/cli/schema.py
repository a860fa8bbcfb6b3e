"""``twin schema KIND``: the JSON Schema of a scenario kind, generated from its model."""

from __future__ import annotations

import json

import click

from twin._schema_docs import KINDS


@click.command("schema")
@click.argument("kind", type=click.Choice(list(KINDS)))
def schema_cmd(kind: str) -> None:
    """Print the JSON Schema of scenario KIND (every key with its type, units, default and description).

    Editors that read JSON Schema (VS Code with Even Better TOML, for one) check a scenario with it as
    it is written; docs/scenarios.md is the same reference as tables.
    """
    from twin._schema_docs import json_schema

    click.echo(json.dumps(json_schema(kind), indent=2))
