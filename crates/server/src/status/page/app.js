// The status page: reads /status/data every two seconds while the page is visible and draws
// models, traffic, server, online/offline and agent figures; sends a picked or dropped photo
// to the camera endpoint and draws its boxes or labels; loads and unloads models through the
// V2 repository API when model control is on. Every text the server sends (model names,
// labels, reasons) goes into the page as text, never as markup.
"use strict";

(function () {
  const POLL_MS = 2000;
  const SVG = "http://www.w3.org/2000/svg";
  let latest = null;
  let controlToken = "";
  let modelsWithImages = "";

  function el(tag, attributes, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children || []) if (child) node.append(child);
    return node;
  }

  function facts(target, pairs) {
    target.replaceChildren();
    for (const [name, value] of pairs) {
      if (value === undefined) continue;
      target.append(el("dt", { text: name }), el("dd", { text: value === null ? "—" : String(value) }));
    }
  }

  function bytes(n) {
    if (n === null || n === undefined) return "—";
    const units = ["B", "KiB", "MiB", "GiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  }

  function duration(secs) {
    if (secs < 60) return Math.round(secs) + " s";
    if (secs < 3600) return Math.floor(secs / 60) + " min " + Math.round(secs % 60) + " s";
    if (secs < 86400) return Math.floor(secs / 3600) + " h " + Math.floor((secs % 3600) / 60) + " min";
    return Math.floor(secs / 86400) + " d " + Math.floor((secs % 86400) / 3600) + " h";
  }

  function ms(value) {
    return value === null || value === undefined ? "—" : value.toFixed(value < 10 ? 2 : 1) + " ms";
  }

  function badge(word, label) {
    return el("span", { class: "badge " + word, text: label || word.replace(/_/g, " ") });
  }

  // ---- models ----

  function versionItem(model, v) {
    const word = v.ready ? (v.candidate ? "candidates" : "ready") : "unavailable";
    const item = el("li", { class: "version", "data-version": String(v.version) }, [
      el("strong", { text: "version " + v.version }),
      badge(word, v.ready ? (v.candidate ? "candidate" : (model.default_version === v.version ? "default" : "ready")) : "failed"),
    ]);
    if (v.ready) {
      item.append(el("span", { class: "muted", text: v.backend + " · " + v.execution_provider + (v.on_accelerator ? " (accelerator)" : "") }));
      item.append(el("span", { text: v.requests + " answered · " + v.failures + " failed · " + v.in_flight + "/" + v.capacity + " in queue · " + bytes(v.resident_bytes) + " · loaded in " + v.load_ms + " ms" }));
    } else {
      item.append(el("span", { class: "reason", text: v.reason }));
    }
    return item;
  }

  function controlButtons(model) {
    if (!latest || latest.control_mode !== "explicit") return null;
    const box = el("div", { class: "actions" });
    const action = model.state === "unloaded" || model.state === "unavailable" ? "load" : "unload";
    const button = el("button", { type: "button", text: action === "load" ? "Load" : "Unload" });
    button.addEventListener("click", () => control(model.name, action, button));
    box.append(button);
    return box;
  }

  async function control(name, action, button) {
    const result = document.getElementById("control-result");
    button.disabled = true;
    result.textContent = action + " " + name + "…";
    const headers = { "Content-Type": "application/json" };
    if (controlToken) headers.Authorization = "Bearer " + controlToken;
    try {
      const response = await fetch("/v2/repository/models/" + encodeURIComponent(name) + "/" + action,
        { method: "POST", headers, body: "{}" });
      if (response.ok) {
        result.textContent = name + ": " + action + "ed";
      } else {
        result.textContent = name + ": " + response.status + " " + await errorText(response);
      }
    } catch (error) {
      result.textContent = name + ": " + error;
    } finally {
      button.disabled = false;
      poll();
    }
  }

  function renderModels(data) {
    const target = document.getElementById("models");
    target.replaceChildren();
    for (const model of data.models) {
      const card = el("article", { class: "card model", "data-model": model.name, "data-state": model.state });
      const title = el("h3", {}, [el("span", { class: "name", text: model.name }), badge(model.state)]);
      const about = [];
      if (model.default_version !== null) about.push("serving version " + model.default_version);
      if (model.image_answer) about.push(model.image_answer);
      if (about.length) title.append(el("span", { class: "muted", text: about.join(" · ") }));
      card.append(title);
      if (model.reason) card.append(el("p", { class: "reason", text: model.reason }));
      if (model.versions.length) {
        const list = el("ul", { class: "versions" });
        for (const v of model.versions) list.append(versionItem(model, v));
        card.append(list);
      }
      const buttons = controlButtons(model);
      if (buttons) card.append(buttons);
      target.append(card);
    }
    if (!data.models.length) target.append(el("p", { class: "muted", text: "No models in the repository." }));
    const control = document.getElementById("control");
    control.hidden = data.control_mode !== "explicit";
    document.getElementById("control-token").hidden = !data.control_token_required;
    document.querySelector("label[for=control-token]").hidden = !data.control_token_required;
  }

  // ---- traffic ----

  function polyline(points, cls, x, y) {
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("class", cls);
    line.setAttribute("points", points.map((p) => x(p).toFixed(1) + "," + y(p).toFixed(1)).join(" "));
    return line;
  }

  function chart(series, windowMs, nowMs) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "chart");
    svg.setAttribute("viewBox", "0 0 300 80");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    const end = series.length ? series[series.length - 1].at_ms : nowMs;
    const start = series.length ? series[0].at_ms - series[0].secs * 1000 : end;
    const span = Math.min(windowMs, Math.max(60000, end - start));
    const x = (p) => 300 - ((end - p.at_ms) / span) * 300;
    const rateMax = Math.max(1, ...series.map((p) => Math.max(p.requests_per_sec, p.failures_per_sec)));
    const latencyMax = Math.max(1, ...series.map((p) => p.p99_ms || 0));
    const rate = (key) => (p) => 78 - (p[key] / rateMax) * 74;
    const latency = (key) => (p) => 78 - ((p[key] || 0) / latencyMax) * 74;
    svg.append(polyline(series, "rps", x, rate("requests_per_sec")));
    svg.append(polyline(series, "failures", x, rate("failures_per_sec")));
    const timed = series.filter((p) => p.p50_ms !== null);
    svg.append(polyline(timed, "p50", x, latency("p50_ms")));
    svg.append(polyline(timed, "p99", x, latency("p99_ms")));
    const label = "requests/s up to " + rateMax.toFixed(1) + ", p99 up to " + latencyMax.toFixed(1) + " ms";
    svg.setAttribute("aria-label", label);
    return svg;
  }

  function renderTraffic(data) {
    const target = document.getElementById("traffic");
    target.replaceChildren();
    const windowMs = data.window_secs * 1000;
    document.getElementById("window").textContent = "(while a page is open, up to the last " + Math.round(data.window_secs / 60) + " minutes)";
    for (const model of data.models) {
      if (model.state === "unloaded" && !model.series.length) continue;
      const series = model.series;
      const last = series.length ? series[series.length - 1] : null;
      const total = series.reduce((sum, p) => sum + p.requests_per_sec * p.secs, 0);
      const failed = series.reduce((sum, p) => sum + p.failures_per_sec * p.secs, 0);
      const card = el("article", { class: "card traffic", "data-model": model.name }, [
        el("h3", {}, [el("span", { class: "name", text: model.name })]),
        chart(series, windowMs, data.server.now_ms),
        el("p", { class: "figures", text: last
          ? last.requests_per_sec.toFixed(1) + " req/s · p50 " + ms(last.p50_ms) + " · p99 " + ms(last.p99_ms)
            + " · " + last.failures_per_sec.toFixed(1) + " failures/s"
          : "waiting for a second reading…" }),
        el("p", { class: "muted figures", text: Math.round(total) + " answered, " + Math.round(failed) + " failed in the window" }),
      ]);
      card.querySelector(".figures").setAttribute("data-rps", last ? String(last.requests_per_sec) : "0");
      target.append(card);
    }
  }

  // ---- server, online and offline, agent ----

  function meter(used, of) {
    const bar = el("div", { class: "bar" }, [el("div")]);
    if (used !== null && of) bar.firstChild.style.width = Math.min(100, (100 * used) / of).toFixed(1) + "%";
    return bar;
  }

  function renderServer(data) {
    const m = data.memory;
    facts(document.getElementById("server"), [
      ["inference threads", data.executor.threads + " (" + data.executor.busy + " busy)"],
      ["waiting for a thread", data.executor.waiting],
      ["memory budget", m.budget_bytes === null ? "none (no container limit)" : bytes(m.budget_bytes)],
      ["container limit", m.limit_bytes === null ? "none" : bytes(m.limit_bytes)],
      ["container use", m.used_bytes === null ? "—" : bytes(m.used_bytes)],
      ["process resident", bytes(m.resident_bytes)],
      ["models", bytes(m.models_bytes)],
      ["request bodies", bytes(m.request_bodies_bytes)],
    ]);
    const budget = m.budget_bytes || m.limit_bytes;
    if (budget) {
      const dd = el("dd", {}, [meter(m.used_bytes !== null ? m.used_bytes : m.resident_bytes, budget)]);
      document.getElementById("server").append(el("dt", { text: "use of the budget" }), dd);
    }
  }

  function renderOnline(data) {
    const target = document.getElementById("upstreams");
    target.replaceChildren();
    const withUpstream = data.models.filter((m) => m.upstream);
    if (!withUpstream.length) {
      target.append(el("p", { class: "muted", text: "No model has an upstream: every answer is local." }));
    } else {
      const table = el("table", {}, [el("thead", {}, [el("tr", {}, ["model", "upstream", "policy", "circuit"].map((h) => el("th", { text: h })))])]);
      const body = el("tbody");
      for (const m of withUpstream) {
        const circuit = m.upstream.circuit;
        body.append(el("tr", { "data-model": m.name }, [
          el("td", { text: m.name }), el("td", { text: m.upstream.endpoint }), el("td", { text: m.upstream.policy }),
          el("td", {}, [badge(circuit, circuit === "closed" ? "online" : circuit === "open" ? "offline" : "trying again")]),
        ]));
      }
      table.append(body);
      target.append(table);
    }
    const o = data.outbox;
    if (!o) {
      facts(document.getElementById("outbox"), [["outbox", "off (no outbox.path)"]]);
    } else {
      facts(document.getElementById("outbox"), [
        ["outbox backlog", o.backlog_records === null ? "unreadable" : o.backlog_records + " records (" + bytes(o.backlog_bytes) + ")"],
        ["oldest waiting", o.oldest_record_age_secs === null ? "—" : duration(o.oldest_record_age_secs)],
        ["last upload", o.last_upload_unix === null ? "none yet" : duration(Math.max(0, data.server.now_ms / 1000 - o.last_upload_unix)) + " ago"],
        ["uploaded", o.uploaded_records + " records in " + o.uploaded_batches + " batches"],
        ["failed uploads", o.upload_failures],
        ["dropped", o.dropped_records],
      ]);
    }
  }

  function renderAgent(data) {
    const section = document.getElementById("agent-section");
    section.hidden = !data.agent;
    if (!data.agent) return;
    const agent = data.agent;
    const report = agent.report;
    facts(document.getElementById("agent"), [
      ["agent", agent.url],
      ["state", report ? report.state : "unreachable"],
      ["error", agent.reachable ? (report.last_error || null) : agent.error],
      ["last check", report ? report.last_check : null],
      ["last success", report ? report.last_success : null],
    ]);
    const stateNode = document.querySelector("#agent dd:nth-of-type(2)");
    if (stateNode) stateNode.className = report ? report.state : "offline";
    const target = document.getElementById("agent-models");
    target.replaceChildren();
    if (!report) return;
    for (const [name, m] of Object.entries(report.models)) {
      const card = el("article", { class: "card agent-model", "data-model": name }, [el("h3", {}, [el("span", { class: "name", text: name })])]);
      const list = el("dl", { class: "facts" });
      facts(list, [
        ["active", m.active], ["candidate", m.candidate === null ? null : m.candidate + (m.step ? " (" + m.step + ")" : "")],
        ["last good", m.last_good], ["last watch", m.last_watch], ["last event", m.last_event],
      ]);
      card.append(list);
      for (const waiting of m.waiting) card.append(el("p", { class: "muted", text: waiting }));
      if (m.rejected.length) {
        const refusals = el("ul", { class: "refusals" });
        for (const r of m.rejected) {
          refusals.append(el("li", { class: "refusal", "data-version": String(r.version) }, [
            el("strong", { text: "version " + r.version + " refused: " }), el("span", { class: "reason", text: r.reason }),
            el("span", { class: "muted", text: " " + r.at }),
          ]));
        }
        card.append(refusals);
      }
      target.append(card);
    }
  }

  function renderHeader(data) {
    document.getElementById("server-version").textContent = data.server.name + " " + data.server.version;
    const ready = document.getElementById("server-ready");
    ready.textContent = data.server.ready ? "ready" : "not ready";
    ready.className = "badge " + (data.server.ready ? "ready" : "not-ready");
    document.getElementById("server-uptime").textContent = "up " + duration(data.server.uptime_secs);
  }

  function renderTryModels(data) {
    const names = data.models.filter((m) => m.image_answer && m.state === "ready").map((m) => m.name);
    const key = names.join("\n");
    if (key === modelsWithImages) return;
    modelsWithImages = key;
    const select = document.getElementById("try-model");
    const chosen = select.value;
    select.replaceChildren(...names.map((name) => el("option", { value: name, text: name })));
    if (names.includes(chosen)) select.value = chosen;
    else {
      const detector = data.models.find((m) => m.image_answer === "detection" && names.includes(m.name));
      if (detector) select.value = detector.name;
    }
  }

  function render(data) {
    latest = data;
    renderHeader(data);
    renderModels(data);
    renderTraffic(data);
    renderServer(data);
    renderOnline(data);
    renderAgent(data);
    renderTryModels(data);
  }

  let polling = false;
  async function poll() {
    if (polling) return;
    polling = true;
    const connection = document.getElementById("connection");
    try {
      const response = await fetch("/status/data", { cache: "no-store" });
      if (!response.ok) throw new Error(response.status + " " + await errorText(response));
      render(await response.json());
      connection.textContent = "updated " + new Date().toLocaleTimeString();
      connection.className = "muted";
    } catch (error) {
      connection.textContent = "cannot reach the server: " + error.message;
      connection.className = "error";
    } finally {
      polling = false;
    }
  }

  // ---- try a photo ----

  async function errorText(response) {
    const text = await response.text();
    try {
      const parsed = JSON.parse(text);
      if (parsed && typeof parsed.error === "string") return parsed.error;
    } catch (_) { /* not JSON: the text itself */ }
    return text || response.statusText;
  }

  function showError(message) {
    const node = document.getElementById("try-error");
    node.textContent = message;
    node.hidden = false;
  }

  function drawAnswer(answer, imageUrl) {
    const result = document.getElementById("try-result");
    const photo = document.getElementById("photo");
    const boxes = document.getElementById("boxes");
    const answers = document.getElementById("answers");
    boxes.replaceChildren();
    answers.replaceChildren();
    photo.src = imageUrl;
    const width = answer.image ? answer.image.width : 1;
    const height = answer.image ? answer.image.height : 1;
    for (const d of answer.detections || []) {
      const label = d.label === null || d.label === undefined ? "class " + d.class_index : d.label;
      const box = el("div", { class: "box", "data-label": label }, [el("span", { text: label + " " + d.score.toFixed(2) })]);
      box.style.left = (100 * d.box.x_min / width).toFixed(3) + "%";
      box.style.top = (100 * d.box.y_min / height).toFixed(3) + "%";
      box.style.width = (100 * (d.box.x_max - d.box.x_min) / width).toFixed(3) + "%";
      box.style.height = (100 * (d.box.y_max - d.box.y_min) / height).toFixed(3) + "%";
      boxes.append(box);
      answers.append(el("li", { class: "answer", text: label + " " + d.score.toFixed(2) }));
    }
    for (const c of answer.classifications || []) {
      const label = c.label === null || c.label === undefined ? "class " + c.index : c.label;
      answers.append(el("li", { class: "answer", text: label + " " + c.score.toFixed(3) }));
    }
    if (!answers.children.length) answers.append(el("li", { class: "muted", text: "nothing found above the model's threshold" }));
    const t = answer.timing_us || {};
    const msOf = (us) => (us === undefined ? undefined : (us / 1000).toFixed(2) + " ms");
    facts(document.getElementById("timings"), [
      ["decode", msOf(t.decode)], ["preprocess", msOf(t.preprocess)],
      ["inference", msOf(t.inference)], ["postprocess", msOf(t.postprocess)],
      ["answered by", answer.served_by], ["version", answer.model_version],
    ]);
    result.hidden = false;
  }

  let previousUrl = null;
  async function send(file) {
    const model = document.getElementById("try-model").value;
    document.getElementById("try-error").hidden = true;
    if (!model) {
      showError("No ready model takes photos.");
      return;
    }
    document.getElementById("try-result").hidden = true;
    try {
      const response = await fetch("/v2/models/" + encodeURIComponent(model) + "/image", {
        method: "POST", headers: { "Content-Type": file.type || "application/octet-stream" }, body: file,
      });
      if (!response.ok) {
        showError(response.status + ": " + await errorText(response));
        return;
      }
      const answer = await response.json();
      if (previousUrl) URL.revokeObjectURL(previousUrl);
      previousUrl = URL.createObjectURL(file);
      drawAnswer(answer, previousUrl);
    } catch (error) {
      showError("The photo could not be sent: " + error.message);
    }
  }

  function setUp() {
    document.getElementById("control-token").addEventListener("input", (event) => { controlToken = event.target.value; });
    document.getElementById("try-file").addEventListener("change", (event) => {
      if (event.target.files.length) send(event.target.files[0]);
      event.target.value = "";
    });
    const zone = document.getElementById("drop-zone");
    zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("over");
      const files = event.dataTransfer ? event.dataTransfer.files : [];
      if (files.length) send(files[0]);
    });
    zone.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") document.getElementById("try-file").click();
    });
    poll();
    setInterval(() => { if (!document.hidden) poll(); }, POLL_MS);
    document.addEventListener("visibilitychange", () => { if (!document.hidden) poll(); });
  }

  document.addEventListener("DOMContentLoaded", setUp);
})();
