// imagear web: the page's words in its language (the server hands them over as JSON in
// <body data-words>: no inline script, as the CSP wants)
var imagearWords = (function () {
  "use strict";
  try { return JSON.parse(document.body.dataset.words || "{}"); } catch (e) { return {}; }
})();
function t(text) { "use strict"; return imagearWords[text] || text; }
function imagearNumber(n, digits) {
  "use strict";
  var opts = digits == null ? {} : { minimumFractionDigits: digits, maximumFractionDigits: digits };
  return Number(n).toLocaleString(document.documentElement.lang || undefined, opts);
}

// imagear web: times in the reader's own zone and language (the server sends ISO 8601 UTC)
function imagearLocalTime(iso) {
  "use strict";
  if (!iso) { return ""; }
  var d = new Date(iso);
  if (isNaN(d.getTime())) { return iso; }
  return d.toLocaleString(document.documentElement.lang || undefined,
    { dateStyle: "medium", timeStyle: "medium" });
}
document.querySelectorAll("time[datetime]").forEach(function (t) {
  "use strict";
  if (!t.dateTime) { return; }
  t.title = t.dateTime;
  t.textContent = imagearLocalTime(t.dateTime);
});

// imagear web: previews on hover in the grid; the animate form without a reload.
(function () {
  "use strict";

  // A muted MP4 preview plays looped over the poster while the pointer is on the tile; an older
  // clip's animated WebP replaces the poster image.
  document.querySelectorAll("img.poster[data-preview]").forEach(function (img) {
    var still = img.src;
    var video = null;
    img.parentNode.addEventListener("mouseenter", function () {
      if (img.dataset.previewKind !== "video") { img.src = img.dataset.preview; return; }
      video = document.createElement("video");
      video.className = "preview";
      video.muted = true;
      video.loop = true;
      video.autoplay = true;
      video.setAttribute("muted", "");
      video.setAttribute("playsinline", "");
      video.src = img.dataset.preview;
      img.insertAdjacentElement("afterend", video);
    });
    img.parentNode.addEventListener("mouseleave", function () {
      if (video) { video.remove(); video = null; }
      img.src = still;
    });
  });

  var record = document.getElementById("record");
  if (!record) { return; }
  var id = record.dataset.id;
  var form = document.getElementById("animate");
  var progress = document.getElementById("progress");
  var button = document.getElementById("animate-button");
  var messages = document.getElementById("messages");
  var panes = document.getElementById("panes");
  panes.querySelectorAll(".frame").forEach(function (f) { f.style.aspectRatio = record.dataset.ratio; });

  // a master the browser cannot draw (a TIFF): the box keeps its size and says so
  var master = document.getElementById("master");
  function unshown() {
    master.hidden = true;
    document.getElementById("master-unshown").hidden = false;
  }
  if (master) {
    master.addEventListener("error", unshown);
    if (master.complete && master.naturalWidth === 0) { unshown(); }
  }

  // compare: side by side, or the clip over the master with a slider
  var compare = document.getElementById("compare");
  var slider = document.getElementById("slider");
  function cut() { panes.style.setProperty("--cut", (100 - slider.value) + "%"); }
  compare.hidden = false;
  compare.addEventListener("click", function () {
    var on = compare.getAttribute("aria-pressed") !== "true";
    compare.setAttribute("aria-pressed", on ? "true" : "false");
    panes.classList.toggle("overlay", on);
    document.getElementById("slider-label").hidden = !on;
    cut();
  });
  slider.addEventListener("input", cut);

  // messages: success and error look different; each belongs to the clip it was about
  function say(kind, text) {
    var p = document.createElement("p");
    p.className = "msg " + kind;
    p.setAttribute("role", kind === "bad" ? "alert" : "status");
    p.dataset.version = record.dataset.version;
    p.textContent = text;
    messages.innerHTML = "";
    messages.appendChild(p);
  }
  function forget(version) {
    messages.querySelectorAll(".msg").forEach(function (m) {
      if (m.dataset.version !== version) { m.remove(); }
    });
  }

  function showErrors(fields, message) {
    if (!form) { return; }
    form.querySelectorAll(".field-error").forEach(function (p) {
      var bad = fields.indexOf(p.dataset.field) >= 0;
      p.textContent = bad ? message : "";
      var input = form.querySelector("[name=" + p.dataset.field + "]");
      if (input) {
        if (bad) { input.setAttribute("aria-invalid", "true"); } else { input.removeAttribute("aria-invalid"); }
      }
    });
    var first = form.querySelector("[aria-invalid=true]");
    if (first) { first.focus(); }
  }

  function showMade(a) {
    var made = document.getElementById("made");
    made.innerHTML = "";
    var rows = a ? [[t("Model"), a.ai_model], [t("Prompt"), a.ai_prompt], [t("Seed"), a.ai_seed],
      [t("Motion"), a.mp4_motion || a.ai_motion_bucket_id],
      [t("Size"), a.mp4_width + "×" + a.mp4_height + ", " + imagearNumber(a.mp4_fps) + " fps, " + imagearNumber(a.mp4_duration_secs) + " s"],
      [t("Made"), imagearLocalTime(a.updated_at) + " " + t("by") + " " + (a.created_by || "?") + " " + t("in") + " " + imagearNumber(a.generation_secs) + " s"]]
      : [[t("Clip"), t("Nothing yet.")]];
    rows.forEach(function (kv) {
      var dt = document.createElement("dt"); dt.textContent = kv[0];
      var dd = document.createElement("dd"); dd.textContent = kv[1] == null ? "" : String(kv[1]);
      made.appendChild(dt); made.appendChild(dd);
    });
  }

  // the page as the server has it now (GET /image-ar/{id}/status): clip, review, buttons
  function show(data) {
    var a = data.animation;
    var version = a ? (a.mp4_filename || "") : "";
    var video = document.getElementById("clip");
    if (version !== record.dataset.version) {
      forget(version);
      record.dataset.version = version;
      if (a) {
        video.poster = data.poster + "?v=" + encodeURIComponent(version);
        video.src = data.video + "?v=" + encodeURIComponent(version);
        video.play().catch(function () {});
      } else {
        video.removeAttribute("src"); video.load();
      }
    }
    video.hidden = !a;
    document.getElementById("no-clip").hidden = !!a;
    showMade(a);
    var badge = document.getElementById("review-state");
    badge.hidden = !data.review;
    badge.className = "badge " + (data.review ? data.review.state : "");
    badge.textContent = data.review ? t(data.review.state) + " (" + (data.review.reviewed_by || "") + ")" : "";
    var buttons = document.getElementById("review");
    if (buttons) { buttons.hidden = !a; }
    if (button) { button.textContent = a ? t("Replace clip") : t("Animate image (AI)"); }
    document.getElementById("animate-title").textContent = a ? t("Replace the clip") : t("Animate image (AI)");
  }

  function status() {
    return fetch("/image-ar/" + id + "/status", { headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); });
  }

  function poll() {
    status().then(function (data) {
      var job = data.job;
      if (!job) { return; }
      progress.textContent = t(job.message || job.state);
      record.dataset.state = job.state;
      if (job.state === "queued" || job.state === "running") { setTimeout(poll, 700); return; }
      button.disabled = false;
      progress.textContent = "";
      show(data);
      if (job.state === "done") { say("ok", t("Clip stored.")); }
      if (job.state === "failed") {
        say("bad", job.error || t("Failed."));
        showErrors(job.fields || [], job.error || t("Failed."));
      }
    }).catch(function () { setTimeout(poll, 2000); });
  }

  function post(target, body) {
    return fetch(target, { method: "POST", body: body, headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (b) { return [r.status, b]; }); });
  }

  if (form && button && !button.disabled) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      showErrors([], "");
      button.disabled = true;
      progress.textContent = t("Sending…");
      post(form.action, new FormData(form)).then(function (res) {
        if (res[0] === 202) { progress.textContent = t(res[1].job.message); poll(); return; }
        button.disabled = false;
        progress.textContent = "";
        say("bad", res[1].error || t("Refused."));
        if (res[1].fields) { showErrors(res[1].fields, res[1].error); }
      }).catch(function (err) { button.disabled = false; progress.textContent = ""; say("bad", String(err)); });
    });
  }

  // approve, reject, delete: in place; reject and delete after a confirmation in a <dialog>
  var dialog = document.getElementById("confirm");
  function act(f) {
    post(f.action, new FormData(f)).then(function (res) {
      if (res[0] >= 400) { say("bad", res[1].error || t("Refused.")); return; }
      return status().then(function (data) {
        show(data);
        say("ok", res[1].message || t("Done."));
        if (res[1].restore_url) { undo(res[1].restore_url, f); }
      });
    }).catch(function (err) { say("bad", String(err)); });
  }
  // a deleted clip stays in the trash for a while: Undo puts it back
  function undo(target, f) {
    var b = document.createElement("button");
    b.type = "button"; b.id = "undo"; b.className = "secondary"; b.textContent = t("Undo");
    b.addEventListener("click", function () {
      var body = new FormData(); body.append("csrf", f.querySelector("[name=csrf]").value);
      post(target, body).then(function (res) {
        if (res[0] >= 400) { say("bad", res[1].error || t("Refused.")); return; }
        return status().then(function (data) { show(data); say("ok", res[1].message || t("Restored.")); });
      }).catch(function (err) { say("bad", String(err)); });
    });
    messages.querySelector(".msg").appendChild(document.createTextNode(" "));
    messages.querySelector(".msg").appendChild(b);
  }
  document.querySelectorAll("form[data-action]").forEach(function (f) {
    f.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!f.dataset.confirm || !dialog) { act(f); return; }
      document.getElementById("confirm-text").textContent = f.dataset.confirm;
      document.getElementById("confirm-ok").textContent = f.dataset.confirmButton;
      dialog.returnValue = "";
      dialog.onclose = function () { if (dialog.returnValue === "ok") { act(f); } };
      dialog.showModal();
    });
  });

  if (record.dataset.state === "queued" || record.dataset.state === "running") { poll(); }
})();

// imagear web: the batch page keeps its numbers current (GET /batch.json) without a reload.
(function () {
  "use strict";
  var card = document.getElementById("batch");
  if (!card) { return; }
  var every = parseInt(card.dataset.refresh, 10) || 3000;

  function num(n) { return imagearNumber(n); }
  function ago(secs) {
    if (secs == null) { return ""; }
    secs = Math.max(0, secs);
    if (secs < 60) { return Math.round(secs) + " s"; }
    if (secs < 3600) { return Math.round(secs / 60) + " min"; }
    return Math.floor(secs / 3600) + " h " + Math.round((secs % 3600) / 60) + " min";
  }
  // times come as ISO 8601 in UTC: shown in the reader's zone and language
  function stamp(iso) { return imagearLocalTime(iso); }
  function secs(iso) { return Date.parse(iso.replace(/\.\d+/, "")) / 1000; }
  function cell(row, text, href) {
    var td = document.createElement("td");
    if (href) { var a = document.createElement("a"); a.href = href; a.textContent = text; td.appendChild(a); }
    else { td.textContent = text; }
    row.appendChild(td);
  }

  function show(p) {
    var done = p.counts.done;
    document.getElementById("batch-done").textContent = num(done);
    document.getElementById("batch-total").textContent = num(p.total);
    document.getElementById("batch-percent").textContent = imagearNumber(p.total ? 100 * done / p.total : 0, 1);
    var bar = document.getElementById("batch-bar");
    bar.max = p.total || 1; bar.value = done;
    document.getElementById("batch-active").textContent = p.active ? t("running") : t("idle");
    card.querySelectorAll("dd[data-status]").forEach(function (dd) { dd.textContent = num(p.counts[dd.dataset.status]); });
    document.getElementById("batch-rate").textContent = imagearNumber(p.per_minute, 1) + " " + t("records/min");
    document.getElementById("batch-eta").textContent = ago(p.eta_secs);
    document.getElementById("batch-retry").textContent = stamp(p.next_retry_at);
    var body = document.querySelector("#batch-running tbody");
    body.innerHTML = "";
    p.running.forEach(function (c) {
      var tr = document.createElement("tr");
      cell(tr, String(c.object_id), "/records/" + c.object_id);
      cell(tr, c.runner || "");
      cell(tr, c.since ? ago(secs(p.now) - secs(c.since)) : "");
      tr.lastChild.title = c.since || "";
      cell(tr, String(c.attempts));
      cell(tr, c.expired ? t("expired: the runner is gone") : t("held"));
      body.appendChild(tr);
    });
    document.getElementById("batch-none-running").hidden = p.running.length > 0;
    var last = document.getElementById("batch-last");
    last.innerHTML = "";
    p.last_done.forEach(function (d) {
      var li = document.createElement("li"), a = document.createElement("a"), s = document.createElement("span");
      a.href = "/records/" + d.object_id; a.textContent = String(d.object_id);
      s.className = "muted"; s.textContent = " " + stamp(d.finished_at); s.title = d.finished_at || "";
      li.appendChild(a); li.appendChild(s); last.appendChild(li);
    });
  }

  // a slow answer (a very large job table) is asked for less often: ten times its own time apart
  function poll() {
    var started = Date.now();
    fetch("/batch.json", { headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(show)
      .catch(function () {})
      .then(function () { setTimeout(poll, Math.max(every, 10 * (Date.now() - started))); });
  }
  setTimeout(poll, every);
})();

// imagear web: the review queue, one clip after another, with keys.
(function () {
  "use strict";
  var queue = document.getElementById("queue");
  if (!queue) { return; }
  var items = JSON.parse(queue.dataset.items || "[]");
  var csrf = queue.dataset.csrf;
  var at = 0;
  var video = document.getElementById("q-clip");
  var dialog = document.getElementById("confirm");
  var messages = document.getElementById("messages");

  function say(kind, text) {
    var p = document.createElement("p");
    p.className = "msg " + kind;
    p.setAttribute("role", kind === "bad" ? "alert" : "status");
    p.textContent = text;
    messages.innerHTML = "";
    messages.appendChild(p);
  }

  function show() {
    document.getElementById("queue-count").textContent = imagearNumber(items.length) + " " + t("waiting");
    if (!items.length) {
      queue.hidden = true;
      document.getElementById("keys").hidden = true;
      document.getElementById("queue-empty").hidden = false;
      video.removeAttribute("src"); video.load();
      return;
    }
    at = Math.max(0, Math.min(at, items.length - 1));
    var it = items[at];
    var link = document.getElementById("q-link");
    link.href = "/records/" + it.id;
    link.textContent = it.title || it.identifier || String(it.id);
    document.getElementById("q-pos").textContent = (at + 1) + " " + t("of") + " " + items.length;
    document.getElementById("q-ident").textContent = it.identifier;
    document.getElementById("q-model").textContent = it.model;
    document.getElementById("q-master").src = "/image-ar/" + it.id + "/master";
    video.src = "/image-ar/" + it.id + "/video?v=" + encodeURIComponent(it.version);
    video.play().catch(function () {});
    queue.dataset.current = String(it.id);
  }

  function verdict(kind) {
    var it = items[at];
    if (!it) { return; }
    var body = new FormData();
    body.append("csrf", csrf);
    fetch("/records/" + it.id + "/" + kind, { method: "POST", body: body, headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (b) { return [r.status, b]; }); })
      .then(function (res) {
        if (res[0] >= 400) { say("bad", res[1].error || t("Refused.")); return; }
        items.splice(at, 1);
        say("ok", (it.identifier || it.id) + ": " + (kind === "approve" ? t("approved.") : t("rejected; queued for a new seed.")));
        show();
      })
      .catch(function (err) { say("bad", String(err)); });
  }

  function reject() {
    if (!items.length) { return; }
    dialog.returnValue = "";
    dialog.onclose = function () { if (dialog.returnValue === "ok") { verdict("reject"); } };
    dialog.showModal();
  }
  function move(step) { at = Math.max(0, Math.min(at + step, items.length - 1)); show(); }

  document.getElementById("q-approve").addEventListener("click", function () { verdict("approve"); });
  document.getElementById("q-reject").addEventListener("click", reject);
  document.getElementById("q-next").addEventListener("click", function () { move(1); });
  document.getElementById("q-prev").addEventListener("click", function () { move(-1); });
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || dialog.open) { return; }
    var tag = (e.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select") { return; }
    var key = e.key.toLowerCase();
    if (key === "a") { verdict("approve"); }
    else if (key === "r") { reject(); }
    else if (key === "j") { move(1); }
    else if (key === "k") { move(-1); }
    else if (key === " " && tag !== "button" && tag !== "video") {
      e.preventDefault();
      if (video.paused) { video.play().catch(function () {}); } else { video.pause(); }
    } else { return; }
  });
  show();
})();
