"""The message body as a template: `{first_name}` takes the audience row's `first_name`.

Only plain column names are fields (`{{` and `}}` are literal braces); anything else —
`{0}`, `{a.b}`, `{x!r}`, `{x:>5}` — is refused when the campaign is read, as is a field
that is not a column, so no send stops half-way on a bad template.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


class TemplateError(Exception):
    """The body cannot be filled from the audience; the message says why."""


@dataclass(frozen=True, slots=True)
class Template:
    text: str
    fields: tuple[str, ...]

    def render(self, row: Mapping[str, str]) -> str:
        return self.text.format_map({name: row.get(name) or "" for name in self.fields})


def parse(text: str) -> Template:
    fields: list[str] = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise TemplateError(f"message.body: {exc}") from None
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            shown = (
                "{"
                + name
                + (f"!{conversion}" if conversion else "")
                + (f":{spec}" if spec else "")
                + "}"
            )
            raise TemplateError(f"message.body: {shown} is not a field; write {{column_name}}")
        if name not in fields:
            fields.append(name)
    return Template(text=text, fields=tuple(fields))


def check_columns(template: Template, columns: Iterable[str], source: str) -> None:
    """Refuse a field that `source` (the audience or the seed list) has no column for."""
    present = set(columns)
    missing = [name for name in template.fields if name not in present]
    if missing:
        names = ", ".join("{" + name + "}" for name in missing)
        listed = ", ".join(sorted(present))
        raise TemplateError(f"message.body: {names} not a column of the {source} ({listed})")
