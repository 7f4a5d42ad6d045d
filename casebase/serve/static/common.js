// Shared by the agents' page and the insights page. Every text from the server is written with textContent
// (el() below), never as HTML: a ticket holding <script> shows as text.
"use strict";
const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "casebase-token";

// An element with a class and children: strings become text nodes, never markup.
function el(tag, className, ...children) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const child of children) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function token() {
  const field = $("token");
  return (field && field.value) || localStorage.getItem(TOKEN_KEY) || "";
}

function rememberToken() {
  const field = $("token");
  if (field && field.value) localStorage.setItem(TOKEN_KEY, field.value);
}

async function api(path, options = {}) {
  const headers = { "content-type": "application/json" };
  if (token()) headers.authorization = "Bearer " + token();
  const response = await fetch(path, { ...options, headers });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error((data.error && data.error.message) || response.statusText);
    error.status = response.status;
    if (response.status === 401 && $("token-row")) $("token-row").hidden = false;  // ask for the token
    throw error;
  }
  return data;
}

// "12 Mar, 14:05" in the browser's own time zone.
function when(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return "";
  return d.toLocaleString(undefined, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
}

function percent(rate) {
  return rate == null ? "–" : Math.round(100 * rate) + "%";
}

// The header line: how many cases the server holds, what it serves; the token row when it needs one.
function health() {
  return api("/healthz").then((h) => {
    $("health").textContent = h.cases + " past cases · " + h.arm;
    if ($("token-row")) $("token-row").hidden = !h.auth;
    return h;
  }).catch(() => { $("health").textContent = "server unreachable"; });
}
