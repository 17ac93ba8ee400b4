"""GET /docs: the OpenAPI description as one plain HTML page, built on the server, with no script
and nothing fetched from elsewhere, so it reads the same offline."""

from __future__ import annotations

from html import escape
from typing import Any

from aiohttp import web

STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
code{background:#f3f3f3;padding:0 .25em;border-radius:3px}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}
th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
h2{margin-top:2.5rem;border-top:2px solid #333;padding-top:.5rem}
"""


def _type(schema: dict[str, Any] | bool) -> str:
    """A schema in a few words, with links to the named schemas it uses."""
    if isinstance(schema, bool):  # JSON Schema's true: anything
        return "any"
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f'<a href="#schema-{escape(name)}">{escape(name)}</a>'
    if "anyOf" in schema:
        return " or ".join(_type(s) for s in schema["anyOf"])
    if "enum" in schema or "const" in schema:
        return "one of " + ", ".join(
            f"<code>{escape(str(v))}</code>" for v in schema.get("enum", [schema.get("const")])
        )
    words = [escape(str(schema.get("type", "any")))]
    if schema.get("type") == "array":
        words = ["array of " + _type(schema.get("items", {}))]
    elif schema.get("type") == "object" and "additionalProperties" in schema:
        words = ["map to " + _type(schema["additionalProperties"])]
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if low is not None or high is not None:
        words.append(f"{'' if low is None else low} .. {'' if high is None else high}")
    if "pattern" in schema:
        words.append(f"matching <code>{escape(schema['pattern'])}</code>")
    if "default" in schema:
        words.append(f"default <code>{escape(str(schema['default']))}</code>")
    return ", ".join(words)


def _operation(path: str, op: dict[str, Any]) -> list[str]:
    out = [f'<h2 id="{escape(op["operationId"])}"><code>GET {escape(path)}</code></h2>']
    out.append(f"<p><b>{escape(op['summary'])}</b></p>")
    if "description" in op:
        out.append(f"<p>{escape(op['description'])}</p>")
    if op["parameters"]:
        out.append("<table><tr><th>parameter</th><th>in</th><th>type</th><th>what</th></tr>")
        for p in op["parameters"]:
            name = escape(p["name"]) + (" (required)" if p["required"] else "")
            out.append(
                f"<tr><td><code>{name}</code></td><td>{p['in']}</td>"
                f"<td>{_type(p['schema'])}</td><td>{escape(p['description'])}</td></tr>"
            )
        out.append("</table>")
    out.append("<table><tr><th>status</th><th>answer</th><th>body</th></tr>")
    for status, answer in op["responses"].items():
        body = ", ".join(
            f"{escape(media)}: {_type(c['schema'])}" for media, c in answer.get("content", {}).items()
        )
        out.append(
            f"<tr><td>{escape(status)}</td><td>{escape(answer['description'])}</td><td>{body}</td></tr>"
        )
    out.append("</table>")
    return out


def _schema(name: str, schema: dict[str, Any]) -> list[str]:
    out = [f'<h3 id="schema-{escape(name)}">{escape(name)}</h3>']
    if "description" in schema:
        out.append(f"<p>{escape(schema['description'])}</p>")
    required = set(schema.get("required", []))
    out.append("<table><tr><th>field</th><th>type</th><th>what</th></tr>")
    for field, prop in schema.get("properties", {}).items():
        label = escape(field) + ("" if field in required else " (optional)")
        out.append(
            f"<tr><td><code>{label}</code></td><td>{_type(prop)}</td>"
            f"<td>{escape(prop.get('description', ''))}</td></tr>"
        )
    out.append("</table>")
    return out


def render(spec: dict[str, Any]) -> str:
    info = spec["info"]
    out = [
        f"<!doctype html><html lang=en><meta charset=utf-8><title>{escape(info['title'])} API</title>",
        f"<style>{STYLE}</style>",
        f"<h1>{escape(info['title'])} API {escape(info['version'])}</h1>",
        f"<p>{escape(info['description'])}</p>",
        '<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p><ul>',
    ]
    operations = [(path, op) for path, item in spec["paths"].items() for op in item.values()]
    out += [f'<li><a href="#{escape(op["operationId"])}"><code>GET {escape(path)}</code></a>: '
            f"{escape(op['summary'])}</li>" for path, op in operations]  # fmt: skip
    out.append("</ul>")
    for path, op in operations:
        out += _operation(path, op)
    out.append("<h2>Schemas</h2>")
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        out += _schema(name, schema)
    return "\n".join(out)


docs_key = web.AppKey("docs_page", bytes)  # rendered once, when the routes are set up


async def docs(request: web.Request) -> web.Response:
    response = web.Response(body=request.app[docs_key], content_type="text/html", charset="utf-8")
    response.headers["Cache-Control"] = "public, max-age=300"
    response.enable_compression()
    return response
