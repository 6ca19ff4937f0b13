// The workspace's lists: "tick every case on this page" ticks and unticks the rows' boxes.
// A static file (the Content-Security-Policy allows no inline script). No library needed.
(function () {
  "use strict";
  document.querySelectorAll("input.pick-all").forEach(function (all) {
    var table = all.closest("table");
    var boxes = function () {
      return table.querySelectorAll("tbody input[type=checkbox][name=order]");
    };
    all.addEventListener("change", function () {
      boxes().forEach(function (box) { box.checked = all.checked; });
    });
    table.addEventListener("change", function (event) {
      if (event.target === all) { return; }
      var list = Array.prototype.slice.call(boxes());
      var ticked = list.filter(function (box) { return box.checked; }).length;
      all.checked = ticked > 0 && ticked === list.length;
      all.indeterminate = ticked > 0 && ticked < list.length;
    });
  });
})();
