"""`cellbench schema`: print the result JSON schema."""

import click


@click.command("schema", help="Print the JSON schema of cellbench result files (schema_version 1.0).\n\n"
               "Example: cellbench schema > result.schema.json")
def command():
    import json

    from cellbench.schema import result_json_schema

    click.echo(json.dumps(result_json_schema(), indent=2, sort_keys=True))
