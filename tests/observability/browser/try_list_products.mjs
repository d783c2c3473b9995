// Opens the edge's /docs in Debian's headless Chromium, runs GET /v1/products with "Try it out" and
// limit=3, and prints what the page showed as one JSON line; screenshots go to the folder given.
//   node try_list_products.mjs BASE_URL SCREENSHOT_DIR [CHROMIUM]
// Requests to any other origin are refused and reported: the reference must work offline.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [base, shots, executablePath = "/usr/bin/chromium"] = process.argv.slice(2);
const origin = new URL(base).origin;
// The flags the field notes give for Chromium on these machines; headless comes with headless: true.
const args = [
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
];
const profile = mkdtempSync(join(tmpdir(), "farmlokal-chromium-"));
const result = { elsewhere: [], console_errors: [] };
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args,
  viewport: { width: 1280, height: 900 },
});
try {
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(`${origin}/`) || url.startsWith("data:")) return route.continue();
    result.elsewhere.push(url);
    return route.abort();
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on("console", (message) => {
    if (message.type() === "error") result.console_errors.push(message.text());
  });
  page.on("pageerror", (error) => result.console_errors.push(String(error)));

  await page.goto(`${base}/docs`, { waitUntil: "load" });
  result.title = await page.title();
  const operation = page.locator(".opblock.opblock-get", {
    has: page.locator('.opblock-summary-path[data-path="/v1/products"]'),
  });
  await operation.first().waitFor({ timeout: 15000 });
  result.operations = await page.locator(".opblock").count();
  await page.screenshot({ path: join(shots, "docs-page.png") });

  const listing = operation.first();
  await listing.locator(".opblock-summary").click();
  await listing.locator("button.try-out__btn").click();
  await listing.locator('tr[data-param-name="limit"] input').fill("3");
  await listing.locator("button.execute").click();

  const live = listing.locator(".live-responses-table .response");
  await live.first().waitFor({ timeout: 15000 });
  result.request_url = (await listing.locator(".request-url pre").innerText()).trim();
  result.status = (await live.first().locator(".response-col_status").innerText()).trim();
  const body = await live.first().locator(".response-col_description pre").first().innerText();
  result.products = JSON.parse(body).products.map((product) => product.id);
  await listing.scrollIntoViewIfNeeded();
  await listing.screenshot({ path: join(shots, "try-it-out-list-products.png") });
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
