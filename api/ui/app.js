// Freight dashboard: a small hash-routed page over the public API. No build
// step and no third-party code: the browser loads this file from the
// binary. The token and tenant live in sessionStorage only; deep links
// carry them in the URL fragment, which never reaches the server.

const API = "/api/v1";
const FINAL = new Set(["completed", "completed_with_errors", "failed", "cancelled"]);
const BATCH_STATES = ["pending", "running", "completed", "completed_with_errors", "failed", "cancelled"];
const JOB_STATES = ["queued", "running", "completed", "completed_with_errors", "failed", "cancelling", "cancelled"];

// ---------------------------------------------------------------- helpers

/** Builds an element: h("a", {href: "#"}, "text", child...). Text is never parsed as HTML. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const main = () => document.getElementById("main");
function show(...nodes) {
  const m = main();
  m.replaceChildren(...nodes);
}
function toast(text) {
  const t = document.getElementById("toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 4000);
}
const fmt = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));
const when = (t) => (t ? new Date(t).toLocaleString() : "–");
function statusBadge(status) {
  return h("span", { class: `status ${status}`, "data-status": status }, status.replaceAll("_", " "));
}

// ------------------------------------------------------------ credentials

const session = {
  get token() { return sessionStorage.getItem("freight.token") || ""; },
  get tenant() { return sessionStorage.getItem("freight.tenant") || ""; },
  set(token, tenant) {
    sessionStorage.setItem("freight.token", token);
    sessionStorage.setItem("freight.tenant", tenant);
  },
  clear() {
    sessionStorage.removeItem("freight.token");
    sessionStorage.removeItem("freight.tenant");
  },
  get signedIn() { return Boolean(this.token && this.tenant); },
};

/** Splits "#/jobs/x?token=..&tenant=.." into a path and its parameters. */
function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/jobs";
  const [path, query = ""] = raw.split("?");
  return { path, params: new URLSearchParams(query) };
}

/** Takes token and tenant from the fragment (deep links), then drops them from the address bar. */
function adoptFragmentCredentials() {
  const { path, params } = parseHash();
  const token = params.get("token");
  const tenant = params.get("tenant");
  if (token && tenant) {
    session.set(token, tenant);
    params.delete("token");
    params.delete("tenant");
    const rest = params.toString();
    history.replaceState(null, "", `#${path}${rest ? `?${rest}` : ""}`);
  }
}

// ------------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

async function api(path, { method = "GET", body } = {}) {
  const headers = { Authorization: `Bearer ${session.token}`, "X-Tenant-ID": session.tenant };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(`${API}${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 401) {
    session.clear();
    route();
    throw new ApiError(401, { detail: "Your token was refused; sign in again." });
  }
  if (!response.ok) {
    let problem = null;
    try { problem = await response.json(); } catch { /* not JSON */ }
    throw new ApiError(response.status, problem);
  }
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.blob();
}

function problemText(error) {
  const fields = (error.problem?.errors || []).map((e) => `${e.field}: ${e.message}`);
  return [error.message, ...fields].join(" — ");
}

/**
 * Follows a job's event stream (Server-Sent Events over fetch, which can
 * send the Authorization header that EventSource cannot). Reconnects with
 * Last-Event-ID until `finished` or until `signal` aborts.
 */
async function followEvents(jobId, onEvent, signal) {
  let lastId = null;
  while (!signal.aborted) {
    try {
      const headers = { Authorization: `Bearer ${session.token}`, "X-Tenant-ID": session.tenant, Accept: "text/event-stream" };
      if (lastId !== null) headers["Last-Event-ID"] = lastId;
      const response = await fetch(`${API}/jobs/${jobId}/events`, { headers, signal });
      if (!response.ok || !response.body) return;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = { id: null, name: "message", data: "" };
          for (const line of block.split("\n")) {
            if (line.startsWith("id:")) event.id = line.slice(3).trim();
            else if (line.startsWith("event:")) event.name = line.slice(6).trim();
            else if (line.startsWith("data:")) event.data += line.slice(5).trim();
          }
          if (!event.data) continue; // keep-alive comment
          if (event.id !== null) lastId = event.id;
          onEvent(event.name, JSON.parse(event.data));
          if (event.name === "finished") return;
        }
      }
    } catch (e) {
      if (signal.aborted) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

// ---------------------------------------------------------------- router

let pageAbort = new AbortController();

function route() {
  pageAbort.abort();
  pageAbort = new AbortController();
  adoptFragmentCredentials();
  const who = document.getElementById("who");
  if (!session.signedIn) {
    who.replaceChildren();
    return signInPage();
  }
  who.replaceChildren(
    `Tenant ${session.tenant} `,
    h("button", { type: "button", onclick: () => { session.clear(); route(); } }, "Sign out"),
  );
  const { path } = parseHash();
  const job = path.match(/^\/jobs\/([0-9a-fA-F-]{36})$/);
  if (job) return jobPage(job[1], pageAbort.signal);
  if (path === "/plan") return planPage();
  return jobsPage();
}

// --------------------------------------------------------------- sign in

function signInPage() {
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", {
    "aria-labelledby": "signin-title",
    onsubmit: (e) => {
      e.preventDefault();
      const token = form.elements.token.value.trim();
      const tenant = form.elements.tenant.value.trim();
      if (!token || !tenant) { error.textContent = "Give a token and a tenant."; return; }
      session.set(token, tenant);
      route();
    },
  },
  h("h2", { id: "signin-title" }, "Sign in"),
  h("p", { class: "muted" }, "A token from `freight token --tenant T`, kept for this browser tab only."),
  h("label", { for: "token" }, "Token"),
  h("input", { id: "token", name: "token", type: "password", autocomplete: "off", size: 60, required: true }),
  h("label", { for: "tenant" }, "Tenant"),
  h("input", { id: "tenant", name: "tenant", autocomplete: "off", required: true }),
  h("p", {}, h("button", { class: "primary", type: "submit" }, "Sign in")),
  error);
  show(form);
  form.elements.token.focus();
}

// ------------------------------------------------------------- jobs list

/**
 * A listed job's percent as the API computes it (`progress.percent` of
 * `get_migration_job`): 100 once completed, else the share of the estimated
 * rows done. Without an estimate the API counts finished batches, which a
 * list item does not carry: null, and the row asks for the job.
 */
function percentOf(job) {
  if (job.status === "completed") return 100;
  if (job.rows_estimated > 0) {
    const share = Math.min(100, ((job.rows_written + job.rows_rejected) / job.rows_estimated) * 100);
    return Math.round(share * 10) / 10;
  }
  return null;
}

/** A jobs-list progress cell, showing `percent` (null: not known yet). */
function progressCell(percent) {
  const bar = h("progress", { max: 100 });
  const text = h("span", {});
  const set = (pct) => {
    bar.value = pct;
    bar.setAttribute("aria-label", `${pct.toFixed(1)} % done`);
    text.textContent = ` ${pct.toFixed(0)} %`;
  };
  if (percent === null) {
    bar.setAttribute("aria-label", "progress loading");
    text.textContent = " … %";
  } else {
    set(percent);
  }
  return { node: h("td", {}, bar, text), set };
}

async function jobsPage() {
  const { params } = parseHash();
  const status = params.get("status") || "";
  const cursor = params.get("cursor") || "";
  const filter = h("select", { id: "status-filter", name: "status" },
    h("option", { value: "" }, "any"),
    JOB_STATES.map((s) => h("option", { value: s, selected: s === status }, s.replaceAll("_", " "))));
  const form = h("form", {
    class: "filters",
    onsubmit: (e) => { e.preventDefault(); location.hash = `#/jobs${filter.value ? `?status=${filter.value}` : ""}`; },
  }, h("div", {}, h("label", { for: "status-filter" }, "Status"), filter), h("button", { type: "submit" }, "Filter"));
  const body = h("tbody");
  const table = h("table", { "aria-label": "Jobs" },
    h("thead", {}, h("tr", {}, ["Job", "Status", "Progress", "Rows written", "Created"].map((t) => h("th", { scope: "col" }, t)))),
    body);
  const pager = h("div", { class: "pager" });
  show(h("h2", {}, "Jobs"), form, table, pager);
  try {
    const query = new URLSearchParams({ limit: "20" });
    if (status) query.set("status", status);
    if (cursor) query.set("cursor", cursor);
    const page = await api(`/jobs?${query}`);
    if (page.items.length === 0) body.append(h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No jobs yet. Plan one, then create it through the API.")));
    for (const job of page.items) {
      const pct = percentOf(job);
      const cell = progressCell(pct);
      body.append(h("tr", { "data-job": job.id },
        h("td", {}, h("a", { href: `#/jobs/${job.id}` }, job.name || job.id)),
        h("td", {}, statusBadge(job.status)),
        cell.node,
        h("td", {}, fmt(job.rows_written)),
        h("td", {}, when(job.created_at))));
      if (pct === null) {
        api(`/jobs/${job.id}`).then((detail) => cell.set(detail.progress.percent)).catch(() => cell.set(0));
      }
    }
    pager.append(h("span", { class: "muted" }, `${fmt(page.total)} job(s)`));
    if (cursor) pager.append(h("a", { href: `#/jobs${status ? `?status=${status}` : ""}` }, "First page"));
    if (page.has_more) {
      const next = new URLSearchParams({ cursor: page.next_cursor });
      if (status) next.set("status", status);
      pager.append(h("a", { href: `#/jobs?${next}` }, "Next page"));
    }
  } catch (e) {
    body.append(h("tr", {}, h("td", { colspan: 5, class: "error", role: "alert" }, problemText(e))));
  }
}

// --------------------------------------------------------------- job page

function card(label, value, id) {
  return h("div", { class: "card" }, h("div", { class: "n", id }, value), h("div", { class: "l", id: `${id}-label` }, label));
}

async function jobPage(jobId, signal) {
  const title = h("h2", {}, "Job ", h("code", {}, jobId));
  const header = h("div", { "aria-live": "polite" });
  const bar = progressBar();
  const cards = h("div", { class: "cards" });
  const actions = h("div", { class: "actions" });
  const chart = throughputChart();
  const grid = h("ul", { class: "grid", "aria-label": "Batches by status" });
  const legend = h("div", { class: "legend" }, BATCH_STATES.map((s) => h("span", {}, h("span", { class: `cell ${s}` }), s.replaceAll("_", " "))));
  const logs = logViewer(jobId);
  show(title, header, bar.node, cards, actions,
    h("section", {}, h("h2", {}, "Throughput"), chart.node),
    h("section", {}, h("h2", {}, "Batches"), legend, grid),
    h("section", {}, h("h2", {}, "Logs"), logs.node));

  let detail;
  let following = false;
  let poll = null;
  const refresh = async () => {
    detail = await api(`/jobs/${jobId}`);
    renderDetail(detail, header, cards, actions, jobId, refresh);
    bar.set(detail.progress.percent);
    await renderBatches(jobId, grid);
    // The event stream ends with the job: a retry makes the job live again
    // (follow it anew), and a validation runs after it (poll until it ends).
    if (!FINAL.has(detail.status)) follow();
    clearTimeout(poll);
    if (detail.validation?.status === "running" && !signal.aborted) {
      poll = setTimeout(() => refresh().catch(() => { /* keep the last view */ }), 1000);
    }
  };
  let lastRows = null;
  const onEvent = async (name, data) => {
    if (name === "progress") {
      const now = Date.now();
      const instant = lastRows ? ((data.rows_written - lastRows.rows) / ((now - lastRows.at) / 1000)) : data.rows_per_second;
      lastRows = { rows: data.rows_written, at: now };
      chart.push(Math.max(0, instant));
      setText("rows-written", fmt(data.rows_written));
      setText("rows-rejected", fmt(data.rows_rejected));
      setText("percent", `${data.percent} %`);
      bar.set(data.percent);
      setText("eta", data.eta_seconds === null ? "–" : `${Math.round(data.eta_seconds)} s`);
      setText("rate", `${fmt(Math.round(data.rows_per_second))} rows/s`);
    } else if (name === "status" || name === "batch_failed" || name === "finished") {
      if (name === "finished") chart.finished(detail.progress.rows_per_second);
      if (name === "batch_failed") toast(`Batch ${data.batch_id} failed (attempt ${data.attempt}): ${data.error || ""}`);
      try { await refresh(); await logs.load(); } catch { /* keep the last view */ }
    }
  };
  function follow() {
    if (following || signal.aborted) return;
    following = true;
    followEvents(jobId, onEvent, signal).finally(() => { following = false; });
  }
  try {
    await refresh();
  } catch (e) {
    show(title, h("p", { class: "error", role: "alert" }, problemText(e)));
    return;
  }
  await logs.load();
  if (FINAL.has(detail.status)) chart.finished(detail.progress.rows_per_second);
  follow();
}

/** The job's progress bar: a labelled <progress> whose value screen readers announce. */
function progressBar() {
  const bar = h("progress", { id: "job-progress", max: 100, value: 0, "aria-labelledby": "job-progress-label", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0, "aria-valuetext": "0 % done" });
  const text = h("span", { id: "job-progress-text", "aria-hidden": "true" }, "0 %");
  return {
    node: h("div", { class: "job-progress" }, h("label", { id: "job-progress-label", for: "job-progress" }, "Progress"), bar, text),
    set(percent) {
      const value = Math.max(0, Math.min(100, Number(percent) || 0));
      bar.value = value;
      bar.setAttribute("aria-valuenow", String(value));
      bar.setAttribute("aria-valuetext", `${value} % done`);
      bar.dataset.percent = String(value);
      text.textContent = `${value} %`;
    },
  };
}

function setText(id, text) {
  const el = document.getElementById(id);
  if (el) el.textContent = text;
}

function renderDetail(detail, header, cards, actions, jobId, refresh) {
  const p = detail.progress;
  header.replaceChildren(
    h("p", {}, statusBadge(detail.status), " ", detail.name ? h("strong", {}, detail.name) : "",
      ` · ${detail.source_config.type} → ${detail.target_config.type} · started by ${detail.started_by}`),
    detail.errors.summary ? h("p", { class: "error" }, detail.errors.summary) : "",
    detail.validation ? h("p", {}, "Validation: ", statusBadge(detail.validation.status),
      detail.validation.mismatched_batches.length ? ` ${detail.validation.mismatched_batches.length} mismatched batch(es)` : "") : "");
  cards.replaceChildren(
    card("done", `${p.percent} %`, "percent"),
    card("rows written", fmt(detail.rows_written), "rows-written"),
    card("rows rejected", fmt(detail.rows_rejected), "rows-rejected"),
    card("average since start", `${fmt(Math.round(p.rows_per_second))} rows/s`, "rate"),
    card("ETA", p.eta_seconds === null ? "–" : `${Math.round(p.eta_seconds)} s`, "eta"),
    card("batches", `${fmt(detail.batches.completed)} / ${fmt(detail.batches.total)}`, "batches-done"));
  const act = (label, path, body, enabled, cls = "") => h("button", {
    type: "button", class: cls, disabled: !enabled,
    onclick: async (e) => {
      e.target.disabled = true;
      try { await api(`/jobs/${jobId}/${path}`, { method: "POST", body }); toast(`${label}: done`); await refresh(); }
      catch (err) { toast(`${label}: ${problemText(err)}`); e.target.disabled = false; }
    },
  }, label);
  const finished = FINAL.has(detail.status);
  const retryable = ["completed_with_errors", "failed", "cancelled"].includes(detail.status);
  const mismatched = detail.validation?.status === "failed" ? detail.validation.mismatched_batches : null;
  actions.replaceChildren(
    act("Cancel", "cancel", {}, !finished && detail.status !== "cancelling", "danger"),
    act("Retry failed batches", "retry", mismatched ? { batch_ids: mismatched } : {}, retryable || Boolean(mismatched)),
    act("Validate", "validate", undefined, finished && detail.validation?.status !== "running"));
}

async function renderBatches(jobId, grid) {
  const cells = [];
  let cursor = null;
  for (let pages = 0; pages < 10; pages++) {
    const query = new URLSearchParams({ limit: "1000" });
    if (cursor) query.set("cursor", cursor);
    const page = await api(`/jobs/${jobId}/batches?${query}`);
    for (const b of page.items) {
      const label = `Batch ${b.seq ?? ""} of ${b.table_name}: ${b.status}${b.last_error ? ` — ${b.last_error}` : ""}`;
      cells.push(h("li", {}, h("button", {
        type: "button", class: `cell ${b.status}`, title: label, "aria-label": label, "data-status": b.status,
        onclick: () => { location.hash = `#/jobs/${jobId}?batch_id=${b.id}`; },
      })));
    }
    if (!page.has_more) break;
    cursor = page.next_cursor;
  }
  grid.replaceChildren(...cells);
  if (cells.length === 0) grid.append(h("li", { class: "muted" }, "Not planned yet."));
}

// ------------------------------------------------------------------ chart

/** Rows per second over time, as an SVG polyline of the last 120 samples. */
function throughputChart() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("viewBox", "0 0 600 160");
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "Rows per second over time");
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#0969da");
  line.setAttribute("stroke-width", "2");
  line.setAttribute("vector-effect", "non-scaling-stroke");
  svg.append(line);
  const caption = h("p", { class: "muted", "aria-live": "polite" }, "Waiting for progress…");
  const samples = [];
  return {
    node: h("figure", {}, svg, h("figcaption", {}, caption)),
    samples,
    push(value) {
      samples.push(value);
      if (samples.length > 120) samples.shift();
      const max = Math.max(1, ...samples);
      const step = 600 / 119;
      line.setAttribute("points", samples.map((v, i) => `${(i * step).toFixed(1)},${(155 - (v / max) * 140).toFixed(1)}`).join(" "));
      caption.textContent = `${fmt(Math.round(value))} rows/s now, peak ${fmt(Math.round(max))} rows/s`;
      svg.dataset.samples = String(samples.length);
    },
    finished(average) {
      if (samples.length === 0) caption.textContent = `The job has finished; it averaged ${fmt(Math.round(average))} rows/s.`;
    },
  };
}

// ------------------------------------------------------------------- logs

function logViewer(jobId) {
  const { params } = parseHash();
  const level = h("select", { id: "log-level" }, ["", "debug", "info", "warn", "error"].map((l) => h("option", { value: l }, l || "any")));
  const batch = h("input", { id: "log-batch", size: 38, placeholder: "batch id", value: params.get("batch_id") || "" });
  const body = h("tbody");
  const more = h("div", { class: "pager" });
  const exportAs = (format) => h("button", {
    type: "button",
    onclick: async () => {
      try {
        const blob = await api(`/jobs/${jobId}/logs/export?${filters({ format })}`);
        const url = URL.createObjectURL(blob);
        const a = h("a", { href: url, download: `job-${jobId}-logs.${format}` });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 1000);
      } catch (e) { toast(problemText(e)); }
    },
  }, `Export ${format.toUpperCase()}`);
  const form = h("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); load(); } },
    h("div", {}, h("label", { for: "log-level" }, "Level at least"), level),
    h("div", {}, h("label", { for: "log-batch" }, "Batch"), batch),
    h("button", { type: "submit" }, "Show"), exportAs("csv"), exportAs("json"));
  const table = h("table", { class: "logs", "aria-label": "Job logs" },
    h("thead", {}, h("tr", {}, ["Time", "Level", "Table", "Message"].map((t) => h("th", { scope: "col" }, t)))), body);

  /** The query of what the viewer shows (level and batch filters), plus `extra`. */
  function filters(extra) {
    const query = new URLSearchParams(extra);
    if (level.value) query.set("level", level.value);
    if (batch.value.trim()) query.set("batch_id", batch.value.trim());
    return query;
  }

  // Loads overlap (the first one, and one per `status` or `finished`
  // event): only the latest started renders, and a first page replaces
  // the rows only once it has arrived, so rows are never shown twice.
  let latest = 0;
  async function load(cursor = null) {
    const mine = ++latest;
    const query = filters({ limit: "100" });
    if (cursor) query.set("cursor", cursor);
    let rows;
    let next = null;
    try {
      const page = await api(`/jobs/${jobId}/logs?${query}`);
      rows = page.items.map((entry) => h("tr", { "data-level": entry.level },
        h("td", {}, when(entry.created_at)),
        h("td", { class: `level-${entry.level}` }, entry.level),
        h("td", {}, entry.table_name || ""),
        h("td", {}, entry.message, entry.column_name ? h("span", { class: "muted" }, ` (column ${entry.column_name})`) : "")));
      if (page.items.length === 0 && !cursor) rows.push(h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No log entries match.")));
      if (page.has_more) next = page.next_cursor;
    } catch (e) {
      rows = [h("tr", {}, h("td", { colspan: 4, class: "error" }, problemText(e)))];
    }
    if (mine !== latest) return;
    if (cursor) body.append(...rows);
    else body.replaceChildren(...rows);
    more.replaceChildren();
    if (next) more.append(h("button", { type: "button", onclick: () => load(next) }, "More"));
  }
  return { node: h("div", {}, form, table, more), load };
}

// ------------------------------------------------------------------- plan

const SAMPLE_SPEC = {
  source_config: { type: "mysql", host: "127.0.0.1", database: "shop", user: "root", password: "" },
  target_config: { type: "postgresql", url: "postgres://postgres@127.0.0.1:5432/warehouse" },
  tables: [],
  batch_size: 10000,
  started_by: "dashboard",
};

function planPage() {
  const spec = h("textarea", { id: "spec", spellcheck: "false" }, JSON.stringify(SAMPLE_SPEC, null, 2));
  const out = h("div", { "aria-live": "polite" });
  const run = async (path, label) => {
    out.replaceChildren(h("p", { class: "muted" }, `${label}…`));
    let body;
    try { body = JSON.parse(spec.value); } catch (e) { out.replaceChildren(h("p", { class: "error", role: "alert" }, `Not JSON: ${e.message}`)); return; }
    try {
      const result = await api(path, { method: "POST", body });
      if (path.endsWith("/plan")) out.replaceChildren(planReport(result));
      else { toast("Job created"); location.hash = `#/jobs/${result.id}`; }
    } catch (e) {
      out.replaceChildren(h("p", { class: "error", role: "alert" }, problemText(e)));
    }
  };
  show(h("h2", {}, "Plan a migration"),
    h("p", { class: "muted" }, "The job specification (see /docs). Planning connects to both databases and writes nothing."),
    h("label", { for: "spec" }, "Job specification (JSON)"), spec,
    h("div", { class: "actions" },
      h("button", { type: "button", class: "primary", onclick: () => run("/jobs/plan", "Planning") }, "Preview plan"),
      h("button", { type: "button", onclick: () => run("/jobs", "Creating") }, "Create job")),
    out);
}

function planReport(plan) {
  return h("div", { id: "plan-result" },
    h("p", {}, `${plan.tables.length} table(s), about ${fmt(plan.total_rows_estimate)} rows in ${fmt(plan.total_batches)} batch(es).`),
    plan.warnings.length ? h("ul", {}, plan.warnings.map((w) => h("li", {}, w))) : "",
    h("table", { "aria-label": "Planned tables" },
      h("thead", {}, h("tr", {}, ["Table", "Copied by", "Rows (est.)", "Batches", "Warnings"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, plan.tables.map((t) => h("tr", {},
        h("td", {}, t.table_name),
        h("td", {}, t.copy_mode === "whole_table" ? "whole table" : `key ${t.key_columns.join(", ")}`),
        h("td", {}, fmt(t.rows_estimate)),
        h("td", {}, fmt(t.batch_count)),
        h("td", {}, t.warnings.join(" · ")))))));
}

// The skip link's "#main" is a route to the hash router (it would show the
// jobs list): move focus to the main region instead, leaving the page as it is.
document.querySelector("a.skip").addEventListener("click", (e) => {
  e.preventDefault();
  main().focus();
});

window.addEventListener("hashchange", route);
route();
