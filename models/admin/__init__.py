"""DSP control reports: the authority's annual control report on a public-service delegation,
drafted from the administration marts (every figure traceable to a mart row), rendered to HTML
and PDF (:mod:`models.admin.report`), with an optional narrative from an OpenAI-compatible
language model that may never change a figure (:mod:`models.admin.narrative`). No Dagster here.
"""
