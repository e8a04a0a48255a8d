/**
 * The status page at `/`, in a real headless Chromium (Debian's `chromium`
 * driven by playwright-core): against a user-vectors instance on the real
 * stack, it shows the active snapshot, every partition READY, a non-zero
 * events/s while listens arrive, and looks a user up (vector and candidates).
 * Leaves a screenshot in test-output/status-page.png.
 *
 * Chromium is found through CHROMIUM_PATH or `which chromium`; without one
 * the test is skipped with a note (CI installs it: .ci/run).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { ROOT } from './helpers';
import { startUserVectorsSystem, type UserVectorsSystem } from './user-vectors-system';

jest.setTimeout(240_000);

function findChromium(): string | undefined {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : undefined;
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const executablePath = findChromium();
if (!executablePath) {
  const why = process.env.CHROMIUM_PATH ? `CHROMIUM_PATH=${process.env.CHROMIUM_PATH} does not exist` : 'no `chromium` on the PATH';
  console.warn(
    `status-page.test.ts skipped: ${why}. Install Chromium (Debian/Ubuntu: \`apt-get install chromium\`) or set CHROMIUM_PATH to its executable; the status page was not tested.`,
  );
}
const maybe = executablePath ? describe : describe.skip;

const SCREENSHOT = join(ROOT, 'test-output', 'status-page.png');

maybe('status page in headless Chromium', () => {
  let sys: UserVectorsSystem | undefined;
  let browser: Browser | undefined;
  let pump: NodeJS.Timeout | undefined;
  afterAll(async () => {
    clearInterval(pump);
    await browser?.close();
    await sys?.close();
  });

  it('shows the active snapshot, partition readiness and events/s, and looks a user up', async () => {
    sys = await startUserVectorsSystem('page');
    const s1 = await sys.publish('s1');
    await sys.waitActive(s1);
    await sys.sendListens(12, 3);

    browser = await chromium.launch({ executablePath: executablePath!, headless: true, args: ['--no-sandbox'] });
    const page = await browser.newPage({ viewport: { width: 1360, height: 1000 } });
    const consoleErrors: string[] = [];
    page.on('pageerror', (err) => consoleErrors.push(err.message));
    // Chromium logs every non-2xx fetch as a console error: the lookup of an unknown user (404) is expected.
    page.on('console', (m) => void (m.type() === 'error' && !m.text().startsWith('Failed to load resource') && consoleErrors.push(m.text())));
    await page.goto(sys.url);

    const text = (testId: string) => page.getByTestId(testId).innerText();
    await page.getByTestId('active-snapshot').filter({ hasText: s1 }).waitFor({ timeout: 30_000 });
    await page
      .getByTestId('ready')
      .filter({ hasText: /^ready$/ })
      .waitFor({ timeout: 30_000 });
    // Every partition of the active snapshot READY on the grid (4 partitions), and the doorman reached as a peer.
    await page.locator(`[data-snapshot="${s1}"]`).filter({ hasText: '4/4 partitions READY' }).waitFor({ timeout: 30_000 });
    expect(await page.locator(`[data-snapshot="${s1}"] .cell.READY`).count()).toBe(4);
    await page.locator(`[data-topology="${sys.userVectorsName}"]`).waitFor({ timeout: 10_000 });
    await page.locator(`[data-topology="${sys.tag}-doorman"]`).waitFor({ timeout: 10_000 });
    expect(await page.locator('#timeline rect').count()).toBeGreaterThanOrEqual(2); // s1: STAGED, then ACTIVE

    // Events arriving show as a rate above zero (computed from counter deltas between samples).
    const system = sys;
    pump = setInterval(() => void system.sendListens(12, 5).catch(() => undefined), 400);
    const deadline = Date.now() + 60_000;
    let rate = 0;
    while (rate <= 0) {
      if (Date.now() > deadline) throw new Error(`events/s stayed at '${await text('events-rate')}' while listens were sent`);
      await page.waitForTimeout(500);
      rate = Number((await text('events-rate')).replace(/k$/, 'e3'));
    }
    expect(rate).toBeGreaterThan(0);

    // The lookup form asks /vector and /candidates and shows both.
    await page.locator('input[name=user]').fill('u0');
    await page.locator('input[name=k]').fill('8');
    await page.getByRole('button', { name: 'Look up' }).click();
    await page.getByTestId('candidates').waitFor({ timeout: 20_000 });
    expect(await text('user-vector')).toContain(s1);
    expect(await page.locator('[data-testid=candidates] tbody tr').count()).toBe(8);
    expect(await page.locator('[data-testid=vector-chart] rect').count()).toBe(16);
    // An unknown user gets the API's message, not a blank.
    await page.locator('input[name=user]').fill('nobody-at-all');
    await page.getByRole('button', { name: 'Look up' }).click();
    await page.getByTestId('lookup-error').filter({ hasText: "unknown user 'nobody-at-all'" }).waitFor({ timeout: 10_000 });
    await page.locator('input[name=user]').fill('u0');
    await page.getByRole('button', { name: 'Look up' }).click();
    await page.getByTestId('candidates').waitFor({ timeout: 20_000 });

    // A switch to S2 shows on the page: S2 active, S1 superseded (READY) on the timeline.
    const s2 = await sys.publish('s2');
    await page.getByTestId('active-snapshot').filter({ hasText: s2 }).waitFor({ timeout: 90_000 });
    await page.locator('#timeline rect title', { hasText: `${s1}: READY from` }).waitFor({ state: 'attached', timeout: 10_000 });

    // Let the sparklines draw a few more points before the picture.
    await page.waitForTimeout(3000);
    mkdirSync(join(ROOT, 'test-output'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    clearInterval(pump);
    expect(existsSync(SCREENSHOT)).toBe(true);
    expect(consoleErrors).toEqual([]);
  });
});
