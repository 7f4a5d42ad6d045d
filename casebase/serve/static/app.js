// casebase agent page: every text from the server is written with textContent, never as HTML.
"use strict";
const $ = (id) => document.getElementById(id);
let current = null;  // the last suggestion

function headers() {
  const h = { "content-type": "application/json" };
  const token = $("token").value || localStorage.getItem("casebase-token");
  if (token) h.authorization = "Bearer " + token;
  return h;
}

async function api(path, options) {
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error((data.error && data.error.message) || response.statusText);
  return data;
}

function text(tag, value, className) {
  const el = document.createElement(tag);
  el.textContent = value == null ? "" : String(value);
  if (className) el.className = className;
  return el;
}

function render(s) {
  current = s;
  $("result").hidden = false;
  $("abstained").hidden = !s.abstained;
  $("draft").value = s.solution || "";
  $("model").textContent = s.abstained ? "" : "(" + s.arm + ", " + (s.model || "") + ")";
  const tri = ["category", "urgency"].map((f) => {
    const t = s[f] || {};
    const conf = t.confidence == null ? "" : " (" + Math.round(100 * t.confidence) + "%)";
    return f + ": " + (t.value == null ? "unknown" : t.value) + conf;
  });
  $("triage").textContent = tri.join("   ·   ");
  const cases = $("cases");
  cases.replaceChildren();
  for (const c of s.cited_cases) {
    const d = document.createElement("details");
    d.className = "case";
    const summary = document.createElement("summary");
    summary.textContent = c.case_id + " · score " + Number(c.score).toFixed(3) + " · " + (c.problem || "").slice(0, 120);
    d.append(summary, text("p", "Problem: " + (c.problem || "")), text("p", "Solution: " + (c.solution || "")),
             text("p", "Category: " + (c.category ?? "unknown") + ", urgency: " + (c.urgency ?? "unknown"), "muted"));
    cases.append(d);
  }
  $("feedback-status").textContent = "";
}

$("ticket").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("status").textContent = "working…";
  $("submit").disabled = true;
  try {
    if ($("token").value) localStorage.setItem("casebase-token", $("token").value);
    const s = await api("/api/suggest", { method: "POST", headers: headers(),
      body: JSON.stringify({ subject: $("subject").value, body: $("body").value }) });
    render(s);
    $("status").textContent = "done in " + Math.round(s.timings_ms.total) + " ms";
  } catch (error) {
    $("status").textContent = "error: " + error.message;
  } finally {
    $("submit").disabled = false;
  }
});

for (const button of document.querySelectorAll("[data-verdict]")) {
  button.addEventListener("click", async () => {
    if (!current) return;
    const verdict = button.dataset.verdict;
    try {
      const r = await api("/api/feedback", { method: "POST", headers: headers(), body: JSON.stringify({
        suggestion_id: current.id, verdict, final_text: verdict === "rejected" ? null : $("draft").value }) });
      $("feedback-status").textContent = "feedback recorded (" + verdict + ", #" + r.id + ")";
    } catch (error) {
      $("feedback-status").textContent = "error: " + error.message;
    }
  });
}

api("/healthz").then((h) => {
  $("health").textContent = h.cases + " past cases · " + h.arm;
  $("token-row").hidden = !h.auth;
}).catch(() => { $("health").textContent = "server unreachable"; });
