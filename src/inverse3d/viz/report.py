"""report.html: one self-contained page of a run (metrics, settings, figures embedded)."""

from __future__ import annotations

import base64
import html
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["write_report_html"]

_MIME = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg"}


def _data_uri(path: Path) -> str:
    mime = _MIME.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _cell(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.5g}"
    return html.escape(str(v))


def _table(rows: Mapping[str, Any]) -> str:
    body = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td>{_cell(v)}</td></tr>" for k, v in rows.items()
    )
    return f"<table>{body}</table>"


def write_report_html(
    path: str | os.PathLike,
    title: str,
    sections: Sequence[tuple[str, Mapping[str, Any]]],
    figures: Sequence[tuple[str, str | os.PathLike]] = (),
    footer: Mapping[str, Any] | None = None,
) -> Path:
    """Write a self-contained HTML page: key/value tables, then figures (PNG/GIF files embedded
    as data URIs; missing files are skipped), then a footer (e.g. versions) as JSON.

    sections: (heading, {key: value}); figures: (heading, image path).
    """
    out = Path(path)
    parts = [f"<h1>{html.escape(title)}</h1>"]
    for heading, rows in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>{_table(rows)}")
    for heading, img in figures:
        p = Path(img)
        if p.is_file():
            parts.append(
                f"<h2>{html.escape(heading)}</h2><img src='{_data_uri(p)}' alt='{html.escape(p.name)}'>"
            )
    if footer:
        parts.append(f"<p><small>{html.escape(json.dumps(dict(footer)))}</small></p>")
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:60em}"
        "table{border-collapse:collapse}td{border:1px solid #ccc;padding:2px 8px}"
        "img{max-width:100%}</style></head><body>" + "".join(parts) + "</body></html>"
    )
    out.write_text(page, encoding="utf-8")
    return out
