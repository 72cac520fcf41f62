// rendition.js: which rendition of a camera's video this browser plays. The camera's codec
// (video_codec in GET /cameras) is asked of MediaSource.isTypeSupported and canPlayType; a
// browser that plays neither way gets the H.264 rendition the server transcodes on demand
// (?rendition=h264, docs/api.md), and the UI says which one is shown.
import { get, enc } from "./api.js";
import { t } from "./i18n.js";

// A codec string of each codec camvault records, for asking the browser (RFC 6381).
const PROBE = {
  hevc: 'video/mp4; codecs="hvc1.1.6.L93.B0"',
  h264: 'video/mp4; codecs="avc1.640028"',
};

// True when this browser can play video of `codec` ("hevc", "h264"); unknown codecs: true.
export function browserPlays(codec) {
  const type = PROBE[codec];
  if (!type) return true;
  const ms = typeof MediaSource !== "undefined" && MediaSource.isTypeSupported(type);
  return ms || document.createElement("video").canPlayType(type) !== "";
}

// { rendition: "h264" | null, label: text saying what is shown ("" for H.264 originals) }
export function renditionFor(codec) {
  if (codec !== "hevc") return { rendition: null, label: "" };
  if (browserPlays(codec)) return { rendition: null, label: t("rendition.original") };
  return { rendition: "h264", label: t("rendition.h264") };
}

// The same for camera `id`, asking the server for its codec (null codec when it cannot say).
export async function renditionOf(id) {
  let codec = null;
  try { codec = (await get("/cameras/" + enc(id))).camera.video_codec; } catch { /* original */ }
  return renditionFor(codec);
}

// url with the rendition's query parameter when there is one.
export function withRendition(url, rendition) {
  if (!rendition) return url;
  return url + (url.includes("?") ? "&" : "?") + "rendition=" + enc(rendition);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Whether the server has a transcoding session free for `url` (a rendition URL): null when it
// has, else the message to show. HEAD takes no session and views nothing; a 503 is asked again
// `tries` times half a second apart, because a viewer's previous streams (a screen just left)
// are freed a moment after the browser drops them. The busy message comes from a GET, which
// at 503 starts nothing either.
export async function renditionSlot(url, tries = 8) {
  for (let i = 0; ; i++) {
    let res;
    try { res = await fetch(url, { method: "HEAD", credentials: "same-origin" }); } catch (e) { return e.message; }
    if (res.ok) return null;
    if (res.status === 503 && i + 1 < tries) { await sleep(500); continue; }
    try { res = await fetch(url, { credentials: "same-origin" }); } catch (e) { return e.message; }
    if (res.ok) { try { await res.body.cancel(); } catch { /* done */ } return null; }
    let msg = res.statusText;
    try { msg = (await res.json()).error || msg; } catch { /* not JSON */ }
    return res.status === 503 ? `${t("rendition.busy")} ${msg}` : msg;
  }
}
