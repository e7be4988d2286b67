"""Read the qbXML spec tables (element order, required children) off Intuit's XSD, for tests and for maintainers.

The product never reads the XSD (Intuit's terms do not let us ship it): ``qbrecon/qbxml/spec.py`` holds the
tables as data. This module re-derives them from a local copy of the schema so a test can prove the committed
tables still match it, and a maintainer adding a message can print its rows::

    python tests/xsd_tables.py /path/to/xsd/13.0 BillMod ItemLineMod
"""

from __future__ import annotations

import sys
from pathlib import Path

from lxml import etree

XS = "{http://www.w3.org/2001/XMLSchema}"


class XsdTables:
    """The content models of a qbXML schema directory (qbxml130.xsd and qbxmlops130.xsd)."""

    def __init__(self, xsd_dir: Path):
        self.elements: dict[str, etree._Element] = {}
        self.types: dict[str, etree._Element] = {}
        self.groups: dict[str, etree._Element] = {}
        self.simple: dict[str, etree._Element] = {}
        self.local: dict[str, etree._Element] = {}  # element name -> a local declaration with its own type
        for name in ("qbxmltypes130.xsd", "qbxml130.xsd", "qbxmlops130.xsd"):
            root = etree.parse(str(Path(xsd_dir) / name)).getroot()
            for el in root:
                tag, nm = el.tag, el.get("name")
                if tag == XS + "element":
                    self.elements[nm] = el
                elif tag == XS + "complexType":
                    self.types[nm] = el
                elif tag == XS + "group":
                    self.groups[nm] = el
                elif tag == XS + "simpleType":
                    self.simple[nm] = el
            for el in root.iter(XS + "element"):
                nm = el.get("name")
                if (
                    nm
                    and nm not in self.elements
                    and (el.get("type") or el.find(XS + "complexType") is not None)
                ):
                    self.local.setdefault(nm, el)

    def _model(self, element: str) -> etree._Element | None:
        """The sequence/choice/group that is the content of ``element``, or None for a simple element."""
        decl = self.elements.get(element)
        if decl is None or (decl.get("type") is None and decl.find(XS + "complexType") is None):
            decl = self.local.get(element, decl)
        if decl is None:
            return None
        ct = decl.find(XS + "complexType")
        if ct is None and decl.get("type") in self.types:
            ct = self.types[decl.get("type")]
        if ct is None:
            return None
        for child in ct:
            if child.tag in (XS + "sequence", XS + "choice", XS + "group"):
                return child
        return None

    def _flat(self, particle: etree._Element) -> list[str]:
        """Every element name a particle may contain, in schema order (choices flattened)."""
        if particle.tag == XS + "element":
            return [particle.get("name") or particle.get("ref")]
        if particle.tag == XS + "group":
            return self._flat(self.groups[particle.get("ref")].find("*"))
        out: list[str] = []
        for child in particle:
            if child.tag in (XS + "element", XS + "sequence", XS + "choice", XS + "group"):
                out += self._flat(child)
        return out

    def _required(self, particle: etree._Element) -> list[tuple[str, ...]]:
        """Groups of alternatives, one of each must be present (a lone required element is a 1-tuple)."""
        if particle.get("minOccurs") == "0":
            return []
        if particle.tag == XS + "element":
            return [(particle.get("name") or particle.get("ref"),)]
        if particle.tag == XS + "group":
            return self._required(self.groups[particle.get("ref")].find("*"))
        kids = [
            c for c in particle if c.tag in (XS + "element", XS + "sequence", XS + "choice", XS + "group")
        ]
        if particle.tag == XS + "sequence":
            return [group for child in kids for group in self._required(child)]
        # a required choice: any element that can begin one of its branches satisfies it
        branches = [self._required(child) for child in kids]
        if any(not branch for branch in branches):
            return []  # one branch may be empty: nothing is required
        return [tuple(dict.fromkeys(name for branch in branches for name in branch[0]))]

    def _decl_maxlen(self, decl: etree._Element) -> int | None:
        facet = decl.find(f"{XS}simpleType/{XS}restriction/{XS}maxLength")
        if facet is None and decl.get("type") in self.simple:  # IDTYPE: 36
            facet = self.simple[decl.get("type")].find(f"{XS}restriction/{XS}maxLength")
        return int(facet.get("value")) if facet is not None else None

    def _content(self, decl: etree._Element) -> etree._Element | None:
        ct = decl.find(XS + "complexType")
        if ct is None and decl.get("type") in self.types:
            ct = self.types[decl.get("type")]
        if ct is None:
            return None
        return next((c for c in ct if c.tag in (XS + "sequence", XS + "choice", XS + "group")), None)

    def _particles(self, particle: etree._Element):
        """The element declarations (local or referenced) a particle contains."""
        if particle.tag == XS + "element":
            yield self.elements.get(particle.get("ref"), particle) if particle.get("ref") else particle
        elif particle.tag == XS + "group":
            yield from self._particles(self.groups[particle.get("ref")].find("*"))
        else:
            for child in particle:
                if child.tag in (XS + "element", XS + "sequence", XS + "choice", XS + "group"):
                    yield from self._particles(child)

    def maxlen(self, element: str, depth: int = 3) -> dict[str, int]:
        """``maxLength`` facets under ``element`` by path (``BillAdd/ItemLineAdd/Desc``), ``depth`` levels down."""
        out: dict[str, int] = {}

        def walk(model: etree._Element | None, path: str, left: int) -> None:
            if model is None or left == 0:
                return
            for decl in self._particles(model):
                child = f"{path}/{decl.get('name')}"
                limit = self._decl_maxlen(decl)
                if limit is not None:
                    out[child] = limit
                else:
                    walk(self._content(decl), child, left - 1)

        walk(self._model(element), element, depth)
        return out

    def order(self, element: str) -> tuple[str, ...]:
        model = self._model(element)
        return tuple(self._flat(model)) if model is not None else ()

    def required(self, element: str) -> tuple[tuple[str, ...], ...]:
        model = self._model(element)
        return tuple(self._required(model)) if model is not None else ()


if __name__ == "__main__":
    tables = XsdTables(Path(sys.argv[1]))
    for name in sys.argv[2:]:
        print(f'    "{name}": {tables.required(name)!r},')
