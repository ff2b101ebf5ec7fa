// The operator console. Every value shown comes from the API and goes into the page as text
// (textContent, DOM nodes): tenant-written strings are never parsed as HTML. The token lives in
// sessionStorage (this tab only) and is sent as a bearer token; nothing else is stored.
"use strict";

const TOKEN_KEY = "na-console-token";
const ORG_KEY = "na-console-org";
const LAG_RING = 120; // samples kept per group/topic for the sparkline (the server sends its own window)
const POLL_MS = 5000;

const state = { me: null, org: null, timer: null, lag: new Map() };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "onclick" || name === "onsubmit") node.addEventListener(name.slice(2), value);
    else if (name === "className") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function table(id, headers, rows) {
  return el("table", { id },
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows));
}

function when(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  return new Date(seconds * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

function text(value) {
  if (value === null || value === undefined || value === "") return "—";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + sessionStorage.getItem(TOKEN_KEY) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                                       credentials: "omit", cache: "no-store" });
  let data = null;
  const raw = await response.text();
  if (raw) { try { data = JSON.parse(raw); } catch (e) { data = { detail: raw.slice(0, 200) }; } }
  if (response.status === 401) { logout("The token was refused."); throw new Error("401"); }
  if (!response.ok) {
    const detail = data && data.detail !== undefined ? data.detail : data;
    const error = new Error(response.status + ": " + text(detail));
    error.status = response.status;
    throw error;
  }
  return data;
}

function orgBase() { return "/api/0/organizations/" + encodeURIComponent(state.org) + "/notifications/"; }

function show(...nodes) {
  const view = document.getElementById("view");
  view.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined));
}

function failure(error) { return el("p", { className: "error", role: "alert" }, String(error.message || error)); }

// --- session -------------------------------------------------------------------------------
async function login(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
  try {
    state.me = await api("GET", "/api/0/console/me");
  } catch (error) {
    sessionStorage.removeItem(TOKEN_KEY);
    document.getElementById("login-error").textContent = "Log-in failed: " + error.message;
    return;
  }
  const orgs = state.me.organizations;
  const select = document.getElementById("org");
  const input = document.getElementById("org-input");
  const saved = sessionStorage.getItem(ORG_KEY);
  if (orgs === null) {
    select.hidden = true; input.hidden = false;
    state.org = saved || "1";
    input.value = state.org;
  } else {
    select.hidden = false; input.hidden = true;
    select.replaceChildren(...orgs.map((o) => el("option", { value: o }, String(o))));
    state.org = orgs.map(String).includes(saved) ? saved : String(orgs[0]);
    select.value = state.org;
  }
  document.getElementById("who").textContent =
    state.me.name + (state.me.admin ? " (admin)" : "") + (state.me.write ? ", read-write" : ", read-only");
  document.getElementById("login-view").hidden = true;
  document.getElementById("nav").hidden = false;
  document.getElementById("session").hidden = false;
  route();
}

function logout(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  state.me = null;
  clearInterval(state.timer);
  document.getElementById("nav").hidden = true;
  document.getElementById("session").hidden = true;
  document.getElementById("login-view").hidden = false;
  document.getElementById("login-error").textContent = message || "";
  show();
}

function setOrg(value) {
  if (!/^[0-9]{1,18}$/.test(value)) return;
  state.org = value;
  sessionStorage.setItem(ORG_KEY, value);
  route();
}

// --- views ---------------------------------------------------------------------------------
function route() {
  if (!state.me) return;
  clearInterval(state.timer);
  const [view, arg] = (location.hash.slice(1) || "actions").split("/");
  for (const link of document.querySelectorAll("#nav a")) {
    link.classList.toggle("current", link.dataset.view === view || (view === "deliveries" && link.dataset.view === "actions"));
  }
  const views = { actions: actionsView, deliveries: () => deliveriesView(decodeURIComponent(arg || "")),
                  "dead-letters": deadLettersView, lag: lagView, health: healthView };
  (views[view] || actionsView)().catch((error) => { if (error.message !== "401") show(failure(error)); });
}

function conditionsSummary(action) {
  const parts = (action.conditions || []).map((c) => c.path + " " + c.op + " " + text(c.value));
  if (action.throttle) parts.push("throttle " + text(action.throttle));
  return parts.length ? parts.join("; ") : "—";
}

async function actionsView() {
  const [actions, last] = await Promise.all([api("GET", orgBase() + "actions/"), api("GET", orgBase() + "last-outcomes/")]);
  const rows = actions.map((action) => {
    const id = String(action.id);
    const outcome = last[id];
    const result = el("td", { className: "test-outcome" });
    const fire = el("button", { type: "button", className: "test-fire", disabled: !state.me.write,
                                title: state.me.write ? "Fire once with a sample event" : "needs a read-write token" },
      "Test-fire");
    fire.addEventListener("click", async () => {
      fire.disabled = true;
      result.replaceChildren(el("span", { className: "muted" }, "firing…"));
      try {
        const r = await api("POST", orgBase() + "actions/" + encodeURIComponent(id) + "/test/");
        result.replaceChildren(el("span", { className: r.result }, r.result),
          " " + text(r.status) + " in " + text(r.latencyMs) + " ms", el("br"),
          el("span", { className: "muted" }, text(r.errorClass === null ? r.detail : r.errorClass + ": " + r.detail)));
      } catch (error) {
        result.replaceChildren(failure(error));
      } finally {
        fire.disabled = !state.me.write;
      }
    });
    return el("tr", { "data-action-id": id },
      el("td", {}, el("a", { href: "#deliveries/" + encodeURIComponent(id) }, id)),
      el("td", {}, action.triggerType), el("td", {}, action.serviceType),
      el("td", { className: "wrap" }, action.targetDisplay || action.targetIdentifier || "—"),
      el("td", { className: action.enabled ? "ok" : "muted" }, action.enabled ? "yes" : "no"),
      el("td", { className: "wrap" }, conditionsSummary(action)),
      el("td", { className: "last-outcome" }, outcome ? [el("span", { className: outcome.result }, outcome.result),
        " " + text(outcome.status) + " · " + when(outcome.at)] : "—"),
      el("td", {}, fire), result);
  });
  show(el("h2", {}, "Actions of organization " + state.org),
    rows.length ? table("actions-table", ["id", "trigger", "service", "target", "enabled", "conditions / throttle",
                                          "last outcome", "", "test-fire outcome"], rows)
      : el("p", { id: "actions-empty", className: "muted" }, "No actions."));
}

async function deliveriesView(id) {
  const attempts = await api("GET", orgBase() + "actions/" + encodeURIComponent(id) + "/deliveries/");
  const rows = attempts.map((a) => el("tr", { "data-delivery-id": a.deliveryId },
    el("td", {}, when(a.at)), el("td", { className: a.result }, a.result), el("td", { className: "num" }, text(a.attempt)),
    el("td", { className: "num" }, text(a.status)), el("td", { className: "num" }, text(a.latencyMs)),
    el("td", {}, text(a.errorClass)), el("td", { className: "wrap" }, text(a.error)),
    el("td", { className: "wrap" }, text(a.deliveryId))));
  show(el("h2", {}, "Deliveries of action " + id), el("p", {}, el("a", { href: "#actions" }, "← actions")),
    rows.length ? table("deliveries-table", ["at", "result", "attempt", "status", "latency ms", "error class",
                                             "error", "delivery"], rows)
      : el("p", { id: "deliveries-empty", className: "muted" }, "No attempts recorded yet."));
}

function filterForm(onsubmit) {
  const field = (name, label, type) => el("label", {}, label, el("input", { name, type: type || "text" }));
  return el("form", { id: "dlq-filter", className: "filters", onsubmit },
    field("action", "action id"), field("errorClass", "error class"),
    field("since", "since (ISO 8601)"), field("until", "until (ISO 8601)"), el("button", { type: "submit" }, "Filter"));
}

function filters() {
  const form = document.getElementById("dlq-filter");
  const out = {};
  if (!form) return out;
  for (const name of ["action", "errorClass", "since", "until"]) {
    const value = form.elements[name].value.trim();
    if (value) out[name] = value;
  }
  return out;
}

async function deadLettersView() {
  const form = filterForm((event) => { event.preventDefault(); loadDeadLetters(); });
  const result = el("div", { id: "dlq-result" });
  const dry = el("button", { id: "dlq-dry-run", type: "button", disabled: !state.me.write }, "Preview redrive (dry run)");
  const real = el("button", { id: "dlq-redrive", type: "button", disabled: true }, "Redrive");
  dry.addEventListener("click", () => redrive(true, real, result));
  real.addEventListener("click", () => redrive(false, real, result));
  show(el("h2", {}, "Dead letters of organization " + state.org), form,
    el("div", { id: "dlq-body" }), el("div", { className: "box" }, dry, " ", real,
      state.me.write ? null : el("span", { className: "muted" }, " (redrive needs a read-write token)"), result));
  await loadDeadLetters();
}

async function loadDeadLetters() {
  const params = new URLSearchParams(filters());
  const data = await api("GET", orgBase() + "dead-letters/?" + params.toString());
  const counts = Object.entries(data.counts).map(([name, values]) =>
    table("dlq-counts-" + name, [name, "count"], Object.entries(values).map(([k, n]) =>
      el("tr", {}, el("td", {}, k), el("td", { className: "num" }, String(n))))));
  const rows = data.deadLetters.map((d) => el("tr", { "data-delivery-id": d.deliveryId },
    el("td", {}, when(d.deadLetteredAt)), el("td", {}, text(d.actionId)), el("td", {}, text(d.service)),
    el("td", { className: "dead" }, d.errorClass), el("td", {}, text(d.code)), el("td", { className: "num" }, text(d.attempts)),
    el("td", { className: "wrap" }, text(d.error)), el("td", { className: "wrap" }, text(d.deliveryId))));
  document.getElementById("dlq-body").replaceChildren(
    el("p", { id: "dlq-summary" }, data.matched + " dead letter(s) among the newest " + data.scanned +
      " record(s) read" + (data.truncated ? " (older records not read: at most " + data.scanLimit + " per request)" : "")),
    el("div", { className: "counts", id: "dlq-counts" }, counts),
    rows.length ? table("dlq-table", ["dead-lettered", "action", "service", "error class", "code", "attempts", "error",
                                      "delivery"], rows) : el("p", { className: "muted" }, "None."));
}

async function redrive(dryRun, realButton, result) {
  result.replaceChildren(el("span", { className: "muted" }, dryRun ? "previewing…" : "redriving…"));
  try {
    const r = await api("POST", orgBase() + "dead-letters/redrive/", { dryRun, ...filters() });
    const lines = r.planned.map((p) => el("li", {}, p.deliveryId));
    const skipped = r.skipped.map((s) => el("li", {}, s.what + ": " + s.why));
    result.replaceChildren(...[
      el("p", { id: dryRun ? "dlq-preview" : "dlq-sent" }, dryRun
        ? "Dry run: " + r.planned.length + " of " + r.selected + " selected would be re-submitted."
        : "Re-submitted " + r.sent + " of " + r.selected + " selected."),
      lines.length ? el("ul", {}, lines) : null,
      skipped.length ? el("div", {}, el("h3", {}, "Skipped"), el("ul", {}, skipped)) : null].filter(Boolean));
    realButton.disabled = !(dryRun && r.planned.length && state.me.write);
  } catch (error) {
    result.replaceChildren(failure(error));
  }
}

function sparkline(points) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const width = 160, height = 32;
  svg.setAttribute("class", "sparkline");
  svg.setAttribute("width", width); svg.setAttribute("height", height);
  svg.setAttribute("viewBox", "0 0 " + width + " " + height);
  const max = Math.max(1, ...points);
  const step = points.length > 1 ? width / (points.length - 1) : width;
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", points.map((v, i) => (i * step).toFixed(1) + "," + (height - 2 - (v / max) * (height - 4)).toFixed(1)).join(" "));
  svg.append(line);
  const title = document.createElementNS(ns, "title");
  title.textContent = "last " + points.length + " samples, max " + max;
  svg.append(title);
  return svg;
}

function remember(history) {
  for (const sample of history) {
    for (const t of sample.topics) {
      const key = t.group + " " + t.topic;
      const ring = state.lag.get(key) || [];
      if (!ring.length || ring[ring.length - 1].at < sample.at) ring.push({ at: sample.at, lag: t.lag });
      while (ring.length > LAG_RING) ring.shift();
      state.lag.set(key, ring);
    }
  }
}

async function lagView() {
  if (!state.me.admin) {
    show(el("h2", {}, "Consumer lag"), el("p", { className: "muted", id: "lag-admin-only" },
      "Consumer lag and circuits belong to no single organization: they need the admin token."));
    return;
  }
  const draw = async () => {
    const [lag, circuits] = await Promise.all([api("GET", "/api/0/console/lag"), api("GET", "/circuits")]);
    remember(lag.history);
    const report = lag.report;
    const byTopic = new Map();
    for (const p of report ? report.partitions : []) {
      const key = p.group + " " + p.topic;
      const row = byTopic.get(key) || { group: p.group, topic: p.topic, lag: 0, seconds: null, status: "OK", partitions: 0 };
      row.lag += p.lag; row.partitions += 1;
      if (p.lag_seconds !== null) row.seconds = Math.max(row.seconds || 0, p.lag_seconds);
      if (["STOP", "STALL"].includes(p.status) || (p.status === "WARN" && row.status === "OK")) row.status = p.status;
      byTopic.set(key, row);
    }
    const rows = [...byTopic.entries()].map(([key, r]) => el("tr", { "data-topic": r.topic },
      el("td", {}, r.group), el("td", {}, r.topic), el("td", { className: "num" }, String(r.partitions)),
      el("td", { className: "num" }, String(r.lag)), el("td", { className: "num" }, r.seconds === null ? "—" : r.seconds.toFixed(1)),
      el("td", { className: r.status }, r.status), el("td", {}, sparkline((state.lag.get(key) || []).map((s) => s.lag)))));
    const open = Object.entries(circuits.circuits || {}).map(([target, c]) => el("tr", {},
      el("td", { className: "wrap" }, target), el("td", { className: "num" }, text(c.waiting)),
      el("td", { className: "num" }, text(c.tier)), el("td", {}, when(c.opened_at))));
    show(el("h2", {}, "Consumer lag"),
      report ? el("p", { id: "lag-status" }, "Status ", el("span", { className: report.status }, report.status),
        " · sampled " + when(report.sampled_at) + " · " + report.samples + " sample(s) over " + report.window_seconds + " s")
        : el("p", { id: "lag-status", className: "muted" }, "No lag sample yet."),
      rows.length ? table("lag-table", ["group", "topic", "partitions", "lag (messages)", "lag (seconds)", "status",
                                        "last samples"], rows) : null,
      el("h3", {}, "Open circuits"),
      open.length ? table("circuits-table", ["target (URLs as a digest)", "waiting", "tier", "opened"], open)
        : el("p", { id: "circuits-empty", className: "muted" }, "No open circuit on this worker."));
  };
  await draw();
  state.timer = setInterval(() => draw().catch((error) => show(failure(error))), POLL_MS);
}

async function healthView() {
  const h = await api("GET", "/api/0/console/health");
  const item = (label, value, cls) => [el("dt", {}, label), el("dd", { className: cls || null }, value)];
  const assignment = h.assignment ? Object.entries(h.assignment).map(([t, ps]) => el("li", {}, t + ": " + ps.join(", "))) : [];
  show(el("h2", {}, "Health of this worker"),
    el("dl", { className: "health", id: "health" },
      item("ready", h.ready ? "ready" : "not ready", h.ready ? "ok" : "error"),
      item("tables recovered", h.tablesRecovered ? "yes" : "no", h.tablesRecovered ? "ok" : "error"),
      item("rebalancing", h.rebalancing ? "yes" : "no"),
      item("partitions assigned", String(h.partitionsAssigned)),
      h.actions === undefined ? [] : item("actions in the table", String(h.actions))),
    assignment.length ? [el("h3", {}, "Assignment"), el("ul", { id: "assignment" }, assignment)] : []);
}

// --- start ---------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("token");
    login(input.value.trim());
    input.value = "";
  });
  document.getElementById("logout").addEventListener("click", () => logout());
  document.getElementById("org").addEventListener("change", (event) => setOrg(event.target.value));
  document.getElementById("org-input").addEventListener("change", (event) => setOrg(event.target.value));
  window.addEventListener("hashchange", route);
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) login(token); else logout();
});
