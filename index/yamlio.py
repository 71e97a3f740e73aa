"""Strict YAML reading shared by the plan and thesaurus loaders.

PyYAML silently keeps the last of two equal keys; a staff member who pastes an
entry twice deserves an error instead, with the line to look at.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

from .errors import Problem

__all__ = ["parse_yaml"]


# libyaml's parser when PyYAML was built with it: it reads the plan five times faster.
# The checker sees SafeLoader, whose interface CSafeLoader shares.
if TYPE_CHECKING:
    _SafeLoader = yaml.SafeLoader
else:
    _SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(file: str, text: str) -> tuple[Any, Problem | None]:
    """The document in `text`, or a Problem naming the line where YAML fails."""
    try:
        return yaml.load(text, Loader=_StrictLoader), None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f"line {mark.line + 1}" if mark is not None else ""
        reason = getattr(error, "problem", None) or str(error)
        return None, Problem(file, line, f"YAML syntax error: {reason}")
