// casebase agent page: suggest, read the draft with its sources, copy, give feedback, find a suggestion again.
// Every text from the server goes through el() / textContent (common.js), never innerHTML.
"use strict";
const HISTORY_KEY = "casebase-history";
const HISTORY_MAX = 50;
const MARKER = /\[(\d{1,2})\]/;
let current = null;  // the suggestion shown
let editing = false;

// ---------------------------------------------------------------- rendering a suggestion

function similarityText(sim) {
  if (!sim || sim.label == null) return "";
  return sim.percent_of_threshold == null ? "" : sim.percent_of_threshold + "% of the bar";
}

function citeLink(n, cases) {
  const c = cases[n - 1];
  const a = el("a", "cite", "[" + n + "]");
  a.href = "#case-" + n;
  a.title = c ? "from case " + c.case_id : "";
  a.addEventListener("click", (event) => {
    event.preventDefault();
    const card = $("case-" + n);
    if (!card) return;
    card.scrollIntoView({ block: "center" });
    card.classList.remove("flash");
    void card.offsetWidth;  // restart the highlight
    card.classList.add("flash");
  });
  return a;
}

// The draft, sentence by sentence, each followed by the cited case(s) it comes from.
function renderDraft(s) {
  const view = $("draft-view");
  view.replaceChildren();
  const parts = (s.attribution && s.attribution.length) ? s.attribution
    : [{ text: s.solution || "", cites: [], source: null }];
  const cases = s.cited_cases || [];
  for (const part of parts) {
    const span = el("span", "sentence");
    if (part.source === "model") {  // the model wrote [n] itself: those markers become links in place
      const bits = part.text.split(MARKER);
      bits.forEach((bit, i) => {
        const n = Number(bit);
        if (i % 2 === 1 && n >= 1 && n <= cases.length) span.append(citeLink(n, cases));
        else span.append(i % 2 === 1 ? "[" + bit + "]" : bit);
      });
    } else {
      const text = part.text.replace(/\s+$/, "");
      span.append(text);
      for (const n of part.cites || []) span.append(" ", citeLink(n, cases));
      span.append(part.text.slice(text.length) || " ");
    }
    view.append(span);
  }
}

function triageText(s) {
  if (s.abstained) return "Category and urgency: not guessed (the nearest cases are not similar enough).";
  return ["category", "urgency"].map((f) => {
    const t = s[f] || {};
    if (t.value == null) return f + ": unknown";
    let how = "";
    if (t.source === "model") {  // the model's value; the nearest cases' weighted vote beside it
      how = t.confidence != null ? " (model; nearest cases agree: " + Math.round(100 * t.confidence) + "% of their vote)"
        : " (model; nearest cases say " + (t.neighbours ?? "unknown") + ")";
    } else if (t.confidence != null) {
      how = " (" + Math.round(100 * t.confidence) + "% of the nearest cases' vote)";
    }
    return f + ": " + t.value + how;
  }).join("   ·   ");
}

function caseCard(c, n) {
  const sim = c.similarity || {};
  const label = sim.label ? el("span", "sim sim-" + sim.label, sim.label) : null;
  if (label) label.title = "cosine " + Number(c.dense_score).toFixed(2) + "; 100% = the calibrated abstain threshold";
  const head = el("div", "case-head", el("span", "marker", "[" + n + "]"), el("strong", "case-id", c.case_id), label,
    el("span", "muted", similarityText(sim)),
    el("span", "muted", (c.category ?? "no category") + " · " + (c.urgency ?? "no urgency")));
  const ticket = el("details", "ticket", el("summary", null, "Ticket"), el("p", "problem", c.problem || ""));
  const card = el("article", "case", head, el("p", "solution", c.solution || ""), ticket);
  card.id = "case-" + n;
  card.dataset.caseId = c.case_id;
  return card;
}

function setEditing(on) {
  editing = on;
  $("draft").hidden = !on;
  $("draft-view").hidden = on;
  $("cite-note").hidden = on;
  $("edit").hidden = !on;
  $("accept").hidden = on;
  $("edit-toggle").textContent = on ? "Cancel edit" : "Edit";
  if (on) $("draft").focus();
}

function render(s) {
  current = s;
  $("result").hidden = false;
  $("abstained").hidden = !s.abstained;
  $("draft-block").hidden = !!s.abstained;  // no draft: no box, no Accept, nothing to copy
  if (s.abstained) {
    const sim = s.similarity || {};
    $("abstained-detail").textContent = "The closest past case reaches " +
      (sim.percent_of_threshold == null ? "less than" : sim.percent_of_threshold + "% of") +
      " the calibrated similarity bar, so no draft was written. Answer this ticket yourself; the nearest cases are below in case they help.";
  }
  $("draft").value = s.solution || "";
  $("model").textContent = s.abstained ? "" : "(" + s.arm + ", " + (s.model || "") + ")";
  renderDraft(s);
  setEditing(false);
  $("triage").textContent = triageText(s);
  $("cases-title").textContent = s.abstained ? "Not similar enough" : "Past cases cited";
  $("cases").replaceChildren(...(s.cited_cases || []).map((c, i) => caseCard(c, i + 1)));
  $("expand-all").textContent = "Show all tickets";
  $("copy-status").textContent = "";
  const last = (s.feedback || []).at(-1);
  $("feedback-status").textContent = last ? "your feedback: " + last.verdict + " (" + when(last.created_at) + ")" : "";
}

// ---------------------------------------------------------------- history (this browser's suggestions)

function history() {
  try {
    const list = JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]");
    return Array.isArray(list) ? list : [];
  } catch { return []; }
}

function saveHistory(list) {
  localStorage.setItem(HISTORY_KEY, JSON.stringify(list.slice(0, HISTORY_MAX)));
  renderHistory();
}

function remember(s) {  // the redacted problem only: the pasted ticket itself stays on the server
  const title = (s.problem || "").replace(/\s+/g, " ").slice(0, 90);
  saveHistory([{ id: s.id, at: new Date().toISOString(), title, abstained: !!s.abstained, verdict: null },
               ...history().filter((h) => h.id !== s.id)]);
}

function setVerdict(id, verdict) {
  saveHistory(history().map((h) => (h.id === id ? { ...h, verdict } : h)));
}

function renderHistory() {
  const query = $("history-filter").value.trim().toLowerCase();
  const list = history();
  const shown = list.filter((h) => !query || String(h.title).toLowerCase().includes(query));
  $("history-list").replaceChildren(...shown.map((h) => {
    const state = h.verdict || (h.abstained ? "abstained" : "no feedback");
    const button = el("button", "history-item", el("span", "history-title", h.title || h.id),
      el("span", "muted", when(h.at) + " · "), el("span", "badge badge-" + state.replace(" ", "-"), state));
    button.type = "button";
    button.dataset.id = h.id;
    button.addEventListener("click", () => openSuggestion(h.id));
    return el("li", current && current.id === h.id ? "active" : null, button);
  }));
  $("history-empty").hidden = list.length > 0;
  $("history-empty").textContent = "Suggestions made in this browser show here, with your feedback.";
  if (list.length && !shown.length) {
    $("history-empty").hidden = false;
    $("history-empty").textContent = "No suggestion matches.";
  }
  $("history-clear").hidden = list.length === 0;
}

async function openSuggestion(id) {
  $("status").textContent = "loading…";
  try {
    const s = await api("/api/suggestions/" + encodeURIComponent(id));
    $("subject").value = s.subject || "";
    $("body").value = s.body || "";
    render(s);
    const last = (s.feedback || []).at(-1);
    if (last) setVerdict(id, last.verdict);
    else renderHistory();
    $("status").textContent = "suggestion of " + when(s.created_at);
  } catch (error) {
    $("status").textContent = error.status === 404 ? "that suggestion is no longer on the server" : "error: " + error.message;
  }
}

// ---------------------------------------------------------------- actions

async function copyDraft() {
  const value = $("draft").value;
  let done = false;
  if (navigator.clipboard && window.isSecureContext) {
    try { await navigator.clipboard.writeText(value); done = true; } catch { done = false; }
  }
  if (!done) {  // plain http beyond localhost has no clipboard API: copy from a selected text box
    const box = el("textarea", "offscreen");
    box.value = value;
    document.body.append(box);
    box.select();
    try { done = document.execCommand("copy"); } catch { done = false; }
    box.remove();
  }
  $("copy-status").textContent = done ? "copied" : "copy failed: select the text and press Ctrl+C";
}

$("ticket").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("status").textContent = "working…";
  $("submit").disabled = true;
  try {
    rememberToken();
    const s = await api("/api/suggest", { method: "POST",
      body: JSON.stringify({ subject: $("subject").value, body: $("body").value }) });
    render(s);
    remember(s);
    $("status").textContent = "done in " + Math.round(s.timings_ms.total) + " ms";
  } catch (error) {
    $("status").textContent = "error: " + error.message;
  } finally {
    $("submit").disabled = false;
  }
});

$("ticket").addEventListener("keydown", (event) => {  // Ctrl+Enter (Cmd+Enter on a Mac) suggests
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    if (!$("submit").disabled) $("ticket").requestSubmit();
  }
});

for (const button of document.querySelectorAll("[data-verdict]")) {
  button.addEventListener("click", async () => {
    if (!current) return;
    const verdict = button.dataset.verdict;
    const text = verdict === "edited" ? $("draft").value : current.solution;
    if (verdict === "edited" && text.trim() === (current.solution || "").trim()) {
      $("feedback-status").textContent = "nothing was changed: use Accept";
      return;
    }
    try {
      const r = await api("/api/feedback", { method: "POST", body: JSON.stringify({
        suggestion_id: current.id, verdict, final_text: verdict === "rejected" ? null : text }) });
      $("feedback-status").textContent = "feedback recorded (" + verdict + ", #" + r.id + ")";
      setVerdict(current.id, verdict);
    } catch (error) {
      $("feedback-status").textContent = "error: " + error.message;
    }
  });
}

$("copy").addEventListener("click", copyDraft);
$("edit-toggle").addEventListener("click", () => {
  if (editing) $("draft").value = current ? current.solution || "" : "";  // cancel: back to the draft
  setEditing(!editing);
});
$("expand-all").addEventListener("click", () => {
  const tickets = [...document.querySelectorAll("#cases details.ticket")];
  const show = !tickets.every((d) => d.open);
  tickets.forEach((d) => { d.open = show; });
  $("expand-all").textContent = show ? "Hide the tickets" : "Show all tickets";
});
$("history-filter").addEventListener("input", renderHistory);
$("history-clear").addEventListener("click", () => {
  localStorage.removeItem(HISTORY_KEY);
  renderHistory();
});

renderHistory();
health();
