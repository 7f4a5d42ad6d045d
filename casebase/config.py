"""Stage configurations: one pydantic model per stage, the one place for every default.

    cfg = load_config(EvaluateConfig, Path("eval.toml"), {"k": 5})   # defaults < file < flags given
    casebase evaluate --config eval.toml --k 5                     # the same from the command line
    casebase rerun ws/index.json                                   # the stage again, from its manifest's config
    python -m casebase.config --markdown                           # the field tables of docs/configs.md
    python -m casebase.config --write docs/configs.md              # ... written into it (between its markers)

A field's description is its ``--help`` text (``option``) and its documentation; the resolved config is saved in
the stage's manifest (``config``), so ``casebase rerun`` can run the stage again exactly as it ran. Each stage module
defines its model beside its ``run(ws, cfg) -> Manifest`` (``STAGES`` lists them for ``rerun``).
"""

from __future__ import annotations

import importlib
import json
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from casebase.errors import CasebaseError


class StageConfig(BaseModel):
    """Base of the stage configs: unknown fields are refused (a typo in a config file is an error, not ignored)."""

    model_config = ConfigDict(extra="forbid")

    def saved(self) -> dict[str, Any]:
        """The config as a manifest records it: every field, defaults included (paths as strings)."""
        return self.model_dump(mode="json")


C = TypeVar("C", bound=StageConfig)


def load_config(model: type[C], path: Path | None = None, overrides: dict[str, Any] | None = None,
                command: str | None = None) -> C:
    """Defaults, then the file's values, then the flags that were given (None means not given). A nested config
    (ingest's ``redact``) is merged field by field: ``--no-ner`` keeps the file's ``[redact] languages``."""
    values: dict[str, Any] = read_config_file(path) if path is not None else {}
    for key, value in (overrides or {}).items():
        if value is None or key not in model.model_fields:
            continue
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            value = {**values[key], **{k: v for k, v in value.items() if v is not None}}
        values[key] = value
    return build(model, values, command)


_PLAIN = {"greater_than_equal": "must be {ge} or more", "greater_than": "must be above {gt}",
          "less_than_equal": "must be at most {le}", "less_than": "must be below {lt}",
          "literal_error": "use one of {expected}"}


def problem(error: dict[str, Any]) -> str:
    """One pydantic error as a user reads it: the flag and the value, then what is allowed."""
    loc = ".".join(map(str, error["loc"])) or "config"
    flag = "--" + str(error["loc"][-1]).replace("_", "-") if error["loc"] else "--config"
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "extra_forbidden":
        return f"{loc}: not a setting of this stage (a typo?)"
    if kind == "missing":
        return f"{flag} ({loc}) is required"
    if not error["loc"]:  # a check across fields (a model validator): its message names them
        return error["msg"].removeprefix("Value error, ")
    try:
        msg = _PLAIN[kind].format(**ctx) if kind in _PLAIN else error["msg"].removeprefix("Value error, ")
    except KeyError:
        msg = error["msg"]
    return f"{flag} {error.get('input')!r} ({loc}): {msg}"


def build(model: type[C], values: dict[str, Any], command: str | None = None) -> C:
    """``model(**values)``, or one CasebaseError listing every bad field and where the fields are documented."""
    try:
        return model(**values)
    except ValidationError as error:
        problems = "; ".join(problem(e) for e in error.errors())
        where = f"`casebase {command} --help`" if command else "the command's --help"
        raise CasebaseError(f"bad configuration: {problems}. Fields and defaults: {where} or docs/configs.md") from None


def resolve(model: type[C], cfg: C | None = None, overrides: dict[str, Any] | None = None,
            command: str | None = None) -> C:
    """A stage's ``run(ws, cfg, **overrides)``: ``cfg``, else the defaults, with ``overrides`` validated on top."""
    if cfg is None or overrides:
        return build(model, {**(cfg.model_dump() if cfg is not None else {}), **(overrides or {})}, command)
    return cfg


def from_cli(model: type[C], config_file: Path | None, flags: dict[str, Any], command: str) -> C:
    """The config of a command: its ``--config`` file, then every flag given (``flags``: the command's locals)."""
    return load_config(model, config_file, {k: v for k, v in flags.items() if k in model.model_fields}, command)


def read_config_file(path: Path) -> dict[str, Any]:
    """A TOML, YAML or JSON file of config fields (by its suffix; JSON otherwise)."""
    path = Path(path)
    if not path.is_file():
        raise CasebaseError(f"config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = json.loads(text)
    except Exception as error:  # every parser has its own error type
        raise CasebaseError(f"could not read {path} ({path.suffix or 'JSON'}): {error}") from None
    if not isinstance(data, dict):
        raise CasebaseError(f"{path}: a config file holds a table of fields (name = value), not {type(data).__name__}")
    return data


def field_info(model: type[BaseModel], field: str):
    """The pydantic FieldInfo of ``field``; ``redact.ner`` names a field of a nested config."""
    head, _, rest = field.partition(".")
    info = model.model_fields[head]
    return field_info(info.annotation, rest) if rest else info


def shown_default(info) -> str:
    default = info.get_default(call_default_factory=True)
    if isinstance(default, BaseModel):
        return "(its fields)"
    if default is None:
        return "none"
    if isinstance(default, bool):
        return str(default).lower()
    return ",".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default)


def describe(model: type[BaseModel], field: str) -> str:
    """The ``--help`` text of a config field: its description and its default."""
    info = field_info(model, field)
    if info.is_required():
        return f"{info.description or ''} [required]".strip()
    return f"{info.description or ''} [default: {shown_default(info)}]".strip()


def option(model: type[BaseModel], field: str, *flags: str, **kw):
    """A typer option for a config field: help and default from the model; the CLI default is None (not given), so
    a ``--config`` file's value is not overridden by a default the user never typed."""
    import typer

    return typer.Option(*flags, help=describe(model, field), show_default=False, **kw)


def config_option():
    """The ``--config FILE`` option every stage command has."""
    import typer

    return typer.Option("--config", help="TOML, YAML or JSON file of this stage's settings (docs/configs.md lists "
                        "them); flags given override it.", dir_okay=False)


# The stages `casebase rerun` knows: name -> (module, config class, run function). Filled by the stage modules'
# names so this module imports none of them. `sample` writes no manifest, so it is not here.
STAGES: dict[str, tuple[str, str, str]] = {
    "ingest": ("casebase.ingest.run", "IngestConfig", "run"),
    "extract": ("casebase.extract.run", "ExtractConfig", "run"),
    "split": ("casebase.split", "SplitConfig", "run"),
    "index": ("casebase.retrieve.build", "IndexConfig", "build_index"),
    "train": ("casebase.train.lora", "TrainConfig", "run"),
    "evaluate": ("casebase.evaluate.run", "EvaluateConfig", "run"),
}
# How far up from its manifest's folder a stage's workspace is (models/NAME/manifest.json, eval/RUN/manifest.json).
WORKSPACE_DEPTH = {"train": 2, "evaluate": 2}
# Modules with configs that are no stage of rerun (documented all the same).
OTHER_CONFIG_MODULES = ("casebase.sample.config", "casebase.demo", "casebase.serve.config", "casebase.serve.engine")


def stage_name(manifest: dict[str, Any]) -> str | None:
    """The STAGES name of a manifest: ``train-hybrid`` and ``extract-llm-limit20`` are train and extract."""
    stage = manifest.get("stage")
    if not isinstance(stage, str):
        return None
    return stage if stage in STAGES else stage.split("-", 1)[0] if stage.split("-", 1)[0] in STAGES else None


def stage_of(manifest: dict[str, Any], path: Path) -> tuple[type[StageConfig], Any]:
    """(config class, run function) of the stage that wrote ``manifest``."""
    stage = stage_name(manifest)
    if stage is None:
        raise CasebaseError(f"{path}: not a stage manifest casebase can re-run (stage {manifest.get('stage')!r}; "
                            f"re-runnable: {', '.join(STAGES)})")
    module, cls, fn = STAGES[stage]
    mod = importlib.import_module(module)
    if not hasattr(mod, cls):
        raise CasebaseError(f"{path}: the {stage} stage has no config model ({module}.{cls}) in this version of "
                            f"casebase, so it cannot be re-run from its manifest: run `casebase {stage}` by hand.")
    return getattr(mod, cls), getattr(mod, fn)


def config_models() -> list[type[StageConfig]]:
    """Every StageConfig subclass of casebase: the stages' (STAGES order), then the others by name."""
    for module in [m for m, _, _ in STAGES.values()] + list(OTHER_CONFIG_MODULES):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if not (error.name or "").startswith("casebase"):
                raise
    found: list[type[StageConfig]] = []
    todo = list(StageConfig.__subclasses__())
    while todo:
        cls = todo.pop(0)
        if cls not in found and cls.__module__.startswith("casebase"):
            found.append(cls)
        todo.extend(cls.__subclasses__())
    order = {cls: i for i, (_, cls, _) in enumerate(STAGES.values())}
    return sorted(found, key=lambda c: (order.get(c.__name__, len(order)), c.__name__))


def rows(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str]]:
    """(field, default, description) of every field, a nested config's fields as ``redact.ner``."""
    out = []
    for name, info in model.model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            out.extend(rows(info.annotation, f"{prefix}{name}."))
            continue
        default = "required" if info.is_required() else shown_default(info)
        out.append((f"{prefix}{name}", default, (info.description or "").replace("|", "\\|").replace("\n", " ")))
    return out


def markdown_table(model: type[BaseModel]) -> str:
    lines = [f"### `{model.__name__}` ({model.__module__})", "", "| field | default | description |", "|---|---|---|"]
    lines += [f"| `{name}` | {default} | {text} |" for name, default, text in rows(model)]
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- BEGIN generated by `python -m casebase.config --write docs/configs.md` -->", "<!-- END generated -->"


def markdown() -> str:
    """The field tables of every config, as docs/configs.md holds them between its markers."""
    return "\n".join(markdown_table(m) for m in config_models())


def with_tables(doc: str) -> str:
    """``doc`` with the text between its markers replaced by ``markdown()``."""
    head, begin, rest = doc.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise CasebaseError(f"the document has no {BEGIN} ... {END} markers to write the tables between")
    return f"{head}{BEGIN}\n\n{markdown()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    import argparse

    from casebase.workspace import atomic_write

    parser = argparse.ArgumentParser(prog="python -m casebase.config", description=__doc__.split("\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print the field tables")
    parser.add_argument("--write", type=Path, help="rewrite the tables between the markers of this file")
    args = parser.parse_args(argv)
    # run as __main__, this module is a second copy: the stage configs subclass casebase.config's StageConfig
    cfg = importlib.import_module("casebase.config")
    if args.write:
        text = cfg.with_tables(args.write.read_text(encoding="utf-8"))
        atomic_write(args.write, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        print(f"wrote the tables of {len(cfg.config_models())} configs into {args.write}")
    else:
        print(cfg.markdown())
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
