"""Plain-text rendering of a `Summary` (one line per layer, then totals)."""

from collections.abc import Sequence

from cnnjax.analysis.summaries import RF, Row, Summary, axes_text

_HEADER = ("layer", "type", "output", "params", "FLOPs", "RF", "jump")


def _field(rf: RF, kind: str) -> tuple[str, str]:
    if kind == "unused":
        return "-", "-"
    if isinstance(rf, str):
        return ("all", "-") if rf == "global" else ("?", "?")
    return axes_text([r.size for r in rf]), axes_text([r.jump for r in rf])


def _cells(row: Row) -> tuple[str, ...]:
    kind = f"{row.kind} {row.config}".strip()
    shape = "x".join(map(str, row.output_shape))
    return (
        row.name,
        kind,
        shape,
        f"{row.params:,}",
        f"{row.flops:,}",
        *_field(row.receptive_field, row.kind),
    )


def format_summary(summary: Summary | Sequence[Row]) -> str:
    """A text table: layer, type (kernel/stride), output shape, params, FLOPs, RF, jump.

    Args:
      summary: a `Summary`, or rows alone (then the title, input line and notes are left out).

    Returns:
      The table. RF "all": each unit sees every position of some feature map (after a flatten
      or global pooling); "?": a field the tracer could not follow.
    """
    rows = summary.rows if isinstance(summary, Summary) else tuple(summary)
    lines = [_HEADER]
    if isinstance(summary, Summary):
        shape = "x".join(map(str, summary.input_shape))
        lines.append(("input", "", shape, "0", "0", "1", "1"))
    lines += [_cells(r) for r in rows]
    params, flops = sum(r.params for r in rows), sum(r.flops for r in rows)
    lines.append(("total", "", "", f"{params:,}", f"{flops:,}", "", ""))
    widths = [max(len(line[i]) for line in lines) for i in range(len(_HEADER))]
    right = {3, 4, 5, 6}

    def render(line):
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    body = [render(lines[0]), rule, *map(render, lines[1:-1]), rule, render(lines[-1])]
    if isinstance(summary, Summary):
        title = f"{summary.model} on {'x'.join(map(str, summary.input_shape))} inputs"
        notes = [
            f"parameters: {params:,} trainable + {summary.state:,} non-trainable state",
            f"FLOPs: {flops:,} (= 2 x {flops // 2:,} multiply-adds of conv/dense, per example)",
        ]
        body = [title, *body, *notes]
    return "\n".join(body)
