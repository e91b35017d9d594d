// The review page: reads the JSON API, writes with the project's token, no build step.
// Views by location hash: #/ (every beat), #/beat/<id> (compare its takes), #/cut.
"use strict";

const TOKEN_KEY = "recoil-review-token";
const state = { project: null, scenes: [], fps: 24, compare: null };

// --- small helpers ------------------------------------------------------------

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function token() { return localStorage.getItem(TOKEN_KEY) || ""; }

async function api(method, url, body) {
  const headers = { "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && token()) headers["Authorization"] = "Bearer " + token();
  const response = await fetch(url, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = { error: text }; }
  if (!response.ok) {
    const error = new Error((data && data.error) || response.statusText);
    error.status = response.status;
    throw error;
  }
  return data;
}

function toast(message, isError) {
  const node = document.getElementById("toast");
  node.textContent = message;
  node.className = "show" + (isError ? " error" : "");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { node.className = ""; }, isError ? 8000 : 3000);
}

function money(value) { return (value || 0).toFixed(4); }
function score(value) { return value === null || value === undefined ? "-" : value.toFixed(3); }
function badge(text, kind) { return h("span", { class: "badge " + (kind || text) }, text); }

function allBeats() { return state.scenes.flatMap((scene) => scene.beats); }

function drafts(key) {
  // A note being typed survives a reload (and a failed write keeps it).
  return {
    get: () => localStorage.getItem("recoil-draft:" + key) || "",
    set: (text) => text ? localStorage.setItem("recoil-draft:" + key, text)
      : localStorage.removeItem("recoil-draft:" + key),
  };
}

// --- loading and routing ------------------------------------------------------

async function load() {
  const [project, scenes] = await Promise.all([api("GET", "/api/project"), api("GET", "/api/scenes")]);
  state.project = project;
  state.scenes = scenes;
  state.fps = project.fps;
  document.getElementById("title").textContent = project.title;
  document.title = project.title + " - recoil review";
  document.getElementById("summary").textContent =
    `${project.beats} beats, ${project.takes} takes, ${money(project.cost)} ${project.currency}, ` +
    `primary: ${project.primary_strategy}`;
  document.getElementById("access").textContent = token() ? "" :
    "read-only: open the link recoil review printed to approve and run";
  showRun(project.run);
}

async function route() {
  const hash = location.hash || "#/";
  stopPlayback();
  try {
    await load();
    const view = document.getElementById("view");
    view.replaceChildren();
    if (hash.startsWith("#/beat/")) view.append(await compareView(decodeURIComponent(hash.slice(7))));
    else if (hash === "#/cut") view.append(await cutView());
    else view.append(beatsView());
  } catch (error) {
    document.getElementById("view").replaceChildren(h("p", { class: "error" }, error.message));
  }
}

function refresh() { return route(); }

// --- every beat ---------------------------------------------------------------

function thumb(take) {
  const picture = take.media.keyframe
    ? h("img", { src: take.media.keyframe.url, alt: take.take_id, loading: "lazy" })
    : h("div", { class: "nomedia" }, take.status === "pending" ? "pending" : "no media");
  return h("div", { class: "thumb" + (take.primary ? " primary" : ""), dataset: { take: take.take_id } },
    picture,
    h("div", {}, h("strong", {}, take.take_id), " ", take.primary ? badge("PRIMARY", "primary") : null),
    h("div", { class: "meta" }, `${take.status}, `, badge(take.review),
      ` score ${score(take.score)}, cost ${money(take.cost)}`));
}

function beatsView() {
  const out = h("div", { class: "beats" });
  for (const scene of state.scenes) {
    out.append(h("h2", {}, `${scene.scene_id}${scene.title ? " - " + scene.title : ""}`));
    for (const beat of scene.beats) {
      out.append(h("a", { href: "#/beat/" + encodeURIComponent(beat.beat_id), class: "beat-link" },
        h("div", { class: "beat", dataset: { beat: beat.beat_id } },
          h("div", {}, h("div", { class: "id" }, beat.beat_id), h("div", {}, beat.title),
            h("div", { class: "meta" }, `${beat.duration_s} s, ${beat.takes.length} takes` +
              (beat.enabled ? "" : ", disabled"))),
          h("div", { class: "thumbs" }, beat.takes.map(thumb)))));
    }
  }
  return out;
}

// --- compare ------------------------------------------------------------------

function frameOf(seconds) { return Math.floor(seconds * state.fps + 1e-6); }
function timeOf(frame) { return (frame + 0.5) / state.fps; }

async function compareView(beatId) {
  const beat = await api("GET", "/api/beats/" + encodeURIComponent(beatId));
  const beats = allBeats();
  const at = beats.findIndex((b) => b.beat_id === beatId);
  const chosen = (state.compare && state.compare.beatId === beatId) ? state.compare.chosen
    : beat.takes.filter((t) => t.status === "succeeded").slice(0, 4).map((t) => t.take_id);
  const compare = { beatId, beat, chosen, picked: 0, panels: [], rate: 0, timer: null,
    prev: at > 0 ? beats[at - 1].beat_id : null, next: at >= 0 && at + 1 < beats.length ? beats[at + 1].beat_id : null };
  state.compare = compare;

  const chips = h("div", { class: "chips" }, "Compare: ", beat.takes.map((take) =>
    h("label", {}, h("input", {
      type: "checkbox", value: take.take_id, checked: chosen.includes(take.take_id),
      disabled: take.status !== "succeeded",
      onchange: (event) => pickTakes(event.target, compare),
    }), " ", take.take_id)));
  const takes = chosen.map((id) => beat.takes.find((t) => t.take_id === id)).filter(Boolean);
  const grid = h("div", { class: "compare", style: `--n: ${Math.max(1, takes.length)}` });
  compare.panels = takes.map((take, index) => panel(take, index, compare));
  grid.append(...compare.panels.map((p) => p.node));
  compare.frameLabel = h("span", { class: "frame", id: "frame" }, "frame 0");
  const transport = h("div", { class: "transport" },
    h("button", { type: "button", onclick: () => togglePlay(compare), id: "play" }, "Play / pause"),
    h("button", { type: "button", onclick: () => step(compare, -1) }, "< frame"),
    h("button", { type: "button", onclick: () => step(compare, 1) }, "frame >"),
    compare.frameLabel,
    h("span", { class: "dim" }, "space, arrows, J/K/L, 1-4, A approve, R reject, N note, ? keys"));
  compare.details = h("div", { class: "details", id: "details" });
  const nav = h("div", { class: "meta" },
    compare.prev ? h("a", { href: "#/beat/" + encodeURIComponent(compare.prev) }, "[ " + compare.prev) : null,
    "  ",
    compare.next ? h("a", { href: "#/beat/" + encodeURIComponent(compare.next) }, compare.next + " ]") : null);
  const view = h("div", { class: "compare-view", dataset: { beat: beatId } },
    h("h2", {}, `${beat.scene_id} / ${beat.beat_id}`, " ", h("span", { class: "dim" }, beat.title)),
    nav, chips, transport, grid, compare.details);
  if (takes.length) await showDetails(compare);
  tick(compare);
  return view;
}

function pickTakes(input, compare) {
  const boxes = [...document.querySelectorAll(".chips input:checked")].map((box) => box.value);
  if (boxes.length > 4) { input.checked = false; toast("compare up to 4 takes", true); return; }
  compare.chosen = boxes;
  refresh();
}

function panel(take, index, compare) {
  const media = take.media;
  const video = media.video ? h("video", {
    src: media.video.url, preload: "auto", playsinline: true, muted: true,
    poster: media.keyframe ? media.keyframe.url : null, "data-take": take.take_id,
  }) : null;
  if (video) video.muted = true;  // picture only: the dialogue plays from the picked take
  const audio = media.audio ? h("audio", { src: media.audio.url, preload: "auto" }) : null;
  const still = !video && media.keyframe ? h("img", { class: "still", src: media.keyframe.url, alt: take.take_id }) : null;
  const node = h("div", { class: "panel" + (take.primary ? " primary" : "") + (index === 0 ? " picked" : ""),
    dataset: { take: take.take_id, index: String(index + 1) },
    onclick: () => pick(compare, index) },
    video || still || h("div", { class: "nomedia" }, "no media"), audio,
    h("div", {}, h("strong", { class: "take-id" }, `${index + 1}. ${take.take_id}`)),
    h("div", { class: "meta" }, `${take.status}, `, badge(take.review),
      ` score ${score(take.score)}, cost ${money(take.cost)}, seed ${take.seed}`),
    h("div", { class: "row" },
      h("button", { type: "button", class: "approve", onclick: (e) => { e.stopPropagation(); approve(take); } }, "Approve"),
      h("button", { type: "button", class: "reject", onclick: (e) => { e.stopPropagation(); pick(compare, index); openForm(compare, "reject"); } }, "Reject...")));
  return { node, take, video, audio };
}

function pick(compare, index) {
  if (index >= compare.panels.length) return;
  compare.picked = index;
  compare.panels.forEach((p, i) => p.node.classList.toggle("picked", i === index));
  showDetails(compare);
}

function master(compare) { return compare.panels.find((p) => p.video) || null; }

function lastFrame(compare) {
  const lead = master(compare);
  return lead ? Math.max(0, frameOf(lead.video.duration || 0) - 1) : 0;
}

function currentFrame(compare) {
  // An ended clip stands at its duration, one frame past its last: that is the last frame.
  const lead = master(compare);
  return lead ? Math.min(lastFrame(compare), frameOf(lead.video.currentTime)) : 0;
}

function tick(compare) {
  // Keep every clip on the lead clip's frame and show the frame number.
  if (state.compare !== compare) return;
  const lead = master(compare);
  if (lead) {
    compare.frameLabel.textContent = `frame ${currentFrame(compare)} / ${lastFrame(compare)}`;
    for (const p of compare.panels) {
      if (!p.video || p === lead) continue;
      if (Math.abs(p.video.currentTime - lead.video.currentTime) > 0.5 / state.fps) {
        p.video.currentTime = lead.video.currentTime;
      }
      if (lead.video.paused !== p.video.paused) lead.video.paused ? p.video.pause() : p.video.play().catch(() => {});
    }
    const voice = compare.panels[compare.picked] && compare.panels[compare.picked].audio;
    for (const p of compare.panels) if (p.audio && p.audio !== voice && !p.audio.paused) p.audio.pause();
  }
  requestAnimationFrame(() => tick(compare));
}

function togglePlay(compare) {
  stopShuttle(compare);
  const lead = master(compare);
  if (!lead) return;
  if (lead.video.paused) playAll(compare); else pauseAll(compare);
}

function playAll(compare, rate) {
  for (const p of compare.panels) if (p.video) { p.video.playbackRate = rate || 1; p.video.play().catch(() => {}); }
  const voice = compare.panels[compare.picked] && compare.panels[compare.picked].audio;
  const lead = master(compare);
  if (voice && lead) { voice.currentTime = lead.video.currentTime; voice.play().catch(() => {}); }
}

function pauseAll(compare) {
  for (const p of compare.panels) { if (p.video) p.video.pause(); if (p.audio) p.audio.pause(); }
}

function step(compare, frames) {
  stopShuttle(compare);
  pauseAll(compare);
  const lead = master(compare);
  if (!lead) return;
  const frame = Math.min(lastFrame(compare), Math.max(0, currentFrame(compare) + frames));
  seekAll(compare, frame);
}

function seekAll(compare, frame) {
  for (const p of compare.panels) if (p.video) p.video.currentTime = timeOf(frame);
  const voice = compare.panels[compare.picked] && compare.panels[compare.picked].audio;
  if (voice) voice.currentTime = timeOf(frame);
}

function stopShuttle(compare) {
  clearInterval(compare.timer);
  compare.timer = null;
  compare.rate = 0;
}

function shuttle(compare, direction) {
  // J/L: reverse or forward, faster on each press; K stops.
  const lead = master(compare);
  if (!lead) return;
  const speed = Math.sign(compare.rate) === direction ? Math.min(8, Math.abs(compare.rate) * 2) : 1;
  stopShuttle(compare);
  compare.rate = direction * speed;
  if (direction > 0) { playAll(compare, speed); return; }
  pauseAll(compare);
  compare.timer = setInterval(() => {
    if (currentFrame(compare) <= 0) { stopShuttle(compare); return; }
    seekAll(compare, currentFrame(compare) - 1);
  }, 1000 / (state.fps * speed));
}

function stopPlayback() {
  if (state.compare) { stopShuttle(state.compare); pauseAll(state.compare); }
  state.compare = null;
}

// --- the picked take: details, notes, decisions -------------------------------

async function showDetails(compare) {
  const p = compare.panels[compare.picked];
  if (!p) return;
  const take = await api("GET", "/api/takes/" + encodeURIComponent(p.take.take_id));
  if (state.compare !== compare) return;
  const receipts = h("table", { class: "receipts" },
    h("tr", {}, ["step", "receipt", "status", "provider", "model", "cost", "cached", "error"].map((c) => h("th", {}, c))),
    take.steps.flatMap((s) => s.attempts.map((r) => h("tr", {},
      h("td", {}, s.step_id), h("td", {}, r.receipt_id), h("td", {}, r.status), h("td", {}, r.provider),
      h("td", {}, r.model), h("td", {}, money(r.cost && r.cost.amount)), h("td", {}, r.cached ? "yes" : ""),
      h("td", {}, r.error ? r.error.message : "")))));
  const notes = h("ul", { class: "notes", id: "notes" }, take.notes.map((n) => h("li", {},
    n.frame === null ? null : h("a", { href: "#", class: "frame-link",
      onclick: (e) => { e.preventDefault(); pauseAll(compare); seekAll(compare, n.frame); } }, `[frame ${n.frame}] `),
    h("strong", {}, n.author), ` (${n.created_at}): `, n.text)));
  compare.details.replaceChildren(
    h("div", {},
      h("h2", {}, take.take_id, " ", take.primary ? badge("PRIMARY", "primary") : null, " ", badge(take.review)),
      h("div", {}, h("strong", {}, "Prompt: "), h("span", { class: "prompt" }, take.prompt)),
      take.steps.map((s) => h("div", { class: "meta" },
        `${s.step_id}: ${s.status}, ${s.provider || "-"} / ${s.model || "-"}, seed ${s.seed}` +
        (s.error ? `, error: ${s.error}` : ""))),
      h("div", { class: "meta" }, `cost ${money(take.cost)}, score ${score(take.score)}`),
      h("div", { class: "meta" }, Object.entries(take.scores).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(", ")),
      take.retake_of ? h("div", { class: "meta" }, `retake of ${take.retake_of}: ${take.note || ""}`) : null,
      h("h2", {}, "Notes"), notes,
      form(compare, take, "note"), form(compare, take, "reject")),
    h("div", {}, h("h2", {}, "Receipts"), receipts,
      h("h2", {}, "Provenance"),
      Object.entries(take.sidecars).map(([label, sidecar]) => h("details", {},
        h("summary", {}, label), h("pre", {}, JSON.stringify(sidecar, null, 2))))));
}

function form(compare, take, kind) {
  const draft = drafts(kind + ":" + take.take_id);
  const area = h("textarea", { id: kind + "-text", placeholder: kind === "reject"
    ? "What to change (a new take is queued)" : "A note on the current frame" });
  area.value = draft.get();
  area.addEventListener("input", () => draft.set(area.value));
  const pin = h("input", { type: "checkbox", id: kind + "-pin", checked: kind === "note" });
  const error = h("div", { class: "error" });
  const submit = h("button", { type: "button", class: kind === "reject" ? "reject" : "",
    id: kind + "-submit", onclick: () => send() }, kind === "reject" ? "Reject with note" : "Add note");
  async function send() {
    const text = area.value.trim();
    if (!text) { error.textContent = kind === "reject" ? "a rejection needs its reason" : "write the note first"; return; }
    const frame = pin.checked ? currentFrame(compare) : null;
    submit.disabled = true;
    try {
      if (kind === "reject") {
        const done = await api("POST", `/api/takes/${encodeURIComponent(take.take_id)}/reject`, { note: text, frame });
        toast(`${take.take_id} sent back; queued ${done.queued}`);
      } else {
        await api("POST", `/api/takes/${encodeURIComponent(take.take_id)}/notes`, { text, frame });
        toast("note added");
      }
      draft.set("");
      await refresh();
    } catch (e) {
      error.textContent = e.message;  // the text stays in the box and in the draft
      submit.disabled = false;
    }
  }
  return h("div", { class: "form", id: kind + "-form" },
    h("h2", {}, kind === "reject" ? "Reject" : "Note"), area,
    h("div", { class: "row" }, h("label", {}, pin, " on the current frame"), submit), error);
}

function openForm(compare, kind) {
  const area = document.getElementById(kind + "-text");
  if (area) { pauseAll(compare); area.focus(); }
}

async function approve(take) {
  try {
    await api("POST", `/api/takes/${encodeURIComponent(take.take_id)}/approve`, {});
    toast(`approved ${take.take_id}; it is the primary`);
    await refresh();
  } catch (e) { toast(e.message, true); }
}

// --- keys ---------------------------------------------------------------------

document.addEventListener("keydown", (event) => {
  const help = document.getElementById("help");
  if (event.key === "Escape") { help.hidden = true; if (document.activeElement) document.activeElement.blur(); return; }
  const target = event.target;
  if (target && (target.tagName === "TEXTAREA" || target.tagName === "INPUT")) return;
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === "?") { help.hidden = !help.hidden; event.preventDefault(); return; }
  const compare = state.compare;
  if (!compare) return;
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  const actions = {
    " ": () => togglePlay(compare),
    ArrowLeft: () => step(compare, -1),
    ArrowRight: () => step(compare, 1),
    j: () => shuttle(compare, -1),
    k: () => { stopShuttle(compare); pauseAll(compare); },
    l: () => shuttle(compare, 1),
    a: () => compare.panels[compare.picked] && approve(compare.panels[compare.picked].take),
    r: () => openForm(compare, "reject"),
    n: () => openForm(compare, "note"),
    "[": () => compare.prev && (location.hash = "#/beat/" + encodeURIComponent(compare.prev)),
    "]": () => compare.next && (location.hash = "#/beat/" + encodeURIComponent(compare.next)),
  };
  if (/^[1-4]$/.test(key)) { pick(compare, Number(key) - 1); event.preventDefault(); return; }
  const action = actions[key];
  if (action) { event.preventDefault(); action(); }
});

// --- the cut --------------------------------------------------------------------

async function cutView() {
  const cut = await api("GET", "/api/cut");
  const video = cut.url ? h("video", { src: cut.url + "?v=" + Date.now(), controls: true, preload: "auto", id: "cut-video" })
    : h("p", { class: "dim" }, "no cut yet: run the project or export it");
  const markers = h("div", { class: "markers", id: "markers" }, cut.beats.map((beat) => h("button", {
    type: "button", class: beat.take_id ? "" : "missing", title: `${beat.beat_id}: ${beat.title}`,
    style: `left: ${100 * beat.start_s / (cut.duration_s || 1)}%; width: ${100 * beat.duration_s / (cut.duration_s || 1)}%`,
    dataset: { beat: beat.beat_id, start: String(beat.start_s) },
    onclick: () => { if (video.tagName === "VIDEO") video.currentTime = beat.start_s + 0.5 / cut.fps; },
  }, beat.beat_id)));
  const status = h("span", { class: "dim", id: "export-status" },
    cut.export.running ? "exporting..." : cut.export.error ? cut.export.error : "");
  const again = h("button", { type: "button", id: "export", onclick: async () => {
    again.disabled = true;
    try {
      const done = await api("POST", "/api/export");
      toast(done.written ? "exported" : "the exports were already up to date");
      await refresh();
    } catch (e) { toast(e.message, true); again.disabled = false; }
  } }, "Re-export");
  return h("div", { class: "cut" }, h("h2", {}, "Cut"), video, markers, h("div", { class: "row" }, again, " ", status));
}

// --- the run ----------------------------------------------------------------------

function showRun(run) {
  const start = document.getElementById("run-start");
  const stop = document.getElementById("run-stop");
  const bar = document.getElementById("run-bar");
  const text = document.getElementById("run-text");
  start.disabled = run.active || !token();
  stop.disabled = !run.active || !token();
  bar.max = Math.max(1, run.total);
  bar.value = run.done;
  const phase = run.phase === "idle" ? "no run" : run.phase;
  text.textContent = `${phase}: ${run.done}/${run.total} steps, ${run.failed} failed, ` +
    `cost ${money(run.cost)}` + (run.error ? ` - ${run.error}` : run.summary ? ` - ${run.summary}` : "");
  text.dataset.phase = run.phase;
  document.getElementById("run").dataset.done = String(run.done);
}

document.getElementById("run-start").addEventListener("click", async () => {
  try { showRun(await api("POST", "/api/runs", {})); } catch (e) { toast(e.message, true); }
});
document.getElementById("run-stop").addEventListener("click", async () => {
  try { showRun(await api("POST", "/api/runs/current/stop")); } catch (e) { toast(e.message, true); }
});

function follow() {
  // A run that ended since the last event (however quickly it ran) brings its takes in.
  const source = new EventSource("/api/events");
  let seen;
  source.addEventListener("run", (event) => {
    const run = JSON.parse(event.data);
    showRun(run);
    const ended = run.active ? null : run.finished_at;
    if (seen !== undefined && ended !== null && ended !== seen) refresh();
    seen = ended;
  });
}

// --- start --------------------------------------------------------------------------

(function start() {
  const hash = location.hash;
  if (hash.startsWith("#token=")) {
    localStorage.setItem(TOKEN_KEY, decodeURIComponent(hash.slice(7)));
    history.replaceState(null, "", location.pathname + "#/");  // keep it out of the address bar
  }
  window.addEventListener("hashchange", route);
  follow();
  route();
})();
