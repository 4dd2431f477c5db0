"""Statistics the gates decide with: paired intervals, bootstrap, DeLong, multiplicity, sequential tests.

Every module imports numpy/scipy on its own; importing this package costs
nothing, so the plugin may name it at start-up. What scipy and statsmodels
already do well is used from them (t and normal quantiles, ranks, Holm's
adjusted p-values); what is written here is what they lack or what is far
too slow for a gate (a paired DeLong contrast, a bootstrap over count cells,
a beta-mixture sequential test on a rate).

Convention throughout: an *estimate* is of a contrast on the loss scale
(positive = the challenger is worse), so one rule decides every metric:
PASS when the whole interval lies below the margin, FAIL when it lies above,
INCONCLUSIVE when it straddles it.
"""
