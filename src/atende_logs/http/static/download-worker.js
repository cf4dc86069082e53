// The console's downloads (issue 20). A link cannot carry the x-api-key header, and a page
// that fetches the export and builds a Blob holds the whole file in memory. This worker sits
// between: the page hands it the export's URL and headers for one download, under a random
// id, and then follows a link to /console/download?id=…; the worker answers that link with
// the export's own response, body streamed as it arrives, so the browser saves it to disk
// as it comes. The key crosses from the page to the worker in memory, never in a URL, a
// cookie or a log; each job is used once and forgotten.
"use strict";
const jobs = new Map();

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("message", (event) => {
  const job = event.data;
  jobs.set(job.id, job);
  setTimeout(() => jobs.delete(job.id), 60_000); // an unclaimed job does not linger
  event.ports[0].postMessage("ready");
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (!url.pathname.endsWith("/console/download")) return;
  const job = jobs.get(url.searchParams.get("id"));
  jobs.delete(url.searchParams.get("id"));
  if (!job) {
    event.respondWith(new Response("Download expirado: clique de novo no console.", { status: 410 }));
    return;
  }
  event.respondWith(fetch(job.url, { headers: job.headers }));
});
