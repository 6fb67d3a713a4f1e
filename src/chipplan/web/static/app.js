// chipplan web: vanilla JS over the JSON API. Form state lives in the URL (#/tab?field=value&...), so a
// what-if can be shared by copying the address.
"use strict";

const $ = (s, el = document) => el.querySelector(s);
const $$ = (s, el = document) => Array.from(el.querySelectorAll(s));

function fmt(x, unit) {
  if (x === null || x === undefined || (typeof x === "number" && !isFinite(x))) return "—";
  if (typeof x !== "number") return String(x);
  if (unit === "USD") return Math.abs(x) >= 1e9 ? `$${(x / 1e9).toFixed(2)}B` : Math.abs(x) >= 1e6 ? `$${(x / 1e6).toFixed(1)}M` : `$${x.toLocaleString(undefined, {maximumFractionDigits: 0})}`;
  if (unit === "probability") return `${(100 * x).toFixed(1)} %`;
  if (Math.abs(x) >= 1e6) return `${(x / 1e6).toPrecision(3)}M`;
  if (Math.abs(x) >= 1000) return x.toLocaleString(undefined, {maximumFractionDigits: 0});
  return Number(x.toPrecision(3)).toString();
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}

function kvTable(rows) {
  return "<table>" + rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td class="num">${esc(v)}</td></tr>`).join("") + "</table>";
}

async function api(method, url, body) {
  const r = await fetch(url, {method, headers: body ? {"Content-Type": "application/json"} : {}, body: body ? JSON.stringify(body) : undefined});
  const data = await r.json().catch(() => ({detail: r.statusText}));
  if (!r.ok) {
    const d = data.detail;
    const msg = Array.isArray(d) ? d.map(e => `${(e.loc || []).filter(x => x !== "body").join(".") || "request"}: ${e.msg}`).join("\n") : String(d);
    throw new Error(msg);
  }
  return data;
}

// ---------------------------------------------------------------------------------------------- routing

function parseHash() {
  const h = location.hash.replace(/^#\/?/, "");
  const [tab, query] = h.split("?");
  return {tab: tab || "train", params: new URLSearchParams(query || "")};
}

function show(tab, params = new URLSearchParams()) {
  $$(".tab").forEach(s => s.classList.toggle("active", s.id === `tab-${tab}`));
  $$("#tabs a[data-tab]").forEach(a => a.classList.toggle("active", a.dataset.tab === tab));
  if (tab === "runs") loadRuns();
  if (tab === "catalog") {
    const kind = params.get("kind");
    if (kind && $$("#catalog-kind option").some(o => o.value === kind)) $("#catalog-kind").value = kind;
    if (params.has("q")) $("#catalog-filter").value = params.get("q");
    loadCatalog();
    if (params.get("id")) loadDetail($("#catalog-kind").value, params.get("id")); else $("#catalog-detail").innerHTML = "";
  }
}

function formBody(form) {
  const body = {};
  for (const el of form.elements) {
    if (!el.name || el.type === "submit" || el.type === "button" || el.value === "") continue;
    body[el.name] = el.type === "number" ? Number(el.value) : el.value;
  }
  return body;
}

function fillForm(form, params) {
  let any = false;
  for (const [k, v] of params) {
    const el = form.elements[k];
    if (el) { el.value = v; any = true; }
  }
  return any;
}

function setHash(tab, body) {
  const q = new URLSearchParams(Object.entries(body).map(([k, v]) => [k, String(v)]));
  history.replaceState(null, "", `#/${tab}?${q}`);
}

// ---------------------------------------------------------------------------------------------- what-ifs

const RENDER = {
  train(r) {
    const L = r.layout;
    $("#train-result").innerHTML = kvTable([
      ["accelerators", fmt(r.n_accelerators)], ["wall-clock days", fmt(r.days)],
      ["tokens/s per accelerator", fmt(r.tokens_per_s_per_accelerator)], ["MFU", fmt(r.mfu)],
      ["memory per accelerator (GiB)", fmt(r.memory_per_accelerator_gib)], ["step time (s)", fmt(r.step_time_s)],
      ["goodput", fmt(r.goodput)], ["accelerator-hours", fmt(r.accelerator_hours)],
      ["layout", `tp ${L.tp} · pp ${L.pp} · dp ${L.dp} · cp ${L.cp} · ep ${L.ep} · mb ${L.micro_batch} · ZeRO ${L.zero_stage} · ${L.recompute}`],
      ...(r.cost_usd !== undefined ? [["cost", fmt(r.cost_usd, "USD")]] : []),
    ]);
    const parts = Object.entries(r.breakdown_s);
    Plotly.newPlot("train-plot", [{type: "bar", x: parts.map(p => p[0]), y: parts.map(p => p[1])}],
      {title: `Step-time breakdown: ${r.model} on ${r.hardware}`, yaxis: {title: "seconds per step"}, height: 380, margin: {t: 50}},
      {displaylogo: false, responsive: true});
  },
  serve(r) {
    const b = r.best;
    $("#serve-result").innerHTML = kvTable([
      ["best under the SLO", `${b.precision} tp ${b.tp} pp ${b.pp} batch ${b.batch}`],
      ["output tokens/s per accelerator", fmt(b.output_tokens_per_s_per_accelerator)], ["p99 TTFT (ms)", fmt(b.ttft_p99_ms)],
      ["TPOT (ms)", fmt(b.tpot_ms)], ["accelerators for the load", fmt(r.accelerators_needed)],
      ["$ per million output tokens", fmt(b.usd_per_million_output_tokens)],
    ]);
    Plotly.newPlot("serve-plot", [
      {x: r.frontier.map(f => f.tpot_ms), y: r.frontier.map(f => f.output_tokens_per_s_per_accelerator), mode: "lines+markers", name: "frontier",
       text: r.frontier.map(f => `${f.precision} tp${f.tp} batch ${f.batch}` + (f.usd_per_million_output_tokens ? `: $${f.usd_per_million_output_tokens.toPrecision(3)}/M` : ""))},
      {x: [b.tpot_ms], y: [b.output_tokens_per_s_per_accelerator], mode: "markers", marker: {size: 14, symbol: "star"}, name: "best under the SLO"}],
      {title: `Throughput-latency frontier: ${r.model} on ${r.hardware}`, xaxis: {title: "time per output token (ms)", type: "log"},
       yaxis: {title: "output tokens/s per accelerator", type: "log"}, height: 400, margin: {t: 50}}, {displaylogo: false, responsive: true});
  },
  tco(r) {
    $("#tco-result").innerHTML = kvTable([
      ["owned total", fmt(r.owned_total_usd, "USD")], ["cloud total", fmt(r.cloud_total_usd, "USD")],
      ["owned $/accelerator-hour", fmt(r.owned_usd_per_accelerator_hour)], ["cloud $/accelerator-hour", fmt(r.cloud_usd_per_accelerator_hour)],
      ["owned / cloud", fmt(r.owned_to_cloud_ratio)], ["break-even utilisation", fmt(r.breakeven_utilisation)],
    ]);
    const w = r.waterfall.filter(s => !/total/.test(s.step));
    Plotly.newPlot("tco-plot", [{type: "waterfall", x: w.map(s => s.step).concat(["owned total"]), y: w.map(s => s.usd).concat([0]),
      measure: w.map(() => "relative").concat(["total"])}],
      {title: `Cost waterfall of one ${r.system}`, yaxis: {title: "USD"}, height: 400, margin: {t: 50}}, {displaylogo: false, responsive: true});
  },
};

function bindWhatIf(tab) {
  const form = $(`#${tab}-form`);
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    const body = formBody(form);
    setHash(tab, body);
    $(`#${tab}-error`).textContent = "";
    $(`#${tab}-result`).textContent = "working…";
    try {
      RENDER[tab](await api("POST", form.dataset.endpoint, body));
    } catch (e) {
      $(`#${tab}-result`).textContent = "";
      $(`#${tab}-error`).textContent = e.message;
    }
  });
}

// ---------------------------------------------------------------------------------------------- co-design

async function setupCodesign() {
  const box = $("#codesign-body");
  const spec = await api("GET", "/openapi.json");
  if (!spec.paths["/api/codesign"]) {
    box.innerHTML = "<p>The co-design engine is not part of this build; the Scenario tab's reports show its front when it is.</p>";
    return;
  }
  box.innerHTML = `<form id="codesign-form" data-endpoint="/api/codesign">
    <label>sweep file <select name="example"><option value="codesign">examples/codesign.yaml</option></select></label>
    <label>designs <input name="designs" type="number" value="2000"></label>
    <label>seed <input name="seed" type="number" value="0"></label>
    <button type="submit">Sweep designs</button></form>
    <div class="error" id="codesign-error"></div><div id="codesign-result" class="result"></div><div id="codesign-plot" class="plot"></div>`;
  RENDER.codesign = r => {
    const [xk, yk] = r.axes;
    $("#codesign-result").innerHTML = kvTable([["designs evaluated", fmt(r.designs)], ["on the Pareto front", fmt(r.pareto.length)],
      ["sent as a sample", fmt(r.sample.length)]]);
    Plotly.newPlot("codesign-plot", [
      {x: r.sample.map(d => d[xk]), y: r.sample.map(d => d[yk]), mode: "markers", marker: {size: 4, color: "#bbb"}, name: "sample"},
      {x: r.pareto.map(d => d[xk]), y: r.pareto.map(d => d[yk]), mode: "markers", name: "Pareto front"}],
      {title: "Co-design: Pareto front", xaxis: {title: xk}, yaxis: {title: yk}, height: 420}, {displaylogo: false});
  };
  bindWhatIf("codesign");
}

// ---------------------------------------------------------------------------------------------- scenario jobs

let currentJob = null;

async function setupPlan() {
  const {examples} = await api("GET", "/api/examples");
  $("#plan-example").innerHTML = examples.map(e => `<option value="${esc(e.name)}">${esc(e.file)}</option>`).join("");
  $("#plan-form").addEventListener("submit", async ev => {
    ev.preventDefault();
    const f = ev.target;
    const body = {scenarios: f.scenarios.value ? Number(f.scenarios.value) : null};
    if (f.seed.value) body.seed = Number(f.seed.value);
    if ($("#plan-use-yaml").checked) body.scenario_yaml = f.scenario_yaml.value; else body.example = f.example.value;
    $("#plan-error").textContent = ""; $("#plan-done").innerHTML = "";
    try {
      const job = await api("POST", "/api/plan", body);
      currentJob = job.id;
      $("#plan-cancel").disabled = false; $("#plan-run").disabled = true;
      poll(job.id);
    } catch (e) { $("#plan-error").textContent = e.message; }
  });
  $("#plan-cancel").addEventListener("click", async () => {
    if (currentJob) await api("DELETE", `/api/jobs/${currentJob}`);
  });
}

async function poll(id) {
  const j = await api("GET", `/api/jobs/${id}`);
  $("#plan-status").textContent = `${j.label}: ${j.status}`;
  $("#plan-status").dataset.status = j.status;
  $("#plan-progress").innerHTML = Object.entries(j.stages).map(([s, p]) =>
    `<tr><th>${esc(s)}</th><td><progress max="${p.total}" value="${p.done}"></progress></td><td>${esc(p.note)}</td></tr>`).join("");
  if (j.status === "running" || j.status === "queued") { setTimeout(() => poll(id), 500); return; }
  $("#plan-cancel").disabled = true; $("#plan-run").disabled = false; currentJob = null;
  if (j.status === "done") $("#plan-done").innerHTML = `Run <code>${esc(j.run_id)}</code> stored: <a id="plan-report-link" href="${esc(j.report_url)}" target="_blank">open the report</a> · <a href="#/runs">all runs</a>`;
  if (j.status === "failed") $("#plan-error").textContent = j.error;
}

// ---------------------------------------------------------------------------------------------- runs

async function loadRuns() {
  const {runs} = await api("GET", "/api/runs");
  $("#runs-table").innerHTML = "<tr><th></th><th>run</th><th>scenario</th><th>created (UTC)</th><th>seed</th><th>report</th></tr>" +
    runs.map(r => `<tr><td><input type="checkbox" value="${esc(r.run_id)}"></td><td><code>${esc(r.run_id)}</code></td><td>${esc(r.scenario)}</td>
      <td>${esc(r.created_utc)}</td><td>${esc(r.seed)}</td><td><a href="/runs/${encodeURIComponent(r.run_id)}/report" target="_blank">report</a></td></tr>`).join("");
}

async function showDiff(a, b) {
  const d = await api("GET", `/api/diff?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`);
  const short = v => { const s = typeof v === "string" ? v : JSON.stringify(v); return s && s.length > 60 ? s.slice(0, 57) + "…" : s; };
  $("#diff-result").innerHTML = `<h3>${esc(d.a)} → ${esc(d.b)}</h3><h4>Inputs changed</h4><table><tr><th>field</th><th>a</th><th>b</th></tr>` +
    (d.inputs_changed.map(c => `<tr><td>${esc(c.field)}</td><td>${esc(short(c.a))}</td><td>${esc(short(c.b))}</td></tr>`).join("") || "<tr><td>(none)</td></tr>") +
    `</table><h4>Headlines</h4><table><tr><th>question</th><th>a</th><th>b</th><th>change</th></tr>` +
    d.headlines.map(h => `<tr><td>${esc(h.label)}</td><td class="num">${fmt(h.a, h.unit)}</td><td class="num">${fmt(h.b, h.unit)}</td>
      <td class="num">${h.relative_change === null ? "—" : (100 * h.relative_change).toFixed(1) + " %"}</td></tr>`).join("") + "</table>";
}

// ---------------------------------------------------------------------------------------------- catalog

const catalogCache = {};

async function loadCatalog() {
  const kind = $("#catalog-kind").value;
  catalogCache[kind] = catalogCache[kind] || (await api("GET", `/api/catalog/${kind}`)).items;
  const q = $("#catalog-filter").value.toLowerCase();
  const items = catalogCache[kind].filter(i => !q || JSON.stringify(i).toLowerCase().includes(q));
  const cols = items.length ? Object.keys(items[0]) : [];
  const cell = (i, c) => c === "id"
    ? `<td><a class="catalog-link" href="${detailHref(kind, i.id)}">${esc(i.id)}</a></td>`
    : `<td${typeof i[c] === "number" ? ' class="num"' : ""}>${esc(typeof i[c] === "number" ? fmt(i[c]) : i[c] ?? "—")}</td>`;
  $("#catalog-table").innerHTML = `<tr>${cols.map(c => `<th>${esc(c)}</th>`).join("")}</tr>` +
    items.map(i => `<tr>${cols.map(c => cell(i, c)).join("")}</tr>`).join("");
}

function detailHref(kind, id) {
  return `#/catalog?${new URLSearchParams({kind, id})}`;
}

function plain(v) {
  if (v === null || v === undefined) return "—";
  if (Array.isArray(v)) return v.map(plain).join(", ");
  if (typeof v === "object") return Object.entries(v).filter(([, x]) => x !== null).map(([k, x]) => `${k} ${plain(x)}`).join("; ");
  return typeof v === "number" ? fmt(v) : String(v);
}

// one entry with the source of every field; an unknown id lists the nearest ids as links
async function loadDetail(kind, id) {
  const box = $("#catalog-detail");
  box.innerHTML = "loading…";
  const r = await fetch(`/api/catalog/${encodeURIComponent(kind)}/${encodeURIComponent(id)}`);
  const data = await r.json().catch(() => ({detail: r.statusText}));
  if (!r.ok) {
    const d = data.detail || {};
    const near = (d.near || []).map(n => `<a class="catalog-near" href="${detailHref(kind, n)}">${esc(n)}</a>`).join(", ");
    box.innerHTML = `<div class="error" id="catalog-detail-error">${esc(d.msg || d)}</div>` + (near ? `<p>Did you mean: ${near}</p>` : "");
    return;
  }
  box.innerHTML = `<h3 id="catalog-detail-title">${esc(data.kind.replace(/s$/, ""))} <code>${esc(data.id)}</code></h3>
    <p class="sub">entry source: ${esc(data.source || "—")} · catalog ${esc(data.catalog_version)} · <a href="#/catalog?kind=${esc(kind)}">back to the list</a></p>
    <table id="catalog-fields"><tr><th>field</th><th>value</th><th>source</th></tr>` +
    data.fields.map(f => `<tr><td>${esc(f.field)}</td><td class="num">${esc(plain(f.value))}</td><td>${esc(f.source)}</td></tr>`).join("") + "</table>";
}

async function fillLists() {
  for (const [kind, list] of [["models", "models"], ["accelerators", "hardware"], ["systems", "systems"]]) {
    const {items} = await api("GET", `/api/catalog/${kind}`);
    catalogCache[kind] = items;
    $(`#${list}`).innerHTML += items.map(i => `<option value="${esc(i.id)}">${esc(i.name)}</option>`).join("");
    if (kind === "systems") $("#hardware").innerHTML += items.map(i => `<option value="${esc(i.id)}">${esc(i.name)}</option>`).join("");
  }
}

// ---------------------------------------------------------------------------------------------- start

window.addEventListener("DOMContentLoaded", async () => {
  ["train", "serve", "tco"].forEach(bindWhatIf);
  $("#runs-diff").addEventListener("click", () => {
    const ticked = $$("#runs-table input:checked").map(x => x.value);
    $("#runs-error").textContent = ticked.length === 2 ? "" : "tick exactly two runs";
    if (ticked.length === 2) showDiff(ticked[1], ticked[0]).catch(e => { $("#runs-error").textContent = e.message; });
  });
  $("#catalog-kind").addEventListener("change", () => { history.replaceState(null, "", `#/catalog?kind=${$("#catalog-kind").value}`); show("catalog", parseHash().params); });
  $("#catalog-filter").addEventListener("input", loadCatalog);
  window.addEventListener("hashchange", () => { const h = parseHash(); show(h.tab, h.params); });
  const {tab, params} = parseHash();
  show(tab, params);
  api("GET", "/api/health").then(h => { $("#health").textContent = `chipplan ${h.chipplan_version} · catalog ${h.catalog_version}`; });
  const form = $(`#${tab}-form`);
  if (form && form.dataset.endpoint && fillForm(form, params)) form.requestSubmit();
  await Promise.allSettled([fillLists(), setupPlan(), setupCodesign()]);
  // the co-design form exists only once its set-up has answered: a shared address fills it then
  const late = $("#codesign-form");
  if (tab === "codesign" && late && fillForm(late, params)) late.requestSubmit();
});
