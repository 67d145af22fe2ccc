/* faultdrill web console: one page for both roles. The token comes in the link's #fragment (never sent
 * to a server), is kept in this tab's sessionStorage and taken off the address bar. The server decides
 * what the token may see and do; this page only draws what it is sent. Every text from the server is
 * put in with textContent (never as HTML).
 */
(function () {
  "use strict";
  var ORDER = ["story-latency", "story-traffic", "story-errors", "story-saturation"];
  var FAULT_COLOURS = ["#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"];
  var MARK_COLOURS = { detect: "#d62728", recover: "#2ca02c", annotation: "#6f42c1" };
  var KEY = "faultdrill-console-token";

  if (location.hash.length > 1) {
    sessionStorage.setItem(KEY, decodeURIComponent(location.hash.slice(1)));
    history.replaceState(null, "", location.pathname);
  }
  var token = sessionStorage.getItem(KEY) || "";
  var hello = null, drawnSig = "", drawnWidth = 0, lastFrame = null, source = null;
  var figure = { key: "live", title: "", duration: 60, bands: [], markers: [], charts: [] };
  var events = [];
  var state = { frames: 0, seconds: {}, lastT: -1, ended: false, figure: figure };
  window.faultdrillConsole = state;

  function $(id) { return document.getElementById(id); }
  function el(tag, text, cls) { var e = document.createElement(tag); if (text != null) e.textContent = text; if (cls) e.className = cls; return e; }
  function num(v, digits) { return v == null ? "–" : Number(v).toFixed(digits || 0); }

  function api(path, body) {
    return fetch(path, {
      method: body === undefined ? "GET" : "POST",
      headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (j) { if (!r.ok) throw new Error(j.error || r.statusText); return j; });
    });
  }

  function say(id, text, error) { var m = $(id); m.textContent = text; m.className = "msg" + (error ? " err" : ""); }

  // ---------------------------------------------------------------- charts
  function mergeCharts(deltas) {
    var changed = false;
    deltas.forEach(function (d) {
      var c = figure.charts.filter(function (x) { return x.key === d.key; })[0];
      if (!c) {
        c = { key: d.key, title: d.title, unit: d.unit, right_unit: d.right_unit, note: d.note, height: d.height,
              log: d.log, guides: d.guides, lines: [] };
        figure.charts.push(c);
        figure.charts.sort(function (a, b) { return ORDER.indexOf(a.key) - ORDER.indexOf(b.key); });
        changed = true;
      }
      if (c.log !== d.log || c.right_unit !== d.right_unit || c.unit !== d.unit) changed = true;
      c.title = d.title; c.note = d.note; c.log = d.log; c.unit = d.unit; c.right_unit = d.right_unit; c.guides = d.guides;
      d.lines.forEach(function (l) {
        var line = c.lines.filter(function (x) { return x.label === l.label; })[0];
        if (!line) {
          c.lines.push({ label: l.label, colour: l.colour, style: l.style, width: l.width, axis: l.axis, bars: l.bars,
                         group: l.group, xs: l.xs.slice(), ys: l.ys.slice() });
          changed = true;
        } else {
          for (var i = 0; i < l.xs.length; i++) { line.xs.push(l.xs[i]); line.ys.push(l.ys[i]); }
        }
      });
    });
    return changed;
  }

  function liveEnd(frame) {
    var t = Math.max(frame.clock || 0, frame.t + 1);
    return Math.min(frame.duration, Math.max(60, Math.ceil((t + 10) / 30) * 30));
  }

  function overlays(frame) {
    figure.bands = frame.faults.filter(function (f) { return f.started_at != null; }).map(function (f) {
      return { start: f.started_at, end: f.stopped_at != null ? f.stopped_at : frame.clock,
               label: f.name, colour: FAULT_COLOURS[(f.n - 1) % FAULT_COLOURS.length] };
    });
    figure.markers = events.filter(function (e) {
      return e.kind === "check.breached" || e.kind === "check.recovered" || e.kind === "annotation";
    }).map(function (e) {
      if (e.kind === "annotation")
        return { t: e.t, kind: "annotation", colour: MARK_COLOURS.annotation,
                 label: e.annotation + (e.by ? " (" + e.by + ")" : "") + (e.text ? ": " + e.text : "") };
      var breach = e.kind === "check.breached";
      return { t: e.t, kind: breach ? "detect" : "recover", colour: breach ? MARK_COLOURS.detect : MARK_COLOURS.recover,
               label: e.check + (breach ? " breached" : " recovered") };
    });
  }

  function drawCharts(frame) {
    figure.duration = liveEnd(frame);
    overlays(frame);
    var box = $("charts"), width = Math.max(480, box.clientWidth - 8);
    var sig = figure.charts.map(function (c) {
      return c.key + (c.log ? "(log)" : "") + ":" + c.lines.map(function (l) { return l.label; }).join("|");
    }).join(";");
    if (!window.faultdrillLive) return;
    if (sig !== drawnSig || Math.abs(width - drawnWidth) > 40) {
      window.faultdrillLive.draw(box, figure, width);
      drawnSig = sig; drawnWidth = width;
    } else {
      window.faultdrillLive.update(figure);
    }
  }

  // ---------------------------------------------------------------- panels
  function clock(frame) {
    $("clock").textContent = "t = " + Math.floor(frame.clock) + " s / " + Math.round(frame.duration) + " s";
    var st = $("state");
    st.textContent = frame.status === "ended" ? "ended" : frame.paused ? "timeline paused" : "live";
    st.className = "state" + (frame.status === "ended" ? " ended" : frame.paused ? " paused" : "");
    var pause = $("pause");
    pause.textContent = frame.paused ? "Resume the timeline" : "Pause the timeline";
    pause.className = frame.paused ? "on" : "";
  }

  function breached(frame) {
    var box = $("breached");
    box.textContent = "";
    if (!frame.breached.length) { box.className = "breached ok"; box.textContent = "No check breached."; return; }
    box.className = "breached bad";
    var ul = el("ul");
    frame.breached.forEach(function (b) {
      var unit = /_ms$/.test(b.metric) ? " ms" : "";
      var shown = /rate$/.test(b.metric) && b.value != null ? num(100 * b.value, 1) + " %" : num(b.value, b.value < 10 ? 2 : 0) + unit;
      var value = b.value == null ? "" : " — now " + shown;
      ul.appendChild(el("li", "BREACHED: " + b.check + " (" + b.metric + ")" + value +
        (b.since != null ? ", since t = " + Math.round(b.since) + " s" : "")));
    });
    box.appendChild(ul);
  }

  // the last known value of a line (the first of ``labels`` the chart has; open and closed models differ)
  function latest(key, labels) {
    var c = figure.charts.filter(function (x) { return x.key === key; })[0];
    var l = c && c.lines.filter(function (x) { return labels.indexOf(x.label) >= 0; })[0];
    if (!l) return null;
    for (var i = l.ys.length - 1; i >= 0; i--) if (l.ys[i] != null) return l.ys[i];
    return null;
  }

  // the legend shows values under the cursor; this line always says what the last second was
  function now(frame) {
    if (frame.t < 0) return;
    var box = $("now"), ms = function (v) { return v == null ? "–" : v >= 1000 ? (v / 1000).toFixed(1) + " s" : num(v, v < 10 ? 1 : 0) + " ms"; };
    var errors = latest("story-errors", ["failed % of attempts", "failed or dropped % of attempts"]);
    var items = [["last second", "t = " + frame.t + " s"], ["p95", ms(latest("story-latency", ["p95 successful"]))],
                 ["p50", ms(latest("story-latency", ["p50 successful"]))],
                 ["requests/s", num(latest("story-traffic", ["requests /s", "sent /s"]))],
                 ["errors", errors == null ? "–" : num(errors, 1) + " %"]];
    var users = latest("story-traffic", ["users"]);
    if (users != null) items.push(["users", num(users)]);
    box.textContent = "";
    items.forEach(function (it) { var s = el("span"); s.appendChild(el("b", it[0])); s.appendChild(document.createTextNode(" " + it[1])); box.appendChild(s); });
  }

  function markerList() {
    var ol = $("markers");
    ol.textContent = "";
    figure.markers.forEach(function (m, i) {
      var li = el("li"), k = el("span", String(i + 1), "k");
      k.style.background = m.colour;
      li.appendChild(k);
      li.appendChild(document.createTextNode("t=" + Math.round(m.t) + " s — " + m.label));
      ol.appendChild(li);
    });
  }

  function services(frame) {
    var body = $("services").tBodies[0];
    body.textContent = "";
    Object.keys(frame.services).sort().forEach(function (name) {
      var s = frame.services[name], tr = el("tr");
      tr.appendChild(el("td", name));
      tr.appendChild(el("td", num(s.connections), "num"));
      tr.appendChild(el("td", s.pids == null ? "–" : num(s.pids) + (s.pids_limit ? " / " + num(s.pids_limit) : ""), "num"));
      tr.appendChild(el("td", num(s.cpu_pct), "num"));
      tr.appendChild(el("td", s.mem_bytes == null ? "–" : num(s.mem_bytes / 1e6), "num"));
      body.appendChild(tr);
    });
  }

  function faultList(frame) {
    var ul = $("fault-list");
    ul.textContent = "";
    var seen = frame.faults.filter(function (f) { return f.started_at != null; });
    if (!seen.length) ul.appendChild(el("li", "none so far", "none"));
    seen.forEach(function (f) {
      var li = el("li", f.name + " (" + f.kind + ") ");
      li.appendChild(el("span", f.active ? "active since t = " + Math.round(f.started_at) + " s"
                                         : "healed at t = " + Math.round(f.stopped_at) + " s", f.active ? "badge active" : "badge"));
      ul.appendChild(li);
    });
  }

  // rows and buttons stay in place from frame to frame (a click is never lost to a redraw);
  // only their texts change, and a row's buttons when what can be done to its fault changes
  function controls(frame) {
    var body = $("faults").tBodies[0];
    frame.faults.forEach(function (f) {
      var tr = body.querySelector('tr[data-n="' + f.n + '"]');
      if (!tr) {
        tr = el("tr");
        tr.setAttribute("data-n", f.n);
        for (var i = 0; i < 5; i++) tr.appendChild(el("td"));
        body.appendChild(tr);
      }
      var cells = tr.children;
      tr.className = f.active ? "active" : "";
      cells[0].textContent = String(f.n);
      cells[1].textContent = f.name;
      if (f.hidden) cells[1].appendChild(el("span", "hidden", "badge hidden"));
      else if (f.shown !== f.name) cells[1].appendChild(el("span", "revealed", "badge"));
      cells[2].textContent = f.kind + (f.target ? " · " + f.target : "");
      cells[3].textContent = (f.active ? "ACTIVE" : f.stopped_at != null ? "healed" : f.manual ? "manual" : "scheduled") +
                             (f.countdown ? " — " + f.countdown : "");
      var verbs = [["inject", f.started_at == null], ["heal", f.active], ["reveal", f.hidden]]
        .filter(function (v) { return v[1]; }).map(function (v) { return v[0]; });
      if (cells[4].getAttribute("data-verbs") !== verbs.join(",")) {
        cells[4].textContent = "";
        cells[4].setAttribute("data-verbs", verbs.join(","));
        verbs.forEach(function (verb) {
          var b = el("button", verb);
          b.setAttribute("data-verb", verb);
          b.setAttribute("data-n", f.n);
          cells[4].appendChild(b);
        });
      }
    });
  }

  function describe(e) {
    switch (e.kind) {
      case "fault.start": return ["fault", "fault " + e.fault + " started" + (e.manual ? " (by hand)" : "")];
      case "fault.stop": return ["fault", "fault " + e.fault + " healed" + (e.reason ? " (" + e.reason + ")" : "")];
      case "fault.revealed": return ["fault", "revealed: " + e.fault];
      case "check.breached": return ["breach", "check breached: " + (e.detail || e.check)];
      case "check.recovered": return ["", "check recovered: " + e.check];
      case "alert.fired": return ["breach", "alert fired: " + e.check];
      case "annotation": return ["mark", (e.by || "someone") + " marked " + e.annotation.toUpperCase() + (e.text ? ": " + e.text : "")];
      case "timeline.paused": return ["", "the facilitator paused the timeline"];
      case "timeline.resumed": return ["", "the facilitator resumed the timeline"];
      case "run.start": return ["", "drill started"];
      case "run.end": return ["", "drill ended"];
      case "run.stopped": return ["", "drill stopped: " + (e.reason || "")];
      case "run.aborted": return ["breach", "drill aborted: " + (e.detail || e.rule || "")];
      case "load.warning": return ["", "load generator: " + e.warning];
      case "fault.heal_failed": return ["breach", "could not heal " + e.fault + ": " + e.error];
      default: return ["", e.kind];
    }
  }

  function timeline(newEvents) {
    var ol = $("timeline");
    newEvents.forEach(function (e) {
      if (/^(stack|gameday)\./.test(e.kind)) return;  // before the run clock started, or the console's own
      var d = describe(e), li = el("li", null, d[0]);
      li.appendChild(el("span", e.t == null ? "" : "t=" + Math.round(e.t) + "s", "t"));
      li.appendChild(document.createTextNode(d[1]));
      ol.insertBefore(li, ol.firstChild);
    });
  }

  // ---------------------------------------------------------------- the stream
  function apply(frame) {
    state.frames++;
    frame.seconds.forEach(function (t) { state.seconds[t] = true; });
    state.lastT = frame.t;
    events = events.concat(frame.events);
    lastFrame = frame;
    var changed = mergeCharts(frame.charts);
    clock(frame); breached(frame); services(frame); faultList(frame); timeline(frame.events);
    if (hello && hello.can_control) controls(frame);
    if (changed || frame.charts.length || frame.events.length || frame.faults.some(function (f) { return f.active; })) {
      drawCharts(frame);
      markerList();
    }
    now(frame);
    if (frame.status === "ended") end();
  }

  function end() {
    state.ended = true;
    if (source) source.close();
    var st = $("state");
    st.textContent = "ended — the report is in the run directory";
    st.className = "state ended";
  }

  function connect() {
    source = new EventSource("/api/stream?token=" + encodeURIComponent(token));
    source.addEventListener("frame", function (e) { apply(JSON.parse(e.data)); });
    source.addEventListener("end", end);
    source.onopen = function () { if (!state.ended && lastFrame) clock(lastFrame); };
    source.onerror = function () {
      if (state.ended) return;
      var st = $("state");
      st.textContent = "reconnecting…";
      st.className = "state lost";
    };
  }

  // ---------------------------------------------------------------- actions
  function mark(kind) {
    var name = $("mark-name").value.trim(), text = kind === "hypothesis" ? $("mark-text").value.trim() : "";
    if (!name) { say("mark-msg", "Type your name first: your mark carries it.", true); $("mark-name").focus(); return; }
    if (kind === "hypothesis" && !text) { say("mark-msg", "Write the hypothesis first.", true); $("mark-text").focus(); return; }
    localStorage.setItem("faultdrill-console-name", name);
    api("/api/marks", { kind: kind, text: text, by: name }).then(function (r) {
      say("mark-msg", kind + " marked at t = " + Math.round(r.t) + " s");
      if (kind === "hypothesis") $("mark-text").value = "";
    }, function (err) { say("mark-msg", err.message, true); });
  }

  function wire() {
    $("mark-name").value = localStorage.getItem("faultdrill-console-name") || "";
    document.querySelectorAll("button.mark").forEach(function (b) {
      b.addEventListener("click", function () { mark(b.getAttribute("data-kind")); });
    });
    $("faults").addEventListener("click", function (ev) {
      var b = ev.target.closest("button[data-verb]");
      if (!b) return;
      var verb = b.getAttribute("data-verb"), n = b.getAttribute("data-n");
      api("/api/faults/" + n + "/" + verb, {}).then(function () { say("control-msg", verb + " fault " + n + ": done"); },
        function (err) { say("control-msg", err.message, true); });
    });
    $("pause").addEventListener("click", function () {
      var paused = !(lastFrame && lastFrame.paused);
      api("/api/pause", { paused: paused }).then(function () { say("control-msg", paused ? "timeline paused" : "timeline resumed"); },
        function (err) { say("control-msg", err.message, true); });
    });
    $("stop").addEventListener("click", function () {
      if (!confirm("End the game day for everyone? Faults are healed and the stack is removed.")) return;
      api("/api/stop", {}).then(function () { say("control-msg", "ending…"); }, function (err) { say("control-msg", err.message, true); });
    });
    window.addEventListener("resize", function () { if (lastFrame) drawCharts(lastFrame); });
  }

  function start() {
    wire();
    if (!token) { $("role").textContent = "no token"; say("mark-msg", "Open the link printed where the game day was started.", true); return; }
    api("/api/hello").then(function (h) {
      hello = h;
      $("scenario").textContent = h.scenario + " · " + h.run_id;
      $("role").textContent = h.role;
      $("role").className = "role " + h.role;
      document.title = "game day — " + h.role + " — " + h.scenario;
      if (h.can_control) {  // the facilitator's controls come first on the facilitator's screen
        $("control").hidden = false; $("visible-faults").hidden = true;
        $("right").insertBefore($("control"), $("marks"));
      }
      connect();
    }, function (err) { $("role").textContent = "refused"; say("mark-msg", err.message, true); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
