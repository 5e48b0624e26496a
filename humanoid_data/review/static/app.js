/* The review workbench page: episode list and episode view (docs/review.md).
 *
 * Plain JavaScript, no framework, nothing loaded from elsewhere. Every stamp is an
 * integer number of nanoseconds relative to the episode's origin (origin_ns, a string),
 * so it stays exact as a JavaScript number. The user's label set (mine.label_set) is
 * edited in place; every edit pushes the previous state on the undo stack, marks it
 * unsaved and schedules an autosave (PUT with base_revision).
 */
'use strict';

(function () {
  const TOKEN = new URLSearchParams(window.location.search).get('token') || '';
  const MS = 1000000;
  const AUTOSAVE_MS = 2000;
  const LEFT = 170;            // label column of the plots and the timeline, px
  const RIGHT = 12;
  const PHASE_COLOURS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948',
    '#b07aa1', '#ff9da7', '#9c755f', '#86bcb6'];
  const SIGNAL_COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf',
    '#8c564b', '#e377c2'];
  const GROUPS = [['force', 'force (N)'], ['pressure', 'pressure (kPa)'],
    ['joint_speed', 'joint speed (rad/s)'], ['closure', 'closure']];

  const KEYS = [
    ['Space', 'play / pause'],
    ['Left / Right', 'one frame back / forward (10 ms without cameras)'],
    ['Shift+Left / Shift+Right', '100 ms back / forward'],
    ['Home / End', 'episode start / end'],
    ['[ / ]', 'previous / next phase boundary'],
    [', / .', 'previous / next contact onset or offset of the selected channel'],
    ['b', 'move the nearest phase boundary to the playhead (the neighbour follows)'],
    ['Shift+B', 'move the nearest contact edge of the selected channel to the playhead'],
    ['s', 'split the phase under the playhead'],
    ['m', 'merge the phase under the playhead with the next one'],
    ['1 .. 9', 'relabel the phase under the playhead (or start one here)'],
    ['Delete', 'delete the phase under the playhead'],
    ['Up / Down', 'select the contact channel'],
    ['c', 'start a contact at the playhead; c again sets its offset'],
    ['x', 'delete the contact under the playhead on the selected channel'],
    ['o', 'cycle the outcome'],
    ['f', 'cycle the failure mode'],
    ['v', 'cycle the verdict (flag and reject ask for a reason)'],
    ['i', 'edit the instruction'],
    ['n', 'add a note at the playhead'],
    ['t', 'select the next other label set (for a)'],
    ['d / Shift+D', 'next / previous disagreement'],
    ['a', 'accept the selected set\'s version of the span under the playhead'],
    ['Shift+A', 'accept the selected set\'s contact under the playhead (selected channel)'],
    ['+ / - / 0', 'zoom in / out around the playhead, whole episode'],
    ['Ctrl+Z', 'undo'],
    ['Ctrl+Shift+Z / Ctrl+Y', 'redo'],
    ['Ctrl+S', 'save now (the adjudicator gives a reason)'],
    ['Esc', 'close the help or the question; in the episode: back to the list'],
    ['?', 'this help'],
  ];

  const S = {
    config: null,
    episodes: [],
    listSelected: 0,
    ep: null,            // the episode as the API sent it
    ls: null,            // my label set, edited in place
    revision: 0,         // the revision my edits are based on
    savedAt: '',
    baseTime: 0,         // time_spent_s of the loaded set
    focusMs: 0,          // focused time in this page since the episode was opened
    undo: [],
    redo: [],
    dirty: false,
    editSeq: 0,
    saving: false,
    saveError: '',
    conflict: false,
    autosaveTimer: 0,
    playhead: 0,
    end: 1,
    playing: false,
    lastTick: 0,
    videos: [],          // [{cam, el, url}]
    channels: [],
    channel: 0,
    others: [],          // tracks of others (read-only)
    other: 0,
    disagreement: -1,
    view: [0, 1],
    asking: null,
    lastReason: '',
    drawQueued: false,
  };

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- API

  async function api(method, path, body) {
    const headers = {};
    if (TOKEN) headers.Authorization = 'Bearer ' + TOKEN;
    const init = {method, headers};
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let resp;
    try {
      resp = await fetch(path, init);
    } catch (err) {
      const e = new Error('the server cannot be reached (' + err.message + ')');
      e.status = 0;
      throw e;
    }
    let data = null;
    try {
      data = await resp.json();
    } catch (err) {
      data = null;
    }
    if (!resp.ok) {
      const e = new Error((data && data.error) || (resp.status + ' ' + resp.statusText));
      e.status = resp.status;
      throw e;
    }
    return data;
  }

  function episodePath(session, episode) {
    return '/api/episodes/' + encodeURIComponent(session) + '/' + encodeURIComponent(episode);
  }

  // ---------------------------------------------------------------- helpers

  function clone(value) {
    return JSON.parse(JSON.stringify(value));
  }

  function text(el, value) {
    el.textContent = value == null ? '' : String(value);
  }

  function make(tag, attrs, content) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null) continue;
      if (k === 'className') el.className = v;
      else el.setAttribute(k, String(v));
    }
    if (content != null) el.textContent = String(content);
    return el;
  }

  function seconds(ns) {
    return (ns / 1e9).toFixed(3) + ' s';
  }

  function say(msg, bad) {
    const el = $('message');
    text(el, msg);
    el.classList.toggle('bad', !!bad);
  }

  function lastAtOrBefore(stamps, t) {
    // Index of the last stamp <= t, -1 when every stamp is later.
    let lo = 0;
    let hi = stamps.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (stamps[mid] <= t) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  function human(label) {
    label.source = 'human';
    if ('confidence' in label) label.confidence = null;
    return label;
  }

  function choice(value, reason) {
    return {value, source: 'human', confidence: null, reason: reason || ''};
  }

  function isAdjudicator() {
    return S.config && S.config.role === 'adjudicator';
  }

  function myName() {
    return isAdjudicator() ? 'adjudicated' : (S.config ? S.config.annotator : '');
  }

  // ---------------------------------------------------------------- label set queries

  function topPhases(ls) {
    return ls.phases.filter((p) => p.name.indexOf('/') < 0)
      .sort((a, b) => a.begin_ns - b.begin_ns || a.end_ns - b.end_ns);
  }

  function phaseAt(ls, t) {
    const ps = topPhases(ls);
    for (const p of ps) {
      if (p.begin_ns <= t && t < p.end_ns) return p;
    }
    const last = ps[ps.length - 1];
    if (last && t === last.end_ns) return last;
    return null;
  }

  function phaseEdges(ls) {
    const set = new Set();
    for (const p of topPhases(ls)) {
      set.add(p.begin_ns);
      set.add(p.end_ns);
    }
    return Array.from(set).sort((a, b) => a - b);
  }

  function contactsOn(ls, channel) {
    return ls.contacts.filter((c) => c.channel === channel)
      .sort((a, b) => a.onset_ns - b.onset_ns);
  }

  function covers(c, t) {
    return c.onset_ns <= t && (c.offset_ns === null || t <= c.offset_ns);
  }

  function taxonomyPhase(name) {
    const phases = (S.config && S.config.taxonomy && S.config.taxonomy.phases) || [];
    return phases.find((p) => p.name === name) || null;
  }

  function phaseColour(name) {
    const phases = (S.config && S.config.taxonomy && S.config.taxonomy.phases) || [];
    const top = name.split('/')[0];
    let i = phases.findIndex((p) => p.name === top);
    if (i < 0) {
      i = 0;
      for (const ch of top) i = (i * 31 + ch.charCodeAt(0)) % 997;
    }
    return PHASE_COLOURS[i % PHASE_COLOURS.length];
  }

  function channelOfSignal(sig) {
    // Signal names of the force and pressure groups as contact channel names.
    const name = sig.name;
    if (name.startsWith('wrist/') || name.startsWith('tactile/')) return name;
    const parts = name.split(/[/_]/).filter(Boolean);
    if (sig.group === 'force') {
      const side = parts.find((p) => p === 'left' || p === 'right');
      return side ? 'wrist/' + side : null;
    }
    const i = parts.findIndex((p) => p === 'left' || p === 'right');
    if (i >= 0 && i + 1 < parts.length) return 'tactile/' + parts[i] + '/' + parts[i + 1];
    return null;
  }

  function collectChannels() {
    const set = new Set();
    const sets = [S.ls].concat(S.ep.tracks.map((t) => t.label_set));
    for (const ls of sets) for (const c of ls.contacts || []) set.add(c.channel);
    for (const sig of S.ep.signals) {
      if (sig.group === 'force' || sig.group === 'pressure') {
        const ch = channelOfSignal(sig);
        if (ch) set.add(ch);
      }
    }
    const list = Array.from(set).sort();
    const keep = S.channels[S.channel];
    S.channels = list;
    S.channel = Math.max(0, list.indexOf(keep));
  }

  // ---------------------------------------------------------------- routing

  function route() {
    const hash = window.location.hash || '#/';
    const m = hash.match(/^#\/episode\/([^/]+)\/([^/]+)$/);
    if (S.ep && S.dirty && !(m && decodeURIComponent(m[1]) === S.ep.session
      && decodeURIComponent(m[2]) === S.ep.episode)) {
      leaveEpisode(hash);
      return;
    }
    if (m) {
      openEpisode(decodeURIComponent(m[1]), decodeURIComponent(m[2]));
    } else {
      showList();
    }
  }

  async function leaveEpisode(hash) {
    // Unsaved edits are saved first; when that fails the episode stays open.
    const here = '#/episode/' + encodeURIComponent(S.ep.session) + '/'
      + encodeURIComponent(S.ep.episode);
    window.history.replaceState(null, '', here);
    if (isAdjudicator()) {
      say('unsaved changes: Ctrl+S to save them with a reason before leaving', true);
      return;
    }
    await save('autosave');
    if (!S.dirty) window.location.hash = hash;
  }

  // ---------------------------------------------------------------- episode list

  async function showList() {
    stopPlaying();
    closeEpisode();
    $('episode-view').hidden = true;
    $('list-view').hidden = false;
    document.title = 'episodes - humanoid-data review';
    try {
      const data = await api('GET', '/api/episodes');
      S.episodes = data.episodes || [];
      fillFilters();
      renderList();
      updateStatus();
    } catch (err) {
      say('cannot load the episodes: ' + err.message, true);
    }
  }

  function fillFilters() {
    for (const field of ['task', 'operator', 'outcome']) {
      const select = $('filter-' + field);
      const current = select.value;
      const values = Array.from(new Set(S.episodes.map((e) => e[field] || ''))).sort();
      select.textContent = '';
      select.appendChild(make('option', {value: ''}, 'any'));
      for (const v of values) select.appendChild(make('option', {value: v}, v || '(none)'));
      select.value = values.indexOf(current) >= 0 ? current : '';
    }
  }

  function filteredEpisodes() {
    const f = {};
    for (const field of ['task', 'operator', 'outcome']) f[field] = $('filter-' + field).value;
    return S.episodes.filter((e) => ['task', 'operator', 'outcome'].every(
      (k) => !f[k] || (e[k] || '') === f[k]));
  }

  function renderList() {
    const rows = $('episode-rows');
    rows.textContent = '';
    const list = filteredEpisodes();
    S.listSelected = Math.min(Math.max(0, S.listSelected), Math.max(0, list.length - 1));
    list.forEach((e, i) => {
      const tr = make('tr', {'data-testid': 'episode-row', 'data-id': e.id,
        'data-status': e.status, tabindex: '-1'});
      if (i === S.listSelected) tr.classList.add('selected');
      const cells = [e.queue, e.status, e.labeled_by, e.id, e.task, e.operator, e.outcome,
        e.duration_s == null ? '' : Number(e.duration_s).toFixed(1) + ' s',
        e.uncertainty == null ? '' : Number(e.uncertainty).toFixed(2),
        (e.flags || []).join(', '), e.sync_level];
      cells.forEach((v, k) => {
        const td = make('td', {}, v == null ? '' : v);
        if (k === 1) td.className = 'status-' + e.status;
        if (k === 10) td.className = 'sync-' + String(e.sync_level || '').toLowerCase();
        tr.appendChild(td);
      });
      tr.addEventListener('click', () => openFromList(e));
      rows.appendChild(tr);
    });
    text($('list-count'), list.length + ' of ' + S.episodes.length + ' episodes');
  }

  function openFromList(e) {
    window.location.hash = '#/episode/' + encodeURIComponent(e.session) + '/'
      + encodeURIComponent(e.episode);
  }

  function listKey(ev) {
    const list = filteredEpisodes();
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      S.listSelected += ev.key === 'ArrowDown' ? 1 : -1;
      renderList();
      const row = $('episode-rows').children[S.listSelected];
      if (row) row.scrollIntoView({block: 'nearest'});
      ev.preventDefault();
    } else if (ev.key === 'Enter' && list[S.listSelected]) {
      openFromList(list[S.listSelected]);
      ev.preventDefault();
    }
  }

  // ---------------------------------------------------------------- episode view

  function closeEpisode() {
    for (const v of S.videos) {
      v.el.pause();
      v.el.removeAttribute('src');
      v.el.load();
    }
    S.videos = [];
    $('videos').textContent = '';
    delete $('episode-view').dataset.episode;
    clearTimeout(S.autosaveTimer);
    S.ep = null;
    S.ls = null;
    S.dirty = false;
    S.conflict = false;
    S.saveError = '';
  }

  async function openEpisode(session, episode) {
    if (S.ep && S.ep.session === session && S.ep.episode === episode) return;
    stopPlaying();
    closeEpisode();
    $('list-view').hidden = true;
    $('episode-view').hidden = false;
    say('loading ' + session + '/' + episode + ' ...');
    let ep;
    try {
      ep = await api('GET', episodePath(session, episode));
    } catch (err) {
      say('cannot open ' + session + '/' + episode + ': ' + err.message, true);
      return;
    }
    loadEpisode(ep);
    say('');
  }

  function loadEpisode(ep) {
    S.ep = ep;
    S.ls = clone(ep.mine.label_set);
    S.ls.phases = S.ls.phases || [];
    S.ls.contacts = S.ls.contacts || [];
    S.ls.notes = S.ls.notes || [];
    S.ls.instructions = S.ls.instructions || [];
    S.revision = ep.mine.revision || 0;
    S.savedAt = '';
    S.baseTime = Number(S.ls.time_spent_s) || 0;
    S.focusMs = 0;
    S.undo = [];
    S.redo = [];
    S.dirty = false;
    S.conflict = false;
    S.saveError = '';
    S.disagreement = -1;
    S.others = (ep.tracks || []).filter((t) => t.annotator !== myName());
    S.other = Math.min(S.other, Math.max(0, S.others.length - 1));
    collectChannels();
    let end = ep.duration_ns || 0;
    for (const cam of ep.cameras) end = Math.max(end, cam.stamps_ns[cam.stamps_ns.length - 1] || 0);
    for (const p of S.ls.phases) end = Math.max(end, p.end_ns);
    S.end = Math.max(end, 10 * MS);
    S.view = [0, S.end];
    S.playhead = 0;
    document.title = ep.id + ' - humanoid-data review';
    text($('episode-title'), ep.id);
    text($('episode-meta'), [ep.task, ep.operator ? 'operator ' + ep.operator : '',
      ep.instruction ? '"' + ep.instruction + '"' : ''].filter(Boolean).join(' \u00b7 '));
    $('disagreement-section').hidden = S.config.role === 'annotator';
    buildVideos();
    setPlayhead(0);
    updateStatus();
    renderPanel();
    draw();
    $('episode-view').dataset.episode = ep.id;
  }

  function buildVideos() {
    const box = $('videos');
    box.textContent = '';
    S.videos = [];
    for (const cam of S.ep.cameras) {
      const fig = make('figure', {className: 'camera'});
      const el = make('video', {'data-testid': 'video', 'data-camera': cam.name,
        preload: 'auto', playsinline: ''});
      el.muted = true;
      const entry = {cam, el, url: ''};
      el.addEventListener('loadedmetadata', () => seekVideo(entry, S.playhead));
      el.addEventListener('error', () => say('the video of ' + cam.name
        + ' cannot be shown', true));
      fig.appendChild(el);
      fig.appendChild(make('figcaption', {}, cam.name + ' \u00b7 ' + cam.fps + ' fps \u00b7 '
        + cam.frames + ' frames'));
      box.appendChild(fig);
      S.videos.push(entry);
      loadVideo(entry);
    }
    if (S.videos.length) {
      S.videos[0].el.addEventListener('ended', () => stopPlaying());
    }
    box.hidden = S.videos.length === 0;
  }

  function loadVideo(entry) {
    // The video streams with range requests; with a token, the cookie set when the page
    // was opened authorizes it (a <video> cannot send a header).
    entry.el.src = entry.cam.video;
  }

  function frameOf(cam, t) {
    return Math.max(0, lastAtOrBefore(cam.stamps_ns, t));
  }

  function seekVideo(entry, t) {
    const cam = entry.cam;
    if (!cam.stamps_ns.length) return;
    const want = (frameOf(cam, t) + 0.5) / cam.fps;
    if (Math.abs(entry.el.currentTime - want) > 1e-4) entry.el.currentTime = want;
  }

  // ---------------------------------------------------------------- the playhead

  function setPlayhead(t) {
    S.playhead = Math.round(Math.min(Math.max(0, t), S.end));
    if (!S.playing) for (const v of S.videos) seekVideo(v, S.playhead);
    keepInView();
    refresh();
  }

  function keepInView() {
    const [a, b] = S.view;
    const span = b - a;
    if (S.playhead < a || S.playhead > b) {
      let start = S.playhead - span / 4;
      start = Math.max(0, Math.min(start, S.end - span));
      S.view = [start, start + span];
    }
  }

  function zoom(factor) {
    if (factor === 0) {
      S.view = [0, S.end];
    } else {
      const span = Math.min(S.end, Math.max(50 * MS, (S.view[1] - S.view[0]) * factor));
      let start = S.playhead - span / 2;
      start = Math.max(0, Math.min(start, S.end - span));
      S.view = [start, start + span];
    }
    refresh();
  }

  function stepFrame(dir) {
    const cam = S.ep.cameras[0];
    if (!cam || !cam.stamps_ns.length) {
      setPlayhead(S.playhead + dir * 10 * MS);
      return;
    }
    const st = cam.stamps_ns;
    const k = lastAtOrBefore(st, S.playhead);
    let next;
    if (dir > 0) {
      next = k + 1 < st.length ? st[k + 1] : S.playhead;
    } else if (k < 0) {
      next = 0;
    } else if (st[k] < S.playhead) {
      next = st[k];
    } else {
      next = k > 0 ? st[k - 1] : st[0];
    }
    setPlayhead(next);
  }

  function jumpTo(stamps, dir) {
    const t = S.playhead;
    const list = stamps.slice().sort((a, b) => a - b);
    const target = dir > 0 ? list.find((s) => s > t) : list.reverse().find((s) => s < t);
    if (target === undefined) {
      say(dir > 0 ? 'nothing further on' : 'nothing before');
      return;
    }
    setPlayhead(target);
  }

  function contactEdges() {
    const channel = S.channels[S.channel];
    let list = contactsOn(S.ls, channel);
    if (!list.length) list = S.ls.contacts;
    const out = [];
    for (const c of list) {
      out.push(c.onset_ns);
      if (c.offset_ns !== null) out.push(c.offset_ns);
    }
    return out;
  }

  function togglePlay() {
    if (S.playing) {
      stopPlaying();
    } else {
      startPlaying();
    }
  }

  function startPlaying() {
    if (S.playhead >= S.end) setPlayhead(0);
    S.playing = true;
    S.lastTick = performance.now();
    for (const v of S.videos) {
      const p = v.el.play();
      if (p && p.catch) {
        p.catch((err) => {
          if (err.name !== 'AbortError') say('the video cannot play: ' + err.message, true);
        });
      }
    }
    window.requestAnimationFrame(tick);
    refresh();
  }

  function stopPlaying() {
    if (!S.playing) return;
    S.playing = false;
    for (const v of S.videos) v.el.pause();
    if (S.ep) setPlayhead(S.playhead);
  }

  function tick(now) {
    if (!S.playing || !S.ep) return;
    const main = S.videos[0];
    if (main) {
      const cam = main.cam;
      const t = main.el.currentTime;
      const k = Math.min(cam.stamps_ns.length - 1, Math.max(0, Math.floor(t * cam.fps)));
      S.playhead = cam.stamps_ns[k];
      for (const v of S.videos.slice(1)) {
        const want = (frameOf(v.cam, S.playhead) + 0.5) / v.cam.fps;
        if (Math.abs(v.el.currentTime - want) > 1.5 / v.cam.fps) v.el.currentTime = want;
      }
      if (main.el.ended) {
        stopPlaying();
        return;
      }
    } else {
      S.playhead = Math.round(S.playhead + (now - S.lastTick) * MS);
      if (S.playhead >= S.end) {
        S.playhead = S.end;
        stopPlaying();
        return;
      }
    }
    S.lastTick = now;
    keepInView();
    refresh();
    window.requestAnimationFrame(tick);
  }

  // ---------------------------------------------------------------- editing

  function edit(what, fn) {
    // Run fn on my label set; fn returns false when it changed nothing (and said why).
    if (!S.ls) return;
    const before = JSON.stringify(S.ls);
    if (fn(S.ls) === false) return;
    const after = JSON.stringify(S.ls);
    if (after === before) return;
    S.undo.push(before);
    if (S.undo.length > 500) S.undo.shift();
    S.redo = [];
    edited(what);
  }

  function edited(what) {
    S.ls.phases.sort((a, b) => a.begin_ns - b.begin_ns || a.end_ns - b.end_ns);
    S.ls.contacts.sort((a, b) => a.onset_ns - b.onset_ns || (a.channel < b.channel ? -1 : 1));
    S.dirty = true;
    S.editSeq += 1;
    collectChannels();
    if (what) say(what);
    scheduleAutosave();
    refresh();
  }

  function undo(redo) {
    const from = redo ? S.redo : S.undo;
    const to = redo ? S.undo : S.redo;
    if (!from.length) {
      say(redo ? 'nothing to redo' : 'nothing to undo');
      return;
    }
    to.push(JSON.stringify(S.ls));
    S.ls = JSON.parse(from.pop());
    edited(redo ? 'redone' : 'undone');
  }

  function moveEdge(ls, from, to) {
    // Move every top-level phase edge at `from` to `to`; false when a phase would flip.
    const ps = topPhases(ls);
    const starting = ps.filter((p) => p.begin_ns === from);
    const ending = ps.filter((p) => p.end_ns === from);
    for (const p of starting) if (to >= p.end_ns) return false;
    for (const p of ending) if (to <= p.begin_ns) return false;
    for (const p of ps) {
      if (starting.includes(p) || ending.includes(p)) continue;
      if (p.begin_ns < Math.max(from, to) && p.end_ns > Math.min(from, to)) return false;
    }
    for (const p of starting) human(p).begin_ns = to;
    for (const p of ending) human(p).end_ns = to;
    return true;
  }

  function moveBoundary() {
    edit('', (ls) => {
      const t = S.playhead;
      const edges = phaseEdges(ls);
      if (!edges.length) {
        say('no phase boundary to move', true);
        return false;
      }
      let nearest = edges[0];
      for (const e of edges) if (Math.abs(e - t) < Math.abs(nearest - t)) nearest = e;
      if (nearest === t) {
        say('the boundary is already at the playhead');
        return false;
      }
      if (!moveEdge(ls, nearest, t)) {
        say('the boundary cannot move past the next one', true);
        return false;
      }
      say('boundary moved from ' + seconds(nearest) + ' to ' + seconds(t));
      return true;
    });
  }

  function splitPhase() {
    edit('', (ls) => {
      const t = S.playhead;
      const p = phaseAt(ls, t);
      if (!p || t <= p.begin_ns || t >= p.end_ns) {
        say('no phase to split here', true);
        return false;
      }
      const second = human(clone(p));
      second.begin_ns = t;
      human(p).end_ns = t;
      ls.phases.push(second);
      say('split ' + p.name + ' at ' + seconds(t));
      return true;
    });
  }

  function mergePhase() {
    edit('', (ls) => {
      const ps = topPhases(ls);
      const p = phaseAt(ls, S.playhead);
      const next = p ? ps[ps.indexOf(p) + 1] : null;
      if (!p || !next) {
        say('no phase after this one to merge with', true);
        return false;
      }
      human(p).end_ns = next.end_ns;
      ls.phases.splice(ls.phases.indexOf(next), 1);
      say('merged ' + next.name + ' into ' + p.name);
      return true;
    });
  }

  function relabelPhase(key) {
    const phases = (S.config.taxonomy && S.config.taxonomy.phases) || [];
    const tax = phases.find((p) => String(p.key) === key);
    if (!tax) {
      say('no phase of the taxonomy has key ' + key, true);
      return;
    }
    edit('', (ls) => {
      const t = S.playhead;
      const p = phaseAt(ls, t);
      if (p) {
        if (p.name === tax.name) return false;
        say(p.name + ' relabelled ' + tax.name);
        human(p).name = tax.name;
        return true;
      }
      const later = topPhases(ls).filter((q) => q.begin_ns > t);
      const end = later.length ? later[0].begin_ns : S.end;
      if (end <= t) {
        say('no room for a phase at the end of the episode', true);
        return false;
      }
      ls.phases.push({name: tax.name, begin_ns: t, end_ns: end, source: 'human',
        confidence: null});
      say('phase ' + tax.name + ' from ' + seconds(t) + ' to ' + seconds(end));
      return true;
    });
  }

  function deletePhase() {
    edit('', (ls) => {
      const p = phaseAt(ls, S.playhead);
      if (!p) {
        say('no phase under the playhead', true);
        return false;
      }
      ls.phases.splice(ls.phases.indexOf(p), 1);
      say('phase ' + p.name + ' deleted');
      return true;
    });
  }

  function contactKey() {
    const channel = S.channels[S.channel];
    if (!channel) {
      say('no contact channel', true);
      return;
    }
    edit('', (ls) => {
      const t = S.playhead;
      const list = contactsOn(ls, channel);
      const open = list.filter((c) => c.offset_ns === null && c.onset_ns <= t).pop();
      if (open) {
        const blocking = list.find((c) => c !== open && c.onset_ns > open.onset_ns
          && c.onset_ns <= t);
        if (blocking) {
          say('the offset would run past the next contact on ' + channel, true);
          return false;
        }
        human(open).offset_ns = t;
        open.slips_ns = (open.slips_ns || []).filter((s) => s <= t);
        say('contact on ' + channel + ' ' + seconds(open.onset_ns) + ' .. ' + seconds(t));
        return true;
      }
      if (list.some((c) => covers(c, t))) {
        say('a contact on ' + channel + ' is already here (x deletes it)', true);
        return false;
      }
      ls.contacts.push({channel, onset_ns: t, offset_ns: null, slips_ns: [], source: 'human',
        confidence: null});
      say('contact on ' + channel + ' starts at ' + seconds(t) + '; c again at its end');
      return true;
    });
  }

  function deleteContact() {
    const channel = S.channels[S.channel];
    edit('', (ls) => {
      const c = contactsOn(ls, channel).filter((x) => covers(x, S.playhead)).pop();
      if (!c) {
        say('no contact on ' + channel + ' under the playhead', true);
        return false;
      }
      ls.contacts.splice(ls.contacts.indexOf(c), 1);
      say('contact on ' + channel + ' at ' + seconds(c.onset_ns) + ' deleted');
      return true;
    });
  }

  function moveContactEdge() {
    const channel = S.channels[S.channel];
    edit('', (ls) => {
      const t = S.playhead;
      let best = null;
      for (const c of contactsOn(ls, channel)) {
        for (const field of ['onset_ns', 'offset_ns']) {
          if (c[field] === null) continue;
          if (!best || Math.abs(c[field] - t) < Math.abs(best[0][best[1]] - t)) best = [c, field];
        }
      }
      if (!best) {
        say('no contact on ' + channel, true);
        return false;
      }
      const [c, field] = best;
      if ((field === 'onset_ns' && c.offset_ns !== null && t > c.offset_ns)
        || (field === 'offset_ns' && t < c.onset_ns)) {
        say('the edge cannot move past the other edge', true);
        return false;
      }
      human(c)[field] = t;
      const end = c.offset_ns === null ? Infinity : c.offset_ns;
      c.slips_ns = (c.slips_ns || []).filter((s) => s >= c.onset_ns && s <= end);
      say('contact ' + field.replace('_ns', '') + ' moved to ' + seconds(t));
      return true;
    });
  }

  function cycleOutcome() {
    const list = S.config.outcomes || [];
    edit('', (ls) => {
      const i = list.indexOf(ls.outcome ? ls.outcome.value : null);
      ls.outcome = choice(list[(i + 1) % list.length]);
      say('outcome ' + ls.outcome.value);
      return true;
    });
  }

  function cycleFailure() {
    const names = [null].concat(((S.config.taxonomy || {}).failure_modes || []).map((f) => f.name));
    edit('', (ls) => {
      const i = names.indexOf(ls.failure_mode ? ls.failure_mode.value : null);
      const next = names[(i + 1) % names.length];
      ls.failure_mode = next === null ? null : choice(next);
      say('failure mode ' + (next || 'none'));
      return true;
    });
  }

  function cycleVerdict() {
    const list = S.config.verdicts || ['keep', 'flag', 'reject'];
    const current = S.ls.verdict ? S.ls.verdict.value : null;
    const next = list[(list.indexOf(current) + 1) % list.length];
    if (next === 'keep') {
      edit('verdict keep', (ls) => {
        ls.verdict = choice('keep');
      });
      return;
    }
    const before = S.ls.verdict && S.ls.verdict.reason ? S.ls.verdict.reason : '';
    ask('Why "' + next + '"? (required)', before, (reason) => {
      if (!reason.trim()) {
        say('a verdict of ' + next + ' needs a reason; unchanged', true);
        return;
      }
      edit('verdict ' + next, (ls) => {
        ls.verdict = choice(next, reason.trim());
      });
    });
  }

  function editInstruction() {
    const current = S.ls.instructions.length ? S.ls.instructions[0].text : '';
    ask('Instruction (what the robot was told to do)', current, (value) => {
      edit('instruction set', (ls) => {
        const rest = ls.instructions.slice(1);
        ls.instructions = value.trim()
          ? [{text: value.trim(), source: 'human', stamp_ns: null}].concat(rest) : rest;
      });
    });
  }

  function addNote() {
    const t = S.playhead;
    ask('Note at ' + seconds(t), '', (value) => {
      if (!value.trim()) return;
      edit('note added at ' + seconds(t), (ls) => {
        ls.notes.push({text: value.trim(), source: 'human', stamp_ns: t});
      });
    });
  }

  // ------------------------------------------------ accepting another set's version

  function disagreementAt(t) {
    const list = S.ep.disagreements || [];
    const other = S.others[S.other];
    let found = null;
    for (const d of list) {
      if (d.t0_ns == null || d.t1_ns == null) continue;
      const pad = 20 * MS;
      if (Math.min(d.t0_ns, d.t1_ns) - pad <= t && t <= Math.max(d.t0_ns, d.t1_ns) + pad) {
        if (!found || (other && (d.between || []).includes(other.annotator))) found = d;
      }
    }
    if (!found && S.disagreement >= 0) {
      const d = list[S.disagreement];
      if (d && d.t0_ns == null) found = d;
    }
    return found;
  }

  function replaceSpan(ls, phase) {
    // Put `phase` in my set, trimming or removing what overlaps it.
    const b = phase.begin_ns;
    const e = phase.end_ns;
    for (const p of topPhases(ls)) {
      if (p.end_ns <= b || p.begin_ns >= e) continue;
      if (p.begin_ns >= b && p.end_ns <= e) {
        ls.phases.splice(ls.phases.indexOf(p), 1);
      } else if (p.begin_ns < b && p.end_ns > e) {
        const tail = human(clone(p));
        tail.begin_ns = e;
        human(p).end_ns = b;
        ls.phases.push(tail);
      } else if (p.begin_ns < b) {
        human(p).end_ns = b;
      } else {
        human(p).begin_ns = e;
      }
    }
    ls.phases.push(human({name: phase.name, begin_ns: b, end_ns: e, source: 'human',
      confidence: null}));
  }

  function acceptPhase(ls, theirs, t, name) {
    let op = null;
    if (name) {
      const named = topPhases(theirs).filter((p) => p.name === name);
      op = named.sort((a, b) => Math.abs(a.begin_ns - t) - Math.abs(b.begin_ns - t))[0] || null;
    }
    if (!op) op = phaseAt(theirs, t);
    if (!op) {
      say('the other set has no phase here', true);
      return false;
    }
    const mine = topPhases(ls).filter((p) => p.name === op.name
      && p.begin_ns < op.end_ns && p.end_ns > op.begin_ns);
    if (mine.length === 1) {
      const mp = mine[0];
      const oldBegin = mp.begin_ns;
      const oldEnd = mp.end_ns;
      const snapshot = JSON.stringify(ls.phases);
      let ok = true;
      if (op.end_ns > oldEnd) {
        ok = (oldEnd === op.end_ns || moveEdge(ls, oldEnd, op.end_ns))
          && (oldBegin === op.begin_ns || moveEdge(ls, oldBegin, op.begin_ns));
      } else {
        ok = (oldBegin === op.begin_ns || moveEdge(ls, oldBegin, op.begin_ns))
          && (oldEnd === op.end_ns || moveEdge(ls, oldEnd, op.end_ns));
      }
      if (ok) return true;
      ls.phases = JSON.parse(snapshot);
    }
    replaceSpan(ls, op);
    return true;
  }

  function acceptBoundary(ls, theirs, d) {
    // Move my boundary before phase d.name to where the other set has it.
    const mid = (d.t0_ns + d.t1_ns) / 2;
    const nearest = (list) => list.sort((a, b) => Math.abs(a.begin_ns - mid)
      - Math.abs(b.begin_ns - mid))[0];
    const op = nearest(topPhases(theirs).filter((p) => p.name === d.name));
    if (!op) return false;
    const mp = nearest(topPhases(ls).filter((p) => p.name === d.name));
    if (!mp) return false;
    if (mp.begin_ns === op.begin_ns) return true;
    const snapshot = JSON.stringify(ls.phases);
    if (moveEdge(ls, mp.begin_ns, op.begin_ns)) return true;
    ls.phases = JSON.parse(snapshot);
    return false;
  }

  function acceptContacts(ls, theirs, channel, t0, t1) {
    const lo = Math.min(t0, t1);
    const hi = Math.max(t0, t1);
    const overlaps = (c) => c.channel === channel && c.onset_ns <= hi
      && (c.offset_ns === null || c.offset_ns >= lo);
    const taken = theirs.contacts.filter(overlaps);
    const before = ls.contacts.length;
    ls.contacts = ls.contacts.filter((c) => !overlaps(c));
    for (const c of taken) ls.contacts.push(human(clone(c)));
    if (!taken.length && before === ls.contacts.length) {
      say('neither set has a contact on ' + channel + ' here', true);
      return false;
    }
    return true;
  }

  function accept(contactOnly) {
    const other = S.others[S.other];
    if (!other) {
      say('no other label set to accept from', true);
      return;
    }
    const theirs = other.label_set;
    const t = S.playhead;
    edit('', (ls) => {
      const d = contactOnly ? null : disagreementAt(t);
      const kind = d ? d.kind : (contactOnly ? 'contact' : 'phase');
      let ok;
      if (kind === 'contact') {
        const channel = d && d.name ? d.name : S.channels[S.channel];
        ok = d ? acceptContacts(ls, theirs, channel, d.t0_ns, d.t1_ns)
          : acceptContacts(ls, theirs, channel, t, t);
      } else if (['outcome', 'failure_mode', 'verdict'].includes(kind)
        || (d && ['outcome', 'failure_mode', 'verdict'].includes(d.name))) {
        const field = ['outcome', 'failure_mode', 'verdict'].includes(kind) ? kind : d.name;
        ls[field] = theirs[field] ? human(clone(theirs[field])) : null;
        ok = true;
      } else if (kind === 'instruction' || kind === 'instructions') {
        ls.instructions = (theirs.instructions || []).map((i) => human(clone(i)));
        ok = true;
      } else if (d && d.t0_ns !== d.t1_ns && /^boundary/.test(d.detail || '')) {
        ok = acceptBoundary(ls, theirs, d) || acceptPhase(ls, theirs, t, d.name);
      } else {
        ok = acceptPhase(ls, theirs, t, d ? d.name : '');
      }
      if (ok) say('took ' + other.annotator + '\'s ' + (d ? kind + ' ' + (d.name || '')
        : kind) + ' here');
      return ok;
    });
  }

  function nextOther() {
    if (!S.others.length) {
      say('no other label set is shown', true);
      return;
    }
    S.other = (S.other + 1) % S.others.length;
    say('other set: ' + S.others[S.other].annotator);
    refresh();
  }

  function nextDisagreement(dir) {
    const list = S.ep.disagreements || [];
    if (!list.length) {
      say('no disagreements');
      return;
    }
    S.disagreement = (S.disagreement + dir + list.length) % list.length;
    selectDisagreement(S.disagreement);
  }

  function selectDisagreement(i) {
    const d = S.ep.disagreements[i];
    S.disagreement = i;
    const other = (d.between || []).find((n) => n !== myName());
    const k = S.others.findIndex((o) => o.annotator === other);
    if (k >= 0) S.other = k;
    if (d.t0_ns != null) setPlayhead(Math.round((d.t0_ns + d.t1_ns) / 2));
    say('disagreement: ' + describeDisagreement(d));
    refresh();
  }

  function describeDisagreement(d) {
    return d.kind + ' ' + (d.name || '') + ': ' + (d.between || []).join(' vs ')
      + (d.detail ? ' (' + d.detail + ')' : '');
  }

  // ---------------------------------------------------------------- saving

  function scheduleAutosave() {
    clearTimeout(S.autosaveTimer);
    if (isAdjudicator() || S.conflict) return;
    S.autosaveTimer = setTimeout(() => save('autosave'), AUTOSAVE_MS);
  }

  function timeSpent() {
    return Math.round((S.baseTime + S.focusMs / 1000) * 10) / 10;
  }

  async function save(note, reason) {
    if (!S.ep || S.saving) {
      if (S.saving) S.saveAgain = [note, reason];
      return;
    }
    clearTimeout(S.autosaveTimer);
    if (S.conflict) {
      updateStatus();
      return;
    }
    const ep = S.ep;
    const seq = S.editSeq;
    S.ls.time_spent_s = timeSpent();
    const body = {base_revision: S.revision, label_set: S.ls, note: note || '',
      reason: reason || ''};
    S.saving = true;
    updateStatus();
    try {
      const r = await api('PUT', episodePath(ep.session, ep.episode) + '/labels', body);
      if (S.ep !== ep) return;
      S.revision = r.revision;
      S.savedAt = r.saved_at || '';
      S.saveError = '';
      if (S.editSeq === seq) S.dirty = false;
      else scheduleAutosave();
      say('saved revision ' + r.revision);
    } catch (err) {
      if (S.ep !== ep) return;
      if (err.status === 409) {
        S.conflict = true;
        S.saveError = 'another save happened since revision ' + S.revision + ' was loaded ('
          + err.message + '); your edits are kept: reload the latest or save yours over it';
      } else {
        S.saveError = 'SAVE FAILED: ' + err.message + ' \u2014 your edits are kept; '
          + 'Ctrl+S retries';
      }
    } finally {
      S.saving = false;
      updateStatus();
      const again = S.saveAgain;
      S.saveAgain = null;
      if (again && S.dirty && !S.conflict && !S.saveError) save(again[0], again[1]);
    }
  }

  function saveNow() {
    if (!S.ep) return;
    if (!S.dirty && S.revision > 0 && !S.conflict) {
      say('nothing changed since revision ' + S.revision);
      return;
    }
    S.saveError = '';
    if (isAdjudicator()) {
      ask('Reason for this adjudication (saved with your name)', S.lastReason, (reason) => {
        if (!reason.trim()) {
          say('the adjudicated set is saved only with a reason', true);
          return;
        }
        S.lastReason = reason.trim();
        save('adjudication', reason.trim());
      });
      return;
    }
    save('saved by hand');
  }

  async function reloadLatest() {
    if (!S.ep) return;
    const {session, episode} = S.ep;
    stopPlaying();
    const t = S.playhead;
    try {
      const ep = await api('GET', episodePath(session, episode));
      closeEpisode();
      loadEpisode(ep);
      setPlayhead(t);
      say('reloaded revision ' + S.revision);
    } catch (err) {
      say('cannot reload: ' + err.message, true);
    }
  }

  async function overwrite() {
    if (!S.ep) return;
    try {
      const latest = await api('GET', episodePath(S.ep.session, S.ep.episode) + '/labels');
      S.revision = latest.revision;
      S.conflict = false;
      S.saveError = '';
      S.dirty = true;
      saveNow();
    } catch (err) {
      say('cannot read the latest revision: ' + err.message, true);
    }
  }

  function clock(iso) {
    const d = new Date(iso);
    return isNaN(d.getTime()) ? iso : d.toLocaleTimeString();
  }

  function updateStatus() {
    const el = $('save-state');
    let state;
    let msg;
    if (!S.ep) {
      state = 'idle';
      msg = '';
    } else if (S.conflict) {
      state = 'conflict';
      msg = S.saveError;
    } else if (S.saving) {
      state = 'saving';
      msg = 'saving...';
    } else if (S.saveError) {
      state = 'error';
      msg = S.saveError;
    } else if (S.dirty) {
      state = 'dirty';
      msg = 'unsaved changes' + (isAdjudicator() ? ' (Ctrl+S saves with a reason)'
        : ' (autosave)') + ' on revision ' + S.revision;
    } else if (S.revision > 0) {
      state = 'saved';
      msg = 'saved revision ' + S.revision + (S.savedAt ? ' at ' + clock(S.savedAt) : '');
    } else {
      state = 'new';
      msg = 'not saved yet (revision 0: a starting point)';
    }
    el.dataset.state = state;
    el.dataset.revision = String(S.ep ? S.revision : 0);
    text(el, S.ep ? 'rev ' + S.revision : '');
    const status = $('status');
    text(status, msg);
    status.className = 'state-' + state;
    $('conflict').hidden = !S.conflict;
  }

  // ---------------------------------------------------------------- the text question

  function ask(label, initial, done) {
    stopPlaying();
    S.asking = done;
    text($('ask-label'), label);
    const input = $('ask-input');
    input.value = initial || '';
    $('ask').hidden = false;
    input.focus();
    input.select();
  }

  function closeAsk(submit) {
    const done = S.asking;
    const value = $('ask-input').value;
    S.asking = null;
    $('ask').hidden = true;
    $('ask-input').blur();
    if (submit && done) done(value);
  }

  // ---------------------------------------------------------------- keys

  function onKey(ev) {
    if (S.asking) {
      if (ev.key === 'Escape') {
        closeAsk(false);
        ev.preventDefault();
      }
      return;          // the form handles Enter; other keys type
    }
    const target = ev.target;
    if (target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA'
      || target.tagName === 'SELECT')) {
      if (ev.key === 'Escape') target.blur();
      return;
    }
    const ctrl = ev.ctrlKey || ev.metaKey;
    const key = ev.key;
    if (key === '?') {
      toggleHelp();
      ev.preventDefault();
      return;
    }
    if (key === 'Escape' && !$('help').hidden) {
      toggleHelp();
      ev.preventDefault();
      return;
    }
    if (!S.ep) {
      if (!$('list-view').hidden) listKey(ev);
      return;
    }
    const handled = episodeKey(ev, key, ctrl);
    if (handled !== false) ev.preventDefault();
  }

  function episodeKey(ev, key, ctrl) {
    const lower = key.length === 1 ? key.toLowerCase() : key;
    if (ctrl) {
      if (lower === 's') saveNow();
      else if (lower === 'z' && ev.shiftKey) undo(true);
      else if (lower === 'z') undo(false);
      else if (lower === 'y') undo(true);
      else return false;
      return true;
    }
    if (ev.altKey) return false;
    switch (key) {
      case ' ': togglePlay(); break;
      case 'ArrowRight':
        stopPlaying();
        if (ev.shiftKey) setPlayhead(S.playhead + 100 * MS);
        else stepFrame(1);
        break;
      case 'ArrowLeft':
        stopPlaying();
        if (ev.shiftKey) setPlayhead(S.playhead - 100 * MS);
        else stepFrame(-1);
        break;
      case 'Home': stopPlaying(); setPlayhead(0); break;
      case 'End': stopPlaying(); setPlayhead(S.end); break;
      case 'ArrowUp':
      case 'ArrowDown':
        if (S.channels.length) {
          const n = S.channels.length;
          S.channel = (S.channel + (key === 'ArrowDown' ? 1 : -1) + n) % n;
          say('channel ' + S.channels[S.channel]);
          refresh();
        }
        break;
      case '[': stopPlaying(); jumpTo(phaseEdges(S.ls), -1); break;
      case ']': stopPlaying(); jumpTo(phaseEdges(S.ls), 1); break;
      case ',': stopPlaying(); jumpTo(contactEdges(), -1); break;
      case '.': stopPlaying(); jumpTo(contactEdges(), 1); break;
      case 'b': stopPlaying(); moveBoundary(); break;
      case 'B': stopPlaying(); moveContactEdge(); break;
      case 's': stopPlaying(); splitPhase(); break;
      case 'm': stopPlaying(); mergePhase(); break;
      case 'Delete': stopPlaying(); deletePhase(); break;
      case 'c': contactKey(); break;
      case 'x': deleteContact(); break;
      case 'o': cycleOutcome(); break;
      case 'f': cycleFailure(); break;
      case 'v': cycleVerdict(); break;
      case 'i': editInstruction(); break;
      case 'n': addNote(); break;
      case 't': nextOther(); break;
      case 'd': stopPlaying(); nextDisagreement(1); break;
      case 'D': stopPlaying(); nextDisagreement(-1); break;
      case 'a': stopPlaying(); accept(false); break;
      case 'A': stopPlaying(); accept(true); break;
      case '+': case '=': zoom(0.5); break;
      case '-': zoom(2); break;
      case '0': zoom(0); break;
      case 'Escape': window.location.hash = '#/'; break;
      default:
        if (/^[1-9]$/.test(key)) {
          stopPlaying();
          relabelPhase(key);
          break;
        }
        return false;
    }
    return true;
  }

  function toggleHelp() {
    $('help').hidden = !$('help').hidden;
  }

  function buildHelp() {
    const table = $('help-keys');
    for (const [k, what] of KEYS) {
      const tr = make('tr', {'data-testid': 'help-key'});
      const th = make('th');
      th.appendChild(make('kbd', {}, k));
      tr.appendChild(th);
      tr.appendChild(make('td', {}, what));
      table.appendChild(tr);
    }
  }

  // ---------------------------------------------------------------- side panel

  function refresh() {
    // The lists and the status at once (tests and screen readers see them at once);
    // the canvases on the next animation frame.
    if (!S.drawQueued) {
      S.drawQueued = true;
      window.requestAnimationFrame(() => {
        S.drawQueued = false;
        if (S.ep) draw();
      });
    }
    if (S.ep) renderPanel();
    updatePlayhead();
    updateStatus();
  }

  function updatePlayhead() {
    if (!S.ep) return;
    const el = $('playhead');
    const cam = S.ep.cameras[0];
    const frame = cam ? lastAtOrBefore(cam.stamps_ns, S.playhead) : -1;
    el.dataset.ns = String(S.playhead);
    el.dataset.frame = String(frame);
    text(el, 't = ' + seconds(S.playhead) + (cam ? ' \u00b7 frame ' + frame : '')
      + (S.playing ? ' \u25b6' : ''));
  }

  function renderPanel() {
    const ls = S.ls;
    const t = S.playhead;
    const p = phaseAt(ls, t);
    const g = $('guideline');
    g.textContent = '';
    if (p) {
      const tax = taxonomyPhase(p.name);
      g.appendChild(make('strong', {'data-testid': 'guideline-phase'}, p.name
        + (tax && tax.key ? ' [' + tax.key + ']' : '')));
      g.appendChild(make('p', {}, tax ? tax.description : 'not a phase of this taxonomy'));
      const subs = ls.phases.filter((q) => q.name.startsWith(p.name + '/')
        && q.begin_ns <= t && t < q.end_ns);
      for (const q of subs) g.appendChild(make('p', {className: 'sub'}, 'sub-phase ' + q.name));
    } else {
      g.appendChild(make('p', {}, 'no phase under the playhead (a number key starts one)'));
    }
    choiceText($('outcome'), ls.outcome);
    choiceText($('failure-mode'), ls.failure_mode);
    choiceText($('verdict'), ls.verdict);
    text($('instruction'), ls.instructions.length ? ls.instructions[0].text : '(none)');
    text($('time-spent'), Math.round(timeSpent()) + ' s');
    text($('channel'), S.channels[S.channel] || '(none)');
    const other = S.others[S.other];
    text($('other-track'), other ? other.annotator + ' (' + other.role + ', rev '
      + other.revision + ')' : '(none)');

    const phases = $('phase-list');
    phases.textContent = '';
    for (const q of ls.phases) {
      const li = make('li', {'data-testid': 'phase', 'data-name': q.name,
        'data-begin-ns': q.begin_ns, 'data-end-ns': q.end_ns, 'data-source': q.source},
      q.name + '  ' + seconds(q.begin_ns) + ' \u2013 ' + seconds(q.end_ns)
        + (q.confidence != null ? '  (' + q.source + ' ' + q.confidence + ')' : ''));
      if (q === p) li.classList.add('current');
      li.addEventListener('click', () => setPlayhead(q.begin_ns));
      phases.appendChild(li);
    }
    const contacts = $('contact-list');
    contacts.textContent = '';
    for (const c of ls.contacts) {
      const li = make('li', {'data-testid': 'contact', 'data-channel': c.channel,
        'data-onset-ns': c.onset_ns, 'data-offset-ns': c.offset_ns === null ? '' : c.offset_ns,
        'data-source': c.source},
      c.channel + '  ' + seconds(c.onset_ns) + ' \u2013 '
        + (c.offset_ns === null ? 'open' : seconds(c.offset_ns)));
      if (c.channel === S.channels[S.channel] && covers(c, t)) li.classList.add('current');
      li.addEventListener('click', () => setPlayhead(c.onset_ns));
      contacts.appendChild(li);
    }
    const notes = $('note-list');
    notes.textContent = '';
    for (const n of ls.notes) {
      const li = make('li', {'data-testid': 'note'}, (n.stamp_ns == null ? ''
        : seconds(n.stamp_ns) + ': ') + n.text);
      if (n.stamp_ns != null) li.addEventListener('click', () => setPlayhead(n.stamp_ns));
      notes.appendChild(li);
    }
    const dis = $('disagreements');
    dis.textContent = '';
    (S.ep.disagreements || []).forEach((d, i) => {
      const li = make('li', {'data-testid': 'disagreement', 'data-kind': d.kind,
        'data-name': d.name || '', 'data-between': (d.between || []).join(','),
        'data-t0-ns': d.t0_ns, 'data-t1-ns': d.t1_ns}, describeDisagreement(d)
        + (d.t0_ns != null ? ' @ ' + seconds(d.t0_ns) : ''));
      if (i === S.disagreement) {
        li.classList.add('current');
        li.dataset.current = '1';
      }
      li.addEventListener('click', () => selectDisagreement(i));
      dis.appendChild(li);
    });
    if (!(S.ep.disagreements || []).length) dis.appendChild(make('li', {}, 'none'));
  }

  function choiceText(el, c) {
    if (!c) {
      text(el, '(none)');
      return;
    }
    text(el, c.value + (c.reason ? ' \u2014 ' + c.reason : '') + (c.source !== 'human'
      ? ' (' + c.source + (c.confidence != null ? ' ' + c.confidence : '') + ')' : ''));
  }

  // ---------------------------------------------------------------- drawing

  function xOf(t, width) {
    const [a, b] = S.view;
    return LEFT + (t - a) / Math.max(1, b - a) * (width - LEFT - RIGHT);
  }

  function tOf(x, width) {
    const [a, b] = S.view;
    return a + (x - LEFT) / (width - LEFT - RIGHT) * (b - a);
  }

  function prepare(canvas, height) {
    const width = Math.max(300, canvas.parentElement.clientWidth);
    const ratio = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
      canvas.style.width = width + 'px';
      canvas.style.height = height + 'px';
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = '11px sans-serif';
    ctx.textBaseline = 'middle';
    return [ctx, width];
  }

  function draw() {
    drawPlots();
    drawTimeline();
  }

  function drawPlots() {
    const canvas = $('plots');
    const groups = GROUPS.map(([g, label]) => [label,
      S.ep.signals.filter((s) => s.group === g)]).filter(([, list]) => list.length);
    const others = S.ep.signals.filter((s) => !GROUPS.some(([g]) => g === s.group));
    if (others.length) groups.push(['other', others]);
    const rowH = 52;
    const height = groups.length * rowH + 4;
    canvas.hidden = groups.length === 0;
    if (!groups.length) return;
    const [ctx, width] = prepare(canvas, height);
    groups.forEach(([label, list], gi) => {
      const y0 = gi * rowH + 2;
      ctx.fillStyle = gi % 2 ? '#fafafa' : '#f3f4f6';
      ctx.fillRect(LEFT, y0, width - LEFT - RIGHT, rowH - 4);
      let lo = Infinity;
      let hi = -Infinity;
      for (const s of list) {
        for (const v of s.values) {
          if (v === null || !isFinite(v)) continue;
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
      }
      if (!isFinite(lo)) {
        lo = 0;
        hi = 1;
      }
      if (hi - lo < 1e-9) hi = lo + 1;
      const yOf = (v) => y0 + rowH - 6 - (v - lo) / (hi - lo) * (rowH - 10);
      ctx.fillStyle = '#333';
      ctx.fillText(label, 6, y0 + 9);
      ctx.fillStyle = '#888';
      ctx.textAlign = 'right';
      ctx.fillText(shortNumber(hi), LEFT - 4, y0 + 8);
      ctx.fillText(shortNumber(lo), LEFT - 4, y0 + rowH - 10);
      ctx.textAlign = 'left';
      list.forEach((s, si) => {
        const colour = SIGNAL_COLOURS[si % SIGNAL_COLOURS.length];
        ctx.fillStyle = colour;
        ctx.fillText(s.name + (s.unit ? ' ' + s.unit : ''), 12, y0 + 23 + si * 12);
        ctx.strokeStyle = colour;
        ctx.lineWidth = 1;
        ctx.beginPath();
        let pen = false;
        for (let i = 0; i < s.t_ns.length; i++) {
          const v = s.values[i];
          if (v === null || !isFinite(v)) {
            pen = false;
            continue;
          }
          const x = xOf(s.t_ns[i], width);
          if (x < LEFT - 1 || x > width - RIGHT + 1) {
            pen = false;
            continue;
          }
          if (pen) ctx.lineTo(x, yOf(v));
          else ctx.moveTo(x, yOf(v));
          pen = true;
        }
        ctx.stroke();
      });
    });
    drawPlayheadLine(ctx, width, height);
  }

  function shortNumber(v) {
    const a = Math.abs(v);
    if (a === 0) return '0';
    if (a >= 100) return v.toFixed(0);
    if (a >= 1) return v.toFixed(2);
    return v.toPrecision(2);
  }

  function timelineRows() {
    const rows = [];
    const me = S.ls;
    rows.push({label: 'mine: phases', h: 30, kind: 'phases', ls: me, mine: true});
    S.channels.forEach((ch, i) => rows.push({label: ch, h: 15, kind: 'contact', ls: me,
      channel: ch, mine: true, selected: i === S.channel}));
    rows.push({label: 'events, notes', h: 24, kind: 'events', ls: me});
    S.others.forEach((tr, i) => {
      const sel = i === S.other;
      rows.push({label: tr.annotator + ' phases', h: 20, kind: 'phases', ls: tr.label_set,
        other: true, selected: sel});
      rows.push({label: tr.annotator + ' contacts', h: Math.max(12, S.channels.length * 5),
        kind: 'contacts', ls: tr.label_set, other: true, selected: sel});
    });
    return rows;
  }

  function drawTimeline() {
    const canvas = $('timeline');
    const rows = timelineRows();
    const axis = 20;
    const height = axis + rows.reduce((n, r) => n + r.h + 2, 0) + 2;
    const [ctx, width] = prepare(canvas, height);
    drawAxis(ctx, width, axis);
    let y = axis;
    for (const row of rows) {
      row.y = y;
      ctx.fillStyle = row.selected ? (row.other ? '#eef2ff' : '#fff7d6') : '#f6f6f6';
      ctx.fillRect(0, y, width, row.h);
      ctx.fillStyle = row.other ? '#666' : '#222';
      ctx.fillText((row.selected && !row.other ? '\u25b8 ' : '') + row.label, 6, y + row.h / 2);
      ctx.save();
      ctx.beginPath();
      ctx.rect(LEFT, y, width - LEFT - RIGHT, row.h);
      ctx.clip();
      if (row.kind === 'phases') drawPhases(ctx, width, row);
      else if (row.kind === 'contact') drawContactRow(ctx, width, row);
      else if (row.kind === 'contacts') drawContactLanes(ctx, width, row);
      else drawEvents(ctx, width, row);
      ctx.restore();
      y += row.h + 2;
    }
    canvas.rows = rows;
    drawDisagreements(ctx, width, axis, height);
    drawPlayheadLine(ctx, width, height);
  }

  function drawAxis(ctx, width, h) {
    const [a, b] = S.view;
    const span = b - a;
    const steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000];
    let step = steps[steps.length - 1] * MS;
    for (const s of steps) {
      if ((span / (s * MS)) <= (width - LEFT) / 70) {
        step = s * MS;
        break;
      }
    }
    ctx.strokeStyle = '#bbb';
    ctx.fillStyle = '#555';
    for (let t = Math.ceil(a / step) * step; t <= b; t += step) {
      const x = xOf(t, width);
      ctx.beginPath();
      ctx.moveTo(x, h - 6);
      ctx.lineTo(x, h);
      ctx.stroke();
      ctx.fillText((t / 1e9).toFixed(step < 10 * MS ? 3 : step < 1000 * MS ? 2 : 1), x + 2, h - 11);
    }
  }

  function drawPhases(ctx, width, row) {
    const y = row.y;
    for (const p of row.ls.phases || []) {
      const sub = p.name.indexOf('/') >= 0;
      const x0 = xOf(p.begin_ns, width);
      const x1 = xOf(p.end_ns, width);
      const top = sub ? y + row.h * 0.68 : y + 2;
      const h = sub ? row.h * 0.3 : (row.mine ? row.h * 0.62 : row.h - 4);
      ctx.globalAlpha = p.confidence == null ? (row.other ? 0.55 : 0.9)
        : 0.25 + 0.65 * p.confidence;
      ctx.fillStyle = phaseColour(p.name);
      ctx.fillRect(x0, top, Math.max(1, x1 - x0), h);
      ctx.globalAlpha = 1;
      if (p.confidence != null && !sub) {
        // The pre-label's confidence as a thin bar along the segment's bottom.
        ctx.fillStyle = '#222';
        ctx.fillRect(x0, top + h - 2, Math.max(1, (x1 - x0) * p.confidence), 2);
      }
      if (!sub && x1 - x0 > 24) {
        ctx.fillStyle = '#fff';
        ctx.fillText(p.name + (p.confidence != null ? ' ' + p.confidence.toFixed(2) : ''),
          x0 + 3, top + h / 2);
      }
      if (row.mine && !sub) {
        ctx.fillStyle = '#111';
        ctx.fillRect(x0 - 0.5, y, 1.5, row.h);
        ctx.fillRect(x1 - 0.5, y, 1.5, row.h);
      }
    }
  }

  function drawContactRow(ctx, width, row) {
    for (const c of row.ls.contacts) {
      if (c.channel !== row.channel) continue;
      const x0 = xOf(c.onset_ns, width);
      const x1 = c.offset_ns === null ? xOf(S.playhead > c.onset_ns ? S.playhead : S.end, width)
        : xOf(c.offset_ns, width);
      ctx.globalAlpha = c.confidence == null ? 0.9 : 0.25 + 0.65 * c.confidence;
      ctx.fillStyle = c.offset_ns === null ? '#d97706' : '#0f766e';
      ctx.fillRect(x0, row.y + 2, Math.max(2, x1 - x0), row.h - 4);
      ctx.globalAlpha = 1;
      ctx.fillStyle = '#7f1d1d';
      for (const s of c.slips_ns || []) ctx.fillRect(xOf(s, width) - 1, row.y, 2, row.h);
    }
  }

  function drawContactLanes(ctx, width, row) {
    const n = Math.max(1, S.channels.length);
    const lane = row.h / n;
    for (const c of row.ls.contacts || []) {
      const i = Math.max(0, S.channels.indexOf(c.channel));
      const x0 = xOf(c.onset_ns, width);
      const x1 = xOf(c.offset_ns === null ? S.end : c.offset_ns, width);
      ctx.globalAlpha = c.confidence == null ? 0.6 : 0.2 + 0.6 * c.confidence;
      ctx.fillStyle = '#0f766e';
      ctx.fillRect(x0, row.y + i * lane + 0.5, Math.max(2, x1 - x0), Math.max(1, lane - 1));
      ctx.globalAlpha = 1;
    }
  }

  function drawEvents(ctx, width, row) {
    // Markers of the bag's events; a label that would run into the last one is
    // written on the other line.
    const ends = [-Infinity, -Infinity];
    const events = (S.ep.events || []).slice().sort((a, b) => a.t_ns - b.t_ns);
    for (const e of events) {
      const x = xOf(e.t_ns, width);
      ctx.fillStyle = '#6b21a8';
      ctx.beginPath();
      ctx.moveTo(x, row.y + 2);
      ctx.lineTo(x + 4, row.y + 8);
      ctx.lineTo(x - 4, row.y + 8);
      ctx.fill();
      ctx.fillRect(x - 0.5, row.y + 8, 1, row.h - 8);
      const label = e.text || e.kind;
      const line = ends[1] <= x + 3 ? 1 : (ends[0] <= x + 3 ? 0 : 1);
      ctx.fillText(label, x + 4, row.y + (line ? row.h - 6 : 11));
      ends[line] = x + 6 + ctx.measureText(label).width;
    }
    for (const n of row.ls.notes || []) {
      if (n.stamp_ns == null) continue;
      const x = xOf(n.stamp_ns, width);
      ctx.fillStyle = '#b45309';
      ctx.fillRect(x - 3, row.y + 3, 6, 6);
      ctx.fillText(n.text.slice(0, 24), x + 5, row.y + 7);
    }
  }

  function drawDisagreements(ctx, width, top, height) {
    (S.ep.disagreements || []).forEach((d, i) => {
      if (d.t0_ns == null || d.t1_ns == null) return;
      let x0 = xOf(Math.min(d.t0_ns, d.t1_ns), width);
      let x1 = xOf(Math.max(d.t0_ns, d.t1_ns), width);
      if (x1 - x0 < 4) {
        x0 -= 2;
        x1 += 2;
      }
      ctx.fillStyle = i === S.disagreement ? 'rgba(220, 38, 38, 0.35)' : 'rgba(220, 38, 38, 0.18)';
      ctx.fillRect(x0, top, x1 - x0, height - top);
      ctx.fillStyle = '#dc2626';
      ctx.fillRect(x0, top, x1 - x0, 3);
    });
  }

  function drawPlayheadLine(ctx, width, height) {
    const x = xOf(S.playhead, width);
    ctx.strokeStyle = '#e11d48';
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.moveTo(x, 0);
    ctx.lineTo(x, height);
    ctx.stroke();
  }

  function canvasClick(ev) {
    if (!S.ep) return;
    const canvas = ev.currentTarget;
    const rect = canvas.getBoundingClientRect();
    const x = ev.clientX - rect.left;
    const y = ev.clientY - rect.top;
    if (canvas.id === 'timeline' && canvas.rows) {
      const row = canvas.rows.find((r) => y >= r.y && y < r.y + r.h);
      if (row && row.kind === 'contact') S.channel = S.channels.indexOf(row.channel);
      if (row && row.other) S.other = S.others.findIndex((o) => o.label_set === row.ls);
    }
    if (x >= LEFT) {
      stopPlaying();
      setPlayhead(tOf(x, rect.width));
    } else {
      refresh();
    }
  }

  // ---------------------------------------------------------------- focus time

  function countFocus() {
    let last = performance.now();
    setInterval(() => {
      const now = performance.now();
      if (S.ep && document.hasFocus() && document.visibilityState === 'visible') {
        S.focusMs += now - last;
        text($('time-spent'), Math.round(timeSpent()) + ' s');
      }
      last = now;
    }, 1000);
  }

  // ---------------------------------------------------------------- start

  async function start() {
    buildHelp();
    document.addEventListener('keydown', onKey);
    $('ask').addEventListener('submit', (ev) => {
      ev.preventDefault();
      closeAsk(true);
    });
    $('ask-cancel').addEventListener('click', () => closeAsk(false));
    $('help-button').addEventListener('click', (ev) => {
      ev.currentTarget.blur();
      toggleHelp();
    });
    $('help').addEventListener('click', toggleHelp);
    // Buttons give the keyboard back at once, so Space or Enter never clicks them again.
    for (const [id, action] of [['reload', reloadLatest], ['overwrite', overwrite]]) {
      $(id).addEventListener('click', (ev) => {
        ev.currentTarget.blur();
        action();
      });
    }
    $('plots').addEventListener('mousedown', canvasClick);
    $('timeline').addEventListener('mousedown', canvasClick);
    for (const field of ['task', 'operator', 'outcome']) {
      $('filter-' + field).addEventListener('change', () => {
        S.listSelected = 0;
        renderList();
        $('filter-' + field).blur();
      });
    }
    window.addEventListener('resize', refresh);
    window.addEventListener('hashchange', route);
    window.addEventListener('beforeunload', (ev) => {
      if (S.dirty) {
        ev.preventDefault();
        ev.returnValue = '';
      }
    });
    countFocus();
    try {
      S.config = await api('GET', '/api/config');
    } catch (err) {
      say('cannot load the configuration: ' + err.message, true);
      return;
    }
    text($('who'), S.config.annotator + ' \u00b7 ' + S.config.role
      + (S.config.blind ? ' \u00b7 blind' : ''));
    document.body.dataset.role = S.config.role;
    document.body.dataset.ready = '1';
    route();
  }

  start();
}());
