"""Every method, operator Ψ and assignment strategy X by name: the single source for building them,
validating a config and listing the choices in `--help`.

Adding an operator or a strategy is one new file under learner/algos/ plus one line here
(docs/algorithms.md shows a worked example). Targets are imported only when a learner builds them.
"""

from __future__ import annotations

from vast.common.registry import Registry

_ALGOS = "vast.learner.algos"

METHODS = Registry("method (algo.algo)")
METHODS.add(
    "vast",
    f"{_ALGOS}.vast:VAST",
    "value factorisation over K = ceil(eta*N) variable sub-teams (operator --mixer, assignment --assign)",
)
METHODS.add(
    "qtran", f"{_ALGOS}.factorised:ValueFactorisation", "flat QTRAN over all N agents", operator="qtran"
)
METHODS.add("qmix", f"{_ALGOS}.factorised:ValueFactorisation", "flat QMIX over all N agents", operator="qmix")
METHODS.add("vdn", f"{_ALGOS}.factorised:ValueFactorisation", "flat VDN over all N agents", operator="vdn")
METHODS.add(
    "il",
    f"{_ALGOS}.independent:IndependentActorCritic",
    "independent actor-critics with a V baseline (the reference's IL; no operator)",
    operator=None,
)

OPERATORS = Registry("operator (algo.mixer)")
OPERATORS.add(
    "independent",
    f"{_ALGOS}.operators.independent:IndependentOperator",
    "every sub-team value regressed to G on its own (the paper's VAST-IL)",
    deprecated=("il",),
)
OPERATORS.add("vdn", f"{_ALGOS}.operators.vdn:VDNOperator", "sum of the values regressed to G")
OPERATORS.add("qmix", f"{_ALGOS}.operators.qmix:QMIXOperator", "monotone mixer with hypernetworks")
OPERATORS.add("qtran", f"{_ALGOS}.operators.qtran:QTRANOperator", "QTRAN as the reference codes it")

ASSIGNMENTS = Registry("assignment (algo.assign)")
ASSIGNMENTS.add(
    "metagrad",
    f"{_ALGOS}.assignment.metagrad:MetaGradAssignment",
    "a learned assignment policy trained by a policy gradient",
)
ASSIGNMENTS.add(
    "spatial", f"{_ALGOS}.assignment.spatial:SpatialAssignment", "k-means of the agents' positions"
)
ASSIGNMENTS.add("random", f"{_ALGOS}.assignment.random_draw:RandomAssignment", "uniform draw at every step")
ASSIGNMENTS.add("fixed", f"{_ALGOS}.assignment.fixed:FixedAssignment", "agent i in sub-team i mod K")
ASSIGNMENTS.add(
    "identity",
    f"{_ALGOS}.assignment.fixed:FixedAssignment",
    "every agent its own sub-team (fixed with K = N; needs --eta 1)",
)
