"""YAML read with libyaml's safe loader when PyYAML has it: the same documents and errors as
``yaml.safe_load``, about ten times faster (catalogues on every run, pod YAML of big bundles).

Every document a bundle carries is checked for nesting first: libyaml builds nested collections by
recursion, and a few hundred thousand opening brackets (a corrupt or hostile file) overflow the C stack
and kill the process outright, which no ``except`` can catch. Such a document is refused with a YAML
error like any other unreadable one.
"""

from __future__ import annotations

import re

import yaml

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_DEPTH = 200  # Kubernetes objects nest a dozen levels deep; etcd-perf's own YAML fewer
_BRACKETS = re.compile(r"[\[\]{}]")
_DEEP_INDENT = re.compile(rf"^ {{{2 * MAX_DEPTH},}}\S", re.MULTILINE)


class TooDeep(yaml.YAMLError):
    """A document nested deeper than MAX_DEPTH: refused before libyaml recurses into it."""


def check_depth(text: str) -> None:
    """Raise TooDeep when flow collections (``[``/``{``) or block indentation nest past MAX_DEPTH.

    Brackets inside quoted strings are counted too: that can only overstate the depth, and no real
    object holds hundreds of unbalanced brackets. The walk visits bracket characters only."""
    if _DEEP_INDENT.search(text):
        raise TooDeep(f"nested more than {MAX_DEPTH} levels deep (indentation)")
    depth = 0
    for m in _BRACKETS.finditer(text):
        depth = depth + 1 if m.group(0) in "[{" else max(depth - 1, 0)
        if depth > MAX_DEPTH:
            raise TooDeep(f"nested more than {MAX_DEPTH} levels deep")


def safe_yaml(text: str) -> object:
    check_depth(text)
    return yaml.load(text, Loader=LOADER)
