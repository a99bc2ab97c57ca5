r"""The config reference: every field with its value and the one line of why, read from the schema.

The schema is `metareg.config.default_config`, where each field's assignment carries its reason as
the comment on the line and the comment block just above it. This module reads those comments from
the source (so the reference cannot drift from the schema), adds the choices of every field that
names a registered thing (learners, regularizers, task families, models, ...), and prints a
config's fields, e.g. an experiment's after its variants and overrides:

    metareg config sinusoid_trlearner:quick [--config.FIELD=VALUE ...]
    python -m metareg.config_reference --markdown > docs/config.md     # the docs page
"""

from __future__ import annotations

import argparse
import ast
import inspect
import io
import tokenize
from pathlib import Path

from metareg import config as config_module


def field_comments() -> dict[str, str]:
    """{dotted field: its comment}: the comment block above its assignment in default_config and
    the comment on the assignment's own lines, joined."""
    source = inspect.getsource(config_module.default_config)
    lines = source.splitlines()
    comments: dict[int, str] = {}  # line number (1-based) -> comment text
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
    out = {}
    tree = ast.parse(source.lstrip() if source[0].isspace() else source)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target = ast.unparse(node.targets[0])
        if not target.startswith("c."):
            continue
        name = target[2:]
        above = []
        line = node.lineno - 1
        while line >= 1 and lines[line - 1].strip().startswith("#"):
            above.insert(0, comments.get(line, ""))
            line -= 1
        trailing = [comments[n] for n in range(node.lineno, node.end_lineno + 1) if n in comments]
        text = " ".join(t for t in above + trailing if t)
        out[name] = text
    return out


def choices() -> dict[str, tuple[str, ...]]:
    """The registered names a field can take (imported here, never by the schema)."""
    from metareg.learners import LEARNERS
    from metareg.metrics import METRICS
    from metareg.models import MODELS
    from metareg.regularizers import REGULARIZERS
    from metareg.samplers import SAMPLERS
    from metareg.tasks import TASK_FAMILIES

    return {
        "task.name": TASK_FAMILIES,
        "learner.name": LEARNERS,
        "model.name": tuple(MODELS),
        "regularizers": REGULARIZERS,
        "optimizer.name": config_module.OPTIMIZERS,
        "sampler.name": SAMPLERS,
        "eval.metric": tuple(sorted({m for ms in METRICS.values() for m in ms})),
    }


def _flat(config, prefix: str = "") -> list[tuple[str, object]]:
    out = []
    for key in config.keys():
        value = config[key]
        name = f"{prefix}{key}"
        if hasattr(value, "keys") and not isinstance(value, dict | tuple):
            out += _flat(value, name + ".")
        else:
            out.append((name, value))
    return out


def reference(config=None) -> list[dict]:
    """One entry per field of `config` (default: the library defaults): name, value, why, and the
    choices where the field names a registered thing."""
    config = config_module.default_config() if config is None else config
    why, names = field_comments(), choices()
    return [
        {"field": f, "value": v, "why": why.get(f, ""), "choices": names.get(f)}
        for f, v in _flat(config)
    ]


def text(config=None) -> str:
    rows = reference(config)
    out = []
    for r in rows:
        out.append(f"{r['field']} = {r['value']!r}")
        if r["why"]:
            out.append(f"    {r['why']}")
        if r["choices"]:
            out.append(f"    choices: {', '.join(r['choices'])}")
    return "\n".join(out) + "\n"


def markdown(config=None) -> str:
    section = None
    out = [
        "# Config reference\n",
        "Every field of `metareg.config.default_config` with its default and why, generated from "
        "the schema's own comments by `python -m metareg.config_reference --markdown` (a test "
        "checks this page regenerates). An experiment's values after its variants and overrides: "
        "`metareg config NAME[:VARIANTS] [--config.FIELD=VALUE ...]`. Any field is set on the "
        "command line as `--config.FIELD=VALUE`; a misspelt field is an error.\n",
    ]
    for r in reference(config):
        head = r["field"].split(".")[0] if "." in r["field"] else "(top level)"
        if head != section:
            section = head
            out += [f"\n## {section}\n", "| field | default | why |", "|---|---|---|"]
        why = r["why"].replace("|", "\\|")
        if r["choices"]:
            why += (" " if why else "") + f"Choices: {', '.join(f'`{c}`' for c in r['choices'])}."
        value = repr(r["value"]).replace("|", "\\|")
        out.append(f"| `{r['field']}` | `{value}` | {why} |")
    return "\n".join(out) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--markdown", action="store_true", help="the docs page (library defaults)")
    args = p.parse_args(argv)
    print(markdown() if args.markdown else text(), end="")


if __name__ == "__main__":
    main()


DOCS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "config.md"
