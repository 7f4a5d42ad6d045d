// casebase insights page: GET /api/insights drawn as plain SVG (no chart library, nothing from a CDN).
// Labels (arms, categories, ticket text) are set with textContent only.
"use strict";
const SVG = "http://www.w3.org/2000/svg";
const COLORS = { answered: "#23539d", abstained: "#f59e0b", accepted: "#16a34a", edited: "#3b82f6", rejected: "#dc2626" };

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text != null) node.textContent = String(text);
  return node;
}

function tip(node, text) {  // a hover tooltip, as text
  node.append(svg("title", {}, text));
  return node;
}

// Stacked bars per day: answered below, abstained on top.
function perDayChart(days) {
  const W = 900, H = 220, left = 34, bottom = 28, top = 10;
  const max = Math.max(1, ...days.map((d) => d.suggestions));
  const step = (W - left - 6) / days.length, bar = Math.max(1, step * 0.75);
  const y = (v) => top + (H - top - bottom) * (1 - v / max);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "suggestions per day" });
  for (const v of [0, Math.ceil(max / 2), max]) {
    chart.append(svg("line", { x1: left, x2: W, y1: y(v), y2: y(v), stroke: "#e5e7eb" }),
                 svg("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end" }, v));
  }
  const every = Math.ceil(days.length / 10);
  days.forEach((d, i) => {
    const x = left + i * step + (step - bar) / 2;
    const answered = d.suggestions - d.abstained;
    const g = tip(svg("g", { class: "day", "data-day": d.day }),
      `${d.day}: ${d.suggestions} suggestions, ${d.abstained} abstained, ${d.feedback} with feedback`);
    g.append(svg("rect", { x, y: y(answered), width: bar, height: y(0) - y(answered), fill: COLORS.answered }),
             svg("rect", { x, y: y(d.suggestions), width: bar, height: y(answered) - y(d.suggestions), fill: COLORS.abstained }));
    chart.append(g);
    if (i % every === 0) chart.append(svg("text", { x: x + bar / 2, y: H - 10, "text-anchor": "middle" }, d.day.slice(5)));
  });
  return chart;
}

// One 100% bar per arm or category: accepted / edited / rejected shares of its feedback.
function ratesChart(rows, key) {
  const W = 440, row = 26, left = 120, right = 56;
  const chart = svg("svg", { viewBox: `0 0 ${W} ${Math.max(1, rows.length) * row + 6}`, role: "img",
                             "aria-label": "feedback rates by " + key });
  rows.forEach((r, i) => {
    const yy = 3 + i * row;
    const name = String(r[key]);
    chart.append(svg("text", { x: left - 6, y: yy + 15, "text-anchor": "end" }, name.length > 18 ? name.slice(0, 17) + "…" : name));
    let x = left;
    const width = W - left - right;
    if (!r.feedback) {
      chart.append(svg("rect", { x, y: yy + 3, width, height: row - 8, fill: "#f3f4f6" }),
                   svg("text", { x: x + 6, y: yy + 15 }, "no feedback yet"));
    }
    for (const v of ["accepted", "edited", "rejected"]) {
      if (!r.feedback || !r[v]) continue;
      const w = width * r[v] / r.feedback;
      chart.append(tip(svg("rect", { x, y: yy + 3, width: w, height: row - 8, fill: COLORS[v], class: "rate-" + v }),
        `${name}: ${r[v]} ${v} of ${r.feedback} with feedback (${percent(r[v + "_rate"])})`));
      x += w;
    }
    chart.append(svg("text", { x: W - right + 6, y: yy + 15 }, "n=" + r.feedback));
  });
  return chart;
}

function ratesTable(rows, key) {
  const head = el("tr", null, ...[key, "suggestions", "feedback", "accepted", "edited", "rejected"].map((h) => el("th", null, h)));
  return [el("thead", null, head), el("tbody", null, ...rows.map((r) => el("tr", null, el("td", null, r[key]),
    el("td", null, r.suggestions), el("td", null, r.feedback),
    ...["accepted", "edited", "rejected"].map((v) => el("td", null, r.feedback ? `${percent(r[v + "_rate"])} (${r[v]})` : "–")))))];
}

function total(label, value, detail) {
  return el("div", "total", el("b", null, value), label, detail ? el("div", "muted", detail) : null);
}

function render(data) {
  const t = data.totals;
  $("report").hidden = false;
  $("range").textContent = `${data.since} to ${data.until} (UTC)`;
  const share = (n) => (t.feedback ? percent(n / t.feedback) : "–");
  $("totals").replaceChildren(
    total("suggestions", t.suggestions),
    total("abstained", t.abstained, t.suggestions ? percent(t.abstained / t.suggestions) + " of suggestions" : null),
    total("with feedback", t.feedback),
    total("accepted", share(t.accepted), t.accepted + " drafts"),
    total("edited", share(t.edited), t.edited + " drafts"),
    total("rejected", share(t.rejected), t.rejected + " drafts"));
  $("per-day").replaceChildren(perDayChart(data.per_day));
  $("by-arm").replaceChildren(ratesChart(data.by_arm, "arm"));
  $("by-arm-table").replaceChildren(...ratesTable(data.by_arm, "arm"));
  $("by-category").replaceChildren(ratesChart(data.by_category, "category"));
  $("by-category-table").replaceChildren(...ratesTable(data.by_category, "category"));
  $("missing").replaceChildren(...data.missing.map((g) => el("li", "missing-group",
    el("div", null, el("span", "count", g.count + (g.count === 1 ? " ticket" : " tickets")),
      el("span", "terms", g.terms.join(" · ")),
      el("span", "muted", " · nearest cases: " + (g.nearest_category ?? "no category") + " · last " + when(g.last_seen))),
    ...g.examples.map((e) => el("p", "example", e)))));
  $("missing-empty").hidden = data.missing.length > 0;
}

async function load() {
  $("status").textContent = "loading…";
  try {
    rememberToken();
    const data = await api("/api/insights?days=" + encodeURIComponent($("days").value));
    render(data);
    $("status").textContent = data.totals.suggestions ? "" : "no suggestions in this period";
  } catch (error) {
    $("status").textContent = "error: " + error.message;
  }
}

$("controls").addEventListener("submit", (event) => { event.preventDefault(); load(); });
$("days").addEventListener("change", load);
health().then((h) => { if (h && (!h.auth || token())) load(); });
