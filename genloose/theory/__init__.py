"""The paper's theory as exact numerical code: Gaussian helpers, the class-radius bounds and the lemmas.

Pure numpy/scipy, stable in the tails (log-probabilities accepted where :math:`p` would underflow).
See ``docs/theory.md`` for every statement's domain, how it is checked and what the checks found.
"""

from __future__ import annotations

from genloose.theory.bounds import (
    HYPOTHESIS_MAX_PROBABILITY,
    THEOREM_3_1_RADIUS_LIMIT,
    collision_entropy_upper_bound,
    collision_probability_lower_bound,
    fawzi_bound,
    fawzi_bound_uniform,
    fawzi_term,
    theorem_3_1_bound,
    theorem_3_2_bound,
    theorem_3_3_bound,
)
from genloose.theory.gaussian import (
    normal_cdf,
    normal_integrated_cdf,
    normal_logcdf,
    normal_logpdf,
    normal_mean_excess,
    normal_pdf,
    normal_ppf,
    normal_upper_quantile,
)
from genloose.theory.lemmas import (
    G_ARGMAX,
    G_MAX,
    G_ROOT,
    LEMMA_B2_SMALLEST_K,
    LEMMA_B6_NUMERATOR_MAX,
    CollisionProbabilityRange,
    ProofChain,
    QuantileBound,
    collision_probability_range,
    g,
    g_double_prime,
    g_entropy_prime,
    g_prime,
    lemma_b1_bound,
    lemma_b2_quantile_bound,
    lemma_b5_paper_upper_bound,
    lemma_b6_numerator,
    theorem_3_1_proof_chain,
)

__all__ = [
    "G_ARGMAX",
    "G_MAX",
    "G_ROOT",
    "HYPOTHESIS_MAX_PROBABILITY",
    "LEMMA_B2_SMALLEST_K",
    "LEMMA_B6_NUMERATOR_MAX",
    "THEOREM_3_1_RADIUS_LIMIT",
    "CollisionProbabilityRange",
    "ProofChain",
    "QuantileBound",
    "collision_entropy_upper_bound",
    "collision_probability_lower_bound",
    "collision_probability_range",
    "fawzi_bound",
    "fawzi_bound_uniform",
    "fawzi_term",
    "g",
    "g_double_prime",
    "g_entropy_prime",
    "g_prime",
    "lemma_b1_bound",
    "lemma_b2_quantile_bound",
    "lemma_b5_paper_upper_bound",
    "lemma_b6_numerator",
    "normal_cdf",
    "normal_integrated_cdf",
    "normal_logcdf",
    "normal_logpdf",
    "normal_mean_excess",
    "normal_pdf",
    "normal_ppf",
    "normal_upper_quantile",
    "theorem_3_1_bound",
    "theorem_3_1_proof_chain",
    "theorem_3_2_bound",
    "theorem_3_3_bound",
]
