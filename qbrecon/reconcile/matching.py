"""Fuzzy name suggestions for records left unmatched on both sides: a score, never an automatic link.

Exact matching (by link, then by business key with the ``qbr_norm_name`` DuckDB macro) happens in SQL in
``engine``; what is left over on both sides of a list pair is scored here in one vectorised
``rapidfuzz.process.cdist`` call per pair. Names are normalised by the same rule first (``schemas.types``), so legal-form
suffixes ("Inc", "LLC") neither help nor hurt, and ``token_sort_ratio`` is used because WRatio over-rewards
substrings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

from ..schemas.types import normalise_name as normalise_name  # re-exported by qbrecon.reconcile
from ..schemas.types import normalise_names

SCORE_CUTOFF = 80.0

COLUMNS = {
    "pair": "string[pyarrow]",
    "procore_id": "string[pyarrow]",
    "procore_name": "string[pyarrow]",
    "quickbooks_id": "string[pyarrow]",
    "quickbooks_name": "string[pyarrow]",
    "score": "float64[pyarrow]",
}


def suggest(
    candidates: dict[str, tuple[pd.DataFrame, pd.DataFrame]], cutoff: float = SCORE_CUTOFF, limit: int = 3
) -> pd.DataFrame:
    """``{pair: (procore[procore_id, label], quickbooks[quickbooks_id, label])}`` -> scored suggestions.

    Up to ``limit`` QuickBooks candidates per unmatched Procore record scoring at least ``cutoff`` (0-100).
    """
    frames = []
    for pair, (p, q) in candidates.items():
        if p.empty or q.empty:
            continue
        p_names = normalise_names(p["label"])
        q_names = normalise_names(q["label"])
        scores = process.cdist(
            p_names, q_names, scorer=fuzz.token_sort_ratio, score_cutoff=cutoff, dtype=np.float32, workers=1
        )
        k = min(limit, scores.shape[1])
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        rows, ranks = np.nonzero(np.take_along_axis(scores, top, axis=1) >= cutoff)
        if rows.size == 0:
            continue
        cols = top[rows, ranks]
        frames.append(
            pd.DataFrame(
                {
                    "pair": pair,
                    "procore_id": p["procore_id"].to_numpy()[rows],
                    "procore_name": p["label"].to_numpy()[rows],
                    "quickbooks_id": q["quickbooks_id"].to_numpy()[cols],
                    "quickbooks_name": q["label"].to_numpy()[cols],
                    "score": np.round(scores[rows, cols].astype(float), 1),
                }
            )
        )
    if not frames:
        return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in COLUMNS.items()})
    out = pd.concat(frames, ignore_index=True)
    out = out.sort_values(["pair", "procore_id", "score"], ascending=[True, True, False], kind="stable")
    return out.astype(COLUMNS).reset_index(drop=True)
