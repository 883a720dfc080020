"""The run report: ``RUN_DIR/report.html`` and the PNGs it shows, built from a run folder.

:mod:`~grid.results.report.data` loads the folder (``summary.json`` and the data files of
:mod:`grid.results.run_data`), :mod:`~grid.results.report.maps` and
:mod:`~grid.results.report.figures` draw the PNGs (matplotlib, Agg backend, imported only there),
:mod:`~grid.results.report.page` writes the HTML and :mod:`~grid.results.report.build` ties them
together.
"""

from grid.results.report.build import REPORT_FILE, ReportInfo, build_report

__all__ = ["REPORT_FILE", "ReportInfo", "build_report"]
