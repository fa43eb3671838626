"""Sphinx directives for the tables that are generated from the code, never retyped.

- ``presets-table``: the training presets in ``training/configs/``, one row each.
- ``bundled-models-table``: the bundled model files, as their metadata describes them.
- ``config-reference``: every field of a training config, from its typed schema.
"""

from __future__ import annotations

import re

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

# A preset's leading comment also records its history (issues, dates): the table shows what it is.
HISTORY = re.compile(r"\s*\([^()]*(?:issue \d+|\d{4}-\d\d-\d\d)[^()]*\)")


def _text(value) -> str:
    """An enum's value, anything else as text."""
    return str(getattr(value, "value", value))


def summary(path) -> str:
    """What a preset is: its leading comment up to the first colon or full stop outside brackets."""
    comment = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        comment.append(line.lstrip("# ").strip())
    text = re.sub(r"(?<!`)`([^`]+)`(?!`)", r"``\1``", HISTORY.sub("", " ".join(comment)))
    depth = 0
    for i, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and char in ":." and text[i + 1 : i + 2] in (" ", ""):
            return text[:i]
    return text


def _size(options: dict) -> str:
    if "features" in options and "num_blocks" in options:
        return f" {options['features']}x{options['num_blocks']}"
    return ""


def presets_rows() -> list[list[str]]:
    from napari_mrisr.training.config import CONFIG_DIR, list_presets, load_config

    rows = [["preset", "what it is", "generator", "discriminator", "losses", "steps (content + GAN)",
             "batch x patch", "acquisition", "starts from"]]
    for name in list_presets():
        path = CONFIG_DIR / f"{name}.yaml"
        config = load_config(path)
        generator, loss, schedule = config.generator, config.loss, config.schedule
        gan = config.discriminator is not None and schedule.adversarial_steps > 0
        losses = [_text(loss.content).upper()]
        for field, label in (("gradient_weight", "gradient"), ("feature_weight", "features"),
                             ("consistency_weight", "consistency")):
            if getattr(loss, field, 0):
                losses.append(f"{getattr(loss, field):g} {label}")
        if gan:
            losses.append(f"{loss.adversarial_weight:g} {_text(loss.adversarial)}")
        degradation = config.degradation
        acquisition = f"{_text(degradation.method)} {' x '.join(map(str, degradation.factors))}"
        start = generator.init_weights
        rows.append([
            f"``{name}``",
            summary(path),
            _text(generator.architecture) + _size(generator.options),
            _text(config.discriminator.architecture) if gan else "none",
            ", ".join(losses),
            f"{schedule.pretrain_steps:,} + {schedule.adversarial_steps:,}",
            f"{config.data.batch_size} x {'x'.join(map(str, config.data.patch_size))}",
            acquisition + (", a family" if degradation.family else ""),
            f"``{start.rsplit('/', 1)[-1]}``" if start else "",
        ])
    return rows


def bundled_models_rows() -> list[list[str]]:
    from napari_mrisr.zoo.folders import list_models
    from napari_mrisr.zoo.model_fit import ModelGeometry

    rows = [["model", "task", "expects", "network", "file size", "validation PSNR (brain)"]]
    for info in list_models():
        if not info.bundled:
            continue
        meta = info.meta
        validation = ((meta.get("metrics") or {}).get("validation") or {}).get("model") or {}
        psnr = validation.get("psnr_brain")
        rows.append([
            f"``{info.name}``",
            f"{' x '.join(map(str, meta['scale']))}, {(meta.get('degradation') or {}).get('method', '?')}",
            ModelGeometry.from_meta(meta).describe(),
            meta.get("architecture", "?") + _size(meta.get("config") or {}),
            f"{info.path.stat().st_size / 1e6:.1f} MB",
            f"{psnr:.2f} dB" if psnr is not None else "",
        ])
    return rows


def _type(annotation) -> str:
    """A field's type for a reader: enums and literals as their choices."""
    import enum
    import typing

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return ", ".join(f"``{m.value}``" for m in annotation)
    if origin is typing.Literal:
        return ", ".join(f"``{v}``" for v in args)
    if origin is typing.Annotated:
        return _type(args[0])
    if origin in (list, tuple):
        return f"list of {_type(args[0])}" if args else "list"
    if origin is dict:
        return "mapping"
    if args:
        return " or ".join(_type(a) for a in args if a is not type(None)) + (
            " or none" if type(None) in args else ""
        )
    return getattr(annotation, "__name__", str(annotation)).replace("Config", " section")


def _default(field) -> str:
    from pydantic_core import PydanticUndefined

    default = field.default
    if default is PydanticUndefined:
        return "(required)" if field.default_factory is None else ""
    if default is None or default == []:
        return ""
    return f"``{_text(default)}``"


def config_rows() -> list[list[str]]:
    import typing

    from pydantic import BaseModel

    from napari_mrisr.training.config.schema import TrainConfig

    rows = [["field", "type", "default", "meaning"]]

    def walk(model, prefix: str) -> None:
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, f"{prefix}{name}.")
                continue
            description = " ".join((field.description or "").split())
            rows.append([f"``{prefix}{name}``", _type(annotation), _default(field), description])
            item = (typing.get_args(annotation) or (None,))[0]
            if isinstance(item, type) and issubclass(item, BaseModel):  # a list of sections
                walk(item, f"{prefix}{name}[].")

    walk(TrainConfig, "")
    return rows


def _cell(text: str) -> nodes.entry:
    """A table cell; ``double backquotes`` mark code, everything else is plain text (never markup)."""
    paragraph = nodes.paragraph()
    for i, part in enumerate(re.split(r"``(.+?)``", text)):
        if part:
            paragraph += nodes.literal(part, part) if i % 2 else nodes.Text(part)
    return nodes.entry("", paragraph)


class _Table(SphinxDirective):
    """A table whose rows (the first one the header) come from ``rows()``."""

    rows = staticmethod(lambda: [])

    def run(self) -> list[nodes.Node]:
        header, *body = self.rows()
        group = nodes.tgroup(cols=len(header))
        group += [nodes.colspec(colwidth=1) for _ in header]
        group += nodes.thead("", nodes.row("", *map(_cell, header)))
        group += nodes.tbody("", *(nodes.row("", *map(_cell, row)) for row in body))
        return [nodes.table("", group)]


class PresetsTable(_Table):
    rows = staticmethod(presets_rows)


class BundledModelsTable(_Table):
    rows = staticmethod(bundled_models_rows)


class ConfigReference(_Table):
    rows = staticmethod(config_rows)


def setup(app):
    app.add_directive("presets-table", PresetsTable)
    app.add_directive("bundled-models-table", BundledModelsTable)
    app.add_directive("config-reference", ConfigReference)
    return {"parallel_read_safe": True, "version": "1"}
