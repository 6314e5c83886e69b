"""The figures `experiments.visualize` can draw, by name, and the index.html that shows them.

Each method is `method(ctx) -> [(file name, caption), ...]`; it computes with `cnnjax.interpret`
and draws with `cnnjax.interpret.plots`. The context and the shared attribution maps are in
`visualize_context`, the attribution figures in `visualize_attributions`, the figures of the
network itself in `visualize_pictures`.
"""

import html
import os

from experiments.visualize_attributions import attribution, comparison, unit_saliency
from experiments.visualize_context import ATTRIBUTIONS, Context, Options
from experiments.visualize_pictures import class_model, deepdream, feature_maps, filters, patches

METHODS = {
    "feature_maps": feature_maps,
    "filters": filters,
    "patches": patches,
    **{m: attribution(m) for m in ATTRIBUTIONS},
    "unit_saliency": unit_saliency,
    "comparison": comparison,
    "class_model": class_model,
    "deepdream": deepdream,
}


def write_index(out: str, title: str, figures: list[tuple[str, str]]) -> str:
    """An index.html showing every figure with its caption."""
    items = "\n".join(
        f'<figure><img src="{html.escape(f)}" alt="{html.escape(f)}"><figcaption><b>'
        f"{html.escape(f.rsplit('.', 1)[0])}</b> — {html.escape(c)}</figcaption></figure>"
        for f, c in figures
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}"
        "figure{margin:0 0 2em 0;border-bottom:1px solid #ddd;padding-bottom:1em}"
        "img{max-width:100%}figcaption{color:#333;font-size:0.95em}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>\n{items}\n</body></html>\n"
    )
    path = os.path.join(out, "index.html")
    with open(path, "w") as f:
        f.write(page)
    return path


__all__ = ["METHODS", "Context", "Options", "write_index"]
