// The console (issue 20): a client of the public API and nothing more. The key lives in
// sessionStorage and travels only in the x-api-key header; every figure shown is the API's.
"use strict";
(() => {
  const config = JSON.parse(document.getElementById("config").textContent);
  const kinds = Object.fromEntries(config.kinds.map((k) => [k.name, k]));
  const $ = (id) => document.getElementById(id);
  const KEY = "atende.key";
  const TOKEN = "atende.token";
  const PAGE_SIZE = "100";
  let current = null; // {kind, params}: the search the results show
  let after = null;
  let chart = null;

  // --- The key -----------------------------------------------------------------------------
  const key = () => sessionStorage.getItem(KEY) || "";
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("key").value.trim();
    if (value) sessionStorage.setItem(KEY, value);
    $("key").value = "";
    showKeyState();
  });
  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(TOKEN);
    showKeyState();
  });
  function showKeyState() {
    $("key").placeholder = key() ? "chave em uso nesta aba (cole outra para trocar)" : "cole sua chave aqui";
  }

  // --- The form ----------------------------------------------------------------------------
  const kind = () => kinds[$("kind").value];
  const fieldset = () => document.querySelector(`fieldset[data-kind="${kind().name}"]`);
  function showKind() {
    document.querySelectorAll("fieldset.filters").forEach((f) => { f.hidden = f !== fieldset(); });
    $("split").replaceChildren(new Option("(nada)", ""), ...kind().splits.map((s) => new Option(s, s)));
    $("split").value = kind().splits[0] || "";
    const token = fieldset().querySelector("[data-secret=token]");
    if (token) token.value = sessionStorage.getItem(TOKEN) || "";
  }
  $("kind").addEventListener("change", showKind);

  // Dates are the zone's wall clock: "today" is today in the chosen zone, not the browser's.
  const todayIn = (tz) => new Intl.DateTimeFormat("en-CA", { timeZone: tz }).format(new Date());
  const addDays = (day, n) => {
    const d = new Date(`${day}T00:00:00Z`);
    d.setUTCDate(d.getUTCDate() + n);
    return d.toISOString().slice(0, 10);
  };
  function preset(name) {
    let today;
    try { today = todayIn($("tz").value); } catch { today = todayIn("UTC"); }
    const ranges = {
      today: [today, today],
      yesterday: [addDays(today, -1), addDays(today, -1)],
      week: [addDays(today, -6), today],
      month: [`${today.slice(0, 8)}01`, today],
    };
    const [first, last] = ranges[name];
    $("start_at").value = `${first}T00:00`;
    $("end_at").value = `${last}T23:59`;
  }
  document.querySelectorAll("[data-preset]").forEach((b) =>
    b.addEventListener("click", () => preset(b.dataset.preset)));

  // The listing's parameters, as the API takes them: empty fields are left out.
  function listingParams() {
    const params = new URLSearchParams();
    params.set("start_at", $("start_at").value);
    params.set("end_at", $("end_at").value);
    if ($("tz").value.trim()) params.set("tz", $("tz").value.trim());
    for (const input of fieldset().querySelectorAll("input[name]")) {
      if (input.dataset.secret || !input.value.trim()) continue;
      params.set(input.name, input.value);
    }
    return params;
  }
  function headers() {
    const h = { "x-api-key": key() };
    const token = fieldset().querySelector("[data-secret=token]");
    if (token && token.value) {
      sessionStorage.setItem(TOKEN, token.value);
      h["x-dialer-token"] = token.value;
    }
    return h;
  }

  // --- Calls and their states --------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, body, retryAfter) {
      super(body?.error?.message || `HTTP ${status}`);
      Object.assign(this, { status, body, retryAfter });
    }
  }
  async function api(path, params) {
    const response = await fetch(`${config.root}${path}?${params}`, { headers: headers() });
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, body, response.headers.get("retry-after"));
    return body;
  }
  function state(kind, text) {
    const box = $("state");
    box.className = kind;
    box.textContent = text;
    box.hidden = !text;
    box.dataset.state = kind;
  }
  function showError(error) {
    if (!(error instanceof ApiError)) return state("error", `Falha de rede: ${error.message}`);
    if (error.status === 401) {
      return state("revoked", "Chave inválida ou revogada: cole uma chave válida acima. " +
        `(${error.message})`);
    }
    if (error.status === 429) {
      const wait = error.retryAfter ? ` Tente de novo em ${error.retryAfter} s.` : "";
      return state("limited", `Muitas consultas seguidas: limite da chave atingido.${wait}`);
    }
    const param = error.body?.error?.parameter;
    state("error", param ? `${error.message} (parâmetro ${param})` : error.message);
  }

  // --- Search: the chart, the first page, and the next ones ---------------------------------
  async function search() {
    if (!key()) return state("revoked", "Cole sua chave de API para começar.");
    const params = listingParams();
    current = { kind: kind(), params };
    after = null;
    $("results").hidden = true;
    state("loading", "Buscando…");
    try {
      const statsParams = new URLSearchParams(params);
      statsParams.set("interval", $("interval").value);
      if ($("split").value) statsParams.set("split", $("split").value);
      const pageParams = new URLSearchParams(params);
      pageParams.set("size", PAGE_SIZE);
      const [stats, page] = await Promise.all([
        api(current.kind.stats_path, statsParams),
        api(current.kind.path, pageParams),
      ]);
      drawTable(page, false);
      $("results").hidden = false; // first: the chart takes its width from its box
      drawChart(stats);
      state(page.total ? "" : "empty", page.total ? "" : "Nenhum registro neste período com estes filtros.");
    } catch (error) {
      showError(error);
    }
  }
  $("search").addEventListener("submit", (event) => { event.preventDefault(); search(); });

  async function more() {
    const params = new URLSearchParams(current.params);
    params.set("size", PAGE_SIZE);
    params.set("after", String(after));
    try {
      drawTable(await api(current.kind.path, params), true);
    } catch (error) {
      showError(error);
    }
  }
  $("more").addEventListener("click", more);

  // --- The table ---------------------------------------------------------------------------
  const valueAt = (doc, paths) => {
    for (const path of paths.split("|")) {
      const value = path.split(".").reduce((v, step) => (v && typeof v === "object" ? v[step] : undefined), doc);
      if (value !== undefined && value !== null && value !== "") return value;
    }
    return "";
  };
  function when(value) {
    const moment = typeof value === "number" ? new Date(value) : new Date(String(value));
    if (Number.isNaN(moment.getTime())) return String(value);
    return new Intl.DateTimeFormat("pt-BR", {
      timeZone: current.params.get("tz") || undefined, dateStyle: "short", timeStyle: "medium",
    }).format(moment);
  }
  function drawTable(page, append) {
    const columns = [["Quando", current.kind.time_field], ...current.kind.columns];
    const body = $("table").tBodies[0];
    if (!append) {
      const head = document.createElement("tr");
      head.append(...["", ...columns.map((c) => c[0])].map((text) => {
        const th = document.createElement("th");
        th.textContent = text;
        return th;
      }));
      $("table").tHead.replaceChildren(head);
      body.replaceChildren();
    }
    for (const doc of page.items) {
      const row = document.createElement("tr");
      row.className = "item";
      const toggle = document.createElement("button");
      toggle.type = "button";
      toggle.textContent = "▸";
      toggle.setAttribute("aria-expanded", "false");
      toggle.setAttribute("aria-label", "Ver o documento inteiro");
      const first = document.createElement("td");
      first.append(toggle);
      row.append(first, ...columns.map(([, path], i) => {
        const td = document.createElement("td");
        const value = valueAt(doc, path);
        td.textContent = i === 0 ? when(value) : String(value);
        return td;
      }));
      const detail = document.createElement("tr");
      detail.className = "detail";
      detail.hidden = true;
      const cell = document.createElement("td");
      cell.colSpan = columns.length + 1;
      const pre = document.createElement("pre");
      pre.textContent = JSON.stringify(doc, null, 2);
      cell.append(pre);
      detail.append(cell);
      toggle.addEventListener("click", (event) => {
        event.stopPropagation();
        detail.hidden = !detail.hidden;
        toggle.textContent = detail.hidden ? "▸" : "▾";
        toggle.setAttribute("aria-expanded", String(!detail.hidden));
      });
      row.addEventListener("click", () => toggle.click());
      body.append(row, detail);
    }
    after = page.after;
    const shown = body.querySelectorAll("tr.item").length;
    $("total").textContent = `${page.total.toLocaleString("pt-BR")} registros`;
    $("total").dataset.total = String(page.total);
    $("shown").textContent = `${shown.toLocaleString("pt-BR")} de ${page.total.toLocaleString("pt-BR")} na tabela`;
    $("more").hidden = shown >= page.total || page.after === null;
  }

  // --- The chart (uPlot): stacked bars, a click narrows the range to the bar ------------------
  const COLORS = ["#0b5394", "#e69138", "#6aa84f", "#cc0000", "#674ea7", "#45818e", "#999999"];
  function drawChart(stats) {
    if (chart) chart.destroy();
    const buckets = stats.buckets;
    const xs = buckets.map((b) => Date.parse(b.start) / 1000);
    const values = stats.split
      ? [...new Set(buckets.flatMap((b) => Object.keys(b.counts)))].sort()
      : ["total"];
    const countOf = (b, v) => (stats.split ? b.counts[v] || 0 : b.total);
    // Stacked: each series is the running sum, drawn from the tallest down.
    const stacks = values.map((_, i) => buckets.map((b) => values.slice(0, i + 1).reduce((s, v) => s + countOf(b, v), 0)));
    const order = values.map((_, i) => i).reverse();
    const width = Math.max(300, $("chart").clientWidth - 2);
    const bars = uPlot.paths.bars({ size: [0.8, 60] });
    chart = new uPlot({
      width, height: 220,
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
      legend: { show: true, live: false },
      // Ticks in the request's zone and in pt-BR, as the table's times.
      axes: [{ values: (u, ticks) => ticks.map((t) => tick(t, stats)) }, { size: 60 }],
      cursor: { points: { show: false } },
      series: [{}, ...order.map((i) => ({
        label: values[i] === "" ? "(sem valor)" : values[i],
        fill: COLORS[i % COLORS.length], stroke: COLORS[i % COLORS.length], paths: bars, points: { show: false },
      }))],
    }, [xs, ...order.map((i) => stacks[i])], $("chart"));
    chart.over.addEventListener("click", () => {
      const index = chart.cursor.idx;
      if (index !== null && index !== undefined) narrow(stats, index);
    });
    $("chart").dataset.bars = String(buckets.length);
    window.atendeConsole = { chart, stats };
    pickable(stats);
  }
  // The bars with records, as a list to choose from: what a click on the chart does, from
  // the keyboard (and for a screen reader, which cannot see the canvas).
  function pickable(stats) {
    const options = [];
    stats.buckets.forEach((bar, index) => {
      if (!bar.total) return;
      const option = document.createElement("option");
      option.value = String(index);
      option.textContent = `${barLabel(bar, stats)} — ${bar.total.toLocaleString("pt-BR")} registros`;
      options.push(option);
    });
    $("bar-pick").replaceChildren(...options);
    $("bar-form").hidden = options.length === 0;
  }
  $("bar-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const stats = window.atendeConsole?.stats;
    if (stats && $("bar-pick").value !== "") narrow(stats, Number($("bar-pick").value));
  });
  // A bar's start as the zone's wall clock, "06/05/2024" or "06/05/2024 14:00" (from the
  // API's own offset-bearing start, so no zone arithmetic here).
  function barLabel(bar, stats) {
    const [date, time] = bar.start.slice(0, 16).split("T");
    const [year, month, day] = date.split("-");
    return stats.interval === "day" ? `${day}/${month}/${year}` : `${day}/${month}/${year} ${time}`;
  }
  function tick(seconds, stats) {
    const options = stats.interval === "day"
      ? { day: "2-digit", month: "2-digit" } : { day: "2-digit", hour: "2-digit", minute: "2-digit" };
    return new Intl.DateTimeFormat("pt-BR", { timeZone: stats.tz, ...options }).format(new Date(seconds * 1000));
  }
  // A bar's wall-clock span in the zone: its start's "YYYY-MM-DDTHH:MM" to the minute before
  // the next bar starts (the API reads an end_at minute as the whole minute).
  function narrow(stats, index) {
    const bar = stats.buckets[index];
    $("start_at").value = bar.start.slice(0, 16);
    const day = bar.start.slice(0, 10);
    $("end_at").value = stats.interval === "day" ? `${day}T23:59` : `${bar.start.slice(0, 13)}:59`;
    if (stats.interval === "day") $("interval").value = "hour";
    search();
  }

  // --- Downloads: streamed by a service worker that adds the key header --------------------
  // Its scope is /console/, which holds the download URL but not this page (/console):
  // navigator.serviceWorker.ready would wait for ever, so wait for the worker itself.
  let worker = null;
  if ("serviceWorker" in navigator && window.isSecureContext) {
    worker = navigator.serviceWorker
      .register(`${config.root}/console/download-worker.js`, { scope: `${config.root}/console/` })
      .then(activated);
  }
  function activated(registration) {
    const w = registration.active || registration.waiting || registration.installing;
    if (w.state === "activated") return w;
    return new Promise((resolve) => w.addEventListener("statechange", () => {
      if (w.state === "activated") resolve(w);
    }));
  }
  async function download(format) {
    if (!current) return;
    const params = new URLSearchParams(current.params);
    params.set("format", format);
    if (format === "csv") { params.set("delimiter", ";"); params.set("bom", "true"); }
    if (!worker) {
      return state("error", "Este navegador não permite baixar daqui sem expor a chave " +
        "(é preciso HTTPS ou localhost): use “Copiar como curl”.");
    }
    const active = await worker;
    const id = crypto.randomUUID();
    const job = { id, url: `${location.origin}${config.root}${current.kind.path}?${params}`, headers: headers() };
    await new Promise((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = resolve;
      active.postMessage(job, [channel.port2]);
    });
    const link = document.createElement("a");
    link.href = `${config.root}/console/download?id=${id}`;
    document.body.append(link);
    link.click();
    link.remove();
  }
  $("csv").addEventListener("click", () => download("csv"));
  $("ndjson").addEventListener("click", () => download("ndjson"));

  // --- Copy as curl: the request of the table's first page, the key left to the shell -------
  $("curl").addEventListener("click", async () => {
    if (!current) return;
    const params = new URLSearchParams(current.params);
    params.set("size", PAGE_SIZE);
    const quote = (s) => `'${s.replace(/'/g, "'\\''")}'`;
    let command = `curl -sS -H "x-api-key: $ATENDE_API_KEY"`;
    if (current.kind.by_dialer) command += ` -H "x-dialer-token: $ATENDE_DIALER_TOKEN"`;
    command += ` ${quote(`${location.origin}${config.root}${current.kind.path}?${params}`)}`;
    $("curl-text").textContent = command;
    $("curl-text").hidden = false;
    try { await navigator.clipboard.writeText(command); } catch { /* shown above to copy by hand */ }
  });

  showKind();
  showKeyState();
  preset("week");
})();
