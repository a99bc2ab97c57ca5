"""Analysis: the code that reads runs rather than trains them.

Everything here reads run directories (results.json, metrics.jsonl, checkpoints) and the papers'
numbers to make tables, figures and verdicts: report (Table 1 / 9), tables, figures, stats (CIs,
paired differences, verdicts), paper (the published numbers), bayes (the Bayes-optimal floor) and
baselines (closed-form references). Nothing in training imports this package; each module is run as
`python -m metareg.analysis.<module>`.
"""
