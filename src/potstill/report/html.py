"""report.md → a self-contained report.html.

The HTML is the Markdown rendered by markdown-it-py (CommonMark + tables, raw HTML
disabled, so text from records can never inject markup), with two substitutions: chart
images become inline base64 PNGs, and the Mermaid block becomes ``<pre class="mermaid">``
holding the diagram source. The page has inline CSS and no scripts, so it reads offline
(the study machines have no network) and shows the same numbers as report.md.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from typing import Any, cast

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token

__all__ = ["CSS", "markdown_to_html"]

CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1b1b;
       max-width: 1200px; margin: 2em auto; padding: 0 1.5em; }
h1 { border-bottom: 2px solid #1f77b4; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: .15em; margin-top: 2em; }
table { border-collapse: collapse; margin: .8em 0; font-size: 13px; display: block;
        overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: .25em .55em; }
th { background: #f0f4f8; } tr:nth-child(even) td { background: #fafafa; }
td { font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
code { background: #f4f4f4; padding: 0 .2em; }
pre { background: #f6f8fa; padding: .8em 1em; overflow-x: auto; border-radius: 4px; }
pre.mermaid { background: #fffbea; border-left: 4px solid #e0b400; font-size: 14px;
              line-height: 1.6; white-space: pre; }
"""


def _renderer(images: Mapping[str, bytes]) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    rules = cast(RendererHTML, md.renderer).rules
    default_fence, default_image = rules["fence"], rules["image"]

    def fence(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        if token.info.strip() == "mermaid":
            return f'<pre class="mermaid">{html.escape(token.content)}</pre>\n'
        return str(default_fence(tokens, idx, options, env))

    def image(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        src = str(token.attrGet("src") or "")
        if src in images:
            data = base64.b64encode(images[src]).decode("ascii")
            token.attrSet("src", f"data:image/png;base64,{data}")
        return str(default_image(tokens, idx, options, env))

    md.add_render_rule("fence", fence)
    md.add_render_rule("image", image)
    return md


def markdown_to_html(markdown: str, images: Mapping[str, bytes], title: str) -> str:
    """The full HTML page; ``images`` maps the Markdown image paths to PNG bytes."""
    body = _renderer(images).render(markdown)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n"
        f"<body>\n{body}</body>\n</html>\n"
    )
