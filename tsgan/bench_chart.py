"""A chart of `tsgan bench`'s table: per dataset, each detector's VUS-PR beside its training time.

VUS-PR (threshold-free) is the headline, drawn as horizontal bars with a random score's VUS-PR as a dashed
line: a bar that barely passes it has learnt little. The deployable point F1 (tsgan's own thresholds) is a
marker on the same bar, so the distance between what the scores could do and what the thresholds did is
visible. Training seconds sit in a second column on a log axis. Failed cells are listed in the subtitle.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tsgan.bench import label

VUS = "VUS-PR [threshold-free]"
RANDOM_VUS = "VUS-PR of a random score [threshold-free]"
F1 = "point F1 [deployable]"
_BAR_PX, _TOP_PX, _BOTTOM_PX = 26, 120, 70


def bench_figure(results: list[dict]) -> go.Figure:
    """The chart of `results` (as `tsgan.bench.run_bench` returns them)."""
    done = [r for r in results if "error" not in r]
    failed = [r for r in results if "error" in r]
    datasets = list(dict.fromkeys(r["dataset"] for r in done))
    rows_per_dataset = [sum(r["dataset"] == d for r in done) for d in datasets] or [1]
    height = _TOP_PX + _BOTTOM_PX + _BAR_PX * sum(rows_per_dataset) + 60 * len(rows_per_dataset)
    fig = make_subplots(
        rows=len(rows_per_dataset),
        cols=2,
        column_widths=[0.7, 0.3],
        row_heights=rows_per_dataset,
        horizontal_spacing=0.03,
        vertical_spacing=50 / height,
        shared_yaxes=True,
        subplot_titles=[t for d in datasets for t in (d, "")],
    )
    for row, dataset in enumerate(datasets, start=1):
        cells = sorted((r for r in done if r["dataset"] == dataset), key=lambda r: r["metrics"][VUS])
        names = [label(r["detector"], r["params"]) for r in cells]
        first = row == 1
        fig.add_trace(
            go.Bar(
                x=[r["metrics"][VUS] for r in cells],
                y=names,
                orientation="h",
                name="VUS-PR (threshold-free)",
                marker_color="#40577a",
                showlegend=first,
                hovertemplate="%{y}: VUS-PR %{x:.3f}<extra></extra>",
            ),
            row=row,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=[r["metrics"][F1] for r in cells],
                y=names,
                mode="markers",
                name="point F1 with tsgan's own thresholds (deployable)",
                marker={"color": "#d62728", "symbol": "diamond", "size": 9},
                showlegend=first,
                hovertemplate="%{y}: deployable point F1 %{x:.3f}<extra></extra>",
            ),
            row=row,
            col=1,
        )
        chance = sum(r["metrics"][RANDOM_VUS] for r in cells) / len(cells)
        fig.add_vline(
            x=chance,
            line={"color": "#888888", "dash": "dash", "width": 1},
            annotation_text=f"random {chance:.2f}",
            annotation_position="bottom right",
            row=row,
            col=1,
        )
        fig.add_trace(
            go.Bar(
                x=[r["fit_s"] for r in cells],
                y=names,
                orientation="h",
                name="fit seconds",
                marker_color="#9aa5b8",
                showlegend=first,
                hovertemplate="%{y}: fit %{x:.1f} s<extra></extra>",
            ),
            row=row,
            col=2,
        )
        fig.update_xaxes(range=[0, 1], row=row, col=1)
        fig.update_xaxes(type="log", row=row, col=2)
    fig.update_xaxes(title_text="VUS-PR, point F1", row=len(rows_per_dataset), col=1)
    fig.update_xaxes(title_text="fit seconds (log)", row=len(rows_per_dataset), col=2)
    subtitle = f"{len(done)} cells on {len(datasets)} datasets"
    if failed:
        names = [f"{label(r['detector'], r['params'])} on {r['dataset']}" for r in failed]
        subtitle += "; failed: " + ", ".join(names)
    fig.update_layout(
        title={
            "text": "tsgan bench",
            "subtitle": {"text": subtitle, "font": {"size": 12}},
            "x": 0.01,
            "y": 1 - 14 / height,
            "yanchor": "top",
            "yref": "container",
        },
        legend={"orientation": "h", "x": 0, "y": 1 - 62 / height, "yanchor": "top", "yref": "container"},
        template="plotly_white",
        height=height,
        margin={"l": 220, "r": 30, "t": _TOP_PX, "b": _BOTTOM_PX},
        barmode="overlay",
    )
    return fig
