"""Administration: delegates' annual report data, document registry, DSP revenue."""


from transforms import admin as T

from .lake import Lake
from .layers import bronze, gold, silver, silver_key


@silver("dsp_report_lines", group="administration", deps=[bronze("dsp_report_lines")],
        keys=["contract_id", "year", "section", "code"])
def dsp_report_lines(lake: Lake):
    """The delegates' annual report data as long lines: section (pnl, kpis, investments, assets,
    tariffs, staff, complaints), code, value, previous year's value, target, unit."""
    return T.dsp_report_lines(lake.read("bronze", "dsp_report_lines"))


@silver("documents", group="administration", deps=[bronze("documents")], keys=["file"])
def documents(lake: Lake):
    """Administrative documents: format, pages, size of the extracted text, title line."""
    return T.documents(lake.read("bronze", "documents"))


@gold("dsp_revenue", group="administration", deps=[silver_key("dsp_report_lines"), silver_key("dsp_contracts")])
def dsp_revenue(lake: Lake):
    """Per DSP contract and year: revenue, EBITDA and net result (EUR), previous year's revenue,
    year-on-year change (%), EBITDA margin (%)."""
    return T.dsp_revenue(lake.read("silver", "dsp_report_lines"), lake.read("silver", "dsp_contracts"))


ASSETS = [dsp_report_lines, documents, dsp_revenue]
