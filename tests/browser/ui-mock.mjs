// ui-mock.mjs PORT MEDIA_DIR: a stand-in for `camvault serve` for working on the web UI before
// the server has every endpoint. It serves server/web/ and an in-memory version of the API in
// docs/api.md (users admin1, officer1, mediator1, resident1; password "password123"), with
// MEDIA_DIR/clip.mp4 as every video and MEDIA_DIR/snap.jpg as every snapshot. Development only:
// the e2e tests always use the real server.
import http from "node:http";
import { readFileSync, statSync, existsSync } from "node:fs";
import { join, extname, resolve } from "node:path";
import { randomBytes } from "node:crypto";

const [port = "8099", media = "/tmp/uimock"] = process.argv.slice(2);
const WEB = resolve(new URL("../../server/web", import.meta.url).pathname);
const OFF = 8 * 60; // the site is at +08:00
const p2 = (n) => String(n).padStart(2, "0");
function local(us) {
  const d = new Date(us / 1000 + OFF * 60000);
  return `${d.getUTCFullYear()}-${p2(d.getUTCMonth() + 1)}-${p2(d.getUTCDate())}T${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}.${String(Math.floor(us % 1e6)).padStart(6, "0")}+08:00`;
}
const tf = (n, us) => (us === null || us === undefined ? { [n]: null } : { [n]: new Date(us / 1000).toISOString().replace("Z", "000Z"), [n + "_local"]: local(us), [n + "_us"]: us });
const now = () => Date.now() * 1000;
function parseT(s) {
  if (!s) return null;
  if (s[0] === "@") return Math.round(Number(s.slice(1)) * 1e6);
  const ms = Date.parse(s);
  return isNaN(ms) ? null : ms * 1000;
}
const dayStart = (() => { const n = Date.now() + OFF * 60000; return (Math.floor(n / 86400000) * 86400000 - OFF * 60000) * 1000; })();

const users = {};
for (const [n, r] of [["admin1", "admin"], ["officer1", "officer"], ["mediator1", "mediator"], ["resident1", "resident"], ["resident2", "resident"]])
  users[n] = { name: n, role: r, disabled: false, created: dayStart - 86400e6 * 10, last_login: null, pw: "password123" };
const cams = [
  { id: "alley-12", name: "Alley by building 12", location: "Building 12 alley", public: false, volume: "main" },
  { id: "gate-3", name: "North gate", location: "North gate, Qinghe Rd", public: false, volume: "main" },
  { id: "square-1", name: "Market square", location: "Market square", public: true, volume: "main" },
  { id: "crossing-2", name: "School crossing", location: "Qinghe Rd crossing", public: true, volume: "main", offline: true },
];
const sessions = {};
const requests = [], cases = [], exportsL = [], holds = [];
let seqN = 1;
const audit = [];
function log(u, action, target, kase = "") { audit.push({ seq: audit.length + 1, ...tf("time", now()), user: u ? u.name : "", role: u ? u.role : "", action, target, case: kase, detail: "", hash: randomBytes(32).toString("hex") }); }

function camOut(c, u) {
  if (u.role === "resident") return { id: c.id, name: c.name, location: c.location, public: true, online: !c.offline };
  const st = { online: !c.offline, reason: c.offline ? "connection refused" : "", ...tf("since", now() - (c.offline ? 900e6 : 3600e6)), ...tf("last_frame", now() - (c.offline ? 900e6 : 1e6)), bitrate_bps: 800000, frames: 1000, segments: 10, reconnects: 0, ...tf("updated", now()), codec: "h264 640x360" };
  const o = { id: c.id, name: c.name, location: c.location, public: c.public, enabled: true, retention_days: 30, volume: c.volume, transport: "tcp", status: st };
  if (u.role === "admin") o.url = "rtsp://***@10.0.0.7/" + c.id;
  return o;
}
function holdOut(h) { return { id: h.id, case: h.case, cameras: h.cameras, ...tf("from", h.from), ...tf("to", h.to), ...tf("until", h.until), by: h.by, reason: h.reason, ...tf("created", h.created), ...tf("released", h.released), released_by: h.released_by || null, active: !h.released }; }
function reqOut(r, u) { const o = { id: r.id, by: r.by, camera: r.camera, place: r.place, ...tf("from", r.from), ...tf("to", r.to), description: r.description, status: r.status, reason: r.reason, case: r.case, export: r.export, ...tf("created", r.created), ...tf("decided", r.decided) }; if (u.role !== "resident") { o.decided_by = r.decided_by; o.hold = r.hold; } return o; }
function caseOut(c) { return { id: c.id, title: c.title, description: c.description, status: c.status, ...tf("created", c.created), created_by: c.created_by, members: c.members, clips: c.clips.map((x) => ({ id: x.id, camera: x.camera, ...tf("from", x.from), ...tf("to", x.to), note: x.note })), holds: c.holds, exports: c.exports }; }
function expOut(e) {
  const p = Math.min(100, Math.floor((now() - e.created) / 50000));
  const st = e.status === "canceled" ? "canceled" : p >= 100 ? "done" : p > 0 ? "running" : "queued";
  return { id: e.id, case: e.case, cameras: e.cameras, ...tf("from", e.from), ...tf("to", e.to), reason: e.reason, for_user: e.for_user, status: st, progress: p, bytes: st === "done" ? 123456 : null, sha256: st === "done" ? "ab".repeat(32) : null, error: null, ...tf("created", e.created), ...tf("finished", st === "done" ? e.created + 5e6 : null), by: e.by };
}
function reach(u, cam, a, b) {
  if (u.role !== "mediator") return true;
  return cases.some((c) => c.status === "open" && c.members.includes(u.name) && c.clips.some((x) => x.camera === cam && a >= x.from && b <= x.to));
}

// seed
holds.push({ id: 1, case: "C-1", cameras: ["alley-12"], from: dayStart + 3 * 3600e6, to: dayStart + 4 * 3600e6, until: null, by: "officer1", reason: "bike theft", created: dayStart, released: null });
cases.push({ id: "C-1", title: "Quarrel at the north gate", description: "Neighbours' dispute about parking", status: "open", created: dayStart, created_by: "officer1", members: ["mediator1"], clips: [{ id: "k1", camera: "gate-3", from: dayStart + 9 * 3600e6, to: dayStart + 9 * 3600e6 + 30 * 60e6, note: "the argument" }, { id: "k2", camera: "alley-12", from: dayStart + 9 * 3600e6, to: dayStart + 9 * 3600e6 + 30 * 60e6, note: "" }], holds: [1], exports: [] });
requests.push({ id: "R-1", by: "resident1", camera: null, place: "Building 12 alley", from: dayStart - 2 * 3600e6, to: dayStart + 6 * 3600e6, description: "My e-bike was stolen from the rack", status: "rejected", reason: "No camera sees the rack", case: null, export: null, created: dayStart, decided: dayStart + 3600e6, decided_by: "officer1", hold: 1 });

function send(res, code, obj, headers = {}) {
  const b = Buffer.from(JSON.stringify(obj));
  res.writeHead(code, { "Content-Type": "application/json", "Content-Length": b.length, "Cache-Control": "no-store", ...headers });
  res.end(b);
}
const err = (res, code, msg) => send(res, code, { error: msg });

function sendFile(req, res, path, type, extra = {}) {
  const size = statSync(path).size;
  const m = /bytes=(\d*)-(\d*)/.exec(req.headers.range || "");
  if (m) {
    const a = m[1] ? Number(m[1]) : size - Number(m[2]);
    const b = m[1] && m[2] ? Math.min(Number(m[2]), size - 1) : size - 1;
    if (a >= size) return err(res, 416, "range");
    res.writeHead(206, { "Content-Type": type, "Content-Range": `bytes ${a}-${b}/${size}`, "Content-Length": b - a + 1, "Accept-Ranges": "bytes", ...extra });
    res.end(readFileSync(path).subarray(a, b + 1));
  } else {
    res.writeHead(200, { "Content-Type": type, "Content-Length": size, "Accept-Ranges": "bytes", ...extra });
    res.end(readFileSync(path));
  }
}

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg" };

http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://x");
  const path = url.pathname;
  const q = url.searchParams;
  let body = "";
  for await (const ch of req) body += ch;
  let j = {};
  try { j = body ? JSON.parse(body) : {}; } catch { return err(res, 400, "malformed JSON"); }
  if (!path.startsWith("/api/v1/")) {
    const f = join(WEB, path === "/" ? "index.html" : path);
    if (!f.startsWith(WEB) || !existsSync(f) || !statSync(f).isFile()) return err(res, 404, "not found");
    res.writeHead(200, { "Content-Type": TYPES[extname(f)] || "application/octet-stream" });
    return res.end(readFileSync(f));
  }
  const p = path.slice(7);
  const m = req.method;
  if (p === "/login" && m === "POST") {
    const u = users[j.user];
    if (!u || u.pw !== j.password) return err(res, 401, "wrong user name or password");
    const tok = randomBytes(16).toString("hex");
    sessions[tok] = { user: u.name, csrf: randomBytes(8).toString("hex") };
    u.last_login = now();
    log(u, "login", "user " + u.name);
    return send(res, 200, { user: userOut(u), csrf_token: sessions[tok].csrf, ...tf("expires", now() + 43200e6) }, { "Set-Cookie": `cv_session=${tok}; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200` });
  }
  const tok = /cv_session=(\w+)/.exec(req.headers.cookie || "");
  const s = tok && sessions[tok[1]];
  if (!s) return err(res, 401, "invalid session");
  const u = users[s.user];
  if (m !== "GET" && req.headers["x-csrf-token"] !== s.csrf) return err(res, 403, "wrong X-CSRF-Token");
  const role = u.role;
  const need = (...r) => { if (!r.includes(role)) { err(res, 403, `role ${role} may not do this`); return false; } return true; };
  let mm;
  if (p === "/logout") { delete sessions[tok[1]]; return send(res, 200, { ok: true }); }
  if (p === "/me") return send(res, 200, { user: userOut(u), csrf_token: s.csrf, ...tf("expires", now() + 43200e6), auth: "cookie" });
  if (p === "/users" && m === "GET") { if (!need("admin")) return; return send(res, 200, { users: Object.values(users).map(userOut) }); }
  if (p === "/users" && m === "POST") { if (!need("admin")) return; users[j.name] = { name: j.name, role: j.role, disabled: false, created: now(), last_login: null, pw: j.password || "generated12" }; return send(res, 201, { user: userOut(users[j.name]), password: j.password ? undefined : "generated12" }); }
  if ((mm = /^\/users\/([^/]+)$/.exec(p)) && m === "PATCH") { const x = users[mm[1]]; Object.assign(x, j.password ? { pw: j.password } : {}, j.role ? { role: j.role } : {}, j.disabled !== undefined ? { disabled: j.disabled } : {}); return send(res, 200, { user: userOut(x) }); }
  if (p === "/cameras" && m === "GET") {
    let list = cams;
    if (role === "resident") list = cams.filter((c) => c.public);
    if (role === "mediator") list = cams.filter((c) => cases.some((k) => k.members.includes(u.name) && k.clips.some((x) => x.camera === c.id)));
    return send(res, 200, { cameras: list.map((c) => camOut(c, u)) });
  }
  if ((mm = /^\/cameras\/([^/]+)$/.exec(p))) {
    const c = cams.find((x) => x.id === mm[1]);
    if (!c || (role === "resident" && !c.public)) return err(res, 404, `unknown camera '${mm[1]}'`);
    if (role === "mediator" && !cases.some((k) => k.members.includes(u.name) && k.clips.some((x) => x.camera === c.id))) return err(res, 403, "outside your cases");
    if (m === "PATCH") Object.assign(c, j);
    return send(res, 200, { camera: camOut(c, u) });
  }
  if ((mm = /^\/cameras\/([^/]+)\/(timeline|video\.mp4|snapshot\.jpg|live\.mp4)$/.exec(p))) {
    const c = cams.find((x) => x.id === mm[1]);
    if (!c) return err(res, 404, "unknown camera");
    const kind = mm[2];
    if (kind === "live.mp4") return sendFile(req, res, join(media, "clip.mp4"), "video/mp4");
    if (role === "resident") return err(res, 403, "residents may not browse recordings");
    const a = parseT(q.get("from") || q.get("at")), b = kind === "snapshot.jpg" ? a + 1 : parseT(q.get("to"));
    if (a === null || b === null || b <= a) return err(res, 400, "bad range");
    if (!reach(u, c.id, a, b)) return err(res, 403, "outside your cases");
    if (kind === "snapshot.jpg") return sendFile(req, res, join(media, "snap.jpg"), "image/jpeg");
    if (kind === "video.mp4") { const st = Math.floor(a / 2e6) * 2e6; return sendFile(req, res, join(media, "clip.mp4"), "video/mp4", { "X-Camvault-Start": new Date(st / 1000).toISOString(), "X-Camvault-End": new Date(Math.min(b, st + 60e6) / 1000).toISOString() }); }
    const segs = [], gaps = [];
    const off1 = dayStart + 10 * 3600e6, off2 = off1 + 20 * 60e6 + 15e6;
    for (let tt = Math.max(a - (a - dayStart) % 60e6, dayStart + 2 * 3600e6); tt < Math.min(b, now()); tt += 60e6) {
      if (tt + 60e6 > off1 && tt < off2) continue;
      if (c.offline && tt > now() - 900e6) continue;
      segs.push({ ...tf("start", tt), ...tf("end", tt + 60e6), bytes: 6e6, frames: 1500, video: "h264 640x360", audio: null, recovered: false });
    }
    if (a < dayStart + 2 * 3600e6) gaps.push({ ...tf("start", dayStart - 86400e6), ...tf("end", dayStart + 2 * 3600e6), reason: "retention", detail: "deleted 2026-11-21 by retention (30 days)" });
    if (a < off2 && b > off1) gaps.push({ ...tf("start", off1), ...tf("end", off2), reason: "camera-offline", detail: "connection refused" });
    if (c.offline && b > now() - 900e6) gaps.push({ ...tf("start", now() - 900e6), ...tf("end", now()), reason: "camera-offline", detail: "connection refused" });
    log(u, "view-timeline", `camera ${c.id}`);
    return send(res, 200, { camera: c.id, ...tf("from", a), ...tf("to", b), segments: segs, gaps, holds: holds.filter((h) => h.cameras.includes(c.id) && h.from < b && h.to > a).map(holdOut) });
  }
  if (p === "/holds" && m === "GET") { if (!need("admin", "officer")) return; const act = q.get("active"); return send(res, 200, { holds: holds.filter((h) => act === null || (act === "true") === !h.released).map(holdOut) }); }
  if (p === "/holds" && m === "POST") { if (!need("officer")) return; const h = { id: holds.length + 1, case: j.case, cameras: j.cameras, from: parseT(j.from), to: parseT(j.to), until: parseT(j.until), by: u.name, reason: j.reason || "", created: now() }; holds.push(h); return send(res, 201, { hold: holdOut(h) }); }
  if ((mm = /^\/holds\/(\d+)\/release$/.exec(p))) { const h = holds[Number(mm[1]) - 1]; if (h.released) return err(res, 409, "already released"); h.released = now(); h.released_by = u.name; return send(res, 200, { hold: holdOut(h) }); }
  if (p === "/retention") return send(res, 200, { cameras: cams.map((c) => ({ camera: c.id, retention_days: 30, ...tf("oldest", dayStart - 12 * 86400e6), shortfall: c.offline ? "volume full: keeping 12 days, not 30" : null })) });
  if (p === "/volumes") return send(res, 200, { volumes: [{ name: "main", path: "/srv/camvault/volumes/main", max_bytes: 0, used_bytes: 412e9, segments: 12345, fs_total_bytes: 1000e9, fs_free_bytes: 450e9 }] });
  if (p === "/audit") { const after = Number(q.get("after") || 0); const lim = Number(q.get("limit") || 200); const recs = audit.filter((a) => a.seq > after && (!q.get("case") || a.case === q.get("case"))).slice(0, lim); return send(res, 200, { records: recs, next_after: recs.length === lim ? recs[recs.length - 1].seq : null }); }
  if (p === "/audit/verify") return send(res, 200, { ok: true, records: audit.length });
  if (p === "/requests" && m === "POST") { if (!need("resident")) return; const r = { id: "R-" + ++seqN, by: u.name, camera: j.camera || null, place: j.place || null, from: parseT(j.from), to: parseT(j.to), description: j.description, status: "pending", reason: null, case: null, export: null, created: now(), decided: null }; requests.push(r); log(u, "request-file", "request " + r.id); return send(res, 201, { request: reqOut(r, u) }); }
  if (p === "/requests") { if (!need("officer", "resident")) return; return send(res, 200, { requests: requests.filter((r) => role !== "resident" || r.by === u.name).map((r) => reqOut(r, u)) }); }
  if ((mm = /^\/requests\/([^/]+)\/(approve|reject)$/.exec(p))) {
    if (!need("officer")) return;
    const r = requests.find((x) => x.id === mm[1]);
    if (r.status !== "pending") return err(res, 409, "already decided");
    r.decided = now(); r.decided_by = u.name;
    if (mm[2] === "reject") { r.status = "rejected"; r.reason = j.reason; return send(res, 200, { request: reqOut(r, u) }); }
    let k = cases.find((x) => x.id === j.case);
    if (!k) { k = { id: "C-" + ++seqN, title: "Request " + r.id, description: r.description, status: "open", created: now(), created_by: u.name, members: [], clips: [], holds: [], exports: [] }; cases.push(k); }
    const e = { id: "E-" + ++seqN, case: k.id, cameras: j.cameras || [r.camera || "alley-12"], from: r.from, to: r.to, reason: "request " + r.id, for_user: r.by, created: now(), by: u.name };
    exportsL.push(e); k.exports.push(e.id);
    r.status = "approved"; r.case = k.id; r.export = e.id;
    return send(res, 200, { request: reqOut(r, u), case: caseOut(k), export: expOut(e) });
  }
  if (p === "/cases" && m === "GET") { if (!need("officer", "mediator")) return; return send(res, 200, { cases: cases.filter((c) => role === "officer" || c.members.includes(u.name)).map(caseOut) }); }
  if (p === "/cases" && m === "POST") { const k = { id: "C-" + ++seqN, title: j.title, description: j.description, status: "open", created: now(), created_by: u.name, members: [], clips: [], holds: [], exports: [] }; cases.push(k); return send(res, 201, { case: caseOut(k) }); }
  if ((mm = /^\/cases\/([^/]+)(\/custody|\/clips|\/members)?$/.exec(p))) {
    const k = cases.find((c) => c.id === mm[1] && (role === "officer" || c.members.includes(u.name)));
    if (!k) return err(res, 404, "unknown case");
    if (mm[2] === "/custody") return send(res, 200, { records: audit.filter((a) => a.case === k.id) });
    if (mm[2] === "/clips") { k.clips.push({ id: "k" + ++seqN, camera: j.camera, from: parseT(j.from), to: parseT(j.to), note: j.note }); }
    if (mm[2] === "/members") { k.members.push(j.user); }
    if (m === "PATCH") Object.assign(k, j);
    return send(res, 200, { case: caseOut(k) });
  }
  if (p === "/exports" && m === "POST") { const e = { id: "E-" + ++seqN, case: j.case, cameras: j.cameras, from: parseT(j.from), to: parseT(j.to), reason: j.reason, for_user: null, created: now(), by: u.name }; if (!j.cameras.every((c) => reach(u, c, e.from, e.to))) return err(res, 403, "outside your cases"); exportsL.push(e); const k = cases.find((c) => c.id === j.case); if (k) k.exports.push(e.id); return send(res, 202, { export: expOut(e) }); }
  if (p === "/exports") return send(res, 200, { exports: exportsL.filter((e) => role !== "resident" || e.for_user === u.name).map(expOut) });
  if ((mm = /^\/exports\/([^/]+)(\/download|\/cancel)?$/.exec(p))) {
    const e = exportsL.find((x) => x.id === mm[1] && (role !== "resident" || x.for_user === u.name));
    if (!e) return err(res, 404, "unknown export");
    if (mm[2] === "/cancel") { e.status = "canceled"; }
    if (mm[2] === "/download") { res.writeHead(200, { "Content-Type": "application/zip", "Content-Disposition": `attachment; filename="${e.id}.zip"` }); return res.end("PK"); }
    return send(res, 200, { export: expOut(e) });
  }
  return err(res, 404, "unknown path");
}).listen(Number(port), "127.0.0.1", () => console.log(`ui-mock: serving http://127.0.0.1:${port}/`));

function userOut(u) { return { name: u.name, role: u.role, disabled: u.disabled, ...tf("created", u.created), ...tf("last_login", u.last_login) }; }
