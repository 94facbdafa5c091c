// The dashboard: vanilla JS, no build step, nothing loaded from elsewhere. It polls the API
// once a second with the bearer token (from `?token=` or the sign-in form, kept in this
// tab's sessionStorage) and redraws the campaign list, the system cards and the selected
// campaign; the plan graph is an SVG drawn by the server.
'use strict';

(() => {
  const POLL_MS = 1000;
  const KEY = 'dripline.token';
  const $ = (sel) => document.querySelector(sel);

  // A token in the address bar is moved to sessionStorage and removed from the URL, so it
  // does not stay in the history or leak through a Referer.
  const params = new URLSearchParams(location.search);
  if (params.has('token')) {
    sessionStorage.setItem(KEY, params.get('token'));
    params.delete('token');
    history.replaceState(null, '', location.pathname + (params.toString() ? `?${params}` : '') + location.hash);
  }
  let token = sessionStorage.getItem(KEY);
  let selected = params.get('campaign') || null;
  let planShownFor = null;
  let timer = null;
  let polling = false;

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.message) || `HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }

  async function api(path, init = {}) {
    const res = await fetch(path, { ...init, headers: { ...(init.headers || {}), authorization: `Bearer ${token}`, ...(init.body ? { 'content-type': 'application/json' } : {}) } });
    let body = null;
    try {
      body = await res.json();
    } catch {
      body = null;
    }
    if (!res.ok) throw new ApiError(res.status, body);
    return body;
  }

  const fmt = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : '–');
  const el = (tag, props = {}, children = []) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role') e.setAttribute(k, String(v));
      else e[k] = v;
    }
    for (const c of children) e.append(c);
    return e;
  };

  function showLogin(message) {
    stop();
    $('#main').hidden = true;
    $('#logout').hidden = true;
    $('#whoami').textContent = '';
    $('#login').hidden = false;
    $('#login-error').textContent = message || '';
    $('#token-input').focus();
  }

  async function signIn() {
    try {
      const me = await api('/api/me');
      const p = me.principal;
      $('#whoami').textContent = `${p.id} · tenant ${p.tenantId} · ${p.permissions.join(', ')}`;
      $('#login').hidden = true;
      $('#main').hidden = false;
      $('#logout').hidden = false;
      start();
    } catch (e) {
      sessionStorage.removeItem(KEY);
      token = null;
      showLogin(e instanceof ApiError && e.status === 401 ? 'That token is not valid.' : `Could not reach the API: ${e.message}`);
    }
  }

  function banner(message) {
    const b = $('#banner');
    b.textContent = message || '';
    b.hidden = !message;
  }

  function renderSystem(m) {
    const s = m.system;
    $('#sys-sent').textContent = fmt(s.messagesSent);
    $('#sys-failed').textContent = fmt(s.messagesFailed);
    $('#sys-rate').textContent = fmt(s.sendRate);
    $('#sys-avg').textContent = fmt(s.averageProcessingTime);
    $('#sys-active').textContent = fmt(s.activeWorkers);
    const c = $('#sys-circuit');
    c.textContent = s.circuitBreakerStatus;
    c.className = `badge ${s.circuitBreakerStatus}`;
    c.title = Object.entries(s.circuits).map(([k, v]) => `${k}: ${v}`).join('\n') || 'no transport used yet';
    const p = m.processingQueue;
    $('#sys-queue').textContent = `${fmt(p.waiting)} waiting · ${fmt(p.active)} active · ${fmt(p.delayed)} delayed`;
  }

  function progressCell(c) {
    const pct = c.progress.percentage;
    const fill = el('div', { class: `fill${c.status === 'completed' ? ' done' : c.status === 'paused' || c.status === 'stopped' ? ' halted' : ''}` });
    fill.style.width = `${Math.min(100, pct)}%`;
    return el('td', {}, [
      el('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': pct }, [fill]),
      el('span', {
        class: 'progress-text',
        'data-processed': String(c.progress.processed),
        'data-total': String(c.progress.total),
        'data-percentage': String(pct),
        text:
          c.status === 'draft' || c.status === 'scheduled'
            ? `not started · audience ${fmt(c.audienceSize)}`
            : `${fmt(c.progress.processed)} / ${fmt(c.progress.total)} (${pct}%)`,
      }),
    ]);
  }

  function renderCampaigns(list) {
    const tbody = $('#campaigns tbody');
    const rows = list.campaigns.map((c) =>
      el('tr', { class: c.id === selected ? 'selected' : '', 'data-campaign-id': c.id, 'data-status': c.status }, [
        el('td', {}, [el('div', { text: c.name }), el('small', { class: 'muted', text: c.id })]),
        el('td', {}, [el('span', { class: `badge ${c.status}`, text: c.status })]),
        progressCell(c),
        el('td', { class: 'sent', text: fmt(c.messages.sent) }),
        el('td', { class: 'failed', text: fmt(c.messages.failed) }),
        el('td', { class: 'rate', text: `${fmt(c.sendRate)}/s` }),
        el('td', { text: new Date(c.createdAt).toLocaleTimeString() }),
      ]),
    );
    tbody.replaceChildren(...rows);
    $('#empty').hidden = list.campaigns.length > 0;
    if (!selected && list.campaigns.length) select(list.campaigns[0].id);
  }

  function renderDetail(status, campaign) {
    $('#detail').hidden = false;
    $('#detail-title').textContent = campaign ? `${campaign.name} (${campaign.id})` : status.campaignId;
    const st = status.status;
    const can = { start: ['draft', 'scheduled'], 'queue-pause': ['active'], 'queue-resume': ['paused'], 'queue-stop': ['scheduled', 'active', 'paused'] };
    for (const b of document.querySelectorAll('.controls button')) b.disabled = !can[b.dataset.action].includes(st);
    const stats = [
      ['status', st],
      ['processed', `${fmt(status.progress.processed)} / ${fmt(status.progress.total)}`],
      ['succeeded', fmt(status.progress.success)],
      ['failed', fmt(status.progress.failed)],
      ['messages sent', fmt(status.metrics.messagesSent)],
      ['messages failed', fmt(status.metrics.messagesFailed)],
      ['outcome unknown', fmt(status.metrics.messagesUnknown)],
      ['deferrals', fmt(status.metrics.deferred)],
      ['jobs waiting', fmt(status.waitingJobs)],
      ['jobs active', fmt(status.activeJobs)],
      ['jobs done', fmt(status.completedJobs)],
      ['send rate', `${fmt(status.sendRate)}/s`],
    ];
    $('#detail-stats').replaceChildren(...stats.map(([k, v]) => el('div', {}, [el('dt', { text: k }), el('dd', { text: v, 'data-stat': k })])));
  }

  async function showPlan(id) {
    const plan = await api(`/api/campaigns/${encodeURIComponent(id)}/plan`);
    if (selected !== id) return;
    $('#plan-version').textContent = `version ${plan.planVersion}`;
    // The server escapes every text of the plan in the SVG it returns.
    $('#plan-graph').innerHTML = plan.svg;
    planShownFor = `${id}@${plan.planVersion}`;
  }

  function select(id) {
    selected = id;
    planShownFor = null;
    $('#plan-graph').replaceChildren();
    $('#action-result').textContent = '';
    for (const tr of document.querySelectorAll('#campaigns tbody tr')) tr.classList.toggle('selected', tr.dataset.campaignId === id);
    void poll();
  }

  async function poll() {
    if (polling || !token) return;
    polling = true;
    try {
      const [list, metrics] = await Promise.all([api('/api/campaigns?limit=50'), api('/api/dashboard/campaign-queue-metrics')]);
      renderCampaigns(list);
      renderSystem(metrics.metrics);
      if (selected) {
        const campaign = list.campaigns.find((c) => c.id === selected);
        const status = await api(`/api/campaigns/${encodeURIComponent(selected)}/queue-status`);
        renderDetail(status.status, campaign);
        if (planShownFor !== `${selected}@${status.status.metrics.planVersion}`) await showPlan(selected);
      }
      $('#updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
      banner('');
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return showLogin('The token is no longer valid.');
      if (e instanceof ApiError && e.status === 404 && selected) {
        selected = null;
        $('#detail').hidden = true;
      }
      banner(`Update failed: ${e.message}`);
    } finally {
      polling = false;
    }
  }

  function start() {
    stop();
    void poll();
    timer = setInterval(poll, POLL_MS);
  }
  function stop() {
    if (timer) clearInterval(timer);
    timer = null;
  }

  $('#campaigns tbody').addEventListener('click', (ev) => {
    const tr = ev.target.closest('tr[data-campaign-id]');
    if (tr) select(tr.dataset.campaignId);
  });
  for (const b of document.querySelectorAll('.controls button')) {
    b.addEventListener('click', async () => {
      if (!selected) return;
      const out = $('#action-result');
      out.textContent = '…';
      try {
        const r = await api(`/api/campaigns/${encodeURIComponent(selected)}/${b.dataset.action}`, { method: 'POST', body: '{}' });
        out.textContent = r.message || 'done';
      } catch (e) {
        out.textContent = e.message;
      }
      void poll();
    });
  }
  $('#login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    token = $('#token-input').value.trim();
    $('#token-input').value = '';
    if (!token) return;
    sessionStorage.setItem(KEY, token);
    void signIn();
  });
  $('#logout').addEventListener('click', () => {
    sessionStorage.removeItem(KEY);
    token = null;
    showLogin('');
  });

  if (token) void signIn();
  else showLogin('');
})();
