"""The explorer page's own CSS and JavaScript (plain, no third-party code; see explorer.py).

State lives in the URL hash (#type=&class=&qtype=&filter=&run=&search=&sort=&page=&q=), so a view
can be linked or opened directly: #filter=wrong, #search=肝, #q=123 (a question's full view).
"""

STYLE = """
body{margin:1em 2em;color:#222;line-height:1.4}
h1{font-size:1.4em;margin:.2em 0 .6em}
#controls{display:flex;flex-wrap:wrap;gap:.5em 1em;align-items:center;margin-bottom:.6em}
#controls label{font-size:90%;color:#444}
#controls select,#controls input{font:inherit;font-size:90%;margin-left:.3em}
#controls input[type=search]{width:16em}
#count{margin:.3em 0;color:#555;font-size:90%}
table{border-collapse:collapse;width:100%;font-size:90%}
th,td{border-bottom:1px solid #e4e4e4;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4;position:sticky;top:0}
tbody tr{cursor:pointer}tbody tr:hover{background:#f0f6ff}
td.question{max-width:28em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;color:#555}
.right{color:#17803d}.wrong{color:#c0262d}.none{color:#8a6d00}.cut{color:#7a3db8}.unscored{color:#777}
.pager{margin:.6em 0;display:flex;gap:.6em;align-items:center}
.pager button{font:inherit}
#detail{position:fixed;inset:0;background:rgba(0,0,0,.35);display:none;overflow:auto}
#detail.open{display:block}
#detail .panel{background:#fff;max-width:60em;margin:2em auto;padding:1em 1.5em;border-radius:6px}
#detail pre{font-family:inherit;white-space:pre-wrap;word-break:break-word;background:#f7f7f7;padding:.5em;max-height:28em;overflow:auto}
#detail h2{margin-top:0;font-size:1.2em}#detail h3{font-size:1.05em;margin:.9em 0 .3em}
#detail dl{display:grid;grid-template-columns:max-content 1fr;gap:.15em 1em;margin:.3em 0}
#detail dt{color:#555}#detail dd{margin:0}
#detail .close{float:right;font:inherit}
"""

SCRIPT = r"""
(function () {
  "use strict";
  var DATA = JSON.parse(document.getElementById("explorer-data").textContent);
  var Q = DATA.questions, A = DATA.answers, RUNS = DATA.runs, NR = RUNS.length, PAGE = 100;
  // Question row: [id, exam_type, exam_class, question_type, gold, question, options]
  // Answer row (per run): [model_answer, correct, output, prompt, extraction, cut_off] or null
  var state = {};
  var KEYS = ["type", "class", "qtype", "filter", "run", "search", "sort", "page", "q"];
  var haystack = null;

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"]/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c];
    });
  }
  function dash(v) { return v == null || v === "" ? "\u2014" : v; }
  function status(a) {
    if (!a) return "absent";
    if (a[5] === true) return "cut";
    if (!a[0]) return "none";
    if (a[1] === true) return "right";
    if (a[1] === false) return "wrong";
    return "unscored";
  }
  var MARK = {right: "\u2713", wrong: "\u2717", none: "no answer", cut: "cut off", unscored: "?", absent: "\u2014"};

  function readHash() {
    state = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (part) {
      var i = part.indexOf("=");
      if (i > 0) state[part.slice(0, i)] = decodeURIComponent(part.slice(i + 1));
    });
  }
  function writeHash() {
    var parts = KEYS.filter(function (k) { return state[k]; }).map(function (k) {
      return k + "=" + encodeURIComponent(state[k]);
    });
    history.replaceState(null, "", "#" + parts.join("&"));
  }

  function options(values, label, key) {
    var html = '<label>' + label + '<select data-key="' + key + '"><option value="">all</option>';
    values.forEach(function (v) {
      html += '<option value="' + esc(v[0]) + '">' + esc(v[1]) + "</option>";
    });
    return html + "</select></label>";
  }
  function distinct(col) {
    var seen = {};
    Q.forEach(function (q) { seen[q[col]] = (seen[q[col]] || 0) + 1; });
    return Object.keys(seen).sort().map(function (v) { return [v, (v || "(none)") + " (" + seen[v] + ")"]; });
  }

  function build() {
    var filters = [["right", "right"], ["wrong", "wrong"], ["none", "no answer"], ["cut", "cut off"]];
    if (NR > 1) filters.push(["flipped", "flipped (right in one run, wrong in another)"]);
    var runs = RUNS.map(function (r, i) { return [String(i), r.label]; });
    var html = '<div id="controls">' + options(distinct(1), "exam type", "type") +
      options(distinct(2), "exam class", "class") + options(distinct(3), "question type", "qtype") +
      options(filters, "answers", "filter") +
      (NR > 1 ? options(runs, "in run", "run").replace(">all<", ">any run<") : "") +
      '<label>search<input type="search" data-key="search" placeholder="id, text, output\u2026"></label>' +
      '<label>sort<select data-key="sort"><option value="">id</option><option value="class">exam class</option>' +
      '<option value="correct">correctness (wrong first)</option></select></label></div>' +
      '<div id="count"></div><div class="pager" id="pager-top"></div><div id="rows"></div>' +
      '<div class="pager" id="pager"></div><div id="detail"></div>';
    document.getElementById("app").innerHTML = html;
    Array.prototype.forEach.call(document.querySelectorAll("#controls [data-key]"), function (el) {
      el.addEventListener(el.tagName === "INPUT" ? "input" : "change", function () {
        state[el.getAttribute("data-key")] = el.value;
        state.page = "";
        writeHash();
        render();
      });
    });
  }

  function searchText(i) {
    if (!haystack) {
      haystack = Q.map(function (q, j) {
        var parts = [q[0], q[5], q[6]];
        for (var r = 0; r < NR; r++) { var a = A[r][j]; if (a) parts.push(a[0], a[2]); }
        return parts.join("\n").toLowerCase();
      });
    }
    return haystack[i];
  }

  function matches(i) {
    var q = Q[i];
    if (state.type && q[1] !== state.type) return false;
    if (state["class"] && q[2] !== state["class"]) return false;
    if (state.qtype && q[3] !== state.qtype) return false;
    var f = state.filter;
    if (f) {
      var sts = [];
      for (var r = 0; r < NR; r++) if (!state.run || String(r) === state.run) sts.push(status(A[r][i]));
      if (f === "flipped") {
        // Scored right in one run and scored wrong (a wrong, missing or cut-off answer) in another.
        var got = {};
        for (r = 0; r < NR; r++) if (A[r][i]) got[A[r][i][1]] = true;
        if (!got["true"] || !got["false"]) return false;
      } else if (f === "wrong") {
        // A cut-off or unanswered question scored wrong counts as wrong too.
        var any = false;
        for (r = 0; r < NR; r++) {
          if (state.run && String(r) !== state.run) continue;
          if (A[r][i] && A[r][i][1] === false) any = true;
        }
        if (!any) return false;
      } else if (sts.indexOf(f) < 0) return false;
    }
    if (state.search && searchText(i).indexOf(state.search.toLowerCase()) < 0) return false;
    return true;
  }

  function idCompare(a, b) {
    var x = Q[a][0], y = Q[b][0], nx = Number(x), ny = Number(y);
    if (x !== "" && y !== "" && !isNaN(nx) && !isNaN(ny)) return nx - ny;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  function rights(i) {
    var n = 0;
    for (var r = 0; r < NR; r++) if (A[r][i] && A[r][i][1] === true) n++;
    return n;
  }

  function visible() {
    var out = [];
    for (var i = 0; i < Q.length; i++) if (matches(i)) out.push(i);
    if (state.sort === "class") out.sort(function (a, b) {
      return Q[a][2] < Q[b][2] ? -1 : Q[a][2] > Q[b][2] ? 1 : idCompare(a, b);
    });
    else if (state.sort === "correct") out.sort(function (a, b) { return rights(a) - rights(b) || idCompare(a, b); });
    else out.sort(idCompare);
    return out;
  }

  function render() {
    Array.prototype.forEach.call(document.querySelectorAll("#controls [data-key]"), function (el) {
      el.value = state[el.getAttribute("data-key")] || "";
    });
    var rows = visible(), pages = Math.max(1, Math.ceil(rows.length / PAGE));
    var page = Math.min(Math.max(1, parseInt(state.page, 10) || 1), pages);
    var hasText = Q.some(function (q) { return q[5]; });
    var head = "<tr><th>id</th><th>exam type</th><th>exam class</th><th>type</th><th>gold</th>";
    RUNS.forEach(function (r) { head += "<th>" + esc(r.label) + "</th>"; });
    if (hasText) head += "<th>question</th>";
    var body = "";
    rows.slice((page - 1) * PAGE, page * PAGE).forEach(function (i) {
      var q = Q[i];
      body += '<tr data-i="' + i + '"><td>' + esc(q[0]) + "</td><td>" + esc(q[1]) + "</td><td>" + esc(q[2]) +
        "</td><td>" + esc(q[3]) + "</td><td>" + esc(dash(q[4])) + "</td>";
      for (var r = 0; r < NR; r++) {
        var a = A[r][i], s = status(a);
        body += '<td class="' + s + '">' + esc(a && a[0] ? a[0] + " " : "") + MARK[s] + "</td>";
      }
      if (hasText) body += '<td class="question">' + esc(q[5]) + "</td>";
      body += "</tr>";
    });
    document.getElementById("rows").innerHTML = "<table><thead>" + head + "</thead><tbody>" + body + "</tbody></table>";
    document.getElementById("count").textContent = rows.length + " of " + Q.length + " questions" +
      (rows.length ? ", showing " + ((page - 1) * PAGE + 1) + "\u2013" + Math.min(page * PAGE, rows.length) : "");
    var pager = '<button data-page="' + (page - 1) + '"' + (page <= 1 ? " disabled" : "") + ">\u2190 previous</button>" +
      "<span>page " + page + " of " + pages + "</span>" +
      '<button data-page="' + (page + 1) + '"' + (page >= pages ? " disabled" : "") + ">next \u2192</button>";
    document.getElementById("pager").innerHTML = pager;
    document.getElementById("pager-top").innerHTML = pager;
    renderDetail();
  }

  function renderDetail() {
    var box = document.getElementById("detail"), i = -1;
    if (state.q) for (var j = 0; j < Q.length; j++) if (Q[j][0] === state.q) { i = j; break; }
    if (i < 0) { box.className = ""; box.innerHTML = ""; return; }
    var q = Q[i];
    var html = '<div class="panel"><button class="close" data-close="1">close \u00d7</button>' +
      "<h2>Question " + esc(q[0]) + "</h2><dl><dt>exam type</dt><dd>" + esc(q[1]) + "</dd><dt>exam class</dt><dd>" +
      esc(q[2]) + "</dd><dt>question type</dt><dd>" + esc(q[3]) + "</dd><dt>gold</dt><dd>" + esc(dash(q[4])) + "</dd></dl>";
    if (q[5]) html += "<h3>Question</h3><pre>" + esc(q[5]) + (q[6] ? "\n\n" + esc(q[6]) : "") + "</pre>";
    for (var r = 0; r < NR; r++) {
      var a = A[r][i], s = status(a);
      html += "<h3>" + esc(RUNS[r].label) + ': <span class="' + s + '">' + MARK[s] + "</span></h3>";
      if (!a) { html += "<p>not in this run</p>"; continue; }
      html += "<dl><dt>extracted</dt><dd>" + esc(dash(a[0])) + "</dd><dt>gold</dt><dd>" + esc(dash(q[4])) +
        "</dd><dt>extraction</dt><dd>" + esc(dash(a[4])) + "</dd><dt>cut off</dt><dd>" +
        (a[5] == null ? "\u2014" : a[5] ? "yes" : "no") + "</dd></dl>" +
        "<h3>Prompt</h3><pre>" + esc(dash(a[3])) + "</pre><h3>Raw output</h3><pre>" + esc(dash(a[2])) + "</pre>";
    }
    box.innerHTML = html + "</div>";
    box.className = "open";
  }

  document.addEventListener("click", function (e) {
    var t = e.target;
    if (t.getAttribute && t.getAttribute("data-page")) {
      state.page = t.getAttribute("data-page"); writeHash(); render(); window.scrollTo(0, 0); return;
    }
    if (t.getAttribute && (t.getAttribute("data-close") || t.id === "detail")) {
      state.q = ""; writeHash(); renderDetail(); return;
    }
    var tr = t.closest ? t.closest("tbody tr[data-i]") : null;
    if (tr) { state.q = Q[+tr.getAttribute("data-i")][0]; writeHash(); renderDetail(); }
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && state.q) { state.q = ""; writeHash(); renderDetail(); }
  });
  window.addEventListener("hashchange", function () { readHash(); render(); });

  readHash();
  build();
  render();
  document.body.setAttribute("data-ready", String(Math.round(performance.now())));
})();
"""
