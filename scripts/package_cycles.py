"""Print the import cycles between qbrecon's subpackages (and top-level modules), with one import line each.

    PYTHONPATH=. python scripts/package_cycles.py

The layers contract in pyproject.toml (``lint-imports``) is what CI enforces; this script explains a failure by
listing every pair of packages that import each other, directly or through others.
"""

from __future__ import annotations

import itertools
import sys

import grimp


def main() -> int:
    graph = grimp.build_graph("qbrecon", cache_dir=None)
    packages = sorted(m for m in graph.modules if m.count(".") == 1)  # qbrecon.erp, qbrecon.store, ...
    cycles = []
    for a, b in itertools.combinations(packages, 2):
        ab = graph.find_shortest_chain(importer=a, imported=b, as_packages=True)
        ba = graph.find_shortest_chain(importer=b, imported=a, as_packages=True)
        if ab and ba:
            cycles.append((a, b, ab, ba))
    for a, b, ab, ba in cycles:
        print(f"{a} <-> {b}\n    {' -> '.join(ab)}\n    {' -> '.join(ba)}")
    print(f"{len(cycles)} package cycles")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
