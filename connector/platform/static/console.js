// The connector console: everything goes through the service's JSON API with a bearer token.
"use strict";
const $ = (id) => document.getElementById(id);
const PAGE = 20;
const state = { connection: null, definition: null, stream: null };

function token() { return sessionStorage.getItem("connector-token") || ""; }

async function api(method, path, body) {
  const init = { method, headers: { authorization: "Bearer " + token() } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 401) { $("login").hidden = false; throw new Error("the token was refused"); }
  return response;
}

async function json(method, path, body) {
  const response = await api(method, path, body);
  const text = await response.text();
  const value = text ? JSON.parse(text) : null;
  if (!response.ok) { throw Object.assign(new Error(value && value.detail || response.statusText), { problem: value }); }
  return value;
}

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  const { dataset, ...rest } = props || {};
  Object.assign(node, rest);
  Object.assign(node.dataset, dataset || {});
  for (const child of children) node.append(child);
  return node;
}

function showProblem(error) {
  const p = error.problem;
  let text = error.message;
  if (p && p.errors) text += "\n" + p.errors.map((e) => `${e.location || "(body)"}: ${e.message}`).join("\n");
  if (p && p.upstream) text += `\nupstream ${p.upstream.status} ${p.upstream.type || ""}: ${p.upstream.message} [${p.upstream.request_id || "-"}]`;
  $("problem").textContent = text;
}

function cell(value) {
  if (value === null || value === undefined) return "";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function renderTable(rows) {
  const records = rows.map((r) => (r && typeof r === "object" && !Array.isArray(r) ? r : { value: r }));
  const columns = [...new Set(records.flatMap((r) => Object.keys(r)))];
  const table = el("table", { id: "records" },
    el("thead", {}, el("tr", {}, ...columns.map((c) => el("th", { textContent: c })))),
    el("tbody", {}, ...records.map((r) => el("tr", {}, ...columns.map((c) => el("td", { textContent: cell(r[c]), title: cell(r[c]) }))))));
  $("table").replaceChildren(table);
}

async function loadConnections() {
  const { connections } = await json("GET", "/v1/connections");
  $("connections").replaceChildren(...connections.map((c) =>
    el("li", {}, el("button", { textContent: `${c.name} (${c.definition})`, onclick: () => pick(c) }))));
  const { definitions } = await json("GET", "/v1/definitions");
  $("nc-definition").replaceChildren(...definitions.map((d) => el("option", { value: d.handle, textContent: d.handle })));
  return connections;
}

async function pick(connection) {
  state.connection = connection;
  $("current").textContent = `${connection.name} · ${connection.definition} · ${connection.base_url || "default origin"}`;
  state.definition = await json("GET", `/v1/definitions/${encodeURIComponent(connection.definition)}`);
  $("resources").replaceChildren(...state.definition.resources.map((r) =>
    el("details", {}, el("summary", { textContent: `${r.handle} ${r.description ? "· " + r.description : ""}` }),
      el("ul", {}, ...r.operations.map((op) =>
        el("li", {}, el("button", { textContent: `${op.name} (${op.method})`, dataset: { op: `${r.handle}.${op.name}` }, onclick: () => showForm(r, op) })))))));
  const check = await json("POST", `/v1/connections/${connection.id}/check`);
  $("check").textContent = check.ok ? `check ok (${check.probe}, ${check.latency_ms} ms)` : `check failed: ${check.detail || ""}`;
  await loadSubscriptions();
}

function field(name, schema, required) {
  const id = "in-" + name;
  const title = (schema.title || name) + (required ? " *" : "");
  const label = el("label", { htmlFor: id, textContent: title });
  if (schema.description) label.append(el("span", { className: "hint", textContent: " " + schema.description }));
  let input;
  if (schema.enum) {
    input = el("select", { id, name }, ...(required ? [] : [el("option", { value: "", textContent: "" })]),
      ...schema.enum.map((v) => el("option", { value: JSON.stringify(v), textContent: String(v) })));
  } else if (schema.type === "boolean") {
    input = el("select", { id, name }, el("option", { value: "", textContent: "" }), el("option", { value: "true", textContent: "true" }), el("option", { value: "false", textContent: "false" }));
  } else if (schema.type === "object" || schema.type === "array") {
    input = el("textarea", { id, name, rows: 3, placeholder: schema.type === "object" ? "{...}" : "[...]" });
  } else {
    input = el("input", { id, name, type: schema.format === "password" ? "password" : schema.type === "integer" || schema.type === "number" ? "number" : "text" });
    if (schema.format === "date-time") input.placeholder = "2025-01-31T12:00:00Z";
  }
  input.required = !!required;
  if (schema.default !== undefined) input.value = schema.enum ? JSON.stringify(schema.default) : cell(schema.default);
  input.dataset.kind = schema.enum ? "enum" : schema.type;
  return [label, input];
}

function readForm(form) {
  const inputs = {};
  for (const input of form.querySelectorAll("[data-kind]")) {
    if (input.value === "") continue;
    const kind = input.dataset.kind;
    if (kind === "enum") inputs[input.name] = JSON.parse(input.value);
    else if (kind === "integer" || kind === "number") inputs[input.name] = Number(input.value);
    else if (kind === "boolean") inputs[input.name] = input.value === "true";
    else if (kind === "object" || kind === "array") inputs[input.name] = JSON.parse(input.value);
    else inputs[input.name] = input.value;
  }
  return inputs;
}

function showForm(resource, op) {
  const schema = op.inputSchema;
  $("form-title").textContent = `${resource.handle}.${op.name} · ${op.method}${op.paginated ? " · paginated" : ""}`;
  const form = $("operation-form");
  const required = new Set(schema.required || []);
  form.replaceChildren(...Object.entries(schema.properties).flatMap(([name, s]) => field(name, s, required.has(name))),
    el("label", {}, el("input", { type: "checkbox", id: "raw-answer", style: "width:auto" }), " raw answer"),
    el("button", { type: "submit", id: "run", textContent: "Run" }));
  form.onsubmit = (event) => { event.preventDefault(); run(resource, op, form).catch(showProblem); };
}

async function run(resource, op, form) {
  $("problem").textContent = ""; $("pager").replaceChildren(); $("table").replaceChildren(); $("raw").textContent = "";
  if (state.stream) { state.stream.cancel(); state.stream = null; }
  const inputs = readForm(form);
  const raw = $("raw-answer").checked ? "?raw=true" : "";
  const path = `/v1/connections/${state.connection.id}/resources/${resource.handle}/operations/${op.name}${raw}`;
  const response = await api("POST", path, inputs);
  const type = response.headers.get("content-type") || "";
  if (!response.ok) { const p = await response.json(); throw Object.assign(new Error(p.detail || p.title), { problem: p }); }
  if (type.startsWith("application/x-ndjson")) return pageThrough(response.body.getReader());
  if (!type.startsWith("application/json")) { const blob = await response.blob(); $("raw").textContent = `${blob.size} bytes of ${type}`; return; }
  const value = await response.json();
  renderTable(Array.isArray(value) ? value : [value]);
  $("raw").textContent = JSON.stringify(value, null, 2);
}

function pageThrough(reader) {
  // Reads the NDJSON stream only as far as the pages shown: the service fetches upstream
  // pages as fast as this reads, no faster.
  const decoder = new TextDecoder();
  const rows = [];
  let buffer = "", done = false, shown = 0;
  state.stream = reader;
  async function fill(count) {
    while (!done && rows.length < count) {
      const chunk = await reader.read();
      if (chunk.done) { done = true; break; }
      buffer += decoder.decode(chunk.value, { stream: true });
      const lines = buffer.split("\n");
      buffer = lines.pop();
      for (const line of lines) if (line.trim()) rows.push(JSON.parse(line));
    }
  }
  async function show(page) {
    await fill((page + 1) * PAGE + 1);
    shown = page;
    const slice = rows.slice(page * PAGE, (page + 1) * PAGE);
    renderTable(slice);
    $("raw").textContent = JSON.stringify(slice, null, 2);
    const more = !done || rows.length > (page + 1) * PAGE;
    $("pager").replaceChildren(
      el("button", { textContent: "‹ previous", id: "prev", disabled: page === 0, onclick: () => show(shown - 1).catch(showProblem) }),
      el("span", { textContent: ` page ${page + 1} · ${rows.length}${done ? "" : "+"} record(s) ` }),
      el("button", { textContent: "next ›", id: "next", disabled: !more, onclick: () => show(shown + 1).catch(showProblem) }));
  }
  return show(0);
}

// The health route's answer (what `connector status` prints): the totals' problems, then a
// line per feed trigger (its cursor, its last note, its last problem).
function showHealth(health) {
  const { totals, feeds } = health;
  const summary = el("div", { id: "health-totals", textContent: totals.healthy ? "healthy" : "needs attention" },
    ...totals.problems.map((p) => el("div", { className: "problem", textContent: p })));
  const lines = feeds.map((f) => el("tr", {},
    ...[f.event, f.resource, f.cursor, f.note, f.problem].map((v) => el("td", { textContent: cell(v) }))));
  const table = el("table", { id: "feeds" },
    el("thead", {}, el("tr", {}, ...["feed", "resource", "cursor", "note", "problem"].map((h) => el("th", { textContent: h })))),
    el("tbody", {}, ...lines));
  $("health").replaceChildren(summary, ...(feeds.length ? [table] : []));
}

async function loadSubscriptions() {
  const base = `/v1/connections/${state.connection.id}`;
  const { subscriptions } = await json("GET", base + "/subscriptions");
  const { deliveries } = await json("GET", base + "/deliveries?limit=200");
  showHealth(await json("GET", base + "/health"));
  $("subscriptions").replaceChildren(...subscriptions.map((s) =>
    el("div", {}, `${s.id} → ${s.url} [${s.events.join(", ")}] ${s.state} `,
      el("button", { textContent: "remove", onclick: async () => { await json("DELETE", `${base}/subscriptions/${s.id}`); loadSubscriptions(); } }))));
  const rows = deliveries.map((d) => ({ event: d.event_id, subscription: d.subscription_id, status: d.status, attempts: d.attempts, last_status: d.last_status, last_error: d.last_error }));
  const table = el("table", { id: "delivery-log" }, el("tbody", {}, ...rows.map((r) => el("tr", {},
    ...Object.values(r).map((v) => el("td", { textContent: cell(v) })),
    el("td", {}, el("button", { textContent: "replay", onclick: async () => {
      const done = await json("POST", `${base}/events/${r.event}/replay`, { subscription: r.subscription });
      $("secret").textContent = `replayed ${r.event}: ${done.queued} queued`; loadSubscriptions();
    } }))))));
  $("deliveries").replaceChildren(rows.length ? table : el("span", { className: "muted", textContent: "no deliveries yet" }));
}

$("login-button").onclick = () => {
  sessionStorage.setItem("connector-token", $("token").value.trim());
  $("token").value = "";
  start();
};

$("new-connection").onsubmit = async (event) => {
  event.preventDefault();
  const form = event.target;
  const body = { name: form.name.value, definition: form.definition.value };
  if (form.base_url.value) body.base_url = form.base_url.value;
  if (form.api_key.value) body.credentials = { type: "api_key", api_key: form.api_key.value };
  try {
    const created = await json("POST", "/v1/connections", body);
    form.reset();
    await loadConnections();
    await pick(created);
  } catch (error) { showProblem(error); }
};

$("new-subscription").onsubmit = async (event) => {
  event.preventDefault();
  if (!state.connection) return;
  const form = event.target;
  const events = form.events.value.split(",").map((e) => e.trim()).filter(Boolean);
  try {
    const sub = await json("POST", `/v1/connections/${state.connection.id}/subscriptions`, { url: form.url.value, events });
    $("secret").textContent = `signing secret (shown once): ${sub.secret}`;
    form.reset();
    await loadSubscriptions();
  } catch (error) { showProblem(error); }
};

async function start() {
  if (!token()) { $("login").hidden = false; return; }
  try {
    await loadConnections();
    $("login").hidden = true;
    $("who").textContent = "token set for this tab";
  } catch (error) { showProblem(error); }
}
start();
