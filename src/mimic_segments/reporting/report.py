"""The segmentation report: one self-contained HTML page with PNG figures, from the marts.

``python -m mimic_segments.reporting.report [--database PATH] [--out reports]`` (``make report``)
opens the DuckDB file read-only (by default the published database, ``MIMIC_SEGMENTS_DB``),
reads the segmentation marts and writes ``<out>/segmentation_report.html`` (figures embedded as
data URIs, so the one file can be mailed or attached) and the same figures as
``<out>/figures/*.png``. Three modules do the work, one job each: ``report_data`` reads the
marts, ``report_figures`` draws, ``report_html`` fills the page's Jinja2 template
(``templates/segmentation_report.html``) with the words of ``report_text``.

The page, for a care-management lead rather than a data scientist first:

- the population: registry patients, clustered (admitted) and rule-defined (never admitted);
- segment sizes, as shares of the registry and of the clustering population;
- a card per segment: for a clustered one its persona, the persona's fit (cosine similarity of
  centroid and persona signature, -1..1), the runner-up persona and margin, a warning when the
  match is weak, the suggested action, key numbers and most common diagnoses; for a
  rule-defined one its rule, size and action (no centroid, no fit);
- the centroid heatmap (how each clustered segment differs from the average admitted patient,
  in standard deviations, with the typical value in the feature's own units);
- the admitted patients on the first two principal components, coloured by segment;
- the demographic mix per segment next to the whole registry (for equity review);
- return-to-hospital curves per segment (``segment_return_curves``): step plots of the
  cumulative incidence of return after the first discharge alive, death competing, with 95 %
  bands, and for all patients the same beside 1 - Kaplan-Meier and the other end-of-data
  assumptions;
- the k-selection curves and the diagnostics table (why this many clustered segments);
- with ``marts.segment_prospective_outcomes`` (``make prospective``), whether the segments
  predict next year; and which build the page shows, with its data-quality warnings.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mimic_segments.publishing.duckdb_file import published_database
from mimic_segments.reporting.report_data import ReportError, load_report_data
from mimic_segments.reporting.report_figures import build_figures
from mimic_segments.reporting.report_html import render_html

DEFAULT_OUT = Path("reports")
REPORT_NAME = "segmentation_report.html"


def write_report(database: Path, out: Path) -> Path:
    """Render the report into ``out``; returns the HTML path."""
    data = load_report_data(database)
    figures = build_figures(data)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    for figure in figures:
        (out / "figures" / f"{figure.name}.png").write_bytes(figure.png)
    target = out / REPORT_NAME
    tmp = target.with_suffix(".html.tmp")
    tmp.write_text(render_html(data, figures), encoding="utf-8")
    os.replace(tmp, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mimic_segments.reporting.report", description=__doc__)
    parser.add_argument(
        "--database",
        type=Path,
        default=published_database(),
        help="DuckDB file (default: the published database, $MIMIC_SEGMENTS_DB or mimic_segments.duckdb)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: reports)")
    args = parser.parse_args(argv)
    try:
        target = write_report(args.database, args.out)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{target}  ({len(list((args.out / 'figures').glob('*.png')))} figures in {args.out / 'figures'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
