// Prognos pages: live updates and work-order actions. No framework, no build step.
//
// Live updates: every few seconds ask /ui/changes for a version string; when it moves,
// fetch this page again and swap in its <main>, unless the user is typing in a form.
// Actions: a <form class="action"> posts JSON to the REST API; the login cookie
// authenticates and the X-Prognos-Page header marks the request as the page's own.
"use strict";

const POLL_MS = 4000;
let version = document.body.dataset.version || null; // what this page was rendered with

function toast(text, bad) {
  const el = document.getElementById("toast");
  el.textContent = text;
  el.className = bad ? "show bad" : "show";
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.className = ""; }, 4000);
}

function busy() {
  const el = document.activeElement;
  if (el && el.closest("form.action") && ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName)) return true;
  return document.querySelector("details.action-box[open]") !== null;
}

async function refresh() {
  const response = await fetch(location.href, { headers: { Accept: "text/html" } });
  if (!response.ok) return;
  const doc = new DOMParser().parseFromString(await response.text(), "text/html");
  const fresh = doc.getElementById("content");
  if (fresh) document.getElementById("content").replaceChildren(...fresh.childNodes);
  const clock = doc.querySelector("header.top .clock");
  const mine = document.querySelector("header.top .clock");
  if (clock && mine) mine.textContent = clock.textContent;
  document.body.dataset.refreshed = String(Date.now());
}

async function poll() {
  try {
    const response = await fetch("/ui/changes", { headers: { Accept: "application/json" } });
    if (response.ok) {
      const next = (await response.json()).version;
      if (version !== null && next !== version && !busy()) await refresh();
      if (!busy()) version = next;
    }
  } catch (err) { /* the service is restarting: try again next time */ }
  setTimeout(poll, POLL_MS);
}

function body(action, form) {
  const data = new FormData(form);
  switch (action) {
    case "decline": case "cancel": case "reopen": return { reason: data.get("reason") };
    case "rate": {
      const out = { stars: Number(data.get("stars")) };
      if (data.get("comment")) out.comment = data.get("comment");
      return out;
    }
    case "assign": return { engineer_id: Number(data.get("engineer_id")) };
    case "resolve": {
      const out = { fix: data.get("fix"), parts: [] };
      if (data.get("finding")) out.finding = data.get("finding");
      if (data.get("part_number")) {
        out.parts.push({ part_number: data.get("part_number"), name: data.get("part_name") || data.get("part_number"),
                         quantity: Number(data.get("quantity") || 1) });
      }
      return out;
    }
    default: return null;
  }
}

document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form.action");
  if (!form) return;
  event.preventDefault();
  const { order, action } = form.dataset;
  const payload = body(action, form);
  const button = form.querySelector("button[type=submit]");
  if (button) button.disabled = true;
  try {
    const response = await fetch(`/api/v1/work-orders/${order}/${action}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Prognos-Page": "1" },
      body: payload === null ? undefined : JSON.stringify(payload),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      toast(answer.message || answer.detail || `${action} failed (${response.status})`, true);
    } else {
      toast(`#${order}: ${action} done`);
      const open = form.closest("details"); if (open) open.open = false;
      await refresh();
    }
  } finally {
    if (button) button.disabled = false;
  }
});

if (document.body.dataset.live === "1") poll();
