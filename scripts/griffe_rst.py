"""A griffe extension for the docs build: turn the RST markup of genloose's docstrings into Markdown.

genloose's numpydoc docstrings use Sphinx roles (``:func:`x```, ``:math:`x```) and ``.. math::`` blocks.
mkdocstrings renders docstrings as Markdown, where these would show literally (and Markdown would eat the
LaTeX backslashes). Before a docstring is parsed, this extension rewrites:

* ``.. math:: expr`` (same line, or an indented block after it) -> a ``$$ ... $$`` block (pymdownx.arithmatex);
* ``:math:`expr``` -> ``$expr$``;
* ``:func:`~a.b``` and the other Python roles -> an optional autorefs cross-reference (a link where the target
  is documented, plain code otherwise, never a warning);
* the RST escaped space ``\\ `` after a literal -> nothing.

Used from mkdocs.yml: ``plugins: mkdocstrings: handlers: python: options: extensions: [<this file>]``.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

__all__ = ["RstToMarkdown"]

_ROLE = re.compile(r":(?:py:)?(func|class|meth|attr|data|mod|exc|obj|const):`(~?)([^`]+?)`")
_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_MATH_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\. math::[ \t]*(?P<first>.*)$")


def _math_blocks(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _MATH_DIRECTIVE.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        indent = match["indent"]
        body = [match["first"].strip()] if match["first"].strip() else []
        i += 1
        # the directive's content: the following lines that are blank or indented deeper than the directive
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > len(indent)):
            if lines[i].strip():
                body.append(lines[i].strip())
            i += 1
        out.extend(["", f"{indent}$$", *(f"{indent}{b}" for b in body), f"{indent}$$", ""])
    return "\n".join(out)


def _resolve(obj: griffe.Object | griffe.Alias, target: str) -> str:
    """The identifier a relative role target most likely means (the module, then the class, of ``obj``)."""
    target = target.strip().removesuffix("()")
    if target.startswith("genloose") or ("." in target and not target.split(".")[0][:1].isupper()):
        return target
    module = obj.module.path if not isinstance(obj, griffe.Module) else obj.path
    scope = obj if isinstance(obj, griffe.Class) else obj.parent
    candidates = [f"{module}.{target}"]
    if isinstance(scope, griffe.Class):
        candidates.insert(0, f"{scope.path}.{target}")
    for path in candidates:
        try:
            obj.modules_collection.get_member(path)  # type: ignore[union-attr]
        except (KeyError, AttributeError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            continue
        return path
    return candidates[-1]


def _roles(text: str, obj: Any) -> str:
    def link(match: re.Match[str]) -> str:
        tilde, target = match[2], match[3].strip()
        title = target.split(".")[-1] if tilde else target
        identifier = _resolve(obj, target)
        return f'<autoref identifier="{html.escape(identifier)}" optional><code>{html.escape(title)}</code></autoref>'

    return _ROLE.sub(link, text)


def rst_to_markdown(text: str, obj: Any) -> str:
    """Rewrite the RST constructs of one docstring (see the module docstring)."""
    text = _math_blocks(text)
    text = _MATH_ROLE.sub(lambda m: f"${m[1].strip()}$", text)
    text = _roles(text, obj)
    return re.sub(r"(?<=[`>])\\ ", "", text)


class RstToMarkdown(griffe.Extension):
    """Rewrite every docstring's RST markup as Markdown before mkdocstrings parses it."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value, obj)
