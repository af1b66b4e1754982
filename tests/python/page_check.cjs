// Open local pages in Debian's headless Chromium (through playwright-core) and report what
// a reader would meet: console errors, uncaught exceptions, requests that would leave the
// machine (aborted, never sent), broken images, plots drawn in one colour, whether the CJK
// font is available to the page, and a screenshot. Used by tests/python/test_report_pages.py.
//
// usage: node page_check.cjs <spec.json>   spec: {"executable", "userDataDir", "pages": [
//   {"url", "screenshot", "fullPage", "expectText", "timeoutMs"}]}   prints one JSON report.
"use strict";
const fs = require("fs");
const { chromium } = require("playwright-core");

const LOCAL = /^(file|data|blob|about):/;
const FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

async function checkPage(context, spec) {
  const page = await context.newPage();
  const out = { url: spec.url, consoleErrors: [], pageErrors: [], external: [],
    failedRequests: [], images: [], textFound: false, cjkFont: false };
  page.on("console", (m) => { if (m.type() === "error") out.consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => out.pageErrors.push(String(e)));
  page.on("requestfailed", (r) => {
    if (LOCAL.test(r.url())) out.failedRequests.push(`${r.url()}: ${r.failure()?.errorText}`);
  });
  await page.goto(spec.url, { waitUntil: "load", timeout: spec.timeoutMs });
  try {
    await page.waitForFunction((t) => document.body &&
      document.body.innerText.toLowerCase().includes(t.toLowerCase()),
      spec.expectText, { timeout: spec.timeoutMs });
    out.textFound = true;
  } catch (e) { out.textFound = false; }
  await page.waitForTimeout(500);
  out.title = await page.title();
  out.cjkFont = await page.evaluate(async () => {
    await document.fonts.ready;
    return document.fonts.check('16px "Noto Sans CJK SC"', "客群");
  });
  out.images = await page.evaluate(() => Array.from(document.images).map((img) => {
    const r = { src: img.currentSrc.slice(0, 80), cls: img.className, complete: img.complete,
      width: img.naturalWidth, height: img.naturalHeight, colours: null, colouredShare: null };
    if (img.classList.contains("plot") && img.naturalWidth > 0) {
      const c = document.createElement("canvas");
      c.width = img.naturalWidth; c.height = img.naturalHeight;
      const ctx = c.getContext("2d");
      ctx.drawImage(img, 0, 0);
      const px = ctx.getImageData(0, 0, c.width, c.height).data;
      // share of sampled pixels that are clearly coloured (data marks; axes and text are
      // black, grey or white), and how many distinct colours were seen
      const seen = new Set();
      let sampled = 0, coloured = 0;
      const step = Math.max(1, Math.floor(px.length / 4 / 40000)) * 4;
      for (let i = 0; i < px.length; i += step) {
        sampled += 1;
        const hi = Math.max(px[i], px[i + 1], px[i + 2]), lo = Math.min(px[i], px[i + 1], px[i + 2]);
        if (hi - lo > 40) coloured += 1;
        if (seen.size < 1000) seen.add((px[i] << 16) | (px[i + 1] << 8) | px[i + 2]);
      }
      r.colours = seen.size;
      r.colouredShare = coloured / sampled;
    }
    return r;
  }));
  out.links = await page.evaluate(() => Array.from(document.querySelectorAll("a[href]"))
    .map((a) => a.href).filter((h) => h.startsWith("file:")));
  await page.screenshot({ path: spec.screenshot, fullPage: !!spec.fullPage });
  await page.close();
  return out;
}

(async () => {
  const spec = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const context = await chromium.launchPersistentContext(spec.userDataDir, {
    executablePath: spec.executable, headless: true, args: FLAGS,
    viewport: { width: 1400, height: 900 }, locale: "zh-CN",
  });
  const external = [];
  // Anything not on this machine is recorded and aborted before it is sent.
  await context.route((url) => !LOCAL.test(url.href), (route) => {
    external.push(route.request().url());
    return route.abort("blockedbyclient");
  });
  const pages = [];
  try {
    for (const p of spec.pages) {
      const before = external.length;
      const r = await checkPage(context, p);
      r.external = external.slice(before);
      pages.push(r);
    }
  } finally {
    await context.close();
  }
  process.stdout.write(JSON.stringify({ pages }, null, 1));
})().catch((e) => { console.error(e); process.exit(1); });
