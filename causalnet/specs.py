"""The one parser for spec strings, shared by model specs and dataset specs.

Grammar: ``KIND[:BODY][?key=value&key=value][@PATH]``, e.g. ``zoo:resnet20``,
``torchvision:resnet18?num_classes=10@weights.pth``, ``mnist:test``, ``folder:imgs?size=28``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import SpecError


@dataclass(frozen=True)
class Spec:
    """A parsed spec string."""

    text: str
    kind: str
    body: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    path: str | None = None


def parse_spec(text: str, *, allow_path: bool = True, what: str = "spec") -> Spec:
    """Split ``text`` into kind, body, options and weights path; raise :class:`SpecError` on
    an empty or malformed string."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError(f"empty {what}: give one such as 'zoo:resnet20' or 'mnist:test'")
    text = text.strip()
    head, path = text, None
    if allow_path and "@" in text:
        head, path = text.rsplit("@", 1)
        if not path:
            raise SpecError(f"{what} {text!r} ends with '@' but names no file after it")
    options: dict[str, str] = {}
    if "?" in head:
        head, query = head.split("?", 1)
        for item in filter(None, query.split("&")):
            key, sep, value = item.partition("=")
            if not key:
                raise SpecError(f"bad option {item!r} in {what} {text!r}: use key=value")
            options[key] = value if sep else "1"
    kind, _, body = head.partition(":")
    if not kind:
        raise SpecError(f"{what} {text!r} has no kind before ':'")
    return Spec(text=text, kind=kind, body=body or None, options=options, path=path)


def option_value(value: str):
    """Interpret an option string as int, float, bool or str (in that order)."""
    lowered = value.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value
