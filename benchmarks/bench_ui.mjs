// Browser side of bench_ui.py: drives Debian's Chromium with the Node Playwright of the UI tests and prints
// one JSON object of timings (milliseconds, measured in the page: resource timing for the response, a
// MutationObserver plus a frame for the paint). Run by bench_ui.py, which starts the servers and seeds the store.
import { createRequire } from 'module';
import path from 'path';
import { fileURLToPath } from 'url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(
  path.join(here, '..', 'tests', 'ui', 'package.json')
);
const { chromium } = require('playwright-core');

const config = JSON.parse(process.argv[2]);

/** Installed in every page: `__nbliftPainted(test)` resolves with the time of the first frame after `test()` holds. */
function installWaiter() {
  performance.setResourceTimingBufferSize(100000);
  // The last resource fetched whose URL matches `pattern` and that ended before `before`.
  window.__lastResource = (pattern, before) => {
    const re = new RegExp(pattern);
    const entries = performance
      .getEntriesByType('resource')
      .filter(e => re.test(e.name) && e.responseEnd <= before);
    const e = entries[entries.length - 1];
    return e ? { start: e.startTime, responseEnd: e.responseEnd } : null;
  };
  // The name of the first run in the Experiments view's table.
  window.__nbliftFirstRun = () =>
    document.querySelector(
      '#nblift-experiments table[aria-label="experiment runs"] tbody .jp-nblift-run-link'
    )?.textContent;
  // Checked once per frame after the DOM changed (so the check costs both UIs alike); resolved after the
  // frame in which it first holds has been painted.
  window.__nbliftPainted = test =>
    new Promise(resolve => {
      let scheduled = false;
      const observer = new MutationObserver(() => {
        if (scheduled) {
          return;
        }
        scheduled = true;
        requestAnimationFrame(() => {
          scheduled = false;
          if (test()) {
            observer.disconnect();
            setTimeout(() => resolve(performance.now()), 0);
          }
        });
      });
      observer.observe(document, {
        childList: true,
        subtree: true,
        characterData: true
      });
    });
}

async function nblift(browser) {
  const { url, scaleId, curvesId, samples, newest } = config.nblift;
  const page = await browser.newPage({
    viewport: { width: 1280, height: 800 }
  });
  await page.addInitScript(installWaiter);
  await page.goto(`${url}/lab?reset`);
  await page.waitForFunction(
    () =>
      window.jupyterapp &&
      window.jupyterapp.commands.hasCommand('nblift:open-view'),
    null,
    { timeout: 120000 }
  );
  await page.evaluate(() =>
    window.jupyterapp.commands.execute('nblift:open-view', {
      view: 'experiments'
    })
  );
  const picker = page.locator(
    '#nblift-experiments select[aria-label="Experiment"]'
  );
  const option = page.locator(`#nblift-experiments option[value="${scaleId}"]`);
  try {
    await option.waitFor({ state: 'attached', timeout: 20000 });
  } catch {
    // The view read the list before the server had the store open: read it again, as a person would.
    const refresh = await page.evaluate(async () => {
      const reply = await fetch('/nblift/api/experiments');
      return `${reply.status} ${(await reply.text()).slice(0, 300)}`;
    });
    console.error(`experiments listed by the API: ${refresh}`);
    await page.getByRole('button', { name: 'Refresh experiments' }).click();
  }
  try {
    await option.waitFor({ state: 'attached', timeout: 60000 });
  } catch (error) {
    const shown = await page.evaluate(
      () => document.querySelector('#nblift-experiments')?.innerText
    );
    throw new Error(
      `the Experiments view lists no experiment ${scaleId}: ${shown}`
    );
  }

  const pages = [];
  for (let i = 0; i < samples + 1; i++) {
    await picker.selectOption(curvesId);
    await page.waitForFunction(() => window.__nbliftFirstRun() === 'run-2');
    await page.evaluate(name => {
      performance.clearResourceTimings();
      window.__pagePainted = window.__nbliftPainted(
        () => window.__nbliftFirstRun() === name
      );
    }, newest);
    await picker.selectOption(scaleId);
    const sample = await page.evaluate(async pattern => {
      const painted = await window.__pagePainted;
      const response = window.__lastResource(pattern, painted);
      return { painted, ...response };
    }, '/nblift/api/experiments/[0-9]+/runs');
    if (i > 0) {
      // the first switch warms the server's connection and the page's code paths
      pages.push(sample);
    }
  }

  await picker.selectOption(curvesId);
  await page.waitForFunction(() => window.__nbliftFirstRun() === 'run-2');
  for (const name of ['run-0', 'run-1', 'run-2']) {
    await page.getByRole('checkbox', { name: `select ${name}` }).check();
  }
  const compares = [];
  for (let i = 0; i < config.nblift.compareSamples; i++) {
    const sample = await page.evaluate(async () => {
      performance.clearResourceTimings();
      const drawn = window.__nbliftPainted(
        () =>
          document.querySelectorAll(
            '#nblift-experiments figure[aria-label="train_loss chart"] svg polyline'
          ).length === 3
      );
      const button = [
        ...document.querySelectorAll('#nblift-experiments button')
      ].find(b => b.textContent.trim() === 'Compare 3 runs');
      const clicked = performance.now();
      button.click();
      const painted = await drawn;
      const response = window.__lastResource(
        '/nblift/api/tracking/compare',
        painted
      );
      const lines = [
        ...document.querySelectorAll(
          '#nblift-experiments figure[aria-label="train_loss chart"] svg polyline'
        )
      ].map(l => [Number(l.dataset.sourcePoints), Number(l.dataset.points)]);
      return { clicked, painted, lines, ...response };
    });
    compares.push(sample);
    await page.getByRole('button', { name: 'close comparison' }).click();
  }
  await page.close();
  return { pages, compares };
}

async function mlflowUI(browser) {
  const { url, scaleId, samples, newest } = config.mlflow;
  const page = await browser.newPage({
    viewport: { width: 1280, height: 800 }
  });
  await page.addInitScript(installWaiter);
  await page.addInitScript(name => {
    window.__tablePainted = window.__nbliftPainted(
      () =>
        document.evaluate(
          `//*[text()='${name}']`,
          document,
          null,
          XPathResult.FIRST_ORDERED_NODE_TYPE,
          null
        ).singleNodeValue !== null
    );
  }, newest);
  const out = [];
  for (let i = 0; i < samples + 1; i++) {
    await page.goto(`${url}/#/experiments/${scaleId}`);
    const sample = await page.evaluate(async () => {
      const painted = await Promise.race([
        window.__tablePainted,
        new Promise((_, reject) =>
          setTimeout(
            () => reject(new Error('no run name painted within 60 s')),
            60000
          )
        )
      ]);
      return { painted, ...window.__lastResource('runs/search', painted) };
    });
    if (i > 0) {
      out.push(sample);
    }
  }
  await page.close();
  return out;
}

const browser = await chromium.launch({
  executablePath: config.chromium,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--no-first-run'
  ]
});
const result = {};
try {
  if (config.nblift) {
    result.nblift = await nblift(browser);
  }
  if (config.mlflow) {
    try {
      result.mlflow = await mlflowUI(browser);
    } catch (error) {
      result.mlflowError = String(error).split('\n')[0];
    }
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
