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

// Why a rendition did not play: the server's message (503: every transcoding session in use),
// or null when the server would serve it (the fault is elsewhere).
export async function renditionTrouble(url) {
  try {
    const res = await fetch(url, { credentials: "same-origin" });
    if (res.ok) { try { await res.body.cancel(); } catch { /* done */ } return null; }
    let msg = res.statusText;
    try { msg = (await res.json()).error || msg; } catch { /* not JSON */ }
    return res.status === 503 ? `${t("rendition.busy")} ${msg}` : msg;
  } catch (e) { return e.message; }
}
