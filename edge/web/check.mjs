// The edge page in headless Chromium: `node check.mjs PAGE_URL IMAGE...` prints one JSON line,
// {"top": [{"source", "label", "index", "score"}, ...]} or {"error": "..."} (exit 1).
//
// PAGE_URL is a running `python -m edge.web MODEL` (tests/edge/test_edge_web.py starts one on a
// free port); with ?image=URL in it, that picture comes first. Each IMAGE then goes through the
// page's file picker, as a user's would; the script waits for the page's own marker
// (#result[data-source=NAME]), not for a fixed time.
// Debian's chromium (CHROMIUM overrides the path); MediaPipe needs WebGL even with the CPU
// delegate, which SwiftShader (software GL) gives a headless browser.
import path from "node:path";
import { chromium } from "playwright-core";

const TIMEOUT_MS = Number(process.env.WEB_CHECK_TIMEOUT_MS ?? 60000); // per step

async function classifyAll(page, pageUrl, images) {
  await page.goto(pageUrl);
  const state = await page.waitForSelector("#status[data-state=ready], #status[data-state=error]");
  if ((await state.getAttribute("data-state")) === "error") throw new Error(await state.textContent());
  const top = [];
  const queried = new URL(pageUrl).searchParams.get("image");
  if (queried) top.push(await readResult(page, queried));
  for (const image of images) {
    await page.setInputFiles("#picture", image);
    top.push(await readResult(page, path.basename(image)));
  }
  return top;
}

async function readResult(page, source) {
  const marker = await page.waitForSelector(`#result[data-source=${JSON.stringify(source)}]`);
  const data = await marker.evaluate((element) => ({ ...element.dataset }));
  if (data.error) throw new Error(`${source}: ${data.error}`);
  return { source, label: data.label, index: Number(data.index), score: Number(data.score) };
}

async function main([pageUrl, ...images]) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"],
    timeout: TIMEOUT_MS,
  });
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(TIMEOUT_MS);
    const messages = [];
    page.on("console", (message) => messages.push(`${message.type()}: ${message.text()}`));
    page.on("pageerror", (err) => messages.push(`pageerror: ${err.message}`));
    try {
      console.log(JSON.stringify({ top: await classifyAll(page, pageUrl, images) }));
    } catch (err) {
      console.log(JSON.stringify({ error: String(err?.message ?? err), console: messages }));
      process.exitCode = 1;
    }
  } finally {
    await browser.close();
  }
}

await main(process.argv.slice(2));
