// api.js: the one way the UI talks to camvault (docs/api.md). JSON in and out, the CSRF token on
// every write, and every time field's site-zone offset remembered (see time.js).
import { noteOffsets } from "./time.js";

let csrf = null;

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function setCsrf(token) { csrf = token; }

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  let res;
  try {
    res = await fetch("/api/v1" + path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, e.message);
  }
  let data = null, text;
  try {
    text = await res.text();
  } catch (e) {
    throw new ApiError(0, e.message); // the connection broke mid-answer, or the page is leaving
  }
  try { data = text ? JSON.parse(text) : {}; } catch { data = { error: text.slice(0, 200) }; }
  if (!res.ok) {
    const err = new ApiError(res.status, (data && data.error) || res.statusText);
    if (res.status === 401 && path !== "/login" && onUnauthorized) onUnauthorized(err);
    throw err;
  }
  noteOffsets(data);
  return data;
}

let onUnauthorized = null;
export function whenUnauthorized(fn) { onUnauthorized = fn; }

export const get = (p) => api("GET", p);
export const post = (p, b) => api("POST", p, b === undefined ? {} : b);
export const patch = (p, b) => api("PATCH", p, b);
export const del = (p) => api("DELETE", p);

// Query string from an object; times as @seconds (no '+' to escape).
export function qs(o) {
  const parts = [];
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || v === null || v === "") continue;
    parts.push(encodeURIComponent(k) + "=" + encodeURIComponent(v));
  }
  return parts.length ? "?" + parts.join("&") : "";
}

export const at = (us) => "@" + (us / 1e6).toFixed(6).replace(/\.?0+$/, "");
export const enc = encodeURIComponent;
