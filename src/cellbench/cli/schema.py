"""`cellbench schema`: print the result JSON schema."""

import click


@click.command("schema", help="Print the JSON schema of cellbench result files (schema_version 1.0). "
               "aggregate and report read results of any 1.x version (a minor version only adds optional "
               "fields) and refuse another major version, naming the file.\n\n"
               "Example: cellbench schema > result.schema.json")
def command():
    import json

    from cellbench.schema import result_json_schema

    click.echo(json.dumps(result_json_schema(), indent=2, sort_keys=True))
