"""A form generated from a plugin's params JSON Schema (what ``GET /api/v1/plugins`` publishes).

Each property becomes one field: text, number (with its bounds), checkbox, or select for an enum;
its title is the label, its description and bounds the hint, its default the initial value. The
values are checked by the plugin's own pydantic model (in ``hx.jobs.submit``), and each error is
shown under the field it names. Descriptions and messages are set as props (data), never as HTML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nicegui import ui

#: Longer strings than this get a multi-line text area.
TEXTAREA_FROM = 200


@dataclass
class Field:
    name: str
    kind: str  # "text", "textarea", "integer", "number", "boolean", "enum"
    label: str
    required: bool
    default: Any = None
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    options: list[Any] = field(default_factory=list)

    @property
    def hint(self) -> str:
        bounds = ""
        if self.minimum is not None and self.maximum is not None:
            bounds = f"from {self.minimum:g} to {self.maximum:g}"
        elif self.minimum is not None:
            bounds = f"at least {self.minimum:g}"
        elif self.maximum is not None:
            bounds = f"at most {self.maximum:g}"
        return " · ".join(part for part in (self.description, bounds) if part)


def fields_of(schema: dict[str, Any]) -> list[Field]:
    """The fields of an object schema, in declaration order."""
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    found = []
    for name, raw in schema.get("properties", {}).items():
        prop = _resolve(raw, defs)
        kind = _kind(prop)
        found.append(Field(
            name=name,
            kind=kind,
            label=str(raw.get("title") or prop.get("title") or name),
            required=name in required,
            default=raw.get("default", prop.get("default")),
            description=str(raw.get("description") or prop.get("description") or ""),
            minimum=_bound(prop, "minimum", "exclusiveMinimum"),
            maximum=_bound(prop, "maximum", "exclusiveMaximum"),
            options=list(prop.get("enum", [])),
        ))  # fmt: skip
    return found


def _resolve(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` and drop the ``null`` branch of an optional (``anyOf: [X, null]``)."""
    if "$ref" in prop:
        return _resolve(defs.get(prop["$ref"].rsplit("/", 1)[-1], {}), defs)
    for key in ("anyOf", "oneOf"):
        branches = [b for b in prop.get(key, []) if b.get("type") != "null"]
        if len(branches) == 1:
            return {**prop, **_resolve(branches[0], defs)}
    return prop


def _kind(prop: dict[str, Any]) -> str:
    if "enum" in prop:
        return "enum"
    kind = prop.get("type")
    if kind in ("integer", "number", "boolean"):
        return str(kind)
    if kind == "string" and prop.get("maxLength", TEXTAREA_FROM + 1) > TEXTAREA_FROM:
        return "textarea"
    return "text"


def _bound(prop: dict[str, Any], inclusive: str, exclusive: str) -> float | None:
    value = prop.get(inclusive, prop.get(exclusive))
    return float(value) if isinstance(value, int | float) else None


class ParamsForm:
    """The widgets of one plugin's params; ``values()`` for submit, ``show_errors()`` after it."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.fields = fields_of(schema)
        self.widgets: dict[str, Any] = {}
        for spec in self.fields:
            self.widgets[spec.name] = _widget(spec)

    def values(self) -> dict[str, Any]:
        """What the user entered; empty optional fields are left out so their defaults apply."""
        out: dict[str, Any] = {}
        for spec in self.fields:
            value = self.widgets[spec.name].value
            if spec.kind in ("integer", "number") and value is not None:
                value = int(value) if spec.kind == "integer" and float(value).is_integer() else value
            if value is None or (value == "" and spec.default is None and not spec.required):
                continue
            out[spec.name] = value
        return out

    def show_errors(self, errors: list[dict[str, Any]]) -> list[str]:
        """Put each error under its field; returns the messages that name no field."""
        self.clear_errors()
        unplaced = []
        for error in errors:
            loc = [str(part) for part in error.get("loc", [])]
            name = loc[1] if len(loc) > 1 and loc[0] == "params" else None
            widget = self.widgets.get(name) if name else None
            if widget is None:
                unplaced.append(f"{'.'.join(loc) or 'params'}: {error.get('msg', '')}")
                continue
            _set_error(widget, str(error.get("msg", "invalid")))
        return unplaced

    def clear_errors(self) -> None:
        for widget in self.widgets.values():
            _set_error(widget, None)


def _set_error(widget: Any, message: str | None) -> None:
    """Inputs, numbers and selects keep NiceGUI's validation state; a checkbox gets Quasar's props."""
    if hasattr(widget, "error"):
        widget.error = message
    else:
        widget.props["error"] = message is not None
        widget.props["error-message"] = message or ""


def _widget(spec: Field) -> Any:
    label = spec.label + (" *" if spec.required else "")
    widget: Any
    if spec.kind == "boolean":
        widget = ui.checkbox(label, value=bool(spec.default))
        if spec.hint:
            ui.label(spec.hint).classes("text-xs opacity-70 -mt-2 ml-10")
        return widget
    if spec.kind == "enum":
        widget = ui.select(spec.options, value=spec.default, label=label).classes("w-full")
    elif spec.kind in ("integer", "number"):
        widget = ui.number(label, value=spec.default, min=spec.minimum, max=spec.maximum,
                           step=1 if spec.kind == "integer" else None).classes("w-full")  # fmt: skip
    elif spec.kind == "textarea":
        widget = ui.textarea(label, value=spec.default or "").props("autogrow").classes("w-full")
    else:
        widget = ui.input(label, value=spec.default or "").classes("w-full")
    if spec.hint:
        widget.props["hint"] = spec.hint
    widget.props["bottom-slots"] = True
    return widget


__all__ = ["Field", "ParamsForm", "fields_of"]
