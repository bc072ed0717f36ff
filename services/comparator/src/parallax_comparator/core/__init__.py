"""The pure core of the comparator: rules, normalization, diff, pairing, signatures, noise.

No I/O here except reading the rules file; the NATS wiring, the store and the reports build on it.
"""

from parallax_comparator.core.diff import (
    ABSENT,
    RESULTS,
    Comparison,
    FieldDiff,
    Result,
    classify,
    compare,
    diff_values,
)
from parallax_comparator.core.noise import NoiseCandidate, NoiseDetector, noise_candidates
from parallax_comparator.core.normalize import normalize
from parallax_comparator.core.pairing import (
    PairingSettings,
    PairingStats,
    PairingTable,
    PairOutcome,
)
from parallax_comparator.core.rules import (
    DEFAULT_DROP,
    DEFAULT_RULES_PATH,
    EventRule,
    NormalizationRules,
    RulesError,
    RulesFile,
    RulesSpec,
    load_default_rules,
    load_rules,
    parse_rules,
)
from parallax_comparator.core.signature import Signature, collapse_indices, mismatch_signature

__all__ = [
    "ABSENT",
    "DEFAULT_DROP",
    "DEFAULT_RULES_PATH",
    "RESULTS",
    "Comparison",
    "EventRule",
    "FieldDiff",
    "NoiseCandidate",
    "NoiseDetector",
    "NormalizationRules",
    "PairOutcome",
    "PairingSettings",
    "PairingStats",
    "PairingTable",
    "Result",
    "RulesError",
    "RulesFile",
    "RulesSpec",
    "Signature",
    "classify",
    "collapse_indices",
    "compare",
    "diff_values",
    "load_default_rules",
    "load_rules",
    "mismatch_signature",
    "noise_candidates",
    "normalize",
    "parse_rules",
]
