// live.js: play live.mp4 in a <video> at the live edge.
//
// live.mp4 sends CMAF chunks as the recorder writes them (a few hundred ms behind the camera).
// The bytes are fed to the video through Media Source Extensions: the stream is read as fast as
// it comes (also while the tab is throttled or the video paused), so the newest buffered time
// is the live edge, and a player that has drifted more than JUMP_S behind seeks to just before
// it; between CATCHUP_S and JUMP_S it plays slightly faster. (Given live.mp4 as a plain src,
// Chromium reads ahead only ~2 s, stops reading while paused and cannot seek in the stream:
// seekable is [0, 0].) Without MSE, or for a codec MSE cannot take here (H.265, G.711), the
// video gets live.mp4 as its src and plays from where it joined.
const JUMP_S = 3;      // behind by more than this: jump to the edge
const CATCHUP_S = 1;   // behind by more than this: play faster
const TARGET_S = 0.3;  // where a jump lands; catching up stops here
const FAST = 1.25;
const KEEP_S = 20;     // buffered history kept behind the playing position
const HEAD_MAX = 4 << 20;

// How far `v` plays behind the newest data it has (seconds; 0 when nothing is buffered).
export function lag(v) {
  const b = v.buffered;
  return b.length ? Math.max(0, b.end(b.length - 1) - v.currentTime) : 0;
}

function find(buf, s) {
  const c = [...s].map((x) => x.charCodeAt(0));
  outer: for (let i = 0; i + c.length <= buf.length; i++) {
    for (let k = 0; k < c.length; k++) if (buf[i + k] !== c[k]) continue outer;
    return i;
  }
  return -1;
}

// The MSE type of a stream from its first bytes (ftyp + moov): null when not yet known,
// "" when MSE cannot take it.
function mseType(head) {
  const moof = find(head, "moof");
  const avcc = find(head, "avcC");
  if (avcc < 0) return moof >= 0 || head.length > HEAD_MAX ? "" : null;
  if (avcc + 8 > head.length) return null;
  const hex = (x) => x.toString(16).padStart(2, "0");
  let codecs = `avc1.${hex(head[avcc + 5])}${hex(head[avcc + 6])}${hex(head[avcc + 7])}`;
  if (find(head, "mp4a") >= 0) codecs += ",mp4a.40.2";
  else if (find(head, "ulaw") >= 0 || find(head, "alaw") >= 0) return "";
  const t = `video/mp4; codecs="${codecs}"`;
  return window.MediaSource && MediaSource.isTypeSupported(t) ? t : "";
}

// Play `url` (a live.mp4) in `v` and keep it at the edge; returns a function that stops it.
export function playLive(v, url) {
  let stopped = false, timer = null;
  const ctl = new AbortController();
  const stop = () => {
    stopped = true;
    ctl.abort();
    clearInterval(timer);
    document.removeEventListener("visibilitychange", tick);
    v.removeEventListener("play", tick);
    v.removeAttribute("src");
    v.load();
  };
  function tick(ev) {
    const b = v.buffered;
    // The stream's times are the run's decode times (not 0): start where its data is.
    if (!stopped && b.length && v.currentTime < b.start(0)) v.currentTime = b.start(0);
    if (stopped || v.readyState < 2) return;
    const behind = lag(v);
    // Resumed (by the user, or a background tab brought back): straight back to the edge.
    if (behind > JUMP_S || (ev && ev.type === "play" && behind > CATCHUP_S)) {
      v.currentTime = v.buffered.end(v.buffered.length - 1) - TARGET_S;
      v.playbackRate = 1;
      v.dataset.jumps = String(Number(v.dataset.jumps || 0) + 1);
    } else if (behind > CATCHUP_S) {
      v.playbackRate = FAST;
    } else if (behind < TARGET_S + 0.1) {
      v.playbackRate = 1;
    }
  }
  if (!window.MediaSource) {
    v.src = url;
    v.play().catch(() => {});
    return stop;
  }
  const ms = new MediaSource();
  v.dataset.liveSrc = url; // what it plays (its src is the MediaSource's blob: URL)
  v.src = URL.createObjectURL(ms);
  ms.addEventListener("sourceopen", async () => {
    URL.revokeObjectURL(v.src);
    let sb = null, head = new Uint8Array(0);
    const queue = [];
    const pump = () => {
      if (!sb || sb.updating || stopped || ms.readyState !== "open") return;
      const b = sb.buffered;
      if (b.length && v.currentTime - b.start(0) > 2 * KEEP_S) { sb.remove(0, v.currentTime - KEEP_S); return; }
      if (queue.length) sb.appendBuffer(queue.shift());
      else tick();
    };
    try {
      const resp = await fetch(url, { credentials: "same-origin", signal: ctl.signal });
      if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
      const rd = resp.body.getReader();
      for (;;) {
        const { done, value } = await rd.read();
        if (done || stopped) break;
        if (!sb) {
          const h = new Uint8Array(head.length + value.length);
          h.set(head);
          h.set(value, head.length);
          head = h;
          const type = mseType(head);
          if (type === null) continue;
          if (type === "") { ctl.abort(); v.src = url; v.play().catch(() => {}); return; }
          sb = ms.addSourceBuffer(type);
          sb.addEventListener("updateend", pump);
          queue.push(head);
        } else {
          queue.push(value);
        }
        pump();
      }
    } catch (e) {
      if (!stopped) v.dataset.liveError = String(e.message || e);
    }
  }, { once: true });
  v.play().catch(() => {});
  timer = setInterval(tick, 250);
  // A throttled page runs timers late: look again the moment it is shown or played.
  document.addEventListener("visibilitychange", tick);
  v.addEventListener("play", tick);
  return stop;
}

// Play `url` (a camera's live.m3u8) in `v` through MSE, fragment by fragment: for walls of many
// tiles. A browser opens at most 6 connections to a server over HTTP/1.1, and every live.mp4
// holds one for as long as it plays; here each tile makes short requests (the playlist about
// once a second, each new fragment once), so 16 tiles share the connections. The fragments are
// appended in "sequence" mode: a new segment file (a discontinuity, its times from 0 again)
// goes on where the previous ended, after its own init section. Returns a function that stops
// it; without MSE (or for a codec it cannot take) the tile stays empty with v.dataset.liveError.
export function playLiveHls(v, url) {
  let stopped = false, timer = null, poll = null;
  const ctl = new AbortController();
  const stop = () => {
    stopped = true;
    ctl.abort();
    clearInterval(timer);
    clearTimeout(poll);
    v.removeAttribute("src");
    v.load();
  };
  const base = new URL(url, location.href);
  const fetchBytes = async (u) => {
    const r = await fetch(new URL(u, base), { credentials: "same-origin", signal: ctl.signal });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    return new Uint8Array(await r.arrayBuffer());
  };
  const fetchText = async (u) => {
    const r = await fetch(new URL(u, base), { credentials: "same-origin", signal: ctl.signal, cache: "no-store" });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    return r.text();
  };
  // The media playlist's fragments: [{seq, map, uri}].
  const parse = (text) => {
    let seq = 0, map = null;
    const out = [];
    for (const line of text.split("\n").map((s) => s.trim())) {
      if (line.startsWith("#EXT-X-MEDIA-SEQUENCE:")) seq = Number(line.slice(22));
      else if (line.startsWith("#EXT-X-MAP:")) { const m = /URI="([^"]+)"/.exec(line); map = m ? m[1] : null; }
      else if (line && !line.startsWith("#")) out.push({ seq: seq++, map, uri: line });
    }
    return out;
  };
  if (!window.MediaSource) { v.dataset.liveError = "no MediaSource"; return stop; }
  const ms = new MediaSource();
  v.dataset.liveSrc = url;
  v.src = URL.createObjectURL(ms);
  ms.addEventListener("sourceopen", async () => {
    URL.revokeObjectURL(v.src);
    let sb = null, map = null, next = -1;
    const append = (bytes) => new Promise((res, rej) => {
      sb.addEventListener("updateend", res, { once: true });
      sb.addEventListener("error", rej, { once: true });
      sb.appendBuffer(bytes);
    });
    const trim = async () => {
      const b = sb.buffered;
      if (b.length && v.currentTime - b.start(0) > 2 * KEEP_S) {
        await new Promise((res) => { sb.addEventListener("updateend", res, { once: true }); sb.remove(0, v.currentTime - KEEP_S); });
      }
    };
    let media = null;
    for (;;) {
      try {
        // the master playlist once: the view's audit record, one per opening
        if (!media) media = (await fetchText(url)).split("\n").map((s) => s.trim()).find((s) => s && !s.startsWith("#"));
        if (stopped) return;
        const frags = parse(await fetchText(media));
        // Start at the newest fragment; later, every one not yet appended.
        const todo = frags.filter((f) => (next < 0 ? f === frags[frags.length - 1] : f.seq >= next));
        for (const f of todo) {
          if (stopped) return;
          if (f.map !== map) {
            const init = await fetchBytes(f.map);
            if (!sb) {
              const type = mseType(init);
              if (!type) { v.dataset.liveError = "codec"; return; }
              sb = ms.addSourceBuffer(type);
              sb.mode = "sequence";
            }
            await append(init);
            map = f.map;
          }
          await append(await fetchBytes(f.uri));
          next = f.seq + 1;
          await trim();
          tick();
        }
        delete v.dataset.liveError;
        await new Promise((res) => { poll = setTimeout(res, todo.length ? 500 : 1000); });
      } catch (e) {
        // A request that failed (a busy server, a fragment gone from the playlist while this tile
        // waited for the CPU) is not the end of a live tile: it says why, waits and joins again
        // at the newest fragment. Only a stopped tile or a closed MediaSource ends it.
        if (stopped) return;
        v.dataset.liveError = String(e.message || e);
        if (ms.readyState !== "open") return;
        next = -1;
        await new Promise((res) => { poll = setTimeout(res, 2000); });
      }
    }
  }, { once: true });
  function tick() {
    const b = v.buffered;
    if (stopped || !b.length) return;
    if (v.currentTime < b.start(0)) v.currentTime = b.start(0);
    const behind = lag(v);
    if (behind > JUMP_S + 3) v.currentTime = b.end(b.length - 1) - 1; // fragments come whole
    else if (behind > JUMP_S) v.playbackRate = FAST;
    else v.playbackRate = 1;
  }
  v.play().catch(() => {});
  timer = setInterval(tick, 500);
  return stop;
}
