"""Every setting a user can give is documented: each option of each command, each field of each stage config
(docs/configs.md, generated, and up to date), each field and query parameter of the API, each environment
variable the code reads. A new flag, field or variable without its line in README.md or docs/ fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "casebase"


def docs_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


def mentioned(word: str, text: str) -> bool:
    """``word`` in ``text`` as a whole token (``--k`` is not found in ``--keep``)."""
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


def cli_options(app: typer.Typer) -> dict[str, set[str]]:
    """command name -> its long options (both sides of --x/--no-x), the group's own under ``casebase``."""
    group = typer.main.get_command(app)
    def longs(params) -> set[str]:  # typer vendors click: options are told by their kind, not their class
        return {o for p in params if getattr(p, "param_type_name", None) == "option"
                for o in [*p.opts, *p.secondary_opts] if o.startswith("--")}

    found = {"": longs(group.params)}
    for name, command in group.commands.items():
        found[name] = longs(command.params)
    assert sum(map(len, found.values())) > len(found), "the walk found no options"
    return found


def undocumented_options(app: typer.Typer, text: str) -> list[str]:
    return sorted(f"casebase {name} {opt}".replace("  ", " ") for name, opts in cli_options(app).items() for opt in opts
                  if not mentioned(opt, text))


def test_every_cli_option_is_documented():
    from casebase.cli import app

    missing = undocumented_options(app, docs_text())
    assert not missing, f"document these options in README.md or docs/*.md (as `--flag`): {missing}"


COMMON = {"--workspace", "--quiet", "--json", "--config", "--help"}  # the paragraph above the table covers these


def command_rows(text: str) -> dict[str, str]:
    """`casebase NAME ...` -> its row of the flags table in docs/configs.md."""
    rows = {}
    for line in text.splitlines():
        if m := re.match(r"\| `casebase ([\w-]+)[^`]*` \|", line):
            rows[m.group(1)] = line
    return rows


def test_each_command_row_names_each_of_its_flags():
    """Not only somewhere in the docs (`--k` is everywhere): in the row of that very command."""
    from casebase.cli import app

    rows = command_rows((ROOT / "docs" / "configs.md").read_text(encoding="utf-8"))
    missing = {name: sorted(o for o in opts - COMMON if not mentioned(o, rows.get(name, "")))
               for name, opts in cli_options(app).items() if name}
    missing = {name: opts for name, opts in missing.items() if opts}
    assert not missing, f"name these flags in the command's row of the flags table in docs/configs.md: {missing}"


def test_an_undocumented_option_fails_the_check():
    """The check itself can fail: a command with an option no document names is reported."""
    from casebase.cli import app

    extra = typer.Typer(add_completion=False)
    extra.registered_commands = list(app.registered_commands)
    extra.registered_callback = app.registered_callback

    @extra.command()
    def frobnicate(level: int = typer.Option(1, "--frobnication-level")) -> None:  # pragma: no cover
        """Example: `casebase frobnicate`"""

    text = docs_text()
    new = set(undocumented_options(extra, text)) - set(undocumented_options(app, text))
    assert new == {"casebase frobnicate --frobnication-level"}


def test_config_tables_in_docs_are_up_to_date():
    from casebase.config import markdown, with_tables

    doc = (ROOT / "docs" / "configs.md").read_text(encoding="utf-8")
    assert markdown().strip(), "no configs found"
    assert with_tables(doc) == doc, ("docs/configs.md is out of date with the config models: run "
                                     "`python -m casebase.config --write docs/configs.md`")


def test_every_config_field_is_documented():
    from casebase.config import config_models, rows

    text = docs_text()
    models = config_models()
    names = {m.__name__ for m in models}
    assert {"IngestConfig", "ExtractConfig", "SplitConfig", "IndexConfig", "TrainConfig", "SampleConfig"} <= names
    missing = [f"{m.__name__}.{field}" for m in models for field, _, _ in rows(m) if f"| `{field}` |" not in text]
    assert not missing, f"document these fields (a table row | `field` | default | description |): {missing}"


def test_every_config_field_has_a_description():
    from casebase.config import config_models, rows

    bare = [f"{m.__name__}.{field}" for m in config_models() for field, _, text in rows(m) if not text.strip()]
    assert not bare, f"give these fields a description (it is their --help and their documentation): {bare}"


def api_names(app) -> dict[str, set[str]]:
    """endpoint -> the request body fields and query/path parameters it takes (from the OpenAPI schema)."""
    spec = app.openapi()
    schemas = spec.get("components", {}).get("schemas", {})

    def fields(schema: dict) -> set[str]:
        if "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
        out = set(schema.get("properties", {}))
        for part in schema.get("allOf", []) + schema.get("anyOf", []):
            out |= fields(part)
        return out

    found = {}
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            names = {p["name"] for p in op.get("parameters", []) if p.get("in") in ("query", "path")}
            for media in (op.get("requestBody") or {}).get("content", {}).values():
                names |= fields(media.get("schema", {}))
            if names:
                found[f"{method.upper()} {path}"] = names
    return found


def test_every_api_field_and_query_parameter_is_documented(indexed_ws):
    from casebase.serve.app import create_app

    text = (ROOT / "docs" / "serve.md").read_text(encoding="utf-8")
    names = api_names(create_app(indexed_ws, arm="retrieval", token=""))
    assert any("suggest" in endpoint for endpoint in names), names  # the walk found the request models
    missing = sorted(f"{endpoint}: {name}" for endpoint, fields in names.items() for name in fields
                     if not mentioned(name, text))
    assert not missing, f"document these API fields in docs/serve.md: {missing}"


ENV = re.compile(r"\bCASEBASE_[A-Z][A-Z0-9_]*\b")
ENVVAR = re.compile(r"envvar=\[?\s*[\"']([A-Z][A-Z0-9_]+)[\"']")


def environment_variables() -> set[str]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        found |= set(ENV.findall(source)) | set(ENVVAR.findall(source))
    return found


def test_every_environment_variable_is_documented():
    found = environment_variables()
    assert "CASEBASE_WORKSPACE" in found  # the scan works
    text = docs_text()
    missing = sorted(v for v in found if not mentioned(v, text))
    assert not missing, f"document these environment variables in README.md or docs/*.md: {missing}"


@pytest.mark.parametrize("word,text,expected", [("--k", "use --keep", False), ("--k", "`--k 5`", True),
                                                ("--ner", "--ner/--no-ner", True), ("q", "?q=&k=", True)])
def test_mentioned_is_a_whole_token(word, text, expected):
    assert mentioned(word, text) is expected
