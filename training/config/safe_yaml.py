"""The one YAML loader of the training package: data only, and bounded.

Every YAML the package reads (config files, ``--set FIELD=VALUE``) goes through
:func:`load_yaml`. It is PyYAML's safe loader (no tag constructs an object) with limits that
a config never comes near: the text's size, the nesting depth and the number of aliases (a
few kilobytes of nested anchors otherwise expand to gigabytes when the document is copied).
Whatever breaks a limit, or is not YAML, is one :class:`ConfigError` sentence.
"""

from __future__ import annotations

from typing import Any

import yaml

from .schema import ConfigError

__all__ = ["MAX_ALIASES", "MAX_BYTES", "MAX_DEPTH", "load_yaml"]

#: Limits far above any real config (the presets: about 2 KiB, depth 4, no aliases).
MAX_BYTES = 1 << 20
MAX_DEPTH = 32
MAX_ALIASES = 64


class _BoundedLoader(yaml.SafeLoader):
    """The safe loader, counting nesting and aliases as it composes the document."""

    def __init__(self, stream: str, source: str) -> None:
        super().__init__(stream)
        self.source, self.depth, self.aliases = source, 0, 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise ConfigError(
                    f"{self.source}: more than {MAX_ALIASES} YAML aliases (*name); a config "
                    "needs none, and nested ones can expand without bound."
                )
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ConfigError(f"{self.source}: YAML nested more than {MAX_DEPTH} levels deep.")
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def load_yaml(text: str, source: str = "config") -> Any:
    """The data of a YAML text (``None`` for an empty one), or one ConfigError naming ``source``."""
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{source}: {len(text)} characters of YAML; a config is far smaller.")
    loader = _BoundedLoader(text, source)
    try:
        return loader.get_single_data()
    except yaml.constructor.ConstructorError as exc:  # a tag the safe loader has no constructor for
        raise ConfigError(
            f"{source}: YAML tags that construct objects are never allowed ({exc.problem}); "
            "a config is data, not code."
        ) from None
    except yaml.YAMLError as exc:
        where = f" at line {exc.problem_mark.line + 1}" if getattr(exc, "problem_mark", None) else ""
        raise ConfigError(f"{source} is not valid YAML{where} ({getattr(exc, 'problem', None) or exc}).") from None
    except RecursionError:
        raise ConfigError(f"{source}: YAML nested too deeply.") from None
    finally:
        loader.dispose()
