// qbrecon dashboard: a table is drawn once when it is built, not three times.
//
// Panel's Tabulator view (panel 1.9) redraws every table in full twice right after Tabulator has built it: once
// when its stylesheets have settled (style_redraw, at the next animation frame) and once when the page's root
// is ready (_resize_redraw). Each full redraw rebuilds every cell of every row and measures each row again
// (~90 ms of the browser's main thread for the queue's 25-row page, 2/3 of a sign-in's table work), and neither
// changes anything when the table is as it was built: the same size, its stylesheets and fonts loaded, no
// property or data changed since. This skips those redraws, and only those: the first change of size, model
// or data (or a table built before its styles or fonts were there) lets every redraw run as Panel wrote it.
// If Panel's view does not have the methods this relies on, nothing is changed.
(function () {
  "use strict";

  // Icon fonts' stylesheets (Panel adds Font Awesome's to every view) style icons, which a table has none of;
  // ~100 KB, it is sometimes not parsed yet when a table is built, and a table's cells do not depend on it.
  const ICONS = /\/font-awesome\//;

  function loaded(view) {
    const links = view.shadow_el ? view.shadow_el.querySelectorAll("link[rel=stylesheet]") : [];
    for (const link of links) {
      if (link.sheet == null && !ICONS.test(link.href)) return false;
    }
    return !document.fonts || document.fonts.status === "loaded";
  }

  function size(view) {
    const el = view.container;
    return el ? [el.clientWidth, el.clientHeight] : [0, 0];
  }

  function patch() {
    const model = window.Bokeh && window.Bokeh.Panel && window.Bokeh.Panel.DataTabulator;
    const View = model && model.prototype.default_view;
    if (!View) return false;
    const proto = View.prototype;
    const {tableBuilt, redraw, connect_signals} = proto;
    if (proto.__qbreconFirstDraw || [tableBuilt, redraw, connect_signals].some((f) => typeof f !== "function")) {
      return true;
    }
    proto.__qbreconFirstDraw = true;

    proto.tableBuilt = function (...args) {
      const out = tableBuilt.apply(this, args);
      const [width, height] = size(this);
      this.__qbreconAsBuilt = width > 0 && height > 0 && loaded(this) ? [width, height] : null;
      return out;
    };
    proto.redraw = function (...args) {
      const built = this.__qbreconAsBuilt;
      if (built != null) {
        const [width, height] = size(this);
        if (width === built[0] && height === built[1] && loaded(this)) return; // as built: nothing to redo
        this.__qbreconAsBuilt = null;
      }
      return redraw.apply(this, args);
    };
    proto.connect_signals = function (...args) {
      connect_signals.apply(this, args);
      const changed = () => {
        this.__qbreconAsBuilt = null;
      };
      const source = this.model.source;
      this.connect(this.model.change, changed);
      this.connect(source.change, changed);
      this.connect(source.streaming, changed);
      this.connect(source.patching, changed);
    };
    return true;
  }

  if (!patch()) document.addEventListener("DOMContentLoaded", patch);
})();
