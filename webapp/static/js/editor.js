/* Editor workspace: live preview with inline validation, type-dependent fields, confirmations, index status.
   No inline handlers anywhere (strict CSP): everything is wired up here from data- attributes. */
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }

  // --- confirmations ---------------------------------------------------------------------------------------------
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
  document.querySelectorAll("[data-confirm-click]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      if (!window.confirm(button.dataset.confirmClick)) event.preventDefault();
    });
  });

  // --- edit form -------------------------------------------------------------------------------------------------
  var form = document.getElementById("edit-form");
  if (form) {
    var preview = document.getElementById("preview");
    var previewTitle = document.getElementById("preview-title");
    var previewRule = document.getElementById("preview-rule");
    var state = form.querySelector(".preview-state");
    var typeSelect = form.querySelector('select[name="type"]');
    var touched = {};
    var sequence = 0;

    var showTypeFields = function () {
      var type = typeSelect.value;
      form.querySelectorAll("[data-types]").forEach(function (el) {
        el.hidden = el.dataset.types.split(" ").indexOf(type) < 0;
      });
    };
    typeSelect.addEventListener("change", showTypeFields);

    var fieldName = function (name) {
      return name === "timer_clock" || name === "timer_seconds" ? "timer" : name;
    };

    var showErrors = function (errors) {
      form.querySelectorAll("[data-error-for]").forEach(function (el) {
        var name = el.dataset.errorFor;
        var box = el.closest(".ed-field");
        // Only fields the user has worked on, or that already show an error, change: no wall of "必填" on a new form.
        if (!touched[name] && !box.classList.contains("has-error")) return;
        var message = errors[name] || "";
        el.textContent = message;
        box.classList.toggle("has-error", message !== "");
      });
    };

    var refresh = function () {
      var data = {};
      new FormData(form).forEach(function (value, key) {
        if (typeof value === "string") data[key] = value;
      });
      var mine = ++sequence;
      state.textContent = "更新中…";
      state.className = "preview-state busy";
      fetch(form.dataset.previewUrl, {
        method: "POST",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
        body: JSON.stringify(data),
        credentials: "same-origin"
      }).then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      }).then(function (result) {
        if (mine !== sequence) return; // a newer request is on its way; never show an older preview over it
        preview.innerHTML = result.html; // sanitised on the server by the agents' renderer (nh3)
        previewTitle.textContent = data.title || "";
        previewRule.innerHTML = result.rule; // a server template: every field escaped
        showErrors(result.errors || {});
        state.textContent = "已更新";
        state.className = "preview-state ok";
      }).catch(function (error) {
        if (mine !== sequence) return;
        state.textContent = "预览失败（" + error.message + "），内容仍在表单中";
        state.className = "preview-state bad";
      });
    };
    var schedule = debounce(refresh, 350);
    form.addEventListener("input", function (event) {
      if (!event.target.name) return;  // the 「试一试」 box is not part of the article
      touched[fieldName(event.target.name)] = true;
      schedule();
    });
    form.addEventListener("change", function (event) {
      if (!event.target.name) return;
      touched[fieldName(event.target.name)] = true;
      schedule();
    });
    initTryout(form);
  }

  // --- 「试一试」: which rules fire for a sentence, with the form's unpublished rule in place ------------------------
  var HOW_LABELS = {trigger: "触发词", semantic: "语义相近", timer: "计时"};
  var TYPE_LABELS = {};  // filled from the page (kb.articles.TYPE_LABELS, the one source)

  function formFields(form) {
    var data = {};
    new FormData(form).forEach(function (value, key) {
      if (typeof value === "string" && key !== "csrf_token") data[key] = value;
    });
    return data;
  }

  function tryoutItem(result) {
    var li = document.createElement("li");
    li.className = "tryout-hit" + (result.draft ? " is-draft" : "");
    li.dataset.id = result.id;
    li.dataset.how = result.how;
    var head = document.createElement("div");
    var add = function (parent, tag, className, text) {
      var node = document.createElement(tag);
      node.className = className;
      node.textContent = text;
      parent.appendChild(node);
      return node;
    };
    if (result.draft) add(head, "span", "badge tryout-draft", "草稿");
    add(head, "span", "badge type-" + result.type, TYPE_LABELS[result.type] || result.type);
    add(head, "strong", "tryout-title", result.title);
    li.appendChild(head);
    var line = document.createElement("div");
    add(line, "span", "tryout-how", "方式：" + (HOW_LABELS[result.how] || result.how));
    add(line, "span", "tryout-score", "得分 " + Number(result.score).toFixed(2));
    li.appendChild(line);
    add(li, "div", "tryout-reason", "原因：" + result.reason);
    return li;
  }

  function initTryout(form) {
    var box = form.querySelector(".tryout");
    if (!box) return;
    TYPE_LABELS = JSON.parse(box.dataset.typeLabels);
    var input = box.querySelector("#tryout-text");
    var list = box.querySelector("#tryout-results");
    var state = box.querySelector("#tryout-state");
    var sequence = 0;
    var run = function () {
      var text = input.value.trim();
      if (!text) { state.textContent = "请先输入一句话。"; return; }
      var mine = ++sequence;
      state.textContent = "正在匹配…（第一次会稍慢：要按表单里的示例训练一次）";
      box.dataset.state = "busy";
      fetch(box.dataset.tryUrl, {
        method: "POST",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
        body: JSON.stringify({text: text, fields: formFields(form)}),
        credentials: "same-origin"
      }).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          if (!response.ok) throw new Error(data.error || ("HTTP " + response.status));
          return data;
        });
      }).then(function (data) {
        if (mine !== sequence) return;
        list.replaceChildren.apply(list, data.results.map(tryoutItem));
        state.textContent = data.results.length
          ? "「" + data.text + "」触发 " + data.results.length + " 条规则（标“草稿”的是表单里未发布的内容）："
          : "「" + data.text + "」没有触发任何规则。";
        box.dataset.state = "done";
      }).catch(function (error) {
        if (mine !== sequence) return;
        list.replaceChildren();
        state.textContent = "无法试：" + error.message;
        box.dataset.state = "failed";
      });
    };
    box.querySelector("#tryout-run").addEventListener("click", run);
    input.addEventListener("keydown", function (event) {
      if (event.key !== "Enter" || event.isComposing) return;
      event.preventDefault();  // Enter here tries the sentence; it must never submit (publish) the form
      run();
    });
  }

  // --- index status after publishing -----------------------------------------------------------------------------
  var status = document.querySelector(".index-status[data-status-url]");
  if (status && !status.classList.contains("state-searchable")) {
    var polls = 0;
    var poll = function () {
      fetch(status.dataset.statusUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (response) { return response.json(); })
        .then(function (result) {
          status.textContent = result.label;
          status.className = "index-status state-" + result.state;
          if (result.state === "indexing" && ++polls < 180) setTimeout(poll, 1000);
        })
        .catch(function () {
          if (++polls < 180) setTimeout(poll, 2000);
        });
    };
    setTimeout(poll, 700);
  }
})();
