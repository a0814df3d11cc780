// Drives the web chat page in headless Chromium: opens URL, sends each
// message given after it, waits for a reply matching /expect/ after each,
// and prints what the page showed as JSON. Exit 1 on any failure.
//
//   node chat.mjs http://127.0.0.1:PORT/chat/weather "32801=Orlando, FL"
import { chromium } from "playwright-core";

const [url, ...turns] = process.argv.slice(2);
if (!url || turns.length === 0) {
  console.error('usage: node chat.mjs URL "message=expected reply text" ...');
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const result = { turns: [], screenshot: process.env.SCREENSHOT || "" };
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => { result.pageError = String(e); });
  const resp = await page.goto(url);
  result.status = resp.status();
  if (resp.status() !== 200) throw new Error("page answered " + resp.status());
  result.title = await page.title();
  for (const t of turns) {
    const i = t.indexOf("=");
    const [text, expect] = i < 0 ? [t, ""] : [t.slice(0, i), t.slice(i + 1)];
    const before = await page.locator(".msg.out").count();
    await page.fill("#text", text);
    await page.press("#text", "Enter");
    await page.locator(".msg.out").nth(before).waitFor({ timeout: 15000 });
    const replies = await page.locator(".msg.out").allTextContents();
    const got = replies.slice(before);
    result.turns.push({ sent: text, replies: got });
    if (expect && !got.some((r) => r.includes(expect))) {
      throw new Error(`after "${text}" no reply contains "${expect}": ${JSON.stringify(got)}`);
    }
  }
  if (result.screenshot) await page.screenshot({ path: result.screenshot });
  if (result.pageError) throw new Error("page error: " + result.pageError);
  console.log(JSON.stringify(result));
} catch (e) {
  result.error = String(e);
  console.log(JSON.stringify(result));
  process.exitCode = 1;
} finally {
  await browser.close();
}
