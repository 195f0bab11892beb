// Training pages: select-all boxes and the quiz countdown. Everything works without this file; it only helps.
(function () {
  "use strict";

  function boxes(form, name) {
    return Array.prototype.slice.call(form.querySelectorAll('input[type=checkbox][name="' + name + '"]'))
      .filter(function (box) { return !box.disabled; });
  }

  document.querySelectorAll("[data-select-all]").forEach(function (master) {
    var form = master.form || document;
    master.addEventListener("change", function () {
      boxes(form, master.dataset.selectAll).forEach(function (box) { box.checked = master.checked; });
    });
  });

  document.querySelectorAll("[data-check-all]").forEach(function (button) {
    button.addEventListener("click", function () {
      var group = document.querySelectorAll('input[type=checkbox][data-group="' + button.dataset.checkAll + '"]');
      var all = Array.prototype.every.call(group, function (box) { return box.checked; });
      group.forEach(function (box) { box.checked = !all; });
      button.textContent = all ? "全选" : "取消全选";
    });
  });

  var timer = document.querySelector(".timer[data-seconds]");
  if (timer) {
    var ends = Date.now() + Number(timer.dataset.seconds) * 1000;
    var tick = function () {
      var left = Math.max(0, Math.round((ends - Date.now()) / 1000));
      timer.textContent = "剩余 " + Math.floor(left / 60) + " 分 " + (left % 60) + " 秒";
      timer.classList.toggle("urgent", left <= 60);
      if (left === 0) {
        window.location.assign(timer.dataset.reload);  // the server finishes the attempt and shows the score
        return;
      }
      window.setTimeout(tick, 1000);
    };
    tick();
  }
})();
